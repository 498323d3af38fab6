"""Builders of cluster-level objects: Nodes, Namespaces, Services, ConfigMaps, Leases, Events.

Every builder returns a fresh dict that the strict ``kubernetes`` Python client accepts
(required fields present, right types) and that reads like a real Talos cluster. Times are
taken from ``at`` (default: now); identifiers derive from names, so the same call gives the
same object. The ``set_*`` helpers change an object in place and return it.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from .basics import Obj, condition, hex_digest, k8s_tag, meta, ts, uid_for
from .clock import micro_time, utcnow

CP_LABEL = "node-role.kubernetes.io/control-plane"
DEFAULT_KERNEL = "6.12.6-talos"
DEFAULT_RUNTIME = "containerd://2.0.2"


def version_info(
    k8s_version: str = "1.32.0", *, go_version: str = "go1.23.4", platform: str = "linux/amd64",
    build_date: str = "2024-12-11T18:04:20Z",
) -> Obj:
    """Return a complete ``/version`` body (apimachinery ``version.Info``)."""
    tag = k8s_tag(k8s_version)
    major, minor = tag[1:].split(".")[:2]
    return {"major": major, "minor": minor, "gitVersion": tag,
            "gitCommit": hex_digest(f"kubernetes {tag}", 40), "gitTreeState": "clean",
            "buildDate": build_date, "goVersion": go_version, "compiler": "gc",
            "platform": platform}


# ---------------------------------------------------------------- namespaces, services, config
def namespace(name: str, *, labels: dict[str, str] | None = None,
              at: datetime | None = None) -> Obj:
    """Return an Active Namespace labelled ``kubernetes.io/metadata.name``."""
    all_labels = {"kubernetes.io/metadata.name": name, **(labels or {})}
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": meta("Namespace", name, labels=all_labels, at=at),
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}


def service(
    name: str, namespace_: str, cluster_ip: str, ports: list[tuple[str, int, str]], *,
    selector: dict[str, str] | None = None, labels: dict[str, str] | None = None,
    at: datetime | None = None,
) -> Obj:
    """Return a ClusterIP Service; ``ports`` are (name, port, protocol)."""
    spec: Obj = {
        "type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
        "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
        "internalTrafficPolicy": "Cluster", "sessionAffinity": "None",
        "ports": [{"name": n, "port": p, "protocol": proto, "targetPort": p}
                  for n, p, proto in ports],
    }
    if selector:
        spec["selector"] = dict(selector)
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": meta("Service", name, namespace_, labels=labels, at=at),
            "spec": spec, "status": {"loadBalancer": {}}}


def configmap(name: str, namespace_: str, data: dict[str, str], *,
              at: datetime | None = None) -> Obj:
    """Return a ConfigMap holding ``data``."""
    return {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": meta("ConfigMap", name, namespace_, at=at), "data": dict(data)}


# ---------------------------------------------------------------- nodes
def node(
    name: str, address: str, role: str = "worker", talos_version: str = "v1.9.2",
    kubelet_version: str = "v1.32.0", *, ready: bool | None = True, unschedulable: bool = False,
    kernel_version: str = DEFAULT_KERNEL, container_runtime: str = DEFAULT_RUNTIME,
    architecture: str = "amd64", boot_id: str | None = None, pod_cidr: str | None = None,
    cpu: str = "2", memory_ki: int = 4013056, at: datetime | None = None,
) -> Obj:
    """Return a Talos Node: role ``controlplane`` or ``worker``; ready True/False/None=Unknown."""
    if role not in ("controlplane", "worker"):
        raise ValueError(f"role must be 'controlplane' or 'worker', not {role!r}")
    labels = {"beta.kubernetes.io/arch": architecture, "beta.kubernetes.io/os": "linux",
              "kubernetes.io/arch": architecture, "kubernetes.io/hostname": name,
              "kubernetes.io/os": "linux"}
    if role == "controlplane":
        labels[CP_LABEL] = ""
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
    cidr = pod_cidr or f"10.244.{int(hex_digest(name, 4), 16) % 250}.0/24"
    annotations = {"flannel.alpha.coreos.com/backend-type": "vxlan",
                   "flannel.alpha.coreos.com/public-ip": address,
                   "node.alpha.kubernetes.io/ttl": "0",
                   "volumes.kubernetes.io/controller-managed-attach-detach": "true"}
    storage_ki = 10218772
    obj: Obj = {
        "apiVersion": "v1", "kind": "Node",
        "metadata": meta("Node", name, labels=labels, annotations=annotations, at=at),
        "spec": {"podCIDR": cidr, "podCIDRs": [cidr],
                 "taints": ([{"key": CP_LABEL, "effect": "NoSchedule"}]
                            if role == "controlplane" else [])},
        "status": {
            "addresses": [{"type": "InternalIP", "address": address},
                          {"type": "Hostname", "address": name}],
            "allocatable": {"cpu": cpu, "ephemeral-storage": str(int(storage_ki * 1024 * 0.9)),
                            "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                            "memory": f"{memory_ki - 102400}Ki", "pods": "110"},
            "capacity": {"cpu": cpu, "ephemeral-storage": f"{storage_ki}Ki",
                         "hugepages-1Gi": "0", "hugepages-2Mi": "0",
                         "memory": f"{memory_ki}Ki", "pods": "110"},
            "conditions": [],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": architecture,
                "bootID": boot_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"boot://{name}/0")),
                "containerRuntimeVersion": container_runtime,
                "kernelVersion": kernel_version,
                "kubeProxyVersion": "",  # deprecated; 1.31+ kubelets leave it empty
                "kubeletVersion": k8s_tag(kubelet_version),
                "machineID": hex_digest(f"machine://{name}", 32),
                "operatingSystem": "linux",
                "osImage": f"Talos ({talos_version})",
                "systemUUID": str(uuid.uuid5(uuid.NAMESPACE_URL, f"smbios://{name}")),
            },
        },
    }
    if not obj["spec"]["taints"]:
        del obj["spec"]["taints"]
    set_node_ready(obj, ready, at)
    set_node_unschedulable(obj, unschedulable, at)
    return obj


_PRESSURE = (
    ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)
_NOT_READY_TAINTS = {False: "node.kubernetes.io/not-ready", None: "node.kubernetes.io/unreachable"}


def set_node_ready(node_: Obj, ready: bool | None, at: datetime | None = None) -> Obj:
    """Set the Ready condition (None = Unknown, kubelet silent) and the matching taints."""
    old = {c["type"]: c for c in node_["status"].get("conditions") or []}
    conds: list[Obj] = []
    for type_, reason, message in _PRESSURE:
        conds.append(condition(type_, False, reason, message, at, heartbeat=True)
                     if ready is not None else
                     condition(type_, None, "NodeStatusUnknown",
                               "Kubelet stopped posting node status.", at, heartbeat=True))
    if ready is True:
        conds.append(condition("Ready", True, "KubeletReady", "kubelet is posting ready status",
                               at, heartbeat=True))
    elif ready is False:
        conds.append(condition("Ready", False, "KubeletNotReady",
                               "container runtime network not ready: NetworkReady=false "
                               "reason:NetworkPluginNotReady message:Network plugin returns "
                               "error: cni plugin not initialized", at, heartbeat=True))
    else:
        conds.append(condition("Ready", None, "NodeStatusUnknown",
                               "Kubelet stopped posting node status.", at, heartbeat=True))
    for c in conds:  # keep the transition time when the status did not change
        prev = old.get(c["type"])
        if prev is not None and prev.get("status") == c["status"]:
            c["lastTransitionTime"] = prev["lastTransitionTime"]
            if ready is None:
                c["lastHeartbeatTime"] = prev.get("lastHeartbeatTime", c["lastHeartbeatTime"])
    node_["status"]["conditions"] = conds
    taints = [t for t in node_["spec"].get("taints") or []
              if t["key"] not in _NOT_READY_TAINTS.values()]
    if ready is not True:
        key = _NOT_READY_TAINTS[ready]
        taints += [{"key": key, "effect": "NoSchedule"},
                   {"key": key, "effect": "NoExecute", "timeAdded": ts(at)}]
    _set_taints(node_, taints)
    return node_


def set_node_unschedulable(node_: Obj, unschedulable: bool, at: datetime | None = None) -> Obj:
    """Cordon/uncordon: ``spec.unschedulable`` and the ``unschedulable`` taint."""
    key = "node.kubernetes.io/unschedulable"
    taints = [t for t in node_["spec"].get("taints") or [] if t["key"] != key]
    if unschedulable:
        node_["spec"]["unschedulable"] = True
        taints.append({"key": key, "effect": "NoSchedule", "timeAdded": ts(at)})
    else:
        node_["spec"].pop("unschedulable", None)
    _set_taints(node_, taints)
    return node_


def _set_taints(node_: Obj, taints: list[Obj]) -> None:
    if taints:
        node_["spec"]["taints"] = taints
    else:
        node_["spec"].pop("taints", None)


def set_node_versions(
    node_: Obj, *, talos_version: str | None = None, kubelet_version: str | None = None,
    kernel_version: str | None = None, boot_id: str | None = None,
) -> Obj:
    """Change what ``status.nodeInfo`` reports (after an upgrade or a reboot)."""
    info = node_["status"]["nodeInfo"]
    if talos_version is not None:
        info["osImage"] = f"Talos ({talos_version})"
    if kubelet_version is not None:
        info["kubeletVersion"] = k8s_tag(kubelet_version)
    if kernel_version is not None:
        info["kernelVersion"] = kernel_version
    if boot_id is not None:
        info["bootID"] = boot_id
    return node_


def node_address(node_: Obj) -> str:
    """Return the node's InternalIP ("" if none)."""
    for a in node_["status"].get("addresses") or []:
        if a.get("type") == "InternalIP":
            return str(a["address"])
    return ""


