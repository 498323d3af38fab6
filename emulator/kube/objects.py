"""All object builders in one namespace, plus the copy-returning helpers the lab's world uses.

Builders live in :mod:`.core` (Node, Namespace, Service, Lease, Event, ``/version``),
:mod:`.workloads` (pods, static pods, DaemonSets, Deployments, PDBs) and :mod:`.addons`
(Velero, Flux); they are re-exported here. The ``with_*`` helpers return a changed *copy*;
the ``set_*`` ones change their argument in place. Nothing here does I/O.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from .addons import (
    BACKUP_PHASES,
    TERMINAL_BACKUP_PHASES,
    flux_ready,
    git_revision,
    helmrelease,
    kustomization,
    parse_go_duration,
    set_backup_phase,
    set_flux_ready,
    velero_backup,
)
from .basics import Obj, condition, hex_digest, k8s_tag, meta, owner_ref, safe_suffix, ts, uid_for
from .core import (
    CP_LABEL,
    configmap,
    event,
    lease,
    namespace,
    node,
    node_address,
    node_lease,
    service,
    set_node_ready,
    set_node_unschedulable,
    set_node_versions,
    version_info,
)
from .disruption import pod_ready
from .workloads import (
    CONTROL_PLANE_COMPONENTS,
    container,
    daemon_pod,
    daemonset,
    image_id,
    kube_proxy_daemonset,
    pdb,
    pod,
    replica_pod,
    replicaset,
    set_pod_image,
    set_pod_state,
    static_pod,
    workload_status,
)
from .workloads import deployment as deployment_object

__all__ = [
    "BACKUP_PHASES", "CONTROL_PLANE_COMPONENTS", "CP_LABEL", "TERMINAL_BACKUP_PHASES", "Obj",
    "backup_status", "clone_pod_to", "condition", "configmap", "container", "crashloop_pod",
    "daemon_pod", "daemonset", "deployment", "deployment_object", "event", "flux_ready",
    "git_revision", "helmrelease", "hex_digest", "image_id", "internal_ip", "k8s_tag",
    "kube_proxy", "kube_proxy_daemonset", "kustomization", "lease", "meta", "namespace", "node",
    "node_address", "node_lease", "node_ready", "owner_ref", "parse_go_duration", "pdb", "pod",
    "pod_ready", "replica_pod", "replicaset", "safe_suffix", "service", "set_backup_phase",
    "set_flux_ready", "set_node_ready", "set_node_unschedulable", "set_node_versions",
    "set_pod_image", "set_pod_state", "static_pod", "ts", "uid_for", "velero_backup",
    "version_info", "with_flux_ready", "with_image", "with_node_ready", "with_pod_ready",
    "workload_status",
]


def kube_proxy(
    node_names: list[str], k8s_version: str, *, addresses: dict[str, str] | None = None,
    at: datetime | None = None,
) -> tuple[Obj, list[Obj]]:
    """Return the ``kube-system/kube-proxy`` DaemonSet and one pod per node."""
    ds = kube_proxy_daemonset(k8s_version, len(node_names), at=at)
    ips = addresses or {}
    return ds, [daemon_pod(ds, n, ips.get(n, ""), at=at) for n in node_names]


def deployment(
    name: str, namespace_: str, replicas: int, labels: dict[str, str], image: str,
    hosts: list[str] | None = None, *, addresses: dict[str, str] | None = None,
    ports: list[int] | None = None, at: datetime | None = None,
) -> tuple[Obj, Obj, list[Obj]]:
    """Return (Deployment, its ReplicaSet, its Running pods spread round-robin over ``hosts``).

    Without hosts the pods are Pending (unscheduled) and the counters say 0 ready.
    """
    dep = deployment_object(name, namespace_, replicas, labels, image, ports=ports,
                            ready=replicas if hosts else 0, at=at)
    rs = replicaset(dep, at=at)
    ips = addresses or {}
    pods = []
    for i in range(replicas):
        if hosts:
            host = hosts[i % len(hosts)]
            pods.append(replica_pod(rs, host, ips.get(host, ""), i, at=at))
        else:
            p = replica_pod(rs, "", "", i, ready=False, at=at)
            pods.append(_unscheduled(p, at))
    return dep, rs, pods


def _unscheduled(p: Obj, at: datetime | None) -> Obj:
    p["spec"].pop("nodeName", None)
    st = p["status"]
    for k in ("hostIP", "hostIPs", "podIP", "podIPs", "startTime", "containerStatuses"):
        st.pop(k, None)
    st["phase"] = "Pending"
    st["conditions"] = [{
        "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
        "message": "0/0 nodes are available: no nodes available to schedule pods.",
        "lastProbeTime": None, "lastTransitionTime": ts(at)}]
    return p


def node_ready(node_: Obj) -> str:
    """Return the node's Ready condition status: ``True``, ``False`` or ``Unknown``."""
    for c in (node_.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return str(c.get("status", "Unknown"))
    return "Unknown"


internal_ip = node_address


def with_node_ready(
    node_: Obj, ready: str | bool | None, reason: str | None = None,
    message: str | None = None, at: datetime | None = None,
) -> Obj:
    """Return a copy of the node with Ready set (``"True"``/``"False"``/``"Unknown"`` or bool)."""
    flag = {"True": True, "False": False, "Unknown": None}.get(ready, ready) \
        if isinstance(ready, str) else ready
    out = set_node_ready(copy.deepcopy(node_), flag, at)  # type: ignore[arg-type]
    for c in out["status"]["conditions"]:
        if c["type"] == "Ready":
            c["reason"] = reason or c["reason"]
            c["message"] = message or c["message"]
    return out


def with_pod_ready(pod_: Obj, ready: bool, at: datetime | None = None) -> Obj:
    """Return a copy of the pod Running and Ready (or Running, not ready)."""
    return set_pod_state(copy.deepcopy(pod_), ready=ready, at=at)


def with_image(obj: Obj, image: str, container_name: str | None = None, *,
               at: datetime | None = None) -> Obj:
    """Return a copy with the (first or named) container's image changed.

    Works on a Pod (spec and containerStatuses) and on DaemonSet/Deployment/ReplicaSet
    templates (the generation of the result is the store's business).
    """
    out = copy.deepcopy(obj)
    if out["kind"] == "Pod":
        name = container_name or out["spec"]["containers"][0]["name"]
        return set_pod_image(out, name, image)
    containers = out["spec"]["template"]["spec"]["containers"]
    target = next((c for c in containers if c["name"] == container_name), containers[0])
    target["image"] = image
    return out


def with_flux_ready(obj: Obj, ready: bool | None, reason: str | None = None,
                    message: str | None = None, at: datetime | None = None) -> Obj:
    """Return a copy of a Kustomization/HelmRelease with its Ready condition set."""
    return set_flux_ready(copy.deepcopy(obj), ready, reason=reason, message=message, at=at)


def clone_pod_to(pod_: Obj, node_name: str | None, suffix: str, *, ready: bool = True,
                 node_ip: str = "", at: datetime | None = None) -> Obj:
    """Return the replacement a ReplicaSet would create: same template, new name/uid, on
    ``node_name`` (Running) or, if None, Pending and unscheduled.
    """
    old_name = pod_["metadata"]["name"]
    base = old_name.rsplit("-", 1)[0] if "-" in old_name else old_name
    new_name = f"{base}-{suffix}"
    owner = (pod_["metadata"].get("ownerReferences") or [None])[0]
    owner_obj = None if owner is None else {
        "apiVersion": owner["apiVersion"], "kind": owner["kind"],
        "metadata": {"name": owner["name"], "uid": owner["uid"]}}
    labels = pod_["metadata"].get("labels") or {}
    fresh = pod(new_name, pod_["metadata"]["namespace"], node_name=node_name or "",
                containers=pod_["spec"]["containers"], labels=labels, owner=owner_obj,
                host_ip=node_ip, ready=ready and node_name is not None, at=at)
    if node_name is None:
        return _unscheduled(fresh, at)
    return fresh


def crashloop_pod(name: str, namespace_: str, node_name: str, *,
                  image: str = "ghcr.io/example/crashloop:1.0", restarts: int = 5,
                  node_ip: str = "", at: datetime | None = None) -> Obj:
    """Return a bare pod in CrashLoopBackOff (waiting reason, restartCount, last exit 1)."""
    p = pod(name, namespace_, node_name=node_name, containers=[container("app", image)],
            labels={"app": name}, host_ip=node_ip, at=at)
    return set_pod_state(p, crashloop=True, restart_count=restarts, at=at)


def backup_status(
    phase: str, *, items: int | None = None, errors: int = 0, warnings: int = 0,
    failure_reason: str | None = None, started: datetime | None = None,
    ttl: str = "720h0m0s", at: datetime | None = None,
) -> dict[str, Any]:
    """Return the ``.status`` Velero writes for ``phase``, for a merge patch.

    Only ``InProgress`` (or an explicit ``started``) sets startTimestamp/expiration, so a
    later phase merged on top keeps the times the backup really started with.
    """
    stub: Obj = {"metadata": {}, "spec": {"ttl": ttl}, "status": {}}
    if started is not None:
        stub["status"]["startTimestamp"] = ts(started)
    set_backup_phase(stub, phase, at=at, items=items, errors=errors, warnings=warnings,
                     failure_reason=failure_reason)
    out = dict(stub["status"])
    if phase != "InProgress" and started is None:
        out.pop("startTimestamp", None)
        out.pop("expiration", None)
    return out
