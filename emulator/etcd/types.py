"""What etcd reports, as frozen dataclasses, and parsers from the v3 JSON gateway's replies.

The gateway sends 64-bit integers as decimal strings and omits zero/false/empty fields; the
parsers turn them into ints/bools and fill the defaults. Member IDs are ints here; talosctl and
etcdctl print them as 16-digit lower-case hex (`member_id_hex`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


def member_id_hex(member_id: int) -> str:
    """Return the ID as talosctl/etcdctl print it: `%016x`."""
    return f"{member_id:016x}"


@dataclass(frozen=True)
class Member:
    """One entry of the member list, as a given member sees it.

    `started` is False for a member that was added but never joined (etcd gives it no name and
    no client URLs; etcdctl shows it as `unstarted`).
    """

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool
    started: bool


@dataclass(frozen=True)
class Status:
    """`/v3/maintenance/status` of one member. `leader` is 0 when the member knows no leader.

    `version` is the server version (talosctl's PROTOCOL column); etcd 3.4 reports no storage
    version, so `storage_version` is "" there.
    """

    member_id: int
    db_size: int
    db_size_in_use: int
    leader: int
    raft_index: int
    raft_term: int
    raft_applied_index: int
    is_learner: bool
    errors: tuple[str, ...] = ()
    version: str = ""
    storage_version: str = ""


@dataclass(frozen=True)
class Alarm:
    """An active alarm: the member it is raised on and its type (`NOSPACE`, `CORRUPT`)."""

    member_id: int
    alarm_type: str


@dataclass(frozen=True)
class SnapshotInfo:
    """A saved snapshot: the file, its size, and `etcdctl snapshot status` of it."""

    path: str
    size_bytes: int
    hash: int
    revision: int
    total_keys: int
    total_size: int

    def talosctl_lines(self) -> list[str]:
        """Return the two lines `talosctl etcd snapshot` prints on success."""
        return [
            f'etcd snapshot saved to "{self.path}" ({self.size_bytes} bytes)',
            f"snapshot info: hash {self.hash:08x}, revision {self.revision}, "
            f"total keys {self.total_keys}, total size {self.total_size}",
        ]


def _int(raw: dict[str, Any], key: str) -> int:
    value = raw.get(key, 0)
    return int(value) if value not in (None, "") else 0


def parse_members(reply: dict[str, Any]) -> list[Member]:
    """Return the members of a `/v3/cluster/member/list` (or member/add) reply, in etcd's order."""
    out = []
    for m in reply.get("members", []):
        name = str(m.get("name", ""))
        out.append(Member(
            id=_int(m, "ID"),
            name=name,
            peer_urls=tuple(m.get("peerURLs", [])),
            client_urls=tuple(m.get("clientURLs", [])),
            is_learner=bool(m.get("isLearner", False)),
            started=name != "",
        ))
    return out


def parse_status(reply: dict[str, Any]) -> Status:
    """Return the Status of a `/v3/maintenance/status` reply."""
    return Status(
        member_id=_int(reply.get("header", {}), "member_id"),
        db_size=_int(reply, "dbSize"),
        db_size_in_use=_int(reply, "dbSizeInUse"),
        leader=_int(reply, "leader"),
        raft_index=_int(reply, "raftIndex"),
        raft_term=_int(reply, "raftTerm"),
        raft_applied_index=_int(reply, "raftAppliedIndex"),
        is_learner=bool(reply.get("isLearner", False)),
        errors=tuple(str(e) for e in reply.get("errors", [])),
        version=str(reply.get("version", "")),
        storage_version=str(reply.get("storageVersion", "")),
    )


def parse_alarms(reply: dict[str, Any]) -> list[Alarm]:
    """Return the alarms of a `/v3/maintenance/alarm` reply (the gateway omits type 0 = NONE)."""
    alarms = reply.get("alarms", [])
    return [Alarm(_int(a, "memberID"), str(a.get("alarm", "NONE"))) for a in alarms]
