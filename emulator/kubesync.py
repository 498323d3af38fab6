"""The Kubernetes side of the lab: seeds the objects and keeps them in step with the nodes.

Plays the parts of the kubelet (Node status, pod readiness), the node lifecycle and disruption
controllers (drain via the Eviction API honouring PDBs), the Deployment controller (an evicted
pod is recreated on another schedulable worker), Velero (Backup New -> InProgress -> Completed,
or Failed under the velero_backup_fails fault) and Flux (Ready conditions).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

from emulator.kube import objects as o
from emulator.kube.disruption import pod_ready
from emulator.kube.errors import KubeApiError, NotFound, TooManyRequests
from emulator.talos.gotext import format_seconds, go_quote

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from emulator.world import EmulatedCluster, NodeState

NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease", "velero",
              "flux-system", "apps")
MERGE = "application/merge-patch+json"


CORDONED_BY_TALOS = "talos.dev/cordoned"  # constants.AnnotationCordonedKey
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def registry_prefix(rt: Any) -> str:
    """Where kube-apiserver keeps a resource in etcd: `/registry/<plural>/` for built-in
    resources (Nodes: `minions`, Services: `services/specs`), `/registry/<group>/<plural>/`
    for custom ones (k8s.io/apiserver storage paths)."""
    special = {"nodes": "minions", "services": "services/specs"}
    if rt.custom:
        return f"/registry/{rt.group}/{rt.plural}/"
    return f"/registry/{special.get(rt.key, rt.plural)}/"


class DrainFailed(Exception):
    """talosctl's client-side drain gave up; str() is the drain helper's error."""


class KubeSync:
    def __init__(self, world: EmulatedCluster) -> None:
        self.world = world
        self.store = world.kube
        self.samples = 0  # disruption samples taken (lab.track_disruption)
        self.min_ready: dict[str, int] = {}  # ReplicaSet -> fewest Ready replicas seen
        self.pdb_min: dict[str, dict[str, int]] = {}  # PDB -> lowest healthy seen, and desired

    def sample_disruption(self) -> None:
        """One sample: each ReplicaSet's Ready replicas (pods not being deleted) and each
        PodDisruptionBudget's currentHealthy against desiredHealthy; the lowest are kept."""
        self.samples += 1
        pods, _ = self.store.list("pods")
        ready: dict[str, int] = {}
        for pod in pods:
            owners = pod["metadata"].get("ownerReferences") or []
            if not owners or owners[0].get("kind") != "ReplicaSet":
                continue
            key = f"{pod['metadata']['namespace']}/{owners[0]['name']}"
            up = pod_ready(pod) and not pod["metadata"].get("deletionTimestamp")
            ready[key] = ready.get(key, 0) + int(up)
        for key, count in ready.items():
            self.min_ready[key] = min(self.min_ready.get(key, count), count)
        pdbs, _ = self.store.list("poddisruptionbudgets")
        for pdb in pdbs:
            st = pdb.get("status") or {}
            key = f"{pdb['metadata']['namespace']}/{pdb['metadata']['name']}"
            healthy, desired = int(st.get("currentHealthy", 0)), int(st.get("desiredHealthy", 0))
            seen = self.pdb_min.get(key)
            if seen is None or healthy < seen["healthy"]:
                self.pdb_min[key] = {"healthy": healthy, "desired": desired}

    def disruption(self) -> dict[str, Any]:
        """What the samples saw (status `disruption`): a PDB was violated when its lowest
        healthy count went under its desired one."""
        return {
            "tracked": self.world.spec.track_disruption,
            "samples": self.samples,
            "min_ready": dict(sorted(self.min_ready.items())),
            "pdb_min_healthy": dict(sorted(self.pdb_min.items())),
            "pdb_violated": sorted(k for k, v in self.pdb_min.items()
                                   if v["healthy"] < v["desired"]),
        }

    # ---- seed ---------------------------------------------------------------------------------
    def seed(self) -> None:
        """Create the objects of a healthy cluster of the world's nodes."""
        w, s = self.world, self.store
        existing = {n["metadata"]["name"] for n in s.list("namespaces")[0]}
        for ns in NAMESPACES:
            if ns not in existing:
                s.create("namespaces", o.namespace(ns))
        for n in w.nodes.values():
            s.create("nodes", o.node(n.name, n.address, n.role, n.talos_version,
                                     n.kubelet_version, ready=True, unschedulable=False))
        for cp in w.control_planes:
            for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                s.create("pods", o.static_pod(c, cp.name, w.static_versions[cp.name][c],
                                              str(w.static_config_version[cp.name][c])))
        names = [n.name for n in w.nodes.values()]
        if w.spec.kube_proxy:  # lab.kube_proxy: false = replaced (e.g. Cilium): no DaemonSet
            ds, pods = o.kube_proxy(names, w.proxy_version)
            s.create("daemonsets", ds)
            for p in pods:
                s.create("pods", p)
        hosts = [n.name for n in w.workers] + (
            [n.name for n in w.control_planes] if w.spec.schedulable_control_planes else [])
        self._deployment("kube-system", "coredns", 2, {"k8s-app": "kube-dns"},
                         "registry.k8s.io/coredns/coredns:v1.12.0", hosts)
        self._deployment("apps", "web", 2, {"app": "web"}, "nginx:1.27", hosts)
        s.create("poddisruptionbudgets", o.pdb("web", "apps", {"app": "web"}, min_available=1))
        self._deployment("apps", "media", 1, {"app": "media"}, "ghcr.io/example/media:1.0", hosts)
        self._deployment("velero", "velero", 1, {"name": "velero"}, "velero/velero:v1.15.0", hosts)
        if w.spec.flux_enabled:
            s.create("kustomizations", o.kustomization("flux-system", "flux-system", ready=True))
            s.create("kustomizations", o.kustomization("apps", "flux-system", ready=True))
            s.create("helmreleases", o.helmrelease("media", "apps", ready=True))
        s.subscribe(self._on_event)

    def _deployment(self, ns: str, name: str, replicas: int, labels: dict[str, str], image: str,
                    hosts: list[str]) -> None:
        dep, rs, pods = o.deployment(name, ns, replicas, labels, image, hosts)
        self.store.create("deployments", dep)
        self.store.create("replicasets", rs)
        for p in pods:
            self.store.create("pods", p)

    # ---- rebuild: the store in etcd, a new cluster, kubelets registering -------------------
    def registry_items(self) -> list[tuple[str, str]]:
        """Every object of the store as (etcd key, JSON): `/registry/<resource>/[<ns>/]<name>`
        (lab deviation, COVERAGE §8: written when a snapshot is taken, JSON not protobuf)."""
        import json

        from emulator.kube.resources import RESOURCES

        items = []
        for rt in RESOURCES:
            objs, _ = self.store.list(rt.key)
            for obj in objs:
                meta = obj["metadata"]
                where = f"{meta['namespace']}/" if rt.namespaced else ""
                items.append((f"{registry_prefix(rt)}{where}{meta['name']}",
                              json.dumps(obj, sort_keys=True)))
        return items

    async def write_registry(self, via: str) -> None:
        """Before `talosctl etcd snapshot`: put the store's objects into the real etcd."""
        if self.world.api_available():
            await self.world.etcd.replace_registry(self.registry_items(), via)

    def load_registry(self, kvs: list[tuple[str, bytes]]) -> int:
        """A cluster recovered from a snapshot: the store becomes what etcd's `/registry/`
        keys hold (objects that do not parse as the lab's are skipped). Return the count."""
        import json

        from emulator.kube.resources import RESOURCES

        prefixes = sorted(((registry_prefix(rt), rt) for rt in RESOURCES),
                          key=lambda p: -len(p[0]))
        self.store.reset(())
        loaded = 0
        # namespaces first (a namespaced object needs its namespace), then the rest
        kvs = sorted(kvs, key=lambda kv: not kv[0].startswith("/registry/namespaces/"))
        for key, value in kvs:
            rt = next((r for p, r in prefixes if key.startswith(p)), None)
            try:
                obj = json.loads(value)
            except ValueError:
                continue
            if rt is None or not isinstance(obj, dict) or \
                    not (obj.get("metadata") or {}).get("name"):
                continue
            try:
                self.store.put(rt.key, obj)
            except Exception:  # noqa: BLE001 - an object the lab's store refuses: skipped
                continue
            loaded += 1
        return loaded

    def fresh(self) -> None:
        """A NEW cluster (bootstrap without a snapshot): only the default namespaces; Nodes
        come as kubelets register."""
        self.store.reset()

    def register(self, node: NodeState) -> None:
        """The node's kubelet registers its Node (or finds its old one, after a restore) and
        the control plane's static pods appear."""
        w = self.world
        try:
            self.store.get("nodes", node.name)
        except NotFound:
            self.store.create("nodes", o.node(node.name, node.address, node.role,
                                              node.talos_version, node.kubelet_version,
                                              ready=False, unschedulable=False))
        if node.is_control_plane:
            versions = w.static_versions.setdefault(
                node.name, {c: node.kubelet_version.lstrip("v") for c in COMPONENTS})
            config = w.static_config_version.setdefault(node.name, dict.fromkeys(COMPONENTS, 1))
            for c in COMPONENTS:
                self.store.put("pods", o.static_pod(c, node.name, versions[c], str(config[c])))
        self.node_status(node)

    # ---- versions -------------------------------------------------------------------------
    def version_info(self) -> dict[str, Any]:
        return o.version_info(self.world.api_server_version)

    # ---- nodes --------------------------------------------------------------------------------
    def _patch_node(self, name: str, patch: dict[str, Any]) -> None:
        self.store.patch("nodes", name, patch, MERGE)

    def node_status(self, node: NodeState) -> None:
        """Publish the node's Ready condition, osImage and kubelet version."""
        if not node.k8s_status_known:
            ready, reason = "Unknown", "NodeStatusUnknown"
            msg = "Kubelet stopped posting node status."
        elif node.k8s_ready:
            ready, reason, msg = "True", "KubeletReady", "kubelet is posting ready status"
        else:
            ready, reason, msg = ("False", "KubeletNotReady",
                                  "container runtime network not ready: NetworkReady=false "
                                  "reason:NetworkPluginNotReady message:Network plugin returns "
                                  "error: cni plugin not initialized")
        current = self.store.get("nodes", node.name)
        status = o.with_node_ready(current, ready, reason, msg)["status"]
        status["nodeInfo"]["osImage"] = f"Talos ({node.talos_version})"
        status["nodeInfo"]["kubeletVersion"] = node.kubelet_version
        status["nodeInfo"]["kubeProxyVersion"] = node.kubelet_version
        status["nodeInfo"]["bootID"] = node.boot_id
        self.store.patch("nodes", node.name, {"status": status}, MERGE, subresource="status")

    def cordon(self, node: NodeState, flag: bool, *, by_talos: bool = False) -> None:
        """Cordon/uncordon the Node. By Talos (node_apply.go ApplyCordoned, v1.9+): a cordon
        of a schedulable node adds the talos.dev/cordoned annotation, and Talos uncordons only
        a node that carries it (a node cordoned by someone else stays cordoned). Otherwise
        (kubectl, talosctl's client-side drain) only spec.unschedulable changes."""
        current = self.store.get("nodes", node.name)
        annotations = current["metadata"].get("annotations") or {}
        unschedulable = bool((current.get("spec") or {}).get("unschedulable"))
        if not by_talos:
            self._patch_node(node.name, {"spec": {"unschedulable": True if flag else None}})
        elif flag and not unschedulable:
            self._patch_node(node.name, {"metadata": {"annotations": {CORDONED_BY_TALOS: "true"}},
                                         "spec": {"unschedulable": True}})
        elif not flag and unschedulable and CORDONED_BY_TALOS in annotations:
            self._patch_node(node.name, {"metadata": {"annotations": {CORDONED_BY_TALOS: None}},
                                         "spec": {"unschedulable": None}})

    def node_pods_ready(self, node: NodeState, ready: bool, host_network_only: bool = False
                        ) -> None:
        """Set the Ready condition of the node's pods (host-network pods only: the node's
        network plugin is not ready, as under never_ready; crash-looping pods never are)."""
        items, _ = self.store.list("pods", field_selector=f"spec.nodeName={node.name}")
        for pod in items:
            if ready and pod["metadata"]["name"].startswith("crashloop-"):
                continue
            if host_network_only and not pod["spec"].get("hostNetwork"):
                continue
            updated = o.with_pod_ready(pod, ready)
            self.store.patch("pods", pod["metadata"]["name"], {"status": updated["status"]},
                             MERGE, namespace=pod["metadata"]["namespace"], subresource="status")
        self._refresh_workload_status()

    # ---- drain (cordon, then evict everything but DaemonSet and static pods) ----------------
    async def drain(self, node: NodeState, deadline: float) -> None:
        """Evict the node's pods as machined does (pkg/kubernetes Drain): a refused eviction
        is retried until the drain timeout, then given up with a warning in the node's log;
        the drain itself never fails."""
        while True:
            items, _ = self.store.list("pods", field_selector=f"spec.nodeName={node.name}")
            refused = []
            for pod in (p for p in items if _evictable(p)):
                ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
                try:
                    self.store.evict(ns, name)
                except TooManyRequests as e:
                    refused.append((ns, name, str(e)))
                    continue
                except NotFound:
                    continue
                self._reschedule(pod, exclude=node.name)
            if not refused:
                return
            if time.monotonic() >= deadline:
                for ns, name, why in refused:
                    node.log(f"WARNING: failed to evict pod: failed to evict pod {ns}/{name}: "
                             f"context deadline exceeded (last refusal: {why})", "user", "warning")
                return
            await asyncio.sleep(0.1)

    async def client_drain(self, node: NodeState, timeout: float,
                           report: Callable[[str], Awaitable[None]]) -> None:
        """talosctl v1.13+'s client-side drain (cmd/talosctl/pkg/talos/nodedrain/nodedrain.go
        @ v1.13.9 on k8s.io/kubectl/pkg/drain): cordon (no Talos annotation), then evict every
        pod but DaemonSet and mirror pods, a refused eviction retried until `timeout`; raise
        DrainFailed with the drain helper's error when it expires (the node stays cordoned)."""
        name = node.name
        await report(f"{name}: cordoning node")
        self.cordon(node, True)
        await report(f"{name}: node cordoned")
        await report(f"{name}: draining node")
        deadline = time.monotonic() + timeout
        items, _ = self.store.list("pods", field_selector=f"spec.nodeName={name}")
        for pod in (p for p in items if _evictable(p)):
            ns, pod_name = pod["metadata"]["namespace"], pod["metadata"]["name"]
            while True:
                await report(f"{name}: evicting pod {ns}/{pod_name}")
                if time.monotonic() >= deadline:
                    raise DrainFailed(f"error when evicting pods/{go_quote(pod_name)} -n "
                                      f"{go_quote(ns)}: global timeout reached: "
                                      f"{format_seconds(timeout)}")
                try:
                    self.store.evict(ns, pod_name)
                except TooManyRequests:
                    await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
                    continue
                except NotFound:
                    break
                self._reschedule(pod, exclude=name)
                await report(f"{name}: evicted pod {ns}/{pod_name}")
                break
        await report(f"{name}: node drained")

    def _reschedule(self, pod: dict[str, Any], exclude: str) -> None:
        """The ReplicaSet controller: a replacement pod on another schedulable, Ready worker
        (or control plane, when the lab's control planes are schedulable)."""
        owners = pod["metadata"].get("ownerReferences") or []
        if not owners or owners[0].get("kind") != "ReplicaSet":
            return
        target = self._pick_host(exclude)
        new = o.clone_pod_to(pod, target, uuid.uuid4().hex[:5], ready=target is not None)
        self.store.create("pods", new)
        self._refresh_workload_status()

    def _pick_host(self, exclude: str) -> str | None:
        nodes, _ = self.store.list("nodes")
        counts: dict[str, int] = {}
        pods, _ = self.store.list("pods")
        for p in pods:
            counts[p["spec"].get("nodeName", "")] = counts.get(p["spec"].get("nodeName", ""), 0) + 1
        candidates = [n["metadata"]["name"] for n in nodes
                      if n["metadata"]["name"] != exclude and not n["spec"].get("unschedulable")
                      and o.node_ready(n) == "True"
                      and (self.world.spec.schedulable_control_planes
                           or "node-role.kubernetes.io/control-plane"
                           not in n["metadata"]["labels"])]
        if not candidates:
            return None
        best: str = min(candidates, key=lambda name: counts.get(name, 0))
        return best

    def _refresh_workload_status(self) -> None:
        """Recompute Deployment/DaemonSet/ReplicaSet ready counts from their pods."""
        pods, _ = self.store.list("pods")
        for kind in ("deployments", "daemonsets", "replicasets"):
            items, _ = self.store.list(kind)
            for obj in items:
                status = o.workload_status(obj, pods)
                if status != obj.get("status"):
                    self.store.patch(kind, obj["metadata"]["name"], {"status": status}, MERGE,
                                     namespace=obj["metadata"]["namespace"], subresource="status")

    # ---- upgrade-k8s ----------------------------------------------------------------------
    def static_pod(self, node: NodeState, component: str, *, ready: bool) -> None:
        version = self.world.static_versions[node.name][component]
        cfg = self.world.static_config_version[node.name][component]
        name = f"{component}-{node.name}"
        pod = o.static_pod(component, node.name, version, str(cfg))
        current = self.store.get("pods", name, namespace="kube-system")
        pod["metadata"] = {**current["metadata"], "annotations": pod["metadata"]["annotations"]}
        self.store.replace("pods", o.with_pod_ready(pod, ready))

    def proxy_version(self, version: str) -> None:
        if not self.world.spec.kube_proxy:
            return
        ds = self.store.get("daemonsets", "kube-proxy", namespace="kube-system")
        ds = o.with_image(ds, f"registry.k8s.io/kube-proxy:v{version}")
        self.store.replace("daemonsets", ds)
        pods, _ = self.store.list("pods", namespace="kube-system",
                                  label_selector="k8s-app=kube-proxy")
        for p in pods:
            self.store.replace("pods", o.with_image(p, f"registry.k8s.io/kube-proxy:v{version}"))
        self._refresh_workload_status()

    # ---- health view (what talosctl health asks) --------------------------------------------
    def registered_ips(self) -> set[str]:
        nodes, _ = self.store.list("nodes")
        return {o.internal_ip(n) for n in nodes}

    def missing_static_pods(self, node: NodeState) -> list[str]:
        out = []
        for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            try:
                pod = self.store.get("pods", f"{c}-{node.name}", namespace="kube-system")
            except NotFound:
                out.append(f"kube-system/{c}")
                continue
            if pod["status"].get("phase") != "Running":
                out.append(f"kube-system/{c}")
        return out

    def pods_by_app(self, ns: str, app: str) -> list[tuple[str, bool]]:
        """(name, Ready) of the live pods labelled k8s-app=<app>, as the health checks count
        them (deleted, Failed and fully terminated pods are skipped)."""
        pods, _ = self.store.list("pods", namespace=ns, label_selector=f"k8s-app={app}")
        out = []
        for p in pods:
            st = p.get("status") or {}
            if p["metadata"].get("deletionTimestamp") or st.get("phase") == "Failed":
                continue
            statuses = st.get("containerStatuses") or []
            if statuses and all("terminated" in (c.get("state") or {}) for c in statuses):
                continue
            out.append((p["metadata"]["name"], o.pod_ready(p)))
        return sorted(out)

    def not_ready_nodes(self) -> list[str]:
        nodes, _ = self.store.list("nodes")
        return [n["metadata"]["name"] for n in nodes if o.node_ready(n) != "True"]

    def unschedulable_nodes(self) -> list[str]:
        nodes, _ = self.store.list("nodes")
        return [n["metadata"]["name"] for n in nodes if n["spec"].get("unschedulable")]

    def daemonset_desired(self, ns: str, name: str) -> int | None:
        """status.desiredNumberScheduled, or None when the DaemonSet does not exist."""
        try:
            ds = self.store.get("daemonsets", name, namespace=ns)
        except NotFound:
            return None
        return int((ds.get("status") or {}).get("desiredNumberScheduled", 0))

    def deployment_replicas(self, ns: str, name: str) -> int | None:
        """spec.replicas, or None when the Deployment does not exist."""
        try:
            dep = self.store.get("deployments", name, namespace=ns)
        except NotFound:
            return None
        return int(dep["spec"].get("replicas", 1))

    def node_summaries(self) -> dict[str, dict[str, Any]]:
        nodes, _ = self.store.list("nodes")
        return {n["metadata"]["name"]: {
            "ready": o.node_ready(n), "cordoned": bool(n["spec"].get("unschedulable")),
            "kubelet_version": n["status"]["nodeInfo"]["kubeletVersion"],
            "os_image": n["status"]["nodeInfo"]["osImage"]} for n in nodes}

    # ---- faults -------------------------------------------------------------------------------
    def block_drain(self, node: NodeState) -> None:
        """drain_blocked: a pod on the node covered by a PDB that allows no disruption."""
        self._deployment("apps", "singleton", 1, {"app": "singleton"},
                         "ghcr.io/example/singleton:1.0", [node.name])
        self.store.create("poddisruptionbudgets",
                          o.pdb("singleton", "apps", {"app": "singleton"}, max_unavailable=0))

    def crashloop_pod(self, node: NodeState, namespace: str) -> None:
        if namespace not in NAMESPACES:
            self.store.create("namespaces", o.namespace(namespace))
        pod = o.crashloop_pod(f"crashloop-{uuid.uuid4().hex[:5]}", namespace, node.name)
        self.store.create("pods", pod)

    def flux_not_ready(self, name: str | None) -> None:
        items, _ = self.store.list("kustomizations")
        target = next((k for k in items if name in (None, k["metadata"]["name"])), None)
        if target is None:
            items, _ = self.store.list("helmreleases")
            target = next((k for k in items if k["metadata"]["name"] == name), None)
            kind = "helmreleases"
        else:
            kind = "kustomizations"
        if target is None:
            from emulator.errors import LabConfigError

            raise LabConfigError(f"fault flux_not_ready: no Flux object named {name!r}")
        updated = o.with_flux_ready(target, False, "ReconciliationFailed",
                                    "kustomize build failed: accumulating resources: "
                                    "missing resource apps/broken.yaml")
        self.store.patch(kind, target["metadata"]["name"], {"status": updated["status"]}, MERGE,
                         namespace=target["metadata"]["namespace"], subresource="status")

    # ---- controllers ------------------------------------------------------------------------
    def _on_event(self, event_type: str, plural: str, obj: dict[str, Any]) -> None:
        if event_type == "ADDED" and plural.startswith("backups"):
            self.world.spawn(self._run_backup(obj["metadata"]["namespace"],
                                              obj["metadata"]["name"]))

    async def _run_backup(self, ns: str, name: str) -> None:
        """Velero: New -> InProgress -> Completed (or Failed under velero_backup_fails)."""
        fail = self.world.take_fault("velero_backup_fails", self.world.primary) is not None
        await asyncio.sleep(0)
        try:
            self._backup_status(ns, name, o.backup_status("InProgress"))
            await asyncio.sleep(self.world.spec.timing("backup"))
            final = (o.backup_status("Failed", errors=1,
                                     failure_reason="error getting backup storage location: "
                                     "BackupStorageLocation.velero.io \"default\" not found")
                     if fail else o.backup_status("Completed", items=187))
            self._backup_status(ns, name, final)
        except KubeApiError:
            return  # deleted meanwhile

    def _backup_status(self, ns: str, name: str, status: dict[str, Any]) -> None:
        self.store.patch("backups", name, {"status": status}, MERGE, namespace=ns)


def _evictable(pod: dict[str, Any]) -> bool:
    owners = pod["metadata"].get("ownerReferences") or []
    if any(ref.get("kind") in ("DaemonSet", "Node") for ref in owners):
        return False
    return "kubernetes.io/config.mirror" not in (pod["metadata"].get("annotations") or {})
