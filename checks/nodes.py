"""Node checks: registered in Kubernetes, Ready, schedulable; Talos booted; apid answering."""

from __future__ import annotations

from checks._common import clip, kube_unreadable, talos_side
from checks.expectation import Expectation, ExpectedNode
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, K8sNode

REGISTERED = "k8s-nodes-registered"
READY = "k8s-nodes-ready"
SCHEDULABLE = "k8s-nodes-schedulable"
MACHINE_READY = "machine-running-ready"
APID = "apid-ready"

_CAT = Category.NODE_READINESS


def _unregistered(check: str, node: ExpectedNode, expected: str) -> Finding:
    return Finding(
        check,
        f"node {node.name}",
        expected,
        "no Kubernetes Node of that name",
        f"check the kubelet: 'talosctl -n {node.target} service kubelet'",
        _CAT,
    )


def _k8s_nodes(
    check: str, snapshot: ClusterSnapshot, expectation: Expectation, expected: str
) -> tuple[list[tuple[ExpectedNode, K8sNode]], list[Finding]]:
    """Pairs (expected node, its Kubernetes Node), and findings for those that have none."""
    if snapshot.kube_error is not None:
        return [], kube_unreadable(check, _CAT, snapshot)
    pairs, findings = [], []
    for node in expectation.nodes:
        k8s = snapshot.k8s_node(node.name)
        if k8s is None:
            findings.append(_unregistered(check, node, expected))
        else:
            pairs.append((node, k8s))
    return pairs, findings


def check_nodes_registered(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Kubernetes Nodes = profile nodes: each profile node registered, no unknown Node."""
    pairs, findings = _k8s_nodes(REGISTERED, snapshot, expectation, "registered in Kubernetes")
    if snapshot.kube_error is not None:
        return findings
    known = set(expectation.node_names)
    listed = ", ".join(expectation.node_names)
    for k8s in snapshot.k8s_nodes:
        if k8s.name not in known:
            findings.append(
                Finding(
                    REGISTERED,
                    f"node {k8s.name}",
                    f"only the profile's nodes ({listed})",
                    "registered in Kubernetes but not in the profile",
                    "add it to the profile; if the machine is gone, "
                    f"'kubectl delete node {k8s.name}'",
                    _CAT,
                )
            )
    return findings


def check_nodes_ready(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every profile node's Ready condition is True."""
    pairs, findings = _k8s_nodes(READY, snapshot, expectation, "Ready=True")
    for node, k8s in pairs:
        if k8s.ready != "True":
            why = ": ".join(x for x in (k8s.ready_reason, k8s.ready_message) if x)
            findings.append(
                Finding(
                    READY,
                    f"node {node.name}",
                    "Ready=True",
                    f"Ready={k8s.ready}" + (f" ({clip(why)})" if why else ""),
                    f"'kubectl describe node {node.name}'; "
                    f"'talosctl -n {node.target} service kubelet'",
                    _CAT,
                )
            )
    return findings


def check_nodes_schedulable(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """No profile node is cordoned."""
    pairs, findings = _k8s_nodes(SCHEDULABLE, snapshot, expectation, "schedulable")
    for node, k8s in pairs:
        if k8s.unschedulable:
            findings.append(
                Finding(
                    SCHEDULABLE,
                    f"node {node.name}",
                    "schedulable",
                    "cordoned (spec.unschedulable: true)",
                    f"once it is healthy: 'kubectl uncordon {node.name}'",
                    _CAT,
                )
            )
    return findings


def check_machine_ready(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every node finished booting: MachineStatus stage running and ready."""
    expected = "stage running, ready"
    findings = []
    for node in expectation.nodes:
        obs, problem = talos_side(MACHINE_READY, _CAT, snapshot, node, expected)
        if problem is not None:
            findings.append(problem)
            continue
        assert obs is not None
        if obs.machine_stage == "running" and obs.machine_ready is True:
            continue
        stage = obs.machine_stage or "unknown"
        ready = {True: "ready", False: "not ready", None: "readiness unknown"}[obs.machine_ready]
        observed = f"stage {stage}, {ready}"
        if obs.unmet_conditions:
            unmet = "; ".join(str(c) for c in obs.unmet_conditions)
            observed += f" (unmet: {clip(unmet)})"
        findings.append(
            Finding(
                MACHINE_READY,
                f"node {node.name}",
                expected,
                observed,
                f"'talosctl -n {node.target} get machinestatus'; 'talosctl -n {node.target} dmesg'",
                _CAT,
            )
        )
    return findings


def check_apid_ready(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """The Talos API (apid) answers on every node."""
    findings = []
    for node in expectation.nodes:
        obs = snapshot.node(node.name)
        if obs is None:
            _, missing = talos_side(APID, _CAT, snapshot, node, "the Talos API answering")
            assert missing is not None
            findings.append(missing)
        elif not obs.apid_ok:
            findings.append(
                Finding(
                    APID,
                    f"node {node.name}",
                    "the Talos API answering",
                    f"no answer: {clip(obs.apid_error or 'no error recorded')}",
                    "is the machine up and port 50000 reachable? "
                    f"'talosctl -n {node.target} version'",
                    _CAT,
                )
            )
    return findings
