"""Real etcd 3.4 members for the lab's control planes (see cluster.py for the API).

Faults: `add_stale_member` (stale_etcd_member), `kill_member` (etcd_member_down),
`set_catchup_lag` (slow_etcd_catchup, a reporting overlay: lag.py).
"""

from emulator.etcd.base import EtcdMember
from emulator.etcd.cluster import EtcdCluster
from emulator.etcd.errors import (
    EtcdApiError,
    EtcdError,
    EtcdMemberDown,
    EtcdPortTaken,
    EtcdTimeout,
)
from emulator.etcd.process import kill_recorded, read_pid_file
from emulator.etcd.types import Alarm, Member, SnapshotInfo, Status, member_id_hex

__all__ = [
    "Alarm",
    "EtcdApiError",
    "EtcdCluster",
    "EtcdError",
    "EtcdMember",
    "EtcdMemberDown",
    "EtcdPortTaken",
    "EtcdTimeout",
    "Member",
    "SnapshotInfo",
    "Status",
    "kill_recorded",
    "member_id_hex",
    "read_pid_file",
]
