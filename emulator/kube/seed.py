"""``seed_demo_cluster``: fill a KubeStore with what a small healthy Talos cluster shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import addons, core, workloads
from .basics import uid_for
from .clock import utcnow
from .store import KubeStore


@dataclass(frozen=True)
class SeedNode:
    """A node to seed: name, InternalIP, role ``controlplane`` or ``worker``."""

    name: str
    address: str
    role: str


DEMO_NODES = (
    SeedNode("cp1", "127.0.10.1", "controlplane"),
    SeedNode("w1", "127.0.10.11", "worker"),
    SeedNode("w2", "127.0.10.12", "worker"),
)


def seed_demo_cluster(
    store: KubeStore, nodes: tuple[SeedNode, ...] = DEMO_NODES, *,
    talos_version: str = "v1.9.2", k8s_version: str = "1.32.0", at: datetime | None = None,
) -> dict[str, Any]:
    """Put nodes, static pods, kube-proxy, CoreDNS, a ``web`` app with a PDB, a Velero
    backup and Flux objects into ``store``; return a summary (names of what was created).
    """
    now = at or utcnow()
    born = now - timedelta(days=12)
    summary: dict[str, Any] = {"nodes": [], "pods": []}
    for ns in ("velero", "flux-system", "apps"):
        store.put("namespaces", core.namespace(ns, at=born))
    node_objs = []
    for n in nodes:
        obj = store.put("nodes", core.node(n.name, n.address, n.role,
                                              talos_version=talos_version,
                                              kubelet_version=k8s_version, at=born))
        node_objs.append(obj)
        summary["nodes"].append(n.name)
        store.put("leases", core.node_lease(obj, renew=now, at=born))

    def put_pod(p: dict[str, Any]) -> None:
        store.put("pods", p)
        summary["pods"].append(f"{p['metadata']['namespace']}/{p['metadata']['name']}")

    cps = [(n, o) for n, o in zip(nodes, node_objs, strict=True) if n.role == "controlplane"]
    for n, o in cps:
        for comp in workloads.CONTROL_PLANE_COMPONENTS:
            put_pod(workloads.static_pod(comp, n.name, k8s_version, node_ip=n.address,
                                         node_uid=o["metadata"]["uid"], at=born))
    if cps:
        holder = cps[0][0].name
        for comp in ("kube-controller-manager", "kube-scheduler"):
            store.put("leases", core.lease(
                comp, "kube-system", f"{holder}_{uid_for('holder', comp, holder)}", 15,
                renew=now, at=born))

    ds = store.put("daemonsets", workloads.kube_proxy_daemonset(k8s_version, len(nodes), at=born))
    for n in nodes:
        put_pod(workloads.daemon_pod(ds, n.name, n.address, at=born))

    workers = [n for n in nodes if n.role == "worker"] or list(nodes)
    apps = (
        ("coredns", "kube-system", 2, {"k8s-app": "kube-dns"},
         "registry.k8s.io/coredns/coredns:v1.12.0", [53, 9153]),
        ("web", "apps", 3, {"app": "web"}, "nginx:1.27.3", [80]),
    )
    for name, ns, replicas, labels, image, ports in apps:
        dep = store.put("deployments", workloads.deployment(
            name, ns, replicas, labels, image, ports=ports, at=born))
        rs = store.put("replicasets", workloads.replicaset(dep, at=born))
        for i in range(replicas):
            n = workers[i % len(workers)]
            put_pod(workloads.replica_pod(rs, n.name, n.address, i, at=born))
    store.put("poddisruptionbudgets", workloads.pdb("web", "apps", {"app": "web"},
                                                    max_unavailable=1, at=born))
    store.put("services", core.service("kubernetes", "default", "10.96.0.1",
                                          [("https", 443, "TCP")], at=born,
                                          labels={"component": "apiserver",
                                                  "provider": "kubernetes"}))
    store.put("services", core.service(
        "kube-dns", "kube-system", "10.96.0.10",
        [("dns", 53, "UDP"), ("dns-tcp", 53, "TCP"), ("metrics", 9153, "TCP")],
        selector={"k8s-app": "kube-dns"}, labels={"k8s-app": "kube-dns"}, at=born))

    store.put("backups", addons.velero_backup(
        "daily-20261119", excluded_namespaces=["kube-system", "kube-public", "kube-node-lease"],
        default_volumes_to_fs_backup=True, phase="Completed", items=412,
        at=now - timedelta(hours=20)))
    store.put("kustomizations", addons.kustomization("flux-system", at=born))
    store.put("kustomizations", addons.kustomization("apps", path="./apps/lab", at=born))
    store.put("helmreleases", addons.helmrelease("podinfo", "apps", chart="podinfo",
                                                 version="6.7.1", at=born))
    if node_objs:
        store.put("events", core.event(node_objs[0], "RegisteredNode",
                                          f"Node {node_objs[0]['metadata']['name']} event: "
                                          "Registered Node in Controller",
                                          component="node-controller", first=born))
    summary["backups"] = ["velero/daily-20261119"]
    summary["pdbs"] = ["apps/web"]
    return summary
