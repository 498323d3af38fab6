"""A healthy cluster snapshot and its expectation, plus helpers to break one thing at a time.

Three control planes (cp1 primary) and two workers on Talos v1.9.4 / Kubernetes 1.32.2.
Addresses are loopback test data; nothing connects to them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from checks.expectation import Expectation, ExpectedNode
from model.catalog import CatalogError
from model.roles import Role
from model.snapshot import (
    ClusterSnapshot,
    DaemonSet,
    Deployment,
    EtcdMember,
    EtcdObservation,
    EtcdStatus,
    ExtensionObservation,
    FluxObject,
    K8sNode,
    NodeObservation,
    Pod,
)
from model.versions import KubeVersion, TalosVersion

TALOS = TalosVersion.parse("v1.9.4")
KUBE = KubeVersion.parse("1.32.2")
SCHEMATIC = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"
EXTENSIONS = ("siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent")
CPS = ("cp1", "cp2", "cp3")
WORKERS = ("w1", "w2")
ADDRESS = {
    "cp1": "127.0.10.1",
    "cp2": "127.0.10.2",
    "cp3": "127.0.10.3",
    "w1": "127.0.10.11",
    "w2": "127.0.10.12",
}
MEMBER_ID = {"cp1": 0xA49C021E76E707DB, "cp2": 0x7F3C9A1B2C3D4E5F, "cp3": 0xECEBB05B59A776F1}
LEADER = MEMBER_ID["cp1"]

# Talos minor -> (lowest, highest) supported Kubernetes minor (reference §4.1, excerpt).
_MATRIX = {(1, 9): ((1, 27), (1, 32)), (1, 10): ((1, 28), (1, 33))}


def supports(talos: TalosVersion, kube: KubeVersion) -> bool:
    """A small support matrix; raises CatalogError (as Catalog.supports does) for a Talos minor
    it does not know."""
    if talos.minor_line not in _MATRIX:
        raise CatalogError(f"Talos {talos.minor_str} is not in the release catalog")
    low, high = _MATRIX[talos.minor_line]
    return low <= kube.minor_line <= high


def role(name: str) -> Role:
    return Role.CONTROL_PLANE if name in CPS else Role.WORKER


def expectation(**changes: Any) -> Expectation:
    """The expectation matching `healthy_snapshot()`, with `changes` applied."""
    exp = Expectation(
        nodes=tuple(ExpectedNode(n, ADDRESS[n], role(n), TALOS) for n in CPS + WORKERS),
        kubernetes=KUBE,
        schematic=SCHEMATIC,
        extensions=EXTENSIONS,
        supports=supports,
        flux_enabled=True,
        pod_allowlist=("monitoring/flaky-",),
        max_raft_index_spread=50,
    )
    return replace(exp, **changes)


def member(name: str, **changes: Any) -> EtcdMember:
    m = EtcdMember(
        id=MEMBER_ID[name],
        hostname=name,
        peer_urls=(f"https://{ADDRESS[name]}:2380",),
        client_urls=(f"https://{ADDRESS[name]}:2379",),
        learner=False,
    )
    return replace(m, **changes)


def status(name: str, **changes: Any) -> EtcdStatus:
    s = EtcdStatus(
        member_id=MEMBER_ID[name],
        db_size="21 MB",
        in_use="6.0 MB (29.08%)",
        leader_id=LEADER,
        raft_index=53391,
        raft_term=4,
        raft_applied_index=53391,
        learner=False,
        errors=(),
    )
    return replace(s, **changes)


def _talos_node(name: str) -> NodeObservation:
    exts = (
        ExtensionObservation("0", "iscsi-tools", "v0.1.6"),
        ExtensionObservation("1", "qemu-guest-agent", "9.2.0"),
        ExtensionObservation("2", "schematic", SCHEMATIC),
    )
    return NodeObservation(
        name=name,
        address=ADDRESS[name],
        role=role(name),
        talos_version=TALOS,
        apid_ok=True,
        machine_stage="running",
        machine_ready=True,
        extensions=exts,
    )


def _k8s_node(name: str) -> K8sNode:
    return K8sNode(
        name=name,
        ready="True",
        ready_reason="KubeletReady",
        ready_message="kubelet is posting ready status",
        unschedulable=False,
        kubelet_version=KUBE,
        os_image=f"Talos ({TALOS})",
        internal_ip=ADDRESS[name],
        roles=("control-plane",) if name in CPS else (),
    )


def _pods() -> list[Pod]:
    pods = []
    for cp in CPS:
        for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            pods.append(
                Pod(
                    "kube-system",
                    f"{component}-{cp}",
                    "Running",
                    node=cp,
                    ready=True,
                    labels={"k8s-app": component, "tier": "control-plane"},
                    images=(f"registry.k8s.io/{component}:{KUBE.tag}",),
                    owner_kind="Node",
                )
            )
    for i, node in enumerate(CPS + WORKERS):
        pods.append(
            Pod(
                "kube-system",
                f"kube-proxy-{i}",
                "Running",
                node=node,
                ready=True,
                labels={"k8s-app": "kube-proxy"},
                owner_kind="DaemonSet",
            )
        )
    pods.append(
        Pod(
            "kube-system",
            "coredns-5d7b8-abcde",
            "Running",
            node="w1",
            ready=True,
            labels={"k8s-app": "kube-dns"},
            owner_kind="ReplicaSet",
        )
    )
    pods.append(Pod("batch", "nightly-28822-xyz", "Succeeded", node="w2", owner_kind="Job"))
    return pods


def healthy_snapshot() -> ClusterSnapshot:
    """A snapshot every check passes against `expectation()`."""
    return ClusterSnapshot(
        taken_at="2026-11-20T03:00:00Z",
        nodes=tuple(_talos_node(n) for n in CPS + WORKERS),
        k8s_nodes=tuple(_k8s_node(n) for n in CPS + WORKERS),
        etcd=EtcdObservation(
            members_by_node={cp: tuple(member(m) for m in CPS) for cp in CPS},
            status_by_node={cp: status(cp) for cp in CPS},
        ),
        pods=tuple(_pods()),
        daemonsets=(
            DaemonSet(
                "kube-system",
                "kube-proxy",
                desired=5,
                ready=5,
                updated=5,
                labels={"k8s-app": "kube-proxy"},
            ),
        ),
        deployments=(
            Deployment(
                "kube-system",
                "coredns",
                desired=2,
                ready=2,
                updated=2,
                labels={"k8s-app": "kube-dns"},
            ),
        ),
        flux=(
            FluxObject("Kustomization", "flux-system", "apps", "True", "ReconciliationSucceeded"),
            FluxObject("HelmRelease", "monitoring", "prometheus", "True", "UpgradeSucceeded"),
        ),
        api_server_version=KUBE,
    )


# --------------------------------------------------------------------------- mutations


def with_node(snap: ClusterSnapshot, name: str, **changes: Any) -> ClusterSnapshot:
    """`snap` with the Talos-side observation of node `name` changed."""
    nodes = tuple(replace(n, **changes) if n.name == name else n for n in snap.nodes)
    return replace(snap, nodes=nodes)


def with_k8s_node(snap: ClusterSnapshot, name: str, **changes: Any) -> ClusterSnapshot:
    """`snap` with Kubernetes Node `name` changed."""
    nodes = tuple(replace(n, **changes) if n.name == name else n for n in snap.k8s_nodes)
    return replace(snap, k8s_nodes=nodes)


def without_k8s_node(snap: ClusterSnapshot, name: str) -> ClusterSnapshot:
    return replace(snap, k8s_nodes=tuple(n for n in snap.k8s_nodes if n.name != name))


def with_pod(snap: ClusterSnapshot, name: str, **changes: Any) -> ClusterSnapshot:
    """`snap` with pod `name` (any namespace) changed."""
    pods = tuple(replace(p, **changes) if p.name == name else p for p in snap.pods)
    return replace(snap, pods=pods)


def add(snap: ClusterSnapshot, field: str, *items: Any) -> ClusterSnapshot:
    """`snap` with `items` appended to its tuple `field`."""
    changes: dict[str, Any] = {field: tuple(getattr(snap, field)) + items}
    return replace(snap, **changes)


def with_etcd(snap: ClusterSnapshot, **changes: Any) -> ClusterSnapshot:
    """`snap` with its EtcdObservation fields replaced (mappings are merged per node)."""
    etcd = snap.etcd
    for key in ("members_by_node", "status_by_node"):
        if key in changes:
            changes[key] = {**getattr(etcd, key), **changes[key]}
    return replace(snap, etcd=replace(etcd, **changes))


def members_everywhere(snap: ClusterSnapshot, members: tuple[EtcdMember, ...]) -> ClusterSnapshot:
    """`snap` where every control plane reports `members`."""
    return with_etcd(snap, members_by_node={cp: members for cp in CPS})
