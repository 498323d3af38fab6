"""The `slow_etcd_catchup` fault: a reporting overlay on `status()`, not a real lag.

Real etcd members on loopback catch up at once, so a lagging member is faked in what `status`
reports. `set_catchup_lag(name, seconds, entries)` arms it: after each restart of that member
(`start_member`, `rejoin`), for `seconds` its RAFT INDEX and RAFT APPLIED INDEX are reported
lower than the real ones by a margin that shrinks linearly from `entries` to 0 as the window
elapses. The leader and other members report their real indexes, so "has cp2 caught up with
the leader?" reads False during the window and True after it. Reported indexes never drop below
1, so the visible lag is at most (real index - 1); `raft_index_offset` (added to every member's
indexes) gives production-sized numbers and room for a larger lag. A restart before the fault
was armed counts too: the window runs from the last restart. The clock is injectable.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

from emulator.etcd.types import Status


@dataclass(frozen=True)
class CatchupLag:
    """A member's armed lag: the window length and the margin at its start."""

    seconds: float
    entries: int


class LagOverlay:
    """Per-member lag windows, applied to Status values."""

    def __init__(self, clock: Callable[[], float], raft_index_offset: int = 0) -> None:
        self._clock = clock
        self._offset = raft_index_offset
        self._lags: dict[str, CatchupLag] = {}
        self._restarted_at: dict[str, float] = {}

    def arm(self, name: str, seconds: float, entries: int) -> None:
        """Lag `name` for `seconds` after each restart, by up to `entries` entries."""
        if seconds <= 0:
            self._lags.pop(name, None)
            return
        self._lags[name] = CatchupLag(float(seconds), max(1, int(entries)))

    def clear(self, name: str) -> None:
        """Disarm the lag of `name` (reports real indexes again)."""
        self._lags.pop(name, None)

    def restarted(self, name: str) -> None:
        """Record that `name` was (re)started now."""
        self._restarted_at[name] = self._clock()

    def margin(self, name: str) -> int:
        """Return how many entries `name` is reported behind right now (0: no lag)."""
        lag = self._lags.get(name)
        started = self._restarted_at.get(name)
        if lag is None or started is None:
            return 0
        remaining = lag.seconds - (self._clock() - started)
        if remaining <= 0:
            return 0
        return math.ceil(lag.entries * remaining / lag.seconds)

    def apply(self, name: str, status: Status) -> Status:
        """Return `status` as reported: offset added, minus the current margin (floor 1)."""
        margin = self.margin(name)
        index = status.raft_index + self._offset
        applied = status.raft_applied_index + self._offset
        if margin:
            index = max(1, index - margin)
            applied = max(1, min(applied - margin, index))
        return dataclasses.replace(status, raft_index=index, raft_applied_index=applied)
