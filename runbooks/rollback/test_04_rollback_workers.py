"""Phase 4, workers back, one at a time, in profile order, with the upgrade's proofs and gate
(runbooks/phases/workers.py): talosctl rollback (other A/B slot) or a reinstall of the older
installer; then version, extensions, Ready, the whole health gate."""

from runbooks.phases.workers import *  # noqa: F403
from runbooks.phases.workers import test_roll_back_worker  # noqa: F401
