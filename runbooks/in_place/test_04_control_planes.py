"""Phase 4, control planes: secondaries first, the primary last, etcd guarded around each
(runbooks/phases/control_planes.py): quorum guard, etcd leadership moved off the node, talosctl
upgrade; version, extensions, Ready, its etcd member caught up; the whole health gate."""

from runbooks.phases.control_planes import *  # noqa: F403
from runbooks.phases.control_planes import test_upgrade_control_plane  # noqa: F401
