"""Phase 5, control planes back: secondaries first, the primary last, etcd guarded around each
(runbooks/phases/control_planes.py): quorum guard, leadership moved off the node, talosctl
rollback or a reinstall; version, extensions, Ready, etcd caught up; the whole health gate."""

from runbooks.phases.control_planes import *  # noqa: F403
from runbooks.phases.control_planes import test_roll_back_control_plane  # noqa: F401
