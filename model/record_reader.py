"""Reading a run record's JSON form (the one the runbooks have always written; a record from an
older harness still loads) into model.run_record.RunRecord. Every problem is a RecordError
naming the file and the field."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from model.record_parts import (
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
)
from model.run_record import Kind, RecordError, RunRecord, parse_time
from model.versions import KubeVersion, TalosVersion


def read_record(data: Any, source: str) -> RunRecord:
    """The record in `data` (parsed JSON); RecordError naming `source` and the field."""
    return _Reader(source).record(data)


def read_hops(plan: Mapping[str, Any], source: str) -> tuple[PlannedHop, ...]:
    """The planned hops of a plan's JSON form (model.plan's to_dict)."""
    reader = _Reader(source)
    hops = reader.seq(plan.get("hops") or [], "plan.hops")
    return tuple(reader.hop(h, f"plan.hops[{i}]") for i, h in enumerate(hops))


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
            self.time(m["began"], f"{where}.began") if m.get("began") else None,
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

    def hop_start(self, value: Any, where: str) -> HopStart:
        m = self.mapping(value, where)
        talos = self.mapping(m.get("talos") or {}, f"{where}.talos")
        k8s = m.get("kubernetes")
        return HopStart(
            {
                str(n): self.parse(TalosVersion.parse, v, f"{where}.talos.{n}")
                for n, v in talos.items()
            },
            None if k8s is None else self.parse(KubeVersion.parse, k8s, f"{where}.kubernetes"),
            {
                str(n): str(v)
                for n, v in self.mapping(m.get("schematics") or {}, f"{where}.schematics").items()
            },
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

    def rebuild(self, value: Any) -> RebuildProgress:
        m = self.mapping(value, "rebuild")
        vms = []
        for i, v in enumerate(self.seq(m.get("vms") or [], "rebuild.vms")):
            where = f"rebuild.vms[{i}]"
            vm = self.mapping(v, where)
            vms.append(
                KeptVm(
                    self.parse(int, self.get(vm, "vmid", f"{where}."), f"{where}.vmid"),
                    str(self.get(vm, "name", f"{where}.")),
                    str(self.get(vm, "role", f"{where}.")),
                    str(self.get(vm, "address", f"{where}.")),
                    {
                        str(k): str(x)
                        for k, x in self.mapping(vm.get("config") or {}, f"{where}.config").items()
                    },
                )
            )

        def ids(key: str) -> tuple[int, ...]:
            return tuple(
                self.parse(int, x, f"rebuild.{key}[{i}]")
                for i, x in enumerate(self.seq(m.get(key) or [], f"rebuild.{key}"))
            )

        boot = m.get("bootstrapped")
        proof = m.get("template_proof")
        commit = m.get("profile_commit")
        return RebuildProgress(
            None if proof is None else str(proof),
            tuple(vms),
            ids("stopped"),
            ids("destroyed"),
            ids("cloned"),
            tuple(str(n) for n in self.seq(m.get("configured") or [], "rebuild.configured")),
            self.time(boot, "rebuild.bootstrapped") if boot else None,
            None if commit is None else str(commit),
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
            hop_starts={
                str(k): self.hop_start(h, f"hop_starts.{k}")
                for k, h in self.mapping(d.get("hop_starts") or {}, "hop_starts").items()
            },
            rebuild=self.rebuild(d["rebuild"]) if d.get("rebuild") else None,
        )
