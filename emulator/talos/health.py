"""`talosctl health`: the 16 checks of pkg/cluster/check, in order, polled like the real ones.

Each check is a function of the world returning None (OK) or the error text the real
assertion returns (pkg/cluster/check/{etcd,service,apid,events,kubernetes}.go at v1.11).
Lines go to stderr; only a change of text is printed; a failure at the deadline ends the
command (server mode: the gRPC DeadlineExceeded error; client mode: the bare context error).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.talos import formats as f

if TYPE_CHECKING:
    from emulator.talos.commands import Ctx
    from emulator.world import EmulatedCluster, NodeState

POLL = 0.05


@dataclass
class Scope:
    world: EmulatedCluster
    cps: list[str]
    workers: list[str]
    via: NodeState  # the node that runs the checks (server mode: -n)

    def node(self, addr: str) -> NodeState | None:
        return self.world.resolve(addr)

    def unreachable(self, addrs: list[str]) -> str | None:
        """The multierror of a one-to-many call when some of `addrs` do not answer."""
        errs = [f"{a}: {f.unavailable_error(a)}" for a in addrs
                if (n := self.node(a)) is None or not n.apid_up]
        return f.multierror(errs) if errs else None


Check = Callable[[Scope], "str | None"]


def _service_health(scope: Scope, service: str) -> str | None:
    down = scope.unreachable(scope.cps)
    if down:
        return down
    errs = []
    for addr in sorted(scope.cps):
        node = scope.node(addr)
        assert node is not None
        if service == "etcd" and not scope.world.etcd.member(node.name).running:
            errs.append(f'{addr}: service "etcd" not in expected state "Running": '
                        "current state [Preparing] Running pre state")
        elif service == "kubelet" and not node.kubelet_running:
            errs.append(f'{addr}: service "kubelet" not in expected state "Running": '
                        "current state [Finished] Service finished successfully")
    return f.multierror(errs) if errs else None


def _etcd_healthy(scope: Scope) -> str | None:
    return _service_health(scope, "etcd")


def _etcd_consistent(scope: Scope) -> str | None:
    down = scope.unreachable(scope.cps)
    if down:
        return down
    views = []
    for addr in sorted(scope.cps):
        node = scope.node(addr)
        assert node is not None
        if not scope.world.etcd.member(node.name).running:
            return f.multierror([f"{addr}: {scope.world.etcd_down_error(node)}"])
        views.append((addr, scope.world.etcd.members(node.name)))
    if not views:
        return "no messages returned"
    known = {(m.name, m.id, m.is_learner) for m in views[0][1]}
    for addr, members in views[1:]:
        if len(members) != len(known):
            return (f"{addr}: expected to have {f.go_list(sorted(k[0] for k in known))} members, "
                    f"got {f.go_list(m.name for m in members)}")
        for m in members:
            if (m.name, m.id, m.is_learner) not in known:
                return f"{addr}: found unexpected etcd member {m.name}"
    return None


def _etcd_cp(scope: Scope) -> str | None:
    from urllib.parse import urlsplit

    via = scope.via
    if not via.is_control_plane:
        return ("rpc error: code = Unimplemented desc = member list is only available on "
                "control plane nodes")
    if not scope.world.etcd.member(via.name).running:
        return scope.world.etcd_down_error(via)
    members = scope.world.etcd.members(via.name)
    ips = [urlsplit(u).hostname or "" for m in members for u in m.peer_urls]
    if not set(ips) <= set(scope.cps):
        return (f"etcd member ips {f.go_quote_list(ips)} are not subset of control plane node "
                f"ips {f.go_quote_list(scope.cps)}")
    return None


def _apid(scope: Scope) -> str | None:
    return scope.unreachable(scope.cps + scope.workers)


def _diagnostics(scope: Scope) -> str | None:
    return None


def _kubelet(scope: Scope) -> str | None:
    return _service_health(scope, "kubelet")


def _boot(scope: Scope) -> str | None:
    stages: dict[str, list[str]] = {}
    for addr in scope.cps + scope.workers:
        node = scope.node(addr)
        if node is None or not node.apid_up:
            return f.unavailable_error(addr)
        if node.stage != "running":
            stages.setdefault(node.stage, []).append(addr)
    if not stages:
        return None
    return "nodes are not running: " + ", ".join(
        f"{stage}: {f.go_list(sorted(stages[stage]))}" for stage in sorted(stages))


def _k8s_report(scope: Scope) -> str | None:
    registered = set(scope.world.k8s.registered_ips())
    expected = scope.cps + scope.workers
    for addr in expected:
        if addr not in registered:
            return f"can't find expected node with IPs {f.go_quote_list([addr])}"
    extra = sorted(registered - set(expected))
    return f"unexpected nodes with IPs {f.go_quote_list(extra)}" if extra else None


def _static_pods(scope: Scope) -> str | None:
    for addr in scope.cps:
        node = scope.node(addr)
        if node is None or not node.apid_up:
            return f"error listing static pods on node {addr}: {f.unavailable_error(addr)}"
        missing = scope.world.k8s.missing_static_pods(node)
        if missing:
            return f"missing static pods on node {addr}: {f.go_list(sorted(missing))}"
    return None


def _components(scope: Scope) -> str | None:
    k8s = scope.world.k8s
    for app in ("kube-apiserver", "kube-scheduler", "kube-controller-manager"):
        pods = k8s.pods_by_app("kube-system", app)
        if len(pods) != len(scope.cps):
            return f"expected number of pods for {app} to be {len(scope.cps)}, got {len(pods)}"
        not_ready = [name for name, ready in pods if not ready]
        if not_ready:
            return f"some pods are not ready for {app}: {f.go_list(not_ready)}"
    return None


def _ready(scope: Scope) -> str | None:
    names = scope.world.k8s.not_ready_nodes()
    return f"some nodes are not ready: {f.go_list(names)}" if names else None


SKIP = "\0skip"  # conditions.ErrSkipAssertion: the line ends in SKIP and the check passes


def _pods_ready(scope: Scope, selector: str, replicas: int | None) -> str | None:
    """K8sPodReadyAssertion, SKIP when the workload is absent (pkg/cluster/check/default.go:
    DaemonSetPresent/DeploymentPresent; from v1.14.0-rc.1 also when it wants 0 pods). In
    server mode the node running the checks decides (its own check code)."""
    from emulator.talos.gotext import semver_key

    if replicas is None or (replicas == 0 and semver_key(scope.via.talos_version)
                            >= semver_key("v1.14.0-rc.1")):
        return SKIP
    pods = scope.world.k8s.pods_by_app("kube-system", selector.split("=", 1)[1])
    if not pods:
        return (f"no pods found for namespace {f.go_quote('kube-system')} and label selector "
                f"{f.go_quote(selector)}")
    ready = [n for n, ok in pods if ok]
    not_ready = [n for n, ok in pods if not ok]
    if not ready:
        return (f"no ready pods found for namespace {f.go_quote('kube-system')} and label "
                f"selector {f.go_quote(selector)}")
    if not not_ready:
        return None if len(ready) == replicas else \
            f"expected {replicas} ready pods, got {len(ready)}"
    return f"some pods are not ready: {f.go_list(not_ready)}"


def _proxy(scope: Scope) -> str | None:
    return _pods_ready(scope, "k8s-app=kube-proxy",
                       scope.world.k8s.daemonset_desired("kube-system", "kube-proxy"))


def _coredns(scope: Scope) -> str | None:
    return _pods_ready(scope, "k8s-app=kube-dns",
                       scope.world.k8s.deployment_replicas("kube-system", "coredns"))


def _schedulable(scope: Scope) -> str | None:
    names = scope.world.k8s.unschedulable_nodes()[:1]  # upstream breaks after the first one
    return f"some nodes are not schedulable: {f.go_list(names)}" if names else None


CHECKS: tuple[Check, ...] = (
    _etcd_healthy, _etcd_consistent, _etcd_cp, _apid, _apid, _apid, _diagnostics, _kubelet,
    _boot, _k8s_report, _static_pods, _components, _ready, _proxy, _coredns, _schedulable,
)


async def run(ctx: Ctx, *, server: bool) -> int:
    """Run the checks in order; print progress to stderr; 0 when all pass, else 1."""
    from emulator.talos.actions import node_changed
    from emulator.talos.commands import CommandError

    world = ctx.world
    cps = list(ctx.opts.get("control-plane-nodes") or [])
    if ctx.opts.get("init-node"):
        cps.append(str(ctx.opts["init-node"]))
    workers = list(ctx.opts.get("worker-nodes") or [])
    if not cps and not workers:
        cps = [n.address for n in world.control_planes]
        workers = [n.address for n in world.workers]
    via_addr = ctx.single_node("health") if server else ctx.endpoints[0]
    via = world.resolve(via_addr.rsplit(":", 1)[0]) or world.primary
    scope = Scope(world, cps, workers, via)
    if server:
        await ctx.err(f"{f.discovered_nodes_line(cps + workers)}\n")
    deadline = time.monotonic() + float(ctx.opts.get("wait-timeout") or 1200.0)
    last = ""

    async def report(line: str) -> None:
        nonlocal last
        line = line.strip() if server else line.strip().replace("\t", "    ")
        if line != last:
            await ctx.err(line + "\n")
            last = line

    for name, check in zip(f.HEALTH_CHECKS, CHECKS, strict=True):
        await report(f"waiting for {name}: ...")
        while True:
            problem = check(scope)
            shown = f.CHECK_SKIP if problem == SKIP else problem or f.CHECK_OK
            await report(f"waiting for {name}: {shown}")
            if problem is None or problem == SKIP:
                break
            if time.monotonic() >= deadline:
                if server:
                    raise CommandError("rpc error: code = DeadlineExceeded desc = context "
                                       "deadline exceeded")
                raise CommandError("context deadline exceeded")
            await node_changed(world.primary, POLL)
    return 0
