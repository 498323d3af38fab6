"""Checks an upgrade needs beyond the health gate: proofs after a node's reboot, guards before
a control plane goes down, and preflight refusals (drain blockers, Flux mid-reconciliation).

Pure: snapshot (and a few observed values) in, findings out.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace

from checks import ALL_CHECKS, etcd, nodes, versions, workloads
from checks._common import kube_unreadable
from checks.expectation import Expectation
from model.findings import Category, Finding
from model.schematic import Image
from model.snapshot import ClusterSnapshot, EtcdStatus, Pod, PodDisruptionBudget
from model.versions import KubeVersion, TalosVersion

REBOOTED = "node-rebooted"
NODE_VERSION = "talos-version-after-reboot"
QUORUM = "etcd-quorum-guard"
SINGLE_CP = "etcd-single-control-plane"
MEMBER_BACK = "etcd-member-back"
PDB_BLOCKS = "pdb-blocks-drain"
FLUX_BUSY = "flux-reconciling"


def only(expectation: Expectation, name: str) -> Expectation:
    """The expectation restricted to one node (for per-node proofs)."""
    return replace(expectation, nodes=tuple(n for n in expectation.nodes if n.name == name))


def check_rebooted(node: str, old_boot_id: str, new_boot_id: str | None) -> list[Finding]:
    """The node's boot ID changed: it really rebooted."""
    if new_boot_id and new_boot_id != old_boot_id:
        return []
    return [
        Finding(
            REBOOTED,
            f"node {node}",
            f"a new boot ID (was {old_boot_id})",
            f"boot ID {new_boot_id or 'unknown'}: the node did not reboot",
            f"'talosctl -n {node} dmesg' and the upgrade output above",
            Category.NODE_READINESS,
        )
    ]


def check_came_back_on(
    snapshot: ClusterSnapshot, node: str, target: TalosVersion, rebooted: bool
) -> list[Finding]:
    """After the reboot the node runs the target: an A/B fallback to the old image fails here."""
    obs = snapshot.node(node)
    running = obs.talos_version if obs is not None else None
    if running == target:
        return []
    why = (
        "it rebooted but booted its previous A/B image: the new image failed to boot and "
        "the bootloader fell back"
        if rebooted and running is not None
        else ""
    )
    seen = f"came back on {running}" if running is not None else "no version reported"
    return [
        Finding(
            NODE_VERSION,
            f"node {node}",
            f"Talos {target}",
            f"{seen}{'; ' + why if why else ''}",
            f"look at the boot log: 'talosctl -n {obs.address if obs and obs.address else node}"
            " dmesg'; do not go on with other nodes",
            Category.VERSION_MISMATCH,
        )
    ]


def mid_roll(
    expectation: Expectation,
    order: Sequence[str],
    node: str,
    to_version: TalosVersion,
    later: Mapping[str, TalosVersion],
    kubernetes: KubeVersion,
    image: Image | None = None,
) -> Expectation:
    """What the cluster should run once `node` (in `order`) has moved to `to_version` (and
    `image`, in an image change): it and the nodes before it that version, each node after it
    what `later` says it ran before the roll reached it (nothing was touched out of order),
    Kubernetes `kubernetes`."""
    names = list(order)
    done = names[: names.index(node) + 1]
    exp = expectation.with_kubernetes(kubernetes).with_talos(to_version, done, image)
    for name in names[len(done) :]:
        exp = exp.with_talos(later[name], [name])
    return exp


