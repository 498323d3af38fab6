"""Server-side printing: ``meta.k8s.io/v1`` Tables, with kube-apiserver's columns and cells.

Columns follow ``pkg/printers/internalversion/printers.go`` for built-in types and the CRDs'
``additionalPrinterColumns`` for custom resources (default: Age). Wide columns have
priority 1; kubectl shows them with ``-o wide``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from .clock import age
from .disruption import pod_ready
from .resources import ResourceType
from .selectors import selector_string

Obj = dict[str, Any]
Column = tuple[str, str, int]  # name, type, priority
Printer = tuple[list[Column], Callable[[Obj, datetime], list[Any]]]


def _name(o: Obj) -> str:
    return str(o["metadata"]["name"])


def _age(o: Obj, now: datetime) -> str:
    return age(o["metadata"].get("creationTimestamp"), now)


def _node_cells(o: Obj, now: datetime) -> list[Any]:
    st = o.get("status") or {}
    ready = next((c for c in st.get("conditions") or [] if c.get("type") == "Ready"), None)
    status = ["Unknown"] if ready is None else (
        ["Ready"] if ready.get("status") == "True" else ["NotReady"])
    if (o.get("spec") or {}).get("unschedulable"):
        status.append("SchedulingDisabled")
    labels = o["metadata"].get("labels") or {}
    roles = {k.split("/", 1)[1] for k in labels
             if k.startswith("node-role.kubernetes.io/") and k.split("/", 1)[1]}
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    info = st.get("nodeInfo") or {}

    def addr(kind: str) -> str:
        return next((a["address"] for a in st.get("addresses") or [] if a.get("type") == kind),
                    "<none>")

    return [_name(o), ",".join(status), ",".join(sorted(roles)) or "<none>", _age(o, now),
            info.get("kubeletVersion", ""), addr("InternalIP"), addr("ExternalIP"),
            info.get("osImage") or "<unknown>", info.get("kernelVersion") or "<unknown>",
            info.get("containerRuntimeVersion") or "<unknown>"]


def pod_status_reason(o: Obj) -> str:
    """Return the STATUS kubectl prints for a pod (Running, CrashLoopBackOff, Terminating...)."""
    st = o.get("status") or {}
    phase = st.get("phase", "")
    reason = st.get("reason") or phase
    has_running = False
    for cs in reversed(st.get("containerStatuses") or []):
        state = cs.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
        elif "terminated" in state:
            t = state["terminated"]
            reason = (f"Signal:{t['signal']}" if t.get("signal")
                      else f"ExitCode:{t.get('exitCode', 0)}")
        elif cs.get("ready") and "running" in state:
            has_running = True
    if reason == "Completed" and has_running:
        reason = "Running" if pod_ready(o) else "NotReady"
    if o["metadata"].get("deletionTimestamp") and phase not in ("Succeeded", "Failed"):
        reason = "Unknown" if st.get("reason") == "NodeLost" else "Terminating"
    return str(reason)


def _pod_cells(o: Obj, now: datetime) -> list[Any]:
    st = o.get("status") or {}
    statuses = st.get("containerStatuses") or []
    ready = sum(1 for cs in statuses if cs.get("ready") and "running" in (cs.get("state") or {}))
    restarts = sum(int(cs.get("restartCount", 0)) for cs in statuses)
    last = max((cs["lastState"]["terminated"]["finishedAt"] for cs in statuses
                if ((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt")),
               default=None)
    restarts_s = f"{restarts} ({age(last, now)} ago)" if restarts and last else str(restarts)
    ips = st.get("podIPs") or []
    spec = o.get("spec") or {}
    return [_name(o), f"{ready}/{len(spec.get('containers') or [])}", pod_status_reason(o),
            restarts_s, _age(o, now), ips[0]["ip"] if ips else "<none>",
            spec.get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>", "<none>"]


def _containers(o: Obj) -> tuple[str, str]:
    cs = o["spec"]["template"]["spec"]["containers"]
    return ",".join(c["name"] for c in cs), ",".join(c["image"] for c in cs)


def _deployment_cells(o: Obj, now: datetime) -> list[Any]:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    names, images = _containers(o)
    return [_name(o), f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            st.get("updatedReplicas", 0), st.get("availableReplicas", 0), _age(o, now),
            names, images, selector_string(spec.get("selector"))]


def _daemonset_cells(o: Obj, now: datetime) -> list[Any]:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    names, images = _containers(o)
    ns = spec["template"]["spec"].get("nodeSelector") or {}
    return [_name(o), st.get("desiredNumberScheduled", 0), st.get("currentNumberScheduled", 0),
            st.get("numberReady", 0), st.get("updatedNumberScheduled", 0),
            st.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in sorted(ns.items())) or "<none>", _age(o, now),
            names, images, selector_string(spec.get("selector"))]


def _replicaset_cells(o: Obj, now: datetime) -> list[Any]:
    st, spec = o.get("status") or {}, o.get("spec") or {}
    names, images = _containers(o)
    return [_name(o), spec.get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0),
            _age(o, now), names, images, selector_string(spec.get("selector"))]


def _pdb_cells(o: Obj, now: datetime) -> list[Any]:
    spec, st = o.get("spec") or {}, o.get("status") or {}
    mn, mx = spec.get("minAvailable"), spec.get("maxUnavailable")
    return [_name(o), "N/A" if mn is None else str(mn), "N/A" if mx is None else str(mx),
            st.get("disruptionsAllowed", 0), _age(o, now)]


def _service_cells(o: Obj, now: datetime) -> list[Any]:
    spec = o.get("spec") or {}
    ports = ",".join(f"{p['port']}/{p.get('protocol', 'TCP')}" for p in spec.get("ports") or [])
    sel = spec.get("selector") or {}
    return [_name(o), spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>", "<none>",
            ports or "<none>", _age(o, now),
            ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or "<none>"]


def _event_cells(o: Obj, now: datetime) -> list[Any]:
    inv = o.get("involvedObject") or {}
    last = o.get("lastTimestamp") or o.get("eventTime") or o["metadata"].get("creationTimestamp")
    src = o.get("source") or {}
    source = src.get("component", "")
    if src.get("host"):
        source += f", {src['host']}"
    return [age(last, now), o.get("type", ""), o.get("reason", ""),
            f"{str(inv.get('kind', '')).lower()}/{inv.get('name', '')}", inv.get("fieldPath", ""),
            source, o.get("message", ""), age(o.get("firstTimestamp"), now),
            o.get("count", 1), _name(o)]


def _cond(o: Obj, type_: str, field: str) -> str | None:
    for c in (o.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return str(c.get(field, ""))
    return None


def _flux_cells(o: Obj, now: datetime) -> list[Any]:
    return [_name(o), _age(o, now), _cond(o, "Ready", "status"), _cond(o, "Ready", "message")]


_STR, _INT = "string", "integer"
PRINTERS: dict[str, Printer] = {
    "nodes": ([("Name", _STR, 0), ("Status", _STR, 0), ("Roles", _STR, 0), ("Age", _STR, 0),
               ("Version", _STR, 0), ("Internal-IP", _STR, 1), ("External-IP", _STR, 1),
               ("OS-Image", _STR, 1), ("Kernel-Version", _STR, 1),
               ("Container-Runtime", _STR, 1)], _node_cells),
    "pods": ([("Name", _STR, 0), ("Ready", _STR, 0), ("Status", _STR, 0), ("Restarts", _STR, 0),
              ("Age", _STR, 0), ("IP", _STR, 1), ("Node", _STR, 1), ("Nominated Node", _STR, 1),
              ("Readiness Gates", _STR, 1)], _pod_cells),
    "namespaces": ([("Name", _STR, 0), ("Status", _STR, 0), ("Age", _STR, 0)],
                   lambda o, now: [_name(o), (o.get("status") or {}).get("phase", ""),
                                   _age(o, now)]),
    "deployments.apps": ([("Name", _STR, 0), ("Ready", _STR, 0), ("Up-to-date", _INT, 0),
                          ("Available", _INT, 0), ("Age", _STR, 0), ("Containers", _STR, 1),
                          ("Images", _STR, 1), ("Selector", _STR, 1)], _deployment_cells),
    "daemonsets.apps": ([("Name", _STR, 0), ("Desired", _INT, 0), ("Current", _INT, 0),
                         ("Ready", _INT, 0), ("Up-to-date", _INT, 0), ("Available", _INT, 0),
                         ("Node Selector", _STR, 0), ("Age", _STR, 0), ("Containers", _STR, 1),
                         ("Images", _STR, 1), ("Selector", _STR, 1)], _daemonset_cells),
    "replicasets.apps": ([("Name", _STR, 0), ("Desired", _INT, 0), ("Current", _INT, 0),
                          ("Ready", _INT, 0), ("Age", _STR, 0), ("Containers", _STR, 1),
                          ("Images", _STR, 1), ("Selector", _STR, 1)], _replicaset_cells),
    "poddisruptionbudgets.policy": ([("Name", _STR, 0), ("Min Available", _STR, 0),
                                     ("Max Unavailable", _STR, 0),
                                     ("Allowed Disruptions", _INT, 0), ("Age", _STR, 0)],
                                    _pdb_cells),
    "leases.coordination.k8s.io": (
        [("Name", _STR, 0), ("Holder", _STR, 0), ("Age", _STR, 0)],
        lambda o, now: [_name(o), (o.get("spec") or {}).get("holderIdentity", ""),
                        _age(o, now)]),
    "services": ([("Name", _STR, 0), ("Type", _STR, 0), ("Cluster-IP", _STR, 0),
                  ("External-IP", _STR, 0), ("Port(s)", _STR, 0), ("Age", _STR, 0),
                  ("Selector", _STR, 1)], _service_cells),
    "configmaps": ([("Name", _STR, 0), ("Data", _INT, 0), ("Age", _STR, 0)],
                   lambda o, now: [_name(o), len(o.get("data") or {})
                                   + len(o.get("binaryData") or {}), _age(o, now)]),
    "events": ([("Last Seen", _STR, 0), ("Type", _STR, 0), ("Reason", _STR, 0),
                ("Object", _STR, 0), ("Subobject", _STR, 1), ("Source", _STR, 1),
                ("Message", _STR, 0), ("First Seen", _STR, 1), ("Count", _INT, 1),
                ("Name", _STR, 1)], _event_cells),
    "kustomizations.kustomize.toolkit.fluxcd.io": (
        [("Name", _STR, 0), ("Age", "date", 0), ("Ready", _STR, 0), ("Status", _STR, 0)],
        _flux_cells),
    "helmreleases.helm.toolkit.fluxcd.io": (
        [("Name", _STR, 0), ("Age", "date", 0), ("Ready", _STR, 0), ("Status", _STR, 0)],
        _flux_cells),
}
_DEFAULT: Printer = ([("Name", _STR, 0), ("Age", "date", 0)],
                     lambda o, now: [_name(o), _age(o, now)])


def partial_metadata(obj: Obj) -> Obj:
    """Return the ``PartialObjectMetadata`` form of ``obj``."""
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"]}


def table(
    rt: ResourceType, objs: list[Obj], now: datetime, *, include_object: str = "Metadata",
    resource_version: str = "", continue_token: str = "", headers: bool = True,
) -> Obj:
    """Return a ``meta.k8s.io/v1`` Table of ``objs`` (rows carry the object as asked)."""
    columns, cells = PRINTERS.get(rt.key, _DEFAULT)
    rows = []
    for o in objs:
        row: Obj = {"cells": cells(o, now)}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = partial_metadata(o)
        rows.append(row)
    meta: Obj = {"resourceVersion": resource_version} if resource_version else {}
    if continue_token:
        meta["continue"] = continue_token
    defs = [{"name": n, "type": t, "format": "name" if n == "Name" and i == 0 else "",
             "description": _describe(n), "priority": p}
            for i, (n, t, p) in enumerate(columns)] if headers else []
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta,
            "columnDefinitions": defs, "rows": rows}


def _describe(column: str) -> str:
    if column == "Name":
        return ("Name must be unique within a namespace. Is required when creating resources, "
                "although some resources may allow a client to request the generation of an "
                "appropriate name automatically.")
    if column == "Age":
        return ("CreationTimestamp is a timestamp representing the server time when this "
                "object was created.")
    return column
