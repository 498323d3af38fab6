"""Builders of pods and their controllers: static control-plane pods, kube-proxy, Deployments.

Complete objects, accepted by the strict ``kubernetes`` client. ``set_pod_state`` moves a pod
between Running/Ready, not ready, CrashLoopBackOff and Pending; ``set_pod_image`` changes a
container's image (spec and status).
"""

from __future__ import annotations

import copy
import ipaddress
from datetime import datetime
from typing import Any

from .basics import Obj, condition, hex_digest, k8s_tag, meta, safe_suffix, ts

NODE_CRITICAL = ("system-node-critical", 2000001000)
CLUSTER_CRITICAL = ("system-cluster-critical", 2000000000)
CONTROL_PLANE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def image_id(image: str) -> str:
    """Return a containerd-style imageID: ``<repository>@sha256:<digest>``."""
    repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return f"{repo}@sha256:{hex_digest('image ' + image)}"


def pod_ip_for(name: str, node_cidr: str = "10.244.0.0/24") -> str:
    """Return a stable pod IP inside ``node_cidr`` for the pod ``name``."""
    net = ipaddress.ip_network(node_cidr, strict=False)
    return str(net.network_address + 2 + int(hex_digest(name, 6), 16) % (net.num_addresses - 3))


def container(name: str, image: str, *, ports: list[int] | None = None,
              requests: dict[str, str] | None = None) -> Obj:
    """Return a container spec with the defaults the API server fills in."""
    out: Obj = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent",
                "resources": {"requests": dict(requests)} if requests else {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"}
    if ports:
        out["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in ports]
    return out


def pod(
    name: str, namespace: str, *, node_name: str, containers: list[Obj],
    labels: dict[str, str] | None = None, annotations: dict[str, str] | None = None,
    owner: Obj | None = None, host_network: bool = False, host_ip: str = "",
    pod_ip: str | None = None, priority: tuple[str, int] | None = None,
    tolerations: list[Obj] | None = None, ready: bool = True, at: datetime | None = None,
) -> Obj:
    """Return a scheduled, Running (and Ready unless ``ready=False``) pod on ``node_name``."""
    spec: Obj = {
        "containers": copy.deepcopy(containers),
        "dnsPolicy": "ClusterFirstWithHostNet" if host_network else "ClusterFirst",
        "enableServiceLinks": True, "nodeName": node_name,
        "preemptionPolicy": "PreemptLowerPriority", "priority": priority[1] if priority else 0,
        "restartPolicy": "Always", "schedulerName": "default-scheduler", "securityContext": {},
        "serviceAccount": "default", "serviceAccountName": "default",
        "terminationGracePeriodSeconds": 30,
        "tolerations": tolerations if tolerations is not None else [
            {"effect": "NoExecute", "key": k, "operator": "Exists", "tolerationSeconds": 300}
            for k in ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")],
    }
    if host_network:
        spec["hostNetwork"] = True
    if priority:
        spec["priorityClassName"] = priority[0]
    ip = host_ip if host_network else (pod_ip or pod_ip_for(f"{namespace}/{name}"))
    requests = any(c.get("resources", {}).get("requests") for c in containers)
    obj: Obj = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": meta("Pod", name, namespace, labels=labels, annotations=annotations,
                         owner=owner, at=at),
        "spec": spec,
        "status": {"phase": "Running", "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
                   "podIP": ip, "podIPs": [{"ip": ip}], "startTime": ts(at),
                   "qosClass": "Burstable" if requests else "BestEffort"},
    }
    for key, value in (("hostIP", host_ip), ("podIP", ip)):
        if not value:
            del obj["status"][key], obj["status"][key + "s"]
    return set_pod_state(obj, ready=ready, at=at)


def set_pod_state(
    pod_: Obj, *, phase: str = "Running", ready: bool = True, crashloop: bool = False,
    restart_count: int | None = None, at: datetime | None = None,
) -> Obj:
    """Set phase, conditions and containerStatuses consistently; return the pod.

    ``crashloop`` gives ``waiting.reason: CrashLoopBackOff`` with ``restartCount`` >= 1 and a
    terminated ``lastState``; ``phase="Pending"`` drops the container statuses.
    """
    status, spec = pod_["status"], pod_["spec"]
    names = [c["name"] for c in spec["containers"]]
    old = {c["name"]: c for c in status.get("containerStatuses") or []}
    ready = ready and not crashloop and phase == "Running"
    status["phase"] = phase
    started = status.get("startTime") or ts(at)
    statuses: list[Obj] = []
    for c in spec["containers"]:
        prev = old.get(c["name"], {})
        count = restart_count if restart_count is not None else prev.get("restartCount", 0)
        cid = "containerd://" + hex_digest(f"{pod_['metadata']['uid']}/{c['name']}/{count}")
        st: Obj = {"name": c["name"], "image": c["image"], "imageID": image_id(c["image"]),
                   "containerID": cid, "ready": ready, "restartCount": count,
                   "started": not crashloop, "lastState": {},
                   "state": {"running": {"startedAt": started}}}
        if crashloop:
            count = max(count, 1)
            st["restartCount"] = count
            ns, name = pod_["metadata"].get("namespace"), pod_["metadata"]["name"]
            st["state"] = {"waiting": {
                "reason": "CrashLoopBackOff",
                "message": f"back-off 5m0s restarting failed container={c['name']} "
                           f"pod={name}_{ns}({pod_['metadata']['uid']})"}}
            st["lastState"] = {"terminated": {
                "exitCode": 1, "reason": "Error", "startedAt": started,
                "finishedAt": ts(at), "containerID": cid}}
            del st["containerID"]
        statuses.append(st)
    not_ready = f"containers with unready status: [{' '.join(names)}]"
    conds = [condition("PodReadyToStartContainers", phase != "Pending", "", "", at),
             condition("Initialized", True, "", "", at),
             condition("Ready", ready, "" if ready else "ContainersNotReady",
                       "" if ready else not_ready, at),
             condition("ContainersReady", ready, "" if ready else "ContainersNotReady",
                       "" if ready else not_ready, at),
             condition("PodScheduled", True, "", "", at)]
    prev_conds = {c["type"]: c for c in status.get("conditions") or []}
    for c in conds:
        for k in ("reason", "message"):
            if not c[k]:
                del c[k]
        c["lastProbeTime"] = None
        p = prev_conds.get(c["type"])
        if p is not None and p.get("status") == c["status"]:
            c["lastTransitionTime"] = p["lastTransitionTime"]
    if phase == "Pending":
        conds = [c for c in conds if c["type"] == "PodScheduled"]
        status.pop("containerStatuses", None)
    else:
        status["containerStatuses"] = statuses
    status["conditions"] = conds
    return pod_


def set_pod_image(pod_: Obj, container_name: str, image: str) -> Obj:
    """Set ``container_name``'s image in spec and status (a restarted container)."""
    for c in pod_["spec"]["containers"]:
        if c["name"] == container_name:
            c["image"] = image
    for s in pod_["status"].get("containerStatuses") or []:
        if s["name"] == container_name:
            s["image"], s["imageID"] = image, image_id(image)
    return pod_


def static_pod(
    component: str, node_name: str, k8s_version: str, config_version: str = "1", *,
    node_ip: str = "", node_uid: str | None = None, ready: bool = True,
    at: datetime | None = None,
) -> Obj:
    """Return the mirror pod Talos runs for ``component`` on a control-plane node.

    Named ``<component>-<node>``, labels ``k8s-app``/``tier: control-plane``, annotation
    ``talos.dev/config-version``, image ``registry.k8s.io/<component>:v<version>``.
    """
    if component not in CONTROL_PLANE_COMPONENTS:
        raise ValueError(f"component must be one of {CONTROL_PLANE_COMPONENTS}, not {component!r}")
    image = f"registry.k8s.io/{component}:{k8s_tag(k8s_version)}"
    config_hash = hex_digest(f"{component}/{node_name}/{image}/{config_version}", 32)
    requests = {"kube-apiserver": {"cpu": "200m", "memory": "512Mi"},
                "kube-controller-manager": {"cpu": "50m", "memory": "256Mi"},
                "kube-scheduler": {"cpu": "10m", "memory": "64Mi"}}[component]
    node_owner = {"apiVersion": "v1", "kind": "Node",
                  "metadata": {"name": node_name,
                               "uid": node_uid or meta("Node", node_name)["uid"]}}
    out = pod(
        f"{component}-{node_name}", "kube-system", node_name=node_name,
        containers=[container(component, image, requests=requests)],
        labels={"k8s-app": component, "tier": "control-plane"},
        annotations={"kubernetes.io/config.hash": config_hash,
                     "kubernetes.io/config.mirror": config_hash,
                     "kubernetes.io/config.seen": ts(at),
                     "kubernetes.io/config.source": "file",
                     "talos.dev/config-version": config_version},
        owner=node_owner, host_network=True, host_ip=node_ip, priority=CLUSTER_CRITICAL,
        tolerations=[{"effect": "NoExecute", "operator": "Exists"}], ready=ready, at=at)
    out["metadata"]["ownerReferences"][0]["blockOwnerDeletion"] = False
    out["spec"]["enableServiceLinks"] = True
    return out


def daemonset(
    name: str, namespace: str, labels: dict[str, str], image: str, *, desired: int,
    ready: int | None = None, updated: int | None = None, container_name: str | None = None,
    host_network: bool = False, generation: int = 1, at: datetime | None = None,
) -> Obj:
    """Return a DaemonSet with its status counters (ready/updated default to ``desired``)."""
    ready = desired if ready is None else ready
    tmpl_spec: Obj = {"containers": [container(container_name or name, image)],
                      "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                      "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                      "securityContext": {}, "priorityClassName": NODE_CRITICAL[0],
                      "tolerations": [{"operator": "Exists"}]}
    if host_network:
        tmpl_spec["hostNetwork"] = True
    obj: Obj = {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": meta("DaemonSet", name, namespace, labels=labels, at=at,
                         annotations={"deprecated.daemonset.template.generation":
                                      str(generation)}),
        "spec": {"selector": {"matchLabels": dict(labels)}, "revisionHistoryLimit": 10,
                 "template": {"metadata": {"labels": dict(labels)}, "spec": tmpl_spec},
                 "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
                     "maxSurge": 0, "maxUnavailable": 1}}},
        "status": {"currentNumberScheduled": desired, "desiredNumberScheduled": desired,
                   "numberAvailable": ready, "numberMisscheduled": 0, "numberReady": ready,
                   "observedGeneration": generation,
                   "updatedNumberScheduled": desired if updated is None else updated},
    }
    obj["metadata"]["generation"] = generation
    if ready < desired:
        obj["status"]["numberUnavailable"] = desired - ready
    return obj


