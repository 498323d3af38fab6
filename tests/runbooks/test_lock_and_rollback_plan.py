"""Without a lab: the cluster lock's rules against a fake Lease API (times come back as the
kubernetes client returns them, isoformat with an offset), and rollback planning from a run
record (order, A/B rollback or reinstall, refusals)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from drivers.lock import ClusterLock, Holder, LockHeld
from model.catalog import Catalog
from model.plan import NodeOrder, NodeRef, PlanError
from model.rollback_plan import plan_explicit, plan_from_record, predicted_action
from model.run_record import RunRecord
from model.versions import KubeVersion, TalosVersion

NOW = 1_800_000_000.0


class FakeLeases:
    """get/create/replace/delete_lease like drivers.kube.Kube, one lease, client-style times."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.rv = 0

    def _out(self) -> dict[str, Any] | None:
        if self.lease is None:
            return None
        out = json.loads(json.dumps(self.lease))
        for key in ("renewTime", "acquireTime"):  # the client returns datetimes, isoformatted
            out["spec"][key] = out["spec"][key].replace("Z", "+00:00")
        return out

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._out()

    def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        assert self.lease is None
        return self.replace_lease(namespace, body)

    def replace_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self.rv += 1
        self.lease = {**body, "metadata": {**body["metadata"], "resourceVersion": str(self.rv)}}
        return self._out() or {}

    def delete_lease(self, namespace: str, name: str) -> None:
        self.lease = None


def _holder(user: str = "alice", pid: str = "1", runbook: str = "in_place") -> Holder:
    return Holder(user, "bastion", runbook, "CHG-9", "2026-01-01T00:00:00Z", pid)


def _lock(kube: FakeLeases, holder: Holder, now: float = NOW) -> ClusterLock:
    return ClusterLock(kube, holder, duration=60, clock=lambda: now)  # type: ignore[arg-type]


def test_a_fresh_lease_of_another_holder_is_refused_naming_it() -> None:
    kube = FakeLeases()
    _lock(kube, _holder("alice")).acquire()
    with pytest.raises(LockHeld) as e:
        _lock(kube, _holder("bob"), NOW + 30).acquire()
    assert str(e.value).startswith("cluster is locked by alice@bastion (runbook in_place, "
                                   "change CHG-9, pid 1, since 2026-01-01T00:00:00Z); the lease "
                                   "kube-system/talos-runbooks-lock expires in 30 s")


def test_an_expired_lease_is_taken_over_with_a_warning_and_released() -> None:
    kube = FakeLeases()
    _lock(kube, _holder("alice")).acquire()
    bob = _lock(kube, _holder("bob"), NOW + 61)
    bob.acquire()
    assert bob.warnings == ["took over an expired lock held by alice@bastion (runbook "
                            "in_place, change CHG-9, pid 1, since 2026-01-01T00:00:00Z) "
                            "(expired 1 s ago)"]
    bob.renew()
    assert bob.renewals == 1
    assert bob.release() is True and kube.lease is None


def test_the_same_operator_is_refused_while_the_holding_process_lives() -> None:
    kube = FakeLeases()
    _lock(kube, _holder("alice", pid=str(os.getpid()))).acquire()
    with pytest.raises(LockHeld):
        _lock(kube, _holder("alice", pid="999999999"), NOW + 1).acquire()


def test_the_same_operator_re_takes_the_lease_of_a_dead_session_with_a_warning() -> None:
    kube = FakeLeases()
    _lock(kube, _holder("alice", pid="999999999")).acquire()
    again = _lock(kube, _holder("alice", pid=str(os.getpid())), NOW + 1)
    again.acquire()
    assert again.warnings[0].startswith("re-took the lock left by an earlier session that is "
                                        "gone: alice@bastion (runbook in_place, change CHG-9, "
                                        "pid 999999999")


def test_a_lost_lease_is_noticed_on_renewal() -> None:
    kube = FakeLeases()
    alice = _lock(kube, _holder("alice"))
    alice.acquire()
    _lock(kube, _holder("bob"), NOW + 61).acquire()
    with pytest.raises(LockHeld):
        alice.renew()
    assert alice.lost is not None and alice.lost.startswith("the cluster lock was taken over by "
                                                           "bob@bastion")
    assert alice.release() is False and kube.lease is not None


# ---- rollback planning ----------------------------------------------------------------------
ORDER = NodeOrder((NodeRef("w1", "10.0.0.4"),),
                  (NodeRef("cp2", "10.0.0.2"), NodeRef("cp1", "10.0.0.1")))
SCHEMATIC = "s" * 64


