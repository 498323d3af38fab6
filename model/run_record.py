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
import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from model.versions import KubeVersion, TalosVersion

Kind = Literal["upgrade", "rollback"]
_TIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ")


class RecordError(ValueError):
    """A run record that cannot be read: the message names the file and the field."""


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def stamp(at: datetime) -> str:
    """The record's time format (UTC, seconds): 2026-12-07T10:08:49Z."""
    return at.astimezone(UTC).strftime(_TIME_FORMATS[0])


def compact_stamp(at: datetime) -> str:
    """The form used in run ids and file names: 20261207T100849Z."""
    return at.astimezone(UTC).strftime(_TIME_FORMATS[1])


def parse_time(text: str) -> datetime:
    """A record time in either format the harness has written; ValueError otherwise."""
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"not a time: {text!r} (expected e.g. 2026-12-07T10:08:49Z)")


@dataclass(frozen=True)
class Versions:
    talos: TalosVersion
    kubernetes: KubeVersion

    def to_dict(self) -> dict[str, str]:
        return {"talos": str(self.talos), "kubernetes": str(self.kubernetes)}


@dataclass(frozen=True)
class PlannedHop:
    """One hop as the plan wrote it (model.plan's to_dict): enough to undo it."""

    kind: Literal["talos", "kubernetes"]
    source: str  # "from"
    to: str
    raw: Mapping[str, Any]  # the plan's whole entry (image, nodes, commands), kept as written

    @property
    def kubernetes(self) -> KubeVersion:
        """For a Talos hop: the Kubernetes it ran with."""
        return KubeVersion.parse(str(self.raw["kubernetes"]))

    @property
    def talos(self) -> TalosVersion:
        """For a Kubernetes hop: the Talos it ran on."""
        return TalosVersion.parse(str(self.raw["talos"]))


@dataclass(frozen=True)
class NodeChange:
    """One change of a node's Talos: upgrade, rollback (A/B) or reinstall."""

    source: TalosVersion  # "from"
    to: TalosVersion
    at: datetime
    action: str
    came_back_on: TalosVersion | None = None
    boot_before: str | None = None
    boot_after: str | None = None
    recorded_on_resume: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": str(self.source),
            "to": str(self.to),
            "at": stamp(self.at),
            "action": self.action,
        }
        if self.boot_before is not None:
            out["boot_before"] = self.boot_before
        if self.boot_after is not None:
            out["boot_after"] = self.boot_after
        out["came_back_on"] = str(self.came_back_on) if self.came_back_on else None
        if self.recorded_on_resume:
            out["recorded_on_resume"] = True
        return out


@dataclass(frozen=True)
class KubeChange:
    source: KubeVersion
    to: KubeVersion
    at: datetime
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": str(self.source),
            "to": str(self.to),
            "at": stamp(self.at),
            "action": self.action,
        }


@dataclass(frozen=True)
class EtcdBackup:
    """A verified etcd snapshot, saved outside the cluster."""

    path: str
    size_bytes: int
    sha256: str
    hash: str
    revision: int
    total_keys: int
    taken_from: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class VeleroBackup:
    namespace: str
    name: str
    status: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "status": dict(self.status)}


@dataclass(frozen=True)
class LockSession:
    """One session that held the cluster lock for this run, and how it ended."""

    holder: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    lease: str = ""
    renewals: int | None = None
    released: bool | None = None
    renew_errors: tuple[str, ...] = ()

    @property
    def runbook(self) -> str:
        return str(self.holder.get("runbook", ""))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "holder": dict(self.holder),
            "warnings": list(self.warnings),
            "lease": self.lease,
        }
        if self.renewals is not None:
            out.update(
                {
                    "renewals": self.renewals,
                    "released": self.released,
                    "renew_errors": list(self.renew_errors),
                }
            )
        return out