def kube_proxy_daemonset(k8s_version: str, nodes: int, *, at: datetime | None = None) -> Obj:
    """Return Talos's ``kube-system/kube-proxy`` DaemonSet for ``nodes`` nodes."""
    return daemonset("kube-proxy", "kube-system", {"k8s-app": "kube-proxy", "tier": "node"},
                     f"registry.k8s.io/kube-proxy:{k8s_tag(k8s_version)}", desired=nodes,
                     host_network=True, at=at)


def daemon_pod(ds: Obj, node_name: str, node_ip: str, *, ready: bool = True,
               at: datetime | None = None) -> Obj:
    """Return the DaemonSet's pod on ``node_name`` (``<ds>-xxxxx``, owned by the DaemonSet)."""
    tmpl = ds["spec"]["template"]
    gen = str(ds["metadata"].get("generation", 1))
    labels = {**tmpl["metadata"]["labels"], "pod-template-generation": gen,
              "controller-revision-hash": safe_suffix(str(tmpl), 10)}
    host_net = bool(tmpl["spec"].get("hostNetwork"))
    return pod(f"{ds['metadata']['name']}-{safe_suffix(node_name + gen)}",
               ds["metadata"]["namespace"], node_name=node_name,
               containers=tmpl["spec"]["containers"], labels=labels, owner=ds,
               host_network=host_net, host_ip=node_ip, priority=NODE_CRITICAL,
               tolerations=[{"operator": "Exists"}], ready=ready, at=at)


