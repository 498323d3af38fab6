"""The run record: what an upgrade (or a rollback) planned, what each step did, and the backups
it took, as typed, immutable values.

Every change returns a new record (`with_*`); drivers/run_store.py writes it after each one and
reads it back. The JSON form is the one the runbooks have always written (a record on disk from
an older harness still loads); `kind` tells an upgrade's record from the stand-in a rollback with
explicit versions writes, which has nothing to undo. Times are parsed, so records sort by when
they started, whatever the format their writer used.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from model.record_parts import (
    TIME_FORMATS,
    EtcdBackup,
    HopStart,
    KeptVm,
    KubeChange,
    LockSession,
    NodeChange,
    PlannedHop,
    RebuildProgress,
    RollbackNote,
    VeleroBackup,
    Versions,
    stamp,
)
from model.versions import TalosVersion

__all__ = [
    "EtcdBackup",
    "HopStart",
    "KeptVm",
    "KubeChange",
    "LockSession",
    "NodeChange",
    "PlannedHop",
    "RebuildProgress",
    "RecordError",
    "RollbackNote",
    "RunRecord",
    "VeleroBackup",
    "Versions",
    "compact_stamp",
    "now",
    "parse_time",
    "resume_candidate",
    "stamp",
    "undo_candidate",
]

Kind = Literal["upgrade", "rollback"]


class RecordError(ValueError):
    """A run record that cannot be read: the message names the file and the field."""


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def compact_stamp(at: datetime) -> str:
    """The form used in run ids and file names: 20261207T100849Z."""
    return at.astimezone(UTC).strftime(TIME_FORMATS[1])


def parse_time(text: str) -> datetime:
    """A record time in either format the harness has written; ValueError otherwise."""
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r} (expected e.g. 2026-12-07T10:08:49Z)")


@dataclass(frozen=True)
class RunRecord:
    """One upgrade run (kind "upgrade"), or the stand-in of a rollback with explicit versions
    (kind "rollback": nothing planned to undo, `source`/`target` unknown)."""

    run_id: str
    cluster: str
    kind: Kind
    started: datetime
    source: Versions | None  # "from"
    target: Versions | None  # "to"
    planned: tuple[PlannedHop, ...] = ()
    plan: Mapping[str, Any] = field(default_factory=dict)  # the plan as written (to_dict)
    nodes: Mapping[str, tuple[NodeChange, ...]] = field(default_factory=dict)
    kube_changes: tuple[KubeChange, ...] = ()
    etcd: EtcdBackup | None = None
    velero: VeleroBackup | None = None
    sessions: tuple[LockSession, ...] = ()
    verified: Mapping[str, bool] | None = None
    finished: datetime | None = None
    rollback: RollbackNote | None = None
    hop_starts: Mapping[str, HopStart] = field(default_factory=dict)
    rebuild: RebuildProgress | None = None  # a template rebuild's progress

    @classmethod
    def new_upgrade(
        cls,
        run_id: str,
        cluster: str,
        started: datetime,
        source: Versions,
        target: Versions,
        plan: Mapping[str, Any],
    ) -> RunRecord:
        """A fresh upgrade record for a plan in its JSON form (model.plan's to_dict)."""
        from model.record_reader import read_hops

        plan = copy.deepcopy(dict(plan))
        return cls(
            run_id, cluster, "upgrade", started, source, target, read_hops(plan, run_id), plan
        )

    # ---- questions ------------------------------------------------------------------------
    @property
    def open_for_resume(self) -> bool:
        """An upgrade neither finished nor rolled back: a new session continues it."""
        return self.kind == "upgrade" and self.finished is None and self.rollback is None

    @property
    def changed_anything(self) -> bool:
        torn = self.rebuild is not None and self.rebuild.torn_down
        return bool(self.nodes) or bool(self.kube_changes) or torn

    @property
    def undoable(self) -> bool:
        """An upgrade that changed something: the rollback runbook can undo it."""
        return self.kind == "upgrade" and self.target is not None and self.changed_anything

    def changes_of(self, node: str) -> tuple[NodeChange, ...]:
        return self.nodes.get(node, ())

    def rebooted_toward(self, node: str, to: TalosVersion) -> bool:
        """This run rebooted the node to install `to` (its latest change, with a new boot ID)."""
        changes = self.changes_of(node)
        return bool(changes) and changes[-1].to == to and changes[-1].boot_after is not None

    def hop_start(self, source: TalosVersion, to: TalosVersion) -> HopStart | None:
        return self.hop_starts.get(HopStart.key(source, to))

    def with_hop_start(self, source: TalosVersion, to: TalosVersion, start: HopStart) -> RunRecord:
        """Note what the cluster ran when the hop began (once: the first note stands)."""
        if self.hop_start(source, to) is not None:
            return self
        return replace(self, hop_starts={**self.hop_starts, HopStart.key(source, to): start})

    def has_node_change(self, node: str, to: TalosVersion) -> bool:
        return any(c.to == to for c in self.changes_of(node))

    def other_slot(self, node: str, running: TalosVersion | None) -> TalosVersion | None:
        """The version in the node's other A/B slot, as far as the record knows: the version the
        node left at its latest change, if it came back on that change's target."""
        changes = self.changes_of(node)
        if not changes or running is None:
            return None
        last = changes[-1]
        came_back = last.came_back_on if last.came_back_on is not None else last.to
        if last.to != running or came_back != running:
            return None
        return last.source

    # ---- changes (each returns a new record) ----------------------------------------------
    def with_node_change(self, node: str, change: NodeChange) -> RunRecord:
        nodes = dict(self.nodes)
        nodes[node] = (*self.changes_of(node), change)
        return replace(self, nodes=nodes)

    def with_kube_change(self, change: KubeChange) -> RunRecord:
        return replace(self, kube_changes=(*self.kube_changes, change))

    def with_etcd(self, backup: EtcdBackup) -> RunRecord:
        return replace(self, etcd=backup)

    def with_velero(self, backup: VeleroBackup) -> RunRecord:
        return replace(self, velero=backup)

    def with_session(self, session: LockSession) -> RunRecord:
        return replace(self, sessions=(*self.sessions, session))

    def with_session_end(
        self, renewals: int, released: bool, renew_errors: Sequence[str]
    ) -> RunRecord:
        if not self.sessions:
            return self
        last = replace(
            self.sessions[-1],
            renewals=renewals,
            released=released,
            renew_errors=tuple(renew_errors),
        )
        return replace(self, sessions=(*self.sessions[:-1], last))

    def with_rebuild(self, change: Callable[[RebuildProgress], RebuildProgress]) -> RunRecord:
        """The rebuild's progress changed by `change` (a fresh one the first time)."""
        return replace(self, rebuild=change(self.rebuild or RebuildProgress()))

    def with_verified(self, verified: Mapping[str, bool]) -> RunRecord:
        return replace(self, verified=dict(verified))

    def finished_at(self, at: datetime) -> RunRecord:
        return replace(self, finished=at)

    def with_rollback_started(self, to: Versions, at: datetime) -> RunRecord:
        """Note a rollback of this run (once): the run is no longer open for resume."""
        if self.rollback is not None:
            return self
        return replace(self, rollback=RollbackNote(at, to))

    def with_rollback_etcd(self, backup: EtcdBackup) -> RunRecord:
        assert self.rollback is not None, "the rollback was not started"
        return replace(self, rollback=replace(self.rollback, etcd=backup))

    def with_rollback_finished(self, at: datetime, verified: Iterable[str]) -> RunRecord:
        assert self.rollback is not None, "the rollback was not started"
        return replace(self, rollback=replace(self.rollback, finished=at, verified=tuple(verified)))

    # ---- JSON -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "run_id": self.run_id,
            "cluster": self.cluster,
            "kind": self.kind,
            "started": stamp(self.started),
            "plan": copy.deepcopy(dict(self.plan)),
            "from": self.source.to_dict() if self.source else {},
            "to": self.target.to_dict() if self.target else {},
            "nodes": {n: [c.to_dict() for c in cs] for n, cs in self.nodes.items()},
            "kubernetes_hops": [c.to_dict() for c in self.kube_changes],
            "backups": {},
            "sessions": [s.to_dict() for s in self.sessions],
        }
        if self.etcd is not None:
            out["backups"]["etcd"] = self.etcd.to_dict()
        if self.velero is not None:
            out["backups"]["velero"] = self.velero.to_dict()
        if self.verified is not None:
            out["verified"] = dict(self.verified)
        if self.finished is not None:
            out["finished"] = stamp(self.finished)
        if self.hop_starts:
            out["hop_starts"] = {k: h.to_dict() for k, h in self.hop_starts.items()}
        if self.rollback is not None:
            out["rollback"] = self.rollback.to_dict()
        if self.rebuild is not None:
            out["rebuild"] = self.rebuild.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str) -> RunRecord:
        """Read a record's JSON form; RecordError naming `source` and the field otherwise."""
        from model.record_reader import read_record

        return read_record(data, source)


def resume_candidate(records: Sequence[RunRecord], run_prefix: str) -> RunRecord | None:
    """The newest record (`records` oldest first) of the same upgrade (its run id starts
    `<run_prefix>-`) that is still open: a new session continues it."""
    for rec in reversed(records):
        if rec.run_id.startswith(run_prefix + "-") and rec.open_for_resume:
            return rec
    return None


def undo_candidate(records: Sequence[RunRecord]) -> RunRecord | None:
    """The newest upgrade record (`records` oldest first) that changed something: what the
    rollback runbook undoes (a rollback's stand-in never is)."""
    return next((r for r in reversed(records) if r.undoable), None)
