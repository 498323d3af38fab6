"""The gate between two nodes of a roll: the whole health gate against the mid-roll expectation."""

from __future__ import annotations

from checks import ALL_CHECKS, run_checks
from checks import upgrade as proofs
from model.snapshot import ClusterSnapshot
from model.versions import TalosVersion
from tests.snapshot_builder import (
    KUBE,
    TALOS,
    expectation,
    healthy_snapshot,
    with_k8s_node,
    with_node,
)

OLD = TalosVersion.parse("v1.9.2")
ORDER = ("w1", "w2", "cp2", "cp3", "cp1")  # workers first, the primary last
BEFORE = dict.fromkeys(ORDER, OLD)  # what each node ran when the roll began


def on(snap: ClusterSnapshot, version: TalosVersion, *names: str) -> ClusterSnapshot:
    for name in names:
        snap = with_k8s_node(with_node(snap, name, talos_version=version), name,
                             os_image=f"Talos ({version})")
    return snap


def test_mid_roll_expects_done_nodes_new_and_the_rest_old() -> None:
    exp = proofs.mid_roll(expectation(), ORDER, "w2", TALOS, BEFORE, KUBE)
    assert {n.name: str(n.talos_version) for n in exp.nodes} == {
        "cp1": "v1.9.2", "cp2": "v1.9.2", "cp3": "v1.9.2", "w1": "v1.9.4", "w2": "v1.9.4"}
    assert exp.kubernetes == KUBE
    # a later node that already ran the target when the roll began (a new run on an upgraded
    # cluster) is expected there, not back on the old version
    ahead = proofs.mid_roll(expectation(), ORDER, "w2", TALOS, BEFORE | {"cp3": TALOS}, KUBE)
    assert {n.name for n in ahead.nodes if n.talos_version == OLD} == {"cp1", "cp2"}
    last = proofs.mid_roll(expectation(), ORDER, "cp1", TALOS, BEFORE, KUBE)
    assert {str(n.talos_version) for n in last.nodes} == {"v1.9.4"}


def test_gate_passes_mid_roll_with_every_node_where_it_should_be() -> None:
    snap = on(healthy_snapshot(), OLD, "cp1", "cp2", "cp3")
    exp = proofs.mid_roll(expectation(), ORDER, "w2", TALOS, BEFORE, KUBE)
    assert proofs.check_gate(snap, exp) == []


def test_gate_fails_when_a_later_node_was_touched_out_of_order() -> None:
    snap = on(healthy_snapshot(), OLD, "cp1", "cp2")  # cp3 already runs v1.9.4
    exp = proofs.mid_roll(expectation(), ORDER, "w2", TALOS, BEFORE, KUBE)
    found = proofs.check_gate(snap, exp)
    assert [(f.check, f.subject) for f in found] == [("talos-version", "node cp3")]
    assert str(found[0]).startswith("[talos-version] node cp3: expected v1.9.2, observed v1.9.4 "
                                    "(Talos API); v1.9.4 (Kubernetes osImage) — hint: cp3 runs "
                                    "a newer Talos than expected at this point: was it changed "
                                    "outside this run")


def test_gate_runs_every_check_of_the_health_gate() -> None:
    """The gate's findings are exactly those of every non-advisory health check: with a node
    not ready, one cordoned and one on the wrong Talos (which the old subset gate missed)."""
    snap = with_node(healthy_snapshot(), "w1", machine_ready=False, machine_stage="booting")
    snap = with_k8s_node(snap, "w2", unschedulable=True)
    snap = on(snap, OLD, "cp2")
    exp = expectation()
    found = proofs.check_gate(snap, exp)
    every = run_checks(snap, exp, [spec for spec in ALL_CHECKS if not spec.advisory])
    assert found == [f for fs in every.values() for f in fs]
    assert {"machine-running-ready", "k8s-nodes-schedulable", "talos-version"} <= {
        f.check for f in found}


def test_kubernetes_at_the_target_is_one_judgement_of_findings() -> None:
    from dataclasses import replace

    from model.versions import KubeVersion

    base = healthy_snapshot()
    snap = replace(base, daemonsets=tuple(
        replace(ds, images=(f"registry.k8s.io/kube-proxy:v{KUBE}",)) for ds in base.daemonsets))
    assert proofs.check_kubernetes_at(snap, expectation(), KUBE) == []
    newer = KubeVersion.parse("1.32.3")
    found = proofs.check_kubernetes_at(snap, expectation(), newer)
    assert {f.check for f in found} == {"api-server-version", "kubelet-version",
                                        "kube-proxy-version"}, found
    down = proofs.check_kubernetes_at(replace(snap, kube_error="connection refused"),
                                      expectation(), KUBE)
    assert [str(f) for f in down] == [
        "[kubernetes-upgraded] Kubernetes API: expected readable, observed unreadable: "
        "connection refused — hint: check the kubeconfig and that the API server answers: "
        "'kubectl get --raw /version'"]