def deployment(
    name: str, namespace: str, replicas: int, labels: dict[str, str], image: str, *,
    container_name: str | None = None, ready: int | None = None, ports: list[int] | None = None,
    at: datetime | None = None,
) -> Obj:
    """Return a Deployment; ``ready`` (default all) sets the status counters and conditions."""
    ready = replicas if ready is None else ready
    tmpl = {"metadata": {"labels": dict(labels)},
            "spec": {"containers": [container(container_name or name, image, ports=ports)],
                     "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
                     "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler",
                     "securityContext": {}}}
    rs_name = f"{name}-{template_hash(tmpl)}"
    obj: Obj = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": meta("Deployment", name, namespace, labels=labels, at=at,
                         annotations={"deployment.kubernetes.io/revision": "1"}),
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                 "template": tmpl, "progressDeadlineSeconds": 600, "revisionHistoryLimit": 10,
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}},
        "status": {"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": ready, "availableReplicas": ready,
                   "conditions": [
                       condition("Available", ready > 0 or replicas == 0,
                                 "MinimumReplicasAvailable" if ready else
                                 "MinimumReplicasUnavailable",
                                 "Deployment has minimum availability." if ready else
                                 "Deployment does not have minimum availability.", at),
                       condition("Progressing", True, "NewReplicaSetAvailable",
                                 f'ReplicaSet "{rs_name}" has successfully progressed.', at)]},
    }
    obj["metadata"]["generation"] = 1
    for c in obj["status"]["conditions"]:
        c["lastUpdateTime"] = c["lastTransitionTime"]
    if ready < replicas:
        obj["status"]["unavailableReplicas"] = replicas - ready
    return obj


def template_hash(template: Obj) -> str:
    """Return a ``pod-template-hash`` for a pod template (10 safe characters)."""
    return safe_suffix(repr(template), 10)


