"""Phase 3, workers: one at a time, in profile order; each proven before the next.
The steps (runbooks/phases/workers.py), in order: talosctl upgrade; the node runs the hop's
version, booted the profile's extensions, is Ready; the whole health gate."""

from runbooks.phases.workers import *  # noqa: F403
from runbooks.phases.workers import test_upgrade_worker  # noqa: F401
