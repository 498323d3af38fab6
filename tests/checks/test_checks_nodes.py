"""Node checks: registered, Ready, schedulable, boot finished, apid answering."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from checks import nodes
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, K8sNode, UnmetCondition
from tests.snapshot_builder import (
    add,
    expectation,
    healthy_snapshot,
    with_k8s_node,
    with_node,
    without_k8s_node,
)

Mutation = Callable[[ClusterSnapshot], ClusterSnapshot]
KUBE_DOWN = (
    "Kubernetes API: expected readable, observed unreadable: Get https://127.0.10.1:6443/api/v1/"
    "nodes: dial tcp 127.0.10.1:6443: connect: connection refused — hint: check the kubeconfig "
    "and that the API server answers: 'kubectl get --raw /version'"
)


def kube_down(s: ClusterSnapshot) -> ClusterSnapshot:
    return replace(
        s,
        k8s_nodes=(),
        kube_error="Get https://127.0.10.1:6443/api/v1/nodes: "
        "dial tcp 127.0.10.1:6443: connect: connection refused",
    )


CASES: list[tuple[str, Callable[..., list[Finding]], Mutation, list[str]]] = [
    (
        "missing-and-extra-node",
        nodes.check_nodes_registered,
        lambda s: without_k8s_node(add(s, "k8s_nodes", K8sNode("w9", ready="True")), "w2"),
        [
            "[k8s-nodes-registered] node w2: expected registered in Kubernetes, observed no "
            "Kubernetes Node of that name — hint: check the kubelet: "
            "'talosctl -n 127.0.10.12 service kubelet'",
            "[k8s-nodes-registered] node w9: expected only the profile's nodes (cp1, cp2, cp3, "
            "w1, w2), observed registered in Kubernetes but not in the profile — hint: add it to "
            "the profile; if the machine is gone, 'kubectl delete node w9'",
        ],
    ),
    (
        "registered-kube-down",
        nodes.check_nodes_registered,
        kube_down,
        [f"[k8s-nodes-registered] {KUBE_DOWN}"],
    ),
    (
        "not-ready",
        nodes.check_nodes_ready,
        lambda s: with_k8s_node(
            s,
            "w2",
            ready="False",
            ready_reason="KubeletNotReady",
            ready_message="container runtime network not ready",
        ),
        [
            "[k8s-nodes-ready] node w2: expected Ready=True, observed Ready=False "
            "(KubeletNotReady: container runtime network not ready) — hint: "
            "'kubectl describe node w2'; 'talosctl -n 127.0.10.12 service kubelet'"
        ],
    ),
    (
        "ready-unknown-without-reason",
        nodes.check_nodes_ready,
        lambda s: with_k8s_node(s, "cp3", ready="Unknown", ready_reason=None, ready_message=None),
        [
            "[k8s-nodes-ready] node cp3: expected Ready=True, observed Ready=Unknown — hint: "
            "'kubectl describe node cp3'; 'talosctl -n 127.0.10.3 service kubelet'"
        ],
    ),
    (
        "ready-but-unregistered",
        nodes.check_nodes_ready,
        lambda s: without_k8s_node(s, "w1"),
        [
            "[k8s-nodes-ready] node w1: expected Ready=True, observed no Kubernetes Node of that "
            "name — hint: check the kubelet: 'talosctl -n 127.0.10.11 service kubelet'"
        ],
    ),
    ("ready-kube-down", nodes.check_nodes_ready, kube_down, [f"[k8s-nodes-ready] {KUBE_DOWN}"]),
    (
        "cordoned",
        nodes.check_nodes_schedulable,
        lambda s: with_k8s_node(s, "w1", unschedulable=True),
        [
            "[k8s-nodes-schedulable] node w1: expected schedulable, observed cordoned "
            "(spec.unschedulable: true) — hint: once it is healthy: 'kubectl uncordon w1'"
        ],
    ),
    (
        "booting",
        nodes.check_machine_ready,
        lambda s: with_node(
            s,
            "w1",
            machine_stage="booting",
            machine_ready=False,
            unmet_conditions=[UnmetCondition("nodeReady", 'node "w1" is not ready')],
        ),
        [
            "[machine-running-ready] node w1: expected stage running, ready, observed stage "
            'booting, not ready (unmet: nodeReady: node "w1" is not ready) — hint: '
            "'talosctl -n 127.0.10.11 get machinestatus'; 'talosctl -n 127.0.10.11 dmesg'"
        ],
    ),
    (
        "running-readiness-unknown",
        nodes.check_machine_ready,
        lambda s: with_node(s, "cp1", machine_ready=None),
        [
            "[machine-running-ready] node cp1: expected stage running, ready, observed stage "
            "running, readiness unknown — hint: 'talosctl -n 127.0.10.1 get machinestatus'; "
            "'talosctl -n 127.0.10.1 dmesg'"
        ],
    ),
    (
        "machine-apid-down",
        nodes.check_machine_ready,
        lambda s: with_node(s, "cp2", apid_ok=False, apid_error="connection refused"),
        [
            "[machine-running-ready] node cp2: expected stage running, ready, observed unknown "
            "(Talos API not answering: connection refused) — hint: is the machine up? "
            "'talosctl -n 127.0.10.2 version'"
        ],
    ),
    (
        "apid-down",
        nodes.check_apid_ready,
        lambda s: with_node(
            s,
            "cp2",
            apid_ok=False,
            apid_error="rpc error: code = Unavailable desc = connection refused",
        ),
        [
            "[apid-ready] node cp2: expected the Talos API answering, observed no answer: rpc "
            "error: code = Unavailable desc = connection refused — hint: is the machine up and "
            "port 50000 reachable? 'talosctl -n 127.0.10.2 version'"
        ],
    ),
]


@pytest.mark.parametrize(
    ("check", "mutate", "expected"),
    [pytest.param(c, m, e, id=i) for i, c, m, e in CASES],
)
def test_finding_text(
    check: Callable[..., list[Finding]], mutate: Mutation, expected: list[str]
) -> None:
    findings = check(mutate(healthy_snapshot()), expectation())
    assert [str(f) for f in findings] == expected


def test_node_missing_from_snapshot_is_a_harness_error() -> None:
    snap = healthy_snapshot()
    snap = replace(snap, nodes=tuple(n for n in snap.nodes if n.name != "w2"))
    (finding,) = nodes.check_apid_ready(snap, expectation())
    assert finding.category is Category.HARNESS_ERROR
    assert str(finding) == (
        "[apid-ready] node w2: expected the Talos API answering, observed nothing observed (the "
        "snapshot has no entry for this node) — hint: a harness bug: the snapshot must cover "
        "every profile node"
    )


def test_node_findings_are_node_readiness() -> None:
    snap = with_k8s_node(healthy_snapshot(), "w1", ready="False", unschedulable=True)
    findings = nodes.check_nodes_ready(snap, expectation()) + nodes.check_nodes_schedulable(
        snap, expectation()
    )
    assert [f.category for f in findings] == [Category.NODE_READINESS] * 2
    assert [f.subject for f in findings] == ["node w1", "node w1"]