def _record(tmp_path: Path, hops: list[dict[str, Any]], nodes: dict[str, Any]) -> RunRecord:
    data = {"run_id": "lab-x", "cluster": "lab", "started": "2026-12-07T10:00:00Z",
            "plan": {"hops": hops}, "nodes": nodes,
            "from": {"talos": "v1.9.2", "kubernetes": "1.32.0"},
            "to": {"talos": "v1.9.4", "kubernetes": "1.32.2"}, "kubernetes_hops": [],
            "backups": {}, "sessions": []}
    return RunRecord.from_dict(data, str(tmp_path / "r.json"))


SINGLE = [{"kind": "talos", "from": "v1.9.2", "to": "v1.9.4", "kubernetes": "1.32.0"},
          {"kind": "kubernetes", "from": "1.32.0", "to": "1.32.2", "talos": "v1.9.4"}]


def test_rollback_from_a_record_undoes_its_hops_in_reverse(tmp_path: Path) -> None:
    up = {"from": "v1.9.2", "to": "v1.9.4", "came_back_on": "v1.9.4", "action": "upgrade",
          "at": "2026-12-07T10:01:00Z"}
    failed = {**up, "came_back_on": "v1.9.2"}
    rec = _record(tmp_path, SINGLE, {"w1": [up], "cp2": [up], "cp1": [failed]})
    p = plan_from_record(rec, ORDER, "http://factory:8080", SCHEMATIC, Catalog.load())
    assert [h.title for h in p.hops] == ["Kubernetes 1.32.2 -> 1.32.0", "Talos v1.9.4 -> v1.9.2"]
    hop = p.talos_hops[0]
    assert hop.image == f"factory:8080/installer/{SCHEMATIC}:v1.9.2"
    assert predicted_action(rec, p, hop, "w1") == "rollback"
    # cp1 fell back to v1.9.2 when its upgrade failed: its other slot holds the failed image
    assert rec.other_slot("cp1", TalosVersion.parse("v1.9.2")) is None
    assert rec.other_slot("w1", TalosVersion.parse("v1.9.4")) == TalosVersion.parse("v1.9.2")


def test_rollback_refuses_kubernetes_down_a_minor(tmp_path: Path) -> None:
    hops = SINGLE[:1] + [{"kind": "kubernetes", "from": "1.32.0", "to": "1.33.11",
                          "talos": "v1.10.9"}]
    with pytest.raises(PlanError, match=r"Kubernetes 1.33.11 -> 1.32.0 goes down a minor: "
                                        r"talosctl upgrade-k8s only moves within a minor"):
        plan_from_record(_record(tmp_path, hops, {}), ORDER, "f", SCHEMATIC, Catalog.load())


def test_explicit_rollback_goes_kubernetes_first_and_refuses_going_up() -> None:
    t, k = TalosVersion.parse, KubeVersion.parse
    p = plan_explicit(t("v1.9.4"), k("1.32.2"), t("v1.9.2"), k("1.32.0"), ORDER, "f", SCHEMATIC,
                      Catalog.load())
    assert [h.title for h in p.hops] == ["Kubernetes 1.32.2 -> 1.32.0", "Talos v1.9.4 -> v1.9.2"]
    with pytest.raises(PlanError, match="is not a rollback: use the in_place runbook"):
        plan_explicit(t("v1.9.2"), k("1.32.0"), t("v1.9.4"), k("1.32.0"), ORDER, "f", SCHEMATIC,
                      Catalog.load())


def test_rollback_refuses_a_rebuild_that_tore_the_cluster_down(tmp_path: Path) -> None:
    from dataclasses import replace

    rec = _record(tmp_path, SINGLE, {}).with_rebuild(lambda p: replace(p, destroyed=(301, 302)))
    with pytest.raises(PlanError, match=r"is a template rebuild that stopped or destroyed the "
                                        r"cluster's VMs \(301, 302\): the rollback runbook"):
        plan_from_record(rec, ORDER, "f", SCHEMATIC, Catalog.load())


def test_the_lock_pauses_while_the_cluster_is_rebuilt_and_is_carried_over() -> None:
    leases = FakeLeases()
    lock = ClusterLock(leases, Holder.me("rebuild", ""), clock=lambda: NOW)  # type: ignore[arg-type]
    lock.acquire()
    lock.pause("torn down")
    leases.lease = None  # a new cluster: no Lease
    assert lock.carry_over() == "taken in the rebuilt cluster" and lock.paused is None
    assert lock.carry_over() == "found in the recovered etcd and renewed"
    other = Holder.me("in_place", "")
    leases.lease["spec"]["holderIdentity"] = replace_user(other)  # type: ignore[index]
    with pytest.raises(LockHeld, match="taken over by"):
        lock.carry_over()


def replace_user(holder: Holder) -> str:
    from dataclasses import replace

    return replace(holder, user="mallory").identity()