# ---------------------------------------------------------------- leases and events
def lease(
    name: str, namespace_: str, holder: str, duration_seconds: int, *,
    acquire: datetime | None = None, renew: datetime | None = None, transitions: int = 0,
    owner: Obj | None = None, at: datetime | None = None,
) -> Obj:
    """Return a coordination.k8s.io/v1 Lease; times are MicroTime (``...00.000000Z``)."""
    when = at or utcnow()
    return {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
        "metadata": meta("Lease", name, namespace_, owner=owner, at=at),
        "spec": {"holderIdentity": holder, "leaseDurationSeconds": duration_seconds,
                 "acquireTime": micro_time(acquire or when), "renewTime": micro_time(renew or when),
                 "leaseTransitions": transitions},
    }


def node_lease(node_: Obj, *, renew: datetime | None = None, at: datetime | None = None) -> Obj:
    """Return the kubelet's Lease for ``node_`` in kube-node-lease (40 s, owned by the Node)."""
    name = node_["metadata"]["name"]
    out = lease(name, "kube-node-lease", name, 40, owner=node_, renew=renew, at=at)
    out["metadata"]["ownerReferences"][0].pop("controller")
    out["metadata"]["ownerReferences"][0].pop("blockOwnerDeletion")
    del out["spec"]["acquireTime"], out["spec"]["leaseTransitions"]
    return out


def event(
    involved: Obj, reason: str, message: str, *, type_: str = "Normal",
    component: str = "kubelet", host: str | None = None, count: int = 1,
    first: datetime | None = None, last: datetime | None = None,
) -> Obj:
    """Return a core/v1 Event about ``involved`` (any object dict)."""
    im = involved["metadata"]
    first_s, last_s = ts(first), ts(last or first)
    ns = im.get("namespace") or "default"
    name = f"{im['name']}.{hex_digest(reason + message + first_s, 16)}"
    ref: Obj = {"apiVersion": involved["apiVersion"], "kind": involved["kind"], "name": im["name"],
                "uid": im.get("uid", uid_for(involved["kind"], im.get("namespace"), im["name"]))}
    if im.get("namespace"):
        ref["namespace"] = im["namespace"]
    source: Obj = {"component": component}
    if host:
        source["host"] = host
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns, "uid": uid_for("Event", ns, name),
                     "creationTimestamp": first_s},
        "involvedObject": ref, "reason": reason, "message": message, "type": type_,
        "source": source, "firstTimestamp": first_s, "lastTimestamp": last_s, "count": count,
        "reportingComponent": component, "reportingInstance": host or "",
    }