def check_gate(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """The cluster-wide gate between two nodes: the whole health gate (every check that is not
    advisory, as the health runbook runs them), judged against an expectation that says which
    version each node should run at this point of the roll."""
    found: list[Finding] = []
    for spec in ALL_CHECKS:
        if not spec.advisory:
            found += spec.func(snapshot, expectation)
    return found


def _leader_statuses(snapshot: ClusterSnapshot) -> list[EtcdStatus]:
    return [s for s in snapshot.etcd.status_by_node.values() if isinstance(s, EtcdStatus)]


def member_id_of(snapshot: ClusterSnapshot, expectation: Expectation, node: str) -> int | None:
    """The etcd member ID of a control plane (from its own status row)."""
    cp = next((n for n in expectation.control_planes if n.name == node), None)
    if cp is None:
        return None
    for key, status in snapshot.etcd.status_by_node.items():
        if key == cp.name and isinstance(status, EtcdStatus):
            return status.member_id
    return None


def leader_id(snapshot: ClusterSnapshot) -> int | None:
    """The leader all answering members agree on, else None."""
    leaders = {s.leader_id for s in _leader_statuses(snapshot)}
    return leaders.pop() if len(leaders) == 1 else None


def check_quorum_guard(
    snapshot: ClusterSnapshot, expectation: Expectation, node: str, *, single_cp_ack: bool
) -> list[Finding]:
    """Before a control plane goes down: etcd can lose one member and keep quorum."""
    cps = expectation.control_planes
    if len(cps) == 1:
        if single_cp_ack:
            return []
        return [
            Finding(
                SINGLE_CP,
                f"node {node}",
                "an explicit acknowledgement to upgrade the only control plane",
                "upgrade.single_control_plane_ack is not set",
                "etcd and the Kubernetes API will be down during the reboot; set "
                "upgrade.single_control_plane_ack: true in the profile to proceed",
                Category.ETCD,
            )
        ]
    found: list[Finding] = []
    for check in (
        etcd.check_member_count,
        etcd.check_members_started,
        etcd.check_no_learners,
        etcd.check_members_consistent,
        etcd.check_status_ok,
        etcd.check_one_leader,
        etcd.check_no_alarms,
    ):
        found += check(snapshot, expectation)
    healthy = [s for s in _leader_statuses(snapshot) if not s.errors and not s.learner]
    quorum = len(cps) // 2 + 1
    if len(healthy) - 1 < quorum:
        found.append(
            Finding(
                QUORUM,
                f"node {node}",
                f"at least {quorum + 1} healthy voting members (quorum {quorum} after losing one)",
                f"{len(healthy)} healthy",
                "fix etcd first: 'talosctl etcd status' on every control plane",
                Category.ETCD,
            )
        )
    return found


def check_member_back(
    snapshot: ClusterSnapshot, expectation: Expectation, node: str
) -> list[Finding]:
    """After a control plane's reboot: its member is back, started, a voter, caught up, and
    every control plane agrees on the member list; no alarms."""
    cp = next(n for n in expectation.control_planes if n.name == node)
    found: list[Finding] = []
    mine = member_id_of(snapshot, expectation, node)
    if mine is None:
        found.append(
            Finding(
                MEMBER_BACK,
                f"node {node}",
                "its etcd member answering status",
                "no status from it yet",
                f"'talosctl -n {cp.target} etcd status'",
                Category.ETCD,
            )
        )
    for check in (
        etcd.check_member_count,
        etcd.check_members_started,
        etcd.check_no_learners,
        etcd.check_members_consistent,
        etcd.check_status_ok,
        etcd.check_one_leader,
        etcd.check_raft_caught_up,
        etcd.check_no_alarms,
    ):
        found += check(snapshot, expectation)
    return found


def _evicted(pod: Pod, nodes: Collection[str]) -> bool:
    """A drain of `nodes` evicts this pod (DaemonSet and mirror pods stay)."""
    return pod.node in nodes and pod.owner_kind not in ("DaemonSet", "Node")


def _covers(pdb: PodDisruptionBudget, pod: Pod) -> bool:
    return pod.namespace == pdb.namespace and all(
        pod.labels.get(k) == v for k, v in pdb.selector.items()
    )


def check_batch_drain(snapshot: ClusterSnapshot, batch: Sequence[str]) -> list[Finding]:
    """Draining every node of `batch` at once: no PodDisruptionBudget would have to allow more
    disruptions than it does, and no workload (a ReplicaSet or StatefulSet) whose Ready replicas
    are on several nodes would lose all of them. The same budget logic as the one-node check
    below, over the batch."""
    found = []
    for pdb in snapshot.pdbs:
        if not pdb.selector:
            continue
        evicted = [p for p in snapshot.pods if _covers(pdb, p) and _evicted(p, batch)]
        if len(evicted) > max(pdb.disruptions_allowed, 0):
            found.append(
                Finding(
                    PDB_BLOCKS,
                    f"PodDisruptionBudget {pdb.namespace}/{pdb.name}",
                    f"at most {pdb.disruptions_allowed} of its pods evicted at once",
                    f"draining {', '.join(batch)} together evicts {len(evicted)} "
                    f"({', '.join(sorted(p.key for p in evicted))})",
                    "a smaller batch, or relax the budget",
                    Category.WORKLOADS,
                )
            )
    by_owner: dict[tuple[str, str, str], list[Pod]] = {}
    for pod in snapshot.pods:
        if pod.owner_kind in ("ReplicaSet", "StatefulSet") and pod.owner_name:
            by_owner.setdefault((pod.namespace, pod.owner_kind, pod.owner_name), []).append(pod)
    for (ns, kind, name), pods in sorted(by_owner.items()):
        ready = [p for p in pods if p.ready]
        hosts = {p.node for p in ready}
        # only what the batch makes worse than one node at a time: replicas that several of
        # its nodes hold (a workload whose Ready replicas share one node loses them anyway)
        if len(hosts) > 1 and all(_evicted(p, batch) for p in ready):
            found.append(
                Finding(
                    PDB_BLOCKS,
                    f"{kind} {ns}/{name}",
                    "a Ready replica left while the batch drains",
                    f"all {len(ready)} Ready replicas are on {', '.join(batch)}",
                    "a smaller batch, or more replicas spread over other nodes",
                    Category.WORKLOADS,
                )
            )
    return found


def choose_batch(
    snapshot: ClusterSnapshot,
    candidates: Sequence[str],
    busy: Sequence[str] = (),
    room: int | None = None,
) -> tuple[list[str], dict[str, list[Finding]]]:
    """Which `candidates` may drain now, together and alongside the `busy` nodes (already
    draining or rebooting): the first candidate always, then each next one that breaks no
    budget or workload with all of them (check_batch_drain), up to `room` nodes; and, for
    each candidate left out, why (no findings: no room)."""
    chosen = list(candidates[:1])
    left: dict[str, list[Finding]] = {}
    for name in candidates[1:]:
        if room is not None and len(chosen) >= room:
            left[name] = []
            continue
        found = check_batch_drain(snapshot, [*busy, *chosen, name])
        if found:
            left[name] = found
        else:
            chosen.append(name)
    return chosen, left


def check_drain_not_blocked(snapshot: ClusterSnapshot, nodes_to_drain: list[str]) -> list[Finding]:
    """No PodDisruptionBudget allowing zero disruptions covers a pod a drain would evict."""
    found = []
    for pdb in snapshot.pdbs:
        if pdb.disruptions_allowed > 0 or not pdb.selector:
            continue
        covered = [p for p in snapshot.pods if _covers(pdb, p) and _evicted(p, nodes_to_drain)]
        for pod in covered:
            found.append(
                Finding(
                    PDB_BLOCKS,
                    f"PodDisruptionBudget {pdb.namespace}/{pdb.name}",
                    "at least one allowed disruption for pods on nodes to drain",
                    f"0 allowed (healthy {pdb.current_healthy}/{pdb.desired_healthy} wanted); "
                    f"it covers pod {pod.key} on {pod.node}, so draining {pod.node} would block",
                    "scale the workload up or relax the budget: "
                    f"'kubectl -n {pdb.namespace} get pdb "
                    f"{pdb.name} -o yaml'",
                    Category.WORKLOADS,
                )
            )
    return found


def check_flux_idle(snapshot: ClusterSnapshot) -> list[Finding]:
    """No Flux Kustomization or HelmRelease is reconciling right now (Ready=Unknown)."""
    return [
        Finding(
            FLUX_BUSY,
            f"{f.kind} {f.namespace}/{f.name}",
            "no reconciliation in progress",
            f"Ready={f.ready} ({f.reason or 'no reason'})",
            "wait for Flux to finish: 'flux get all -A'",
            Category.FLUX,
        )
        for f in snapshot.flux
        if f.ready == "Unknown" or f.reason == "Progressing"
    ]


def check_kubernetes_at(
    snapshot: ClusterSnapshot, expectation: Expectation, to: KubeVersion
) -> list[Finding]:
    """After (or before) `upgrade-k8s --to X`: the API server, every kubelet and kube-proxy
    (when there is one) run X, the control plane's static pods and kube-proxy are ready, every
    node is Ready. An unreadable API is one finding, not one per check."""
    exp = expectation.with_kubernetes(to)
    unreadable = kube_unreadable("kubernetes-upgraded", Category.VERSION_MISMATCH, snapshot)
    if unreadable:
        return unreadable
    return (
        versions.check_api_server_version(snapshot, exp)
        + versions.check_kubelet_version(snapshot, exp)
        + workloads.check_kube_proxy_version(snapshot, exp)
        + workloads.check_static_pods(snapshot, exp)
        + workloads.check_kube_proxy(snapshot, exp)
        + nodes.check_nodes_ready(snapshot, exp)
    )
