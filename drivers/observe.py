"""Observe a cluster: build a ClusterSnapshot from talosctl and the Kubernetes API.

A fixed number of calls whatever the node count: `version` and `get machinestatus|extensions`
over all nodes in one process each, `etcd members|status|alarm list` over the control planes,
and one list per Kubernetes kind. A node or an API that does not answer is recorded in the
snapshot (apid_error, kube_error), never raised: judging is the checks' job; when a call fails
for every node because one did not answer, the others are asked on their own (drivers/
talosctl.py), so one down node costs only its own verdict.

The Talos version comes from `talosctl version` (every Talos version answers it): the
Versions resource (`get version`) only exists from Talos v1.10.0.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from drivers import parse
from drivers.errors import DriverError, ParseError, ToolNotFound
from drivers.kube import Kube
from drivers.talosctl import PerNode, Talosctl
from model.profile import Node as ProfileNode
from model.profile import Profile
from model.snapshot import (
    ClusterSnapshot,
    DaemonSet,
    Deployment,
    EtcdAlarm,
    EtcdMember,
    EtcdObservation,
    EtcdStatus,
    ExtensionObservation,
    FluxObject,
    K8sNode,
    NodeObservation,
    Pod,
    PodDisruptionBudget,
    UnmetCondition,
)
from model.versions import KubeVersion, TalosVersion, VersionError

ALARMS = ["etcd", "alarm", "list"]
HARNESS_ERRORS = (ParseError, ToolNotFound)  # raised: the tool, not the cluster, is at fault


def _get_all(talos: Talosctl, resource: str, targets: list[str]) -> PerNode:
    """The resource (or, for "version", the Talos version) on every target; a call that
    failed as a whole is an error for each node.

    Output that cannot be parsed, or no talosctl at all, is the harness's problem, not the
    nodes': ParseError and ToolNotFound are raised.
    """
    try:
        return talos.versions(targets) if resource == "version" else talos.get(resource, targets)
    except HARNESS_ERRORS:
        raise
    except DriverError as e:
        return PerNode({}, {t: str(e) for t in targets})


def observe(
    profile: Profile, talos: Talosctl, kube: Kube, *, flux: bool | None = None
) -> ClusterSnapshot:
    """Return what the cluster looks like now (never raises for an unanswering node or API).

    Raises ParseError (talosctl output not in the reference's format) or ToolNotFound.
    """
    snap: dict[str, Any] = {"taken_at": _stamp()}
    nodes = list(profile.all_nodes)
    targets = [n.target for n in nodes]
    cps = [n.target for n in profile.control_planes]
    with_flux = flux if flux is not None else profile.flux.enabled
    # the fixed set of reads, started at once (each still one process over all its nodes);
    # the Kubernetes side is read while they run
    talos.prefetch(
        _node_reads(targets)
        + [(["etcd", "members"], cps), (["etcd", "status"], cps)]
        # used when the first control plane answers etcd status (else dropped)
        + ([(ALARMS, cps[:1])] if cps else []),
        meanwhile=lambda: snap.update(_kube_side(kube, with_flux)),
    )
    snap["nodes"] = tuple(_talos_side(talos, nodes))
    snap["etcd"] = _observe_etcd(talos, cps, {n.target: n.name for n in profile.control_planes})
    return ClusterSnapshot(**snap)


def observe_kube(profile: Profile, kube: Kube) -> ClusterSnapshot:
    """Only the Kubernetes side (no talosctl process), for proofs that judge nothing else
    (the API server, kubelets, kube-proxy, pods and Nodes after upgrade-k8s). A snapshot with
    no Talos side and no etcd: never judge the cluster on it."""
    return ClusterSnapshot(
        taken_at=_stamp(),
        nodes=(),
        etcd=EtcdObservation(),
        **_kube_side(kube, profile.flux.enabled),
    )


def _stamp() -> str:
    """A snapshot's taken_at: now, RFC 3339 in UTC."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _kube_side(kube: Kube, flux: bool) -> dict[str, Any]:
    """A snapshot's Kubernetes fields, or kube_error when the API could not be read."""
    try:
        return _observe_kube(kube, flux)
    except DriverError as e:
        return {"kube_error": str(e)}


def _talos_side(talos: Talosctl, nodes: Sequence[ProfileNode]) -> list[NodeObservation]:
    """Each node's Talos side: its version, machine status and extensions (the reads are
    prefetched by the caller)."""
    targets = [n.target for n in nodes]
    versions = _get_all(talos, "version", targets)
    stages = _get_all(talos, "machinestatus", targets)
    exts = _get_all(talos, "extensions", targets)
    observed = []
    for n in nodes:
        t = n.target
        err = versions.errors.get(t) or stages.errors.get(t)
        version = None
        for tag in versions.values.get(t, []):
            try:
                version = TalosVersion.parse(tag)
            except VersionError:
                err = err or f"unparseable Talos version {tag!r}"
        stage = ready = None
        unmet: tuple[UnmetCondition, ...] = ()
        for res in stages.values.get(t, []):
            spec = res["spec"]
            stage = str(spec.get("stage"))
            status = spec.get("status") or {}
            ready = bool(status.get("ready"))
            unmet = tuple(
                UnmetCondition(str(c.get("name")), str(c.get("reason", "")))
                for c in status.get("unmetConditions") or []
            )
        extensions = tuple(
            ExtensionObservation(
                str(r["metadata"]["id"]),
                str(r["spec"]["metadata"]["name"]),
                str(r["spec"]["metadata"].get("version", "")),
            )
            for r in exts.values.get(t, [])
        )
        observed.append(
            NodeObservation(
                name=n.name,
                address=n.address,
                role=n.role,
                talos_version=version,
                apid_ok=err is None and t in versions.values,
                apid_error=err,
                machine_stage=stage,
                machine_ready=ready,
                unmet_conditions=unmet,
                extensions=extensions,
            )
        )
    return observed


def observe_node(profile: Profile, talos: Talosctl, name: str) -> ClusterSnapshot:
    """Only the Talos side of one node (version, machine status, extensions: three reads at
    once), for the proofs about that node right after its reboot. A snapshot with that node
    and nothing else: never judge the cluster on it."""
    node = next(n for n in profile.all_nodes if n.name == name)
    taken = _stamp()
    talos.prefetch(_node_reads([node.target]))
    return ClusterSnapshot(taken_at=taken, nodes=tuple(_talos_side(talos, [node])))


def _node_reads(targets: list[str]) -> list[tuple[list[str], list[str]]]:
    return [(["version"], targets)] + [
        (["get", r, "-o", "json"], targets) for r in ("machinestatus", "extensions")
    ]


def _observe_etcd(talos: Talosctl, cps: list[str], names: dict[str, str]) -> EtcdObservation:
    """etcd as each control plane sees it, keyed by node name."""
    members_by: dict[str, tuple[EtcdMember, ...] | str] = {}
    try:
        members = talos.etcd_members(cps)
        for node, err in members.errors.items():
            members_by[node] = err
        for node, rows in members.values.items():
            members_by[node] = tuple(_member(r) for r in rows)
    except HARNESS_ERRORS:
        raise
    except DriverError as e:
        members_by = dict.fromkeys(cps, str(e))
    status_by = _etcd_status(talos, cps)
    alarms: list[EtcdAlarm] = []
    alarms_error = None
    reachable = [c for c in cps if isinstance(status_by.get(c), EtcdStatus)]
    if cps and reachable[:1] != cps[:1]:
        talos.drop_prefetched(ALARMS, cps[:1])
    if reachable:
        try:
            found = talos.etcd_alarms(reachable[:1])
            for rows in found.values.values():
                alarms += [
                    EtcdAlarm(parse.hex_id(r["MEMBER"], "talosctl etcd alarm list"), r["ALARM"])
                    for r in rows
                ]
            if found.errors:
                alarms_error = "; ".join(f"{k}: {v}" for k, v in found.errors.items())
        except HARNESS_ERRORS:
            raise
        except DriverError as e:
            alarms_error = str(e)
    else:
        alarms_error = "no control plane answered etcd status"
    members_by = {names.get(k, k): v for k, v in members_by.items()}
    status_by = {names.get(k, k): v for k, v in status_by.items()}
    return EtcdObservation(
        members_by_node=members_by,
        status_by_node=status_by,
        alarms=tuple(alarms),
        alarms_error=alarms_error,
    )


def _etcd_status(talos: Talosctl, cps: list[str]) -> dict[str, EtcdStatus | str]:
    """`talosctl etcd status` on the control planes: each one's status row, or why not."""
    status_by: dict[str, EtcdStatus | str] = {}
    try:
        status = talos.etcd_status(cps)
        for node, err in status.errors.items():
            status_by[node] = err
        for node, row in status.values.items():
            status_by[node] = _status(row) if row else "no status row"
    except HARNESS_ERRORS:
        raise
    except DriverError as e:
        status_by = dict.fromkeys(cps, str(e))
    return status_by


def observe_etcd_status(profile: Profile, talos: Talosctl) -> ClusterSnapshot:
    """Only `talosctl etcd status` on every control plane (one read), for waits that need
    nothing but the etcd leader. A snapshot with no nodes, no member lists and no alarms:
    never judge the cluster on it."""
    taken = _stamp()
    cps = profile.control_planes
    status = _etcd_status(talos, [n.target for n in cps])
    names = {n.target: n.name for n in cps}
    etcd = EtcdObservation(
        status_by_node={names.get(k, k): v for k, v in status.items()},
        alarms_error="not read (etcd status only)",
    )
    return ClusterSnapshot(taken_at=taken, nodes=(), etcd=etcd)


def _member(row: dict[str, str]) -> EtcdMember:
    def urls(v: str) -> tuple[str, ...]:
        return tuple(u for u in v.split(",") if u)

    return EtcdMember(
        id=parse.hex_id(row["ID"], "talosctl etcd members"),
        hostname=row.get("HOSTNAME", ""),
        peer_urls=urls(row.get("PEER URLS", "")),
        client_urls=urls(row.get("CLIENT URLS", "")),
        learner=row.get("LEARNER", "false") == "true",
    )


def _status(row: dict[str, str]) -> EtcdStatus:
    what = "talosctl etcd status"
    errors = tuple(e.strip() for e in row.get("ERRORS", "").split(", ") if e.strip())
    return EtcdStatus(
        member_id=parse.hex_id(row["MEMBER"], what),
        db_size=row.get("DB SIZE", ""),
        in_use=row.get("IN USE", ""),
        leader_id=parse.hex_id(row["LEADER"], what),
        raft_index=parse.integer(row["RAFT INDEX"], what, "RAFT INDEX"),
        raft_term=parse.integer(row["RAFT TERM"], what, "RAFT TERM"),
        raft_applied_index=parse.integer(row["RAFT APPLIED INDEX"], what, "RAFT APPLIED INDEX"),
        learner=row.get("LEARNER") == "true",
        errors=errors,
    )


def _kube_version(text: str | None) -> KubeVersion | None:
    try:
        return KubeVersion.parse(text) if text else None
    except VersionError:
        return None


def _observe_kube(kube: Kube, flux: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"api_server_version": _kube_version(kube.version())}
    k8s_nodes = []
    for n in kube.nodes():
        cond: dict[str, Any] = next(
            (c for c in (n.get("status", {}).get("conditions") or []) if c.get("type") == "Ready"),
            {},
        )
        info = n.get("status", {}).get("nodeInfo") or {}
        labels = n["metadata"].get("labels") or {}
        ip = next(
            (
                a["address"]
                for a in n.get("status", {}).get("addresses") or []
                if a.get("type") == "InternalIP"
            ),
            None,
        )
        k8s_nodes.append(
            K8sNode(
                name=n["metadata"]["name"],
                ready=str(cond.get("status", "Unknown")),
                ready_reason=cond.get("reason"),
                ready_message=cond.get("message"),
                unschedulable=bool((n.get("spec") or {}).get("unschedulable")),
                kubelet_version=_kube_version(info.get("kubeletVersion")),
                os_image=str(info.get("osImage", "")),
                internal_ip=ip,
                roles=tuple(
                    sorted(
                        k.split("/", 1)[1]
                        for k in labels
                        if k.startswith("node-role.kubernetes.io/")
                    )
                ),
            )
        )
    out["k8s_nodes"] = tuple(k8s_nodes)
    out["pods"] = tuple(_pod(p) for p in kube.pods())
    out["daemonsets"] = tuple(
        DaemonSet(
            namespace=d["metadata"]["namespace"],
            name=d["metadata"]["name"],
            desired=int((d.get("status") or {}).get("desiredNumberScheduled") or 0),
            ready=int((d.get("status") or {}).get("numberReady") or 0),
            updated=int((d.get("status") or {}).get("updatedNumberScheduled") or 0),
            labels=d["metadata"].get("labels") or {},
            images=_images(d["spec"]["template"]),
        )
        for d in kube.daemonsets()
    )
    out["deployments"] = tuple(
        Deployment(
            namespace=d["metadata"]["namespace"],
            name=d["metadata"]["name"],
            desired=int(d["spec"].get("replicas") or 0),
            ready=int((d.get("status") or {}).get("readyReplicas") or 0),
            updated=int((d.get("status") or {}).get("updatedReplicas") or 0),
            labels=d["metadata"].get("labels") or {},
            images=_images(d["spec"]["template"]),
        )
        for d in kube.deployments()
    )
    out["pdbs"] = tuple(
        PodDisruptionBudget(
            namespace=p["metadata"]["namespace"],
            name=p["metadata"]["name"],
            disruptions_allowed=int((p.get("status") or {}).get("disruptionsAllowed") or 0),
            current_healthy=int((p.get("status") or {}).get("currentHealthy") or 0),
            desired_healthy=int((p.get("status") or {}).get("desiredHealthy") or 0),
            expected_pods=int((p.get("status") or {}).get("expectedPods") or 0),
            selector=((p.get("spec") or {}).get("selector") or {}).get("matchLabels") or {},
        )
        for p in kube.pdbs()
    )
    if flux:
        try:
            out["flux"] = tuple(_flux(f) for f in kube.flux())
        except DriverError as e:
            out["flux_error"] = str(e)
    return out


def _images(template: dict[str, Any]) -> tuple[str, ...]:
    return tuple(c.get("image", "") for c in (template.get("spec") or {}).get("containers") or [])


def _pod(p: dict[str, Any]) -> Pod:
    status = p.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    statuses = status.get("containerStatuses") or []
    waiting = next(
        (
            s["state"]["waiting"].get("reason")
            for s in statuses
            if (s.get("state") or {}).get("waiting")
        ),
        None,
    )
    owners = p["metadata"].get("ownerReferences") or []
    return Pod(
        namespace=p["metadata"]["namespace"],
        name=p["metadata"]["name"],
        phase=str(status.get("phase", "Unknown")),
        node=(p.get("spec") or {}).get("nodeName"),
        ready=ready,
        restarts=sum(int(s.get("restartCount") or 0) for s in statuses),
        waiting_reason=waiting,
        labels=p["metadata"].get("labels") or {},
        images=_images({"spec": p.get("spec") or {}}),
        owner_kind=owners[0].get("kind") if owners else None,
        owner_name=owners[0].get("name") if owners else None,
    )


def _flux(f: dict[str, Any]) -> FluxObject:
    cond: dict[str, Any] = next(
        (c for c in (f.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {}
    )
    return FluxObject(
        kind=str(f.get("kind")),
        namespace=f["metadata"]["namespace"],
        name=f["metadata"]["name"],
        ready=str(cond.get("status", "Unknown")),
        reason=cond.get("reason"),
        message=cond.get("message"),
        suspended=bool((f.get("spec") or {}).get("suspend")),
    )