@dataclass(frozen=True)
class RollbackNote:
    """A rollback of this run: where it goes, its own etcd snapshot, when it finished."""

    started: datetime
    to: Versions
    etcd: EtcdBackup | None = None
    finished: datetime | None = None
    verified: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"started": stamp(self.started), "to": self.to.to_dict()}
        if self.etcd is not None:
            out["etcd"] = self.etcd.to_dict()
        if self.finished is not None:
            out["finished"] = stamp(self.finished)
            out["verified"] = list(self.verified)
        return out


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
        reader = _Reader(run_id)
        hops = reader.seq(plan.get("hops") or [], "plan.hops")
        plan = copy.deepcopy(dict(plan))
        hops = plan.get("hops") or []
        return cls(
            run_id,
            cluster,
            "upgrade",
            started,
            source,
            target,
            tuple(reader.hop(h, f"plan.hops[{i}]") for i, h in enumerate(hops)),
            plan,
        )

    # ---- questions ------------------------------------------------------------------------
    @property
    def open_for_resume(self) -> bool:
        """An upgrade neither finished nor rolled back: a new session continues it."""
        return self.kind == "upgrade" and self.finished is None and self.rollback is None

    @property
    def changed_anything(self) -> bool:
        return bool(self.nodes) or bool(self.kube_changes)

    @property
    def undoable(self) -> bool:
        """An upgrade that changed something: the rollback runbook can undo it."""
        return self.kind == "upgrade" and self.target is not None and self.changed_anything

    def changes_of(self, node: str) -> tuple[NodeChange, ...]:
        return self.nodes.get(node, ())

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
        if self.rollback is not None:
            out["rollback"] = self.rollback.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Any, source: str) -> RunRecord:
        """Read a record's JSON form; RecordError naming `source` and the field otherwise."""
        return _Reader(source).record(data)


