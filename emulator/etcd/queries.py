"""Read-and-small-change calls on running members: member list, status (with the catch-up lag
overlay), alarms, member remove, leadership transfer, snapshots. Sync with short timeouts;
`a`-prefixed twins for async callers."""

from __future__ import annotations

import asyncio
from pathlib import Path

from emulator.etcd import gateway as gw
from emulator.etcd.base import EtcdBase
from emulator.etcd.errors import EtcdError
from emulator.etcd.snapshot import save_snapshot
from emulator.etcd.types import (
    Alarm,
    Member,
    SnapshotInfo,
    Status,
    parse_alarms,
    parse_members,
    parse_status,
)


class EtcdQueries(EtcdBase):
    """Queries of EtcdCluster (see there)."""

    def members(self, via: str) -> list[Member]:
        """Return the member list as `via`'s etcd sees it; raise EtcdMemberDown if it is down."""
        self._running(via)
        return parse_members(gw.post(self.client_url(via), gw.MEMBER_LIST, {}))

    async def amembers(self, via: str) -> list[Member]:
        """Async `members`."""
        self._running(via)
        return parse_members(await gw.apost(self.client_url(via), gw.MEMBER_LIST, {}))

    def _raw_status(self, name: str) -> Status:
        self._running(name)
        return parse_status(gw.post(self.client_url(name), gw.STATUS, {}))

    def status(self, name: str) -> Status:
        """Return `name`'s own status (with the catch-up lag overlay applied); raise
        EtcdMemberDown if it is down."""
        return self._lag.apply(name, self._raw_status(name))

    async def astatus(self, name: str) -> Status:
        """Async `status`."""
        self._running(name)
        raw = parse_status(await gw.apost(self.client_url(name), gw.STATUS, {}))
        return self._lag.apply(name, raw)

    def alarms(self, via: str) -> list[Alarm]:
        """Return the active alarms as `via` reports them."""
        self._running(via)
        return parse_alarms(gw.post(self.client_url(via), gw.ALARM, {"action": "GET"}))

    def raise_alarm(self, via: str, member_id: int, alarm_type: str = "NOSPACE") -> None:
        """Activate an alarm on `member_id` (NOSPACE or CORRUPT), as etcd itself would."""
        self._running(via)
        gw.post(self.client_url(via), gw.ALARM,
                {"action": "ACTIVATE", "memberID": str(member_id), "alarm": alarm_type})

    def disarm_alarms(self, via: str) -> list[Alarm]:
        """Disarm every active alarm (talosctl etcd alarm disarm); return those disarmed."""
        disarmed = []
        for a in self.alarms(via):
            gw.post(self.client_url(via), gw.ALARM,
                    {"action": "DEACTIVATE", "memberID": str(a.member_id), "alarm": a.alarm_type})
            disarmed.append(a)
        return disarmed

    def remove_member(self, via: str, member_id: int) -> None:
        """Remove `member_id` through `via`; raise EtcdApiError with etcd's text if refused."""
        self._running(via)
        gw.post(self.client_url(via), gw.MEMBER_REMOVE, {"ID": str(member_id)})
        for m in self._members.values():
            if m.member_id == member_id:
                m.member_id = None
        self._stale = {k: v for k, v in self._stale.items() if v != member_id}

    async def aremove_member(self, via: str, member_id: int) -> None:
        """Async `remove_member` (runs in a thread: etcd may take seconds without a quorum)."""
        await asyncio.to_thread(self.remove_member, via, member_id)

    async def aalarms(self, via: str) -> list[Alarm]:
        """Async `alarms`."""
        self._running(via)
        reply = await gw.apost(self.client_url(via), gw.ALARM, {"action": "GET"})
        return parse_alarms(reply)

    def forfeit_leadership(self, name: str) -> int | None:
        """If `name` leads, move leadership to another started member and return its id;
        return None if `name` was not the leader."""
        if len(self.members(name)) == 1:  # internal/pkg/etcd/etcd.go ForfeitLeadership
            raise EtcdError("cannot forfeit leadership, only one member")
        own = self._raw_status(name)
        if own.leader != own.member_id:
            return None
        ours = {self.peer_url(n) for n, m in self._members.items() if m.running and n != name}
        targets = [x for x in self.members(name)
                   if x.started and not x.is_learner and x.id != own.member_id
                   and ours.intersection(x.peer_urls)]
        if not targets:
            raise EtcdError(f"etcd member {name} is the leader and no other started member "
                            f"can take over")
        gw.post(self.client_url(name), gw.TRANSFER_LEADERSHIP,
                {"targetID": str(targets[0].id)}, timeout=10.0)
        return targets[0].id

    async def aforfeit_leadership(self, name: str) -> int | None:
        """Async `forfeit_leadership` (runs in a thread)."""
        return await asyncio.to_thread(self.forfeit_leadership, name)

    def snapshot(self, name: str, dest: Path, timeout: float = 60.0) -> SnapshotInfo:
        """Save a snapshot from `name` to `dest` with etcdctl, check the sha256 trailer
        (size % 512 == 32) and return `etcdctl snapshot status` of it."""
        self._running(name)
        return save_snapshot(self.etcdctl_bin, self.client_url(name), Path(dest), timeout)

    async def asnapshot(self, name: str, dest: Path, timeout: float = 60.0) -> SnapshotInfo:
        """Async `snapshot` (runs in a thread). `before_snapshot(name)`, when the lab sets it,
        runs first (it writes the Kubernetes store into etcd: COVERAGE §8)."""
        hook = getattr(self, "before_snapshot", None)
        if hook is not None:
            await hook(name)
        return await asyncio.to_thread(self.snapshot, name, dest, timeout)

    # ---- faults ----------------------------------------------------------------------------
    def set_catchup_lag(self, name: str, seconds: float, entries: int = 1000) -> None:
        """Fault slow_etcd_catchup: after each restart, report `name` behind the leader for
        `seconds` (see emulator/etcd/lag.py). seconds <= 0 clears it."""
        self.member(name)
        self._lag.arm(name, seconds, entries)

    def clear_catchup_lag(self, name: str) -> None:
        """Report `name`'s real raft indexes again."""
        self._lag.clear(name)

    def catchup_margin(self, name: str) -> int:
        """Return how many entries `name` is currently reported behind (0: none)."""
        return self._lag.margin(name)