def replicaset(dep: Obj, *, at: datetime | None = None) -> Obj:
    """Return the current ReplicaSet of Deployment ``dep`` (owned by it, same counters)."""
    tmpl = copy.deepcopy(dep["spec"]["template"])
    h = template_hash(dep["spec"]["template"])
    tmpl["metadata"]["labels"]["pod-template-hash"] = h
    st = dep["status"]
    name = f"{dep['metadata']['name']}-{h}"
    return {
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": meta("ReplicaSet", name, dep["metadata"]["namespace"],
                         labels=tmpl["metadata"]["labels"], owner=dep, at=at, annotations={
                             "deployment.kubernetes.io/desired-replicas":
                                 str(dep["spec"]["replicas"]),
                             "deployment.kubernetes.io/max-replicas":
                                 str(dep["spec"]["replicas"] + 1),
                             "deployment.kubernetes.io/revision": "1"}),
        "spec": {"replicas": dep["spec"]["replicas"],
                 "selector": {"matchLabels": {**dep["spec"]["selector"]["matchLabels"],
                                              "pod-template-hash": h}},
                 "template": tmpl},
        "status": {"replicas": st["replicas"], "fullyLabeledReplicas": st["replicas"],
                   "readyReplicas": st["readyReplicas"],
                   "availableReplicas": st["availableReplicas"], "observedGeneration": 1},
    }


def replica_pod(rs: Obj, node_name: str, node_ip: str, index: int, *, ready: bool = True,
                at: datetime | None = None) -> Obj:
    """Return pod number ``index`` of ReplicaSet ``rs`` running on ``node_name``."""
    name = f"{rs['metadata']['name']}-{safe_suffix(rs['metadata']['name'] + str(index))}"
    tmpl = rs["spec"]["template"]
    return pod(name, rs["metadata"]["namespace"], node_name=node_name,
               containers=tmpl["spec"]["containers"], labels=tmpl["metadata"]["labels"],
               owner=rs, host_ip=node_ip, ready=ready, at=at)


def pdb(
    name: str, namespace: str, selector: dict[str, str], *, min_available: int | str | None = None,
    max_unavailable: int | str | None = None, at: datetime | None = None,
) -> Obj:
    """Return a policy/v1 PodDisruptionBudget (status zeroed; the store's controller fills it)."""
    if (min_available is None) == (max_unavailable is None):
        raise ValueError("give exactly one of min_available and max_unavailable")
    spec: Obj = {"selector": {"matchLabels": dict(selector)}}
    if min_available is not None:
        spec["minAvailable"] = min_available
    else:
        spec["maxUnavailable"] = max_unavailable
    out: Obj = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": meta("PodDisruptionBudget", name, namespace, at=at),
                "spec": spec,
                "status": {"currentHealthy": 0, "desiredHealthy": 0, "disruptionsAllowed": 0,
                           "expectedPods": 0, "observedGeneration": 0}}
    out["metadata"]["generation"] = 1
    return out


def workload_status(obj: Obj, pods: list[Obj]) -> dict[str, Any]:
    """Return the status a controller would report for a Deployment, ReplicaSet or DaemonSet.

    ``pods`` may be every pod of the cluster: those of ``obj``'s namespace matching its
    selector are counted.
    """
    from .disruption import pod_ready  # local import keeps the builders import-light
    from .selectors import from_label_selector

    sel = from_label_selector(obj["spec"].get("selector"))
    ns = obj["metadata"].get("namespace")
    mine = [p for p in pods if p["metadata"].get("namespace") == ns
            and not p["metadata"].get("deletionTimestamp")
            and sel.matches(p["metadata"].get("labels"))]
    n, r = len(mine), sum(1 for p in mine if pod_ready(p))
    st = dict(obj.get("status") or {})
    if obj["kind"] == "DaemonSet":
        st.update(currentNumberScheduled=n, desiredNumberScheduled=n, numberReady=r,
                  numberAvailable=r, updatedNumberScheduled=n, numberMisscheduled=0)
        st.pop("numberUnavailable", None)
        if r < n:
            st["numberUnavailable"] = n - r
        return st
    st.update(replicas=n, readyReplicas=r, availableReplicas=r)
    if obj["kind"] == "ReplicaSet":
        st["fullyLabeledReplicas"] = n
        return st
    st["updatedReplicas"] = n
    st.pop("unavailableReplicas", None)
    want = obj["spec"].get("replicas", 1)
    if r < want:
        st["unavailableReplicas"] = want - r
    for c in st.get("conditions") or []:
        if c.get("type") == "Available":
            ok = r > 0 or want == 0
            if (c.get("status") == "True") != ok:
                c.update(status="True" if ok else "False",
                         reason="MinimumReplicasAvailable" if ok else
                         "MinimumReplicasUnavailable",
                         message="Deployment has minimum availability." if ok else
                         "Deployment does not have minimum availability.")
    return st