class _Reader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, why: str) -> RecordError:
        return RecordError(f"{self.source}: {where}: {why}")

    def get(self, data: Mapping[str, Any], key: str, where: str) -> Any:
        if key not in data:
            raise self.fail(f"{where}{key}", "missing")
        return data[key]

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"must be a mapping, not {type(value).__name__}")
        return value

    def seq(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, f"must be a list, not {type(value).__name__}")
        return value

    def parse(self, fn: Any, value: Any, where: str) -> Any:
        try:
            return fn(str(value))
        except ValueError as e:
            raise self.fail(where, str(e)) from None

    def time(self, value: Any, where: str) -> datetime:
        return self.parse(parse_time, value, where)  # type: ignore[no-any-return]

    def versions(self, value: Any, where: str) -> Versions | None:
        m = self.mapping(value, where)
        if not m:
            return None
        return Versions(
            self.parse(TalosVersion.parse, self.get(m, "talos", f"{where}."), f"{where}.talos"),
            self.parse(
                KubeVersion.parse, self.get(m, "kubernetes", f"{where}."), f"{where}.kubernetes"
            ),
        )

    def etcd(self, value: Any, where: str) -> EtcdBackup:
        m = self.mapping(value, where)
        try:
            return EtcdBackup(
                str(m["path"]),
                int(m["size_bytes"]),
                str(m["sha256"]),
                str(m["hash"]),
                int(m["revision"]),
                int(m["total_keys"]),
                str(m["taken_from"]),
            )
        except KeyError as e:
            raise self.fail(f"{where}.{e.args[0]}", "missing") from None
        except (TypeError, ValueError) as e:
            raise self.fail(where, str(e)) from None

    def node_change(self, value: Any, where: str) -> NodeChange:
        m = self.mapping(value, where)
        back = m.get("came_back_on")
        return NodeChange(
            self.parse(TalosVersion.parse, self.get(m, "from", f"{where}."), f"{where}.from"),
            self.parse(TalosVersion.parse, self.get(m, "to", f"{where}."), f"{where}.to"),
            self.time(self.get(m, "at", f"{where}."), f"{where}.at"),
            str(m.get("action", "upgrade")),
            None
            if back in (None, "None")
            else self.parse(TalosVersion.parse, back, f"{where}.came_back_on"),
            m.get("boot_before"),
            m.get("boot_after"),
            bool(m.get("recorded_on_resume")),
        )

    def kube_change(self, value: Any, where: str) -> KubeChange:
        m = self.mapping(value, where)
        return KubeChange(
            self.parse(KubeVersion.parse, self.get(m, "from", f"{where}."), f"{where}.from"),
            self.parse(KubeVersion.parse, self.get(m, "to", f"{where}."), f"{where}.to"),
            self.time(self.get(m, "at", f"{where}."), f"{where}.at"),
            str(m.get("action", "upgrade")),
        )

    def hop(self, value: Any, where: str) -> PlannedHop:
        m = self.mapping(value, where)
        kind = self.get(m, "kind", f"{where}.")
        if kind not in ("talos", "kubernetes"):
            raise self.fail(f"{where}.kind", f"{kind!r} is neither talos nor kubernetes")
        other = "kubernetes" if kind == "talos" else "talos"
        self.get(m, other, f"{where}.")
        return PlannedHop(
            kind,
            str(self.get(m, "from", f"{where}.")),
            str(self.get(m, "to", f"{where}.")),
            dict(m),
        )

    def session(self, value: Any, where: str) -> LockSession:
        m = self.mapping(value, where)
        renewals = m.get("renewals")
        return LockSession(
            self.mapping(self.get(m, "holder", f"{where}."), f"{where}.holder"),
            tuple(m.get("warnings") or ()),
            str(m.get("lease", "")),
            None if renewals is None else int(renewals),
            None if m.get("released") is None else bool(m["released"]),
            tuple(m.get("renew_errors") or ()),
        )

    def rollback(self, value: Any) -> RollbackNote:
        m = self.mapping(value, "rollback")
        target = self.versions(self.get(m, "to", "rollback."), "rollback.to")
        if target is None:
            raise self.fail("rollback.to", "empty")
        return RollbackNote(
            self.time(self.get(m, "started", "rollback."), "rollback.started"),
            target,
            self.etcd(m["etcd"], "rollback.etcd") if m.get("etcd") else None,
            self.time(m["finished"], "rollback.finished") if m.get("finished") else None,
            tuple(m.get("verified") or ()),
        )

    def record(self, data: Any) -> RunRecord:
        d = self.mapping(data, "the record")
        for key in ("run_id", "cluster", "nodes"):
            self.get(d, key, "")
        source = self.versions(d.get("from") or {}, "from")
        target = self.versions(d.get("to") or {}, "to")
        kind: Kind
        raw_kind = d.get("kind") or ("upgrade" if target is not None else "rollback")
        if raw_kind == "upgrade":
            kind = "upgrade"
        elif raw_kind == "rollback":
            kind = "rollback"
        else:
            raise self.fail("kind", f"{raw_kind!r} is neither upgrade nor rollback")
        if kind == "upgrade" and target is None:
            raise self.fail("to", "an upgrade's record names the versions it went to")
        plan = self.mapping(d.get("plan") or {}, "plan")
        hops = self.seq(plan.get("hops") or [], "plan.hops")
        nodes = self.mapping(d["nodes"], "nodes")
        backups = self.mapping(d.get("backups") or {}, "backups")
        velero = backups.get("velero")
        finished = d.get("finished")
        return RunRecord(
            run_id=str(d["run_id"]),
            cluster=str(d["cluster"]),
            kind=kind,
            started=self.time(self.get(d, "started", ""), "started"),
            source=source,
            target=target,
            planned=tuple(self.hop(h, f"plan.hops[{i}]") for i, h in enumerate(hops)),
            plan=copy.deepcopy(dict(plan)),
            nodes={
                str(n): tuple(
                    self.node_change(c, f"nodes.{n}[{i}]")
                    for i, c in enumerate(self.seq(cs, f"nodes.{n}"))
                )
                for n, cs in nodes.items()
            },
            kube_changes=tuple(
                self.kube_change(c, f"kubernetes_hops[{i}]")
                for i, c in enumerate(self.seq(d.get("kubernetes_hops") or [], "kubernetes_hops"))
            ),
            etcd=self.etcd(backups["etcd"], "backups.etcd") if backups.get("etcd") else None,
            velero=(
                VeleroBackup(
                    str(velero["namespace"]), str(velero["name"]), dict(velero.get("status") or {})
                )
                if velero
                else None
            ),
            sessions=tuple(
                self.session(s, f"sessions[{i}]")
                for i, s in enumerate(self.seq(d.get("sessions") or [], "sessions"))
            ),
            verified=dict(d["verified"]) if d.get("verified") is not None else None,
            # the old stand-in record said "finished": "n/a": a rollback stand-in has no end
            finished=(self.time(finished, "finished") if finished and finished != "n/a" else None),
            rollback=self.rollback(d["rollback"]) if d.get("rollback") else None,
        )


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
