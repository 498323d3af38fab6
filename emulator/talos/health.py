"""`talosctl health`: the 16 checks of pkg/cluster/check, in order, polled like the real ones.

Each check is a function of the world returning None (OK) or the error text the real check
prints. Lines go to stderr; only a change of text is printed; on timeout the command fails
with `context deadline exceeded`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from emulator.talos import formats as f

if TYPE_CHECKING:
    from emulator.talos.commands import Ctx
    from emulator.world import EmulatedCluster

Check = Callable[["EmulatedCluster", list[str], list[str]], "str | None"]
POLL = 0.05


def _etcd_healthy(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    errs = []
    for addr in cps:
        node = world.resolve(addr)
        if node is None or not node.apid_up:
            errs.append(f"{addr}: {f.unavailable_error(addr)}")
        elif not world.etcd.member(node.name).running:
            errs.append(f'{addr}: service "etcd" not in expected state "Running": '
                        "current state [Preparing] Running pre state")
    return f.multierror(errs).rstrip("\n") if errs else None


def _etcd_consistent(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    views = world.etcd_member_ids_by_node()
    expected = None
    for addr in cps:
        node = world.resolve(addr)
        ids = views.get(node.name) if node else None
        if ids is None:
            continue
        if expected is None:
            expected = ids
        elif ids != expected:
            return f"{addr}: found unexpected etcd member"
    if expected is not None and len(expected) != len(cps):
        return f"{cps[0]}: expected to have {len(cps)} members, got {len(expected)}"
    return None


def _etcd_cp(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    ips = world.etcd_member_ips()
    extra = [ip for ip in ips if ip not in cps]
    if extra:
        return (f"etcd member ips {f.go_quote_list(ips)} are not subset of control plane node "
                f"ips {f.go_quote_list(cps)}")
    return None


def _apid(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    errs = [f"{a}: {f.unavailable_error(a)}" for a in cps + workers
            if (n := world.resolve(a)) is None or not n.apid_up]
    return f.multierror(errs).rstrip("\n") if errs else None


def _ok(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    return None


def _kubelet(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    for a in cps:
        n = world.resolve(a)
        if n is None or not n.apid_up or n.stage != "running":
            return f'{a}: service "kubelet" not in expected state "Running"'
    return None


def _boot(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    bad = []
    for a in cps + workers:
        n = world.resolve(a)
        if n is None or n.stage != "running" or not n.machine_ready:
            bad.append(f"{a}: stage={n.stage if n else 'unknown'}")
    return f"nodes are not running: {f.go_quote_list(bad)}" if bad else None


def _k8s_report(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    registered = world.k8s.registered_ips()
    missing = [a for a in cps + workers if a not in registered]
    return f"expected number of nodes {len(cps + workers)}, got {len(registered)}" if missing \
        else None


def _static_pods(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    for a in cps:
        n = world.resolve(a)
        missing = world.k8s.missing_static_pods(n) if n else ["kube-apiserver"]
        if missing:
            return f"missing static pods on node {a}: {missing}"
    return None


def _components(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    not_ready = world.k8s.not_ready_static_pods()
    return f"some control plane pods are not ready: {not_ready}" if not_ready else None


def _ready(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    names = world.k8s.not_ready_nodes()
    return f"some nodes are not ready: {names}" if names else None


def _proxy(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    return world.k8s.daemonset_problem("kube-system", "kube-proxy")


def _coredns(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    return world.k8s.deployment_problem("kube-system", "coredns")


def _schedulable(world: EmulatedCluster, cps: list[str], workers: list[str]) -> str | None:
    names = world.k8s.unschedulable_nodes()
    return f"some nodes are not schedulable: {names}" if names else None


CHECKS: tuple[Check, ...] = (
    _etcd_healthy, _etcd_consistent, _etcd_cp, _apid, _ok, _ok, _ok, _kubelet, _boot,
    _k8s_report, _static_pods, _components, _ready, _proxy, _coredns, _schedulable,
)


async def run(ctx: Ctx, *, server: bool) -> int:
    """Run the checks in order; print progress to stderr; 0 when all pass, else 1."""
    from emulator.talos.commands import node_changed

    world = ctx.world
    cps = list(ctx.opts.get("control-plane-nodes") or [])
    workers = list(ctx.opts.get("worker-nodes") or [])
    if not cps and not workers:
        cps = [n.address for n in world.control_planes]
        workers = [n.address for n in world.workers]
    if server:
        await ctx.err(f"discovered nodes: {f.go_quote_list(cps + workers)}\n")
    deadline = time.monotonic() + float(ctx.opts.get("wait-timeout") or 1200.0)
    for name, check in zip(f.HEALTH_CHECKS, CHECKS, strict=True):
        last = "..."
        await ctx.err(f"waiting for {name}: ...\n")
        while True:
            problem = check(world, cps, workers)
            if problem is None:
                await ctx.err(f"waiting for {name}: OK\n")
                break
            if problem != last:
                await ctx.err(f"waiting for {name}: {problem}\n")
                last = problem
            if time.monotonic() >= deadline:
                await ctx.err("rpc error: code = DeadlineExceeded desc = context deadline exceeded\n")
                return 1
            await node_changed(world.primary, POLL)
    return 0
