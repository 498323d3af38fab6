"""`talosctl upgrade-k8s` on the lab: the plan, the checks and the rolling update.

Follows pkg/cluster/kubernetes/talos_managed.go and kubelet.go at v1.11: one minor per run,
the per-node compatibility check, then the control-plane static pods on each control plane
(kube-apiserver, kube-controller-manager, kube-scheduler), the kube-proxy image in each
control plane's config, the kubelet on every node one at a time, and the manifests (the
kube-proxy DaemonSet image changes only there). Every line goes to stdout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from emulator.lifecycle import Refused
from emulator.talos.gotext import go_quote, go_quote_list, version_minor
from emulator.world import COMPONENTS, EmulatedCluster


async def upgrade_k8s(world: EmulatedCluster, to: str, *, dry_run: bool, pre_pull: bool,
                      upgrade_kubelet: bool, from_version: str | None) -> AsyncIterator[str]:
    """Yield the stdout lines of `talosctl upgrade-k8s`; raise Refused for a refused path."""
    if from_version is None:
        current = world.lowest_k8s_version()
        yield f"automatically detected the lowest Kubernetes version {current}"
    else:
        current = from_version
    cur_minor, to_minor = _minor(current), _minor(to)
    if to_minor not in (cur_minor, (cur_minor[0], cur_minor[1] + 1)):
        raise Refused(f"unsupported upgrade path {cur_minor[0]}.{cur_minor[1]}->"
                      f"{to_minor[0]}.{to_minor[1]} (from {go_quote(current)} to {go_quote(to)})")
    cps = world.control_planes
    workers = world.workers if upgrade_kubelet else []
    yield f"discovered controlplane nodes {go_quote_list(n.address for n in cps)}"
    if upgrade_kubelet:
        yield f"discovered worker nodes {go_quote_list(n.address for n in workers)}"
    for n in cps + workers:
        problem = world.catalog_k8s_compat(n.talos_version, to)
        if problem:
            raise Refused(f"compatibility check failed on node {go_quote(n.address)}: {problem}")
        if version_minor(world.client_version) >= (1, 11):
            yield (f"> {go_quote(n.address)}: Talos version {n.talos_version.lstrip('v')} is "
                   f"compatible with Kubernetes version {to}")
    if to_minor != cur_minor:
        yield "checking for removed Kubernetes component flags"
        yield "checking for removed Kubernetes API resource versions"
    if pre_pull:
        for n in cps:
            for c in COMPONENTS:
                yield f" > {go_quote(n.address)}: pre-pulling registry.k8s.io/{c}:v{to}"
        for n in cps + workers:
            yield f" > {go_quote(n.address)}: pre-pulling ghcr.io/siderolabs/kubelet:v{to}"
    for c in COMPONENTS:
        yield f"updating {go_quote(c)} to version {go_quote(to)}"
        for n in cps:
            async for line in _static_pod(world, n, c, to, dry_run):
                yield line
    yield f"updating kube-proxy to version {go_quote(to)}"
    for n in cps:
        yield f" > {go_quote(n.address)}: starting update"
        if dry_run:
            yield " > skipped in dry-run"
    if upgrade_kubelet:
        yield f"updating kubelet to version {go_quote(to)}"
        for n in cps + workers:
            async for line in _kubelet(world, n, to, dry_run):
                yield line
    async for line in _manifests(world, to, dry_run):
        yield line


def _minor(version: str) -> tuple[int, int]:
    parts = version.lstrip("v").split(".")
    return int(parts[0]), int(parts[1])


async def _static_pod(world: EmulatedCluster, n: object, c: str, to: str, dry_run: bool
                      ) -> AsyncIterator[str]:
    from emulator.world import NodeState

    assert isinstance(n, NodeState)
    addr = go_quote(n.address)
    yield f" > {addr}: starting update"
    old = world.static_versions[n.name][c]
    changed = old != to
    if changed:  # v1.14 logs the running image's tag without its "v" (talos_managed.go)
        prefix = "" if world.client.multiplexed else "v"
        yield f" > update {c}: {prefix}{old} -> {to}"
        if dry_run:
            yield " > skipped in dry-run"
    if dry_run:
        return
    yield f" > {addr}: machine configuration patched"
    yield f" > {addr}: waiting for {c} pod update"
    if changed:
        world.static_config_version[n.name][c] += 1
        cfg = world.static_config_version[n.name][c]
        world.static_versions[n.name][c] = to
        world.k8s.static_pod(n, c, ready=False)
        yield f' > {addr}: {c}: waiting, config version mismatch: got "{cfg - 1}", ' \
              f'expected "{cfg}"'
        await asyncio.sleep(world.spec.timing("static_pod"))
        yield f" > {addr}: {c}: pod is not ready, waiting"
        world.k8s.static_pod(n, c, ready=True)
    yield f" < {addr}: successfully updated"


async def _kubelet(world: EmulatedCluster, n: object, to: str, dry_run: bool
                   ) -> AsyncIterator[str]:
    from emulator.world import NodeState

    assert isinstance(n, NodeState)
    addr = go_quote(n.address)
    yield f" > {addr}: starting update"
    old = n.kubelet_version.lstrip("v")
    changed = old != to
    if changed:
        yield f" > update kubelet: {old} -> {to}"
        if dry_run:
            yield " > skipped in dry-run"
    if dry_run:
        return
    yield f" > {addr}: machine configuration patched"
    if changed:
        yield f" > {addr}: waiting for kubelet restart"
        n.kubelet_version = f"v{to}"
        await asyncio.sleep(world.spec.timing("kubelet_restart"))
        world.k8s.node_status(n)
    yield f" > {addr}: waiting for node update"
    yield f" < {addr}: successfully updated"


def _uses_ssa(world: EmulatedCluster) -> bool:
    """v1.13+ clients sync the manifests with server-side apply when every node runs Talos
    1.13+ (talos_managed.go @ v1.13.0: minTalosVersion.SupportsSSAManifestSync())."""
    from emulator.talos.gotext import semver_key

    return world.client.upgrade_api and all(
        semver_key(n.talos_version) >= semver_key("v1.13.0-alpha.0")
        for n in world.nodes.values())


async def _manifests_ssa(world: EmulatedCluster, to: str, dry_run: bool) -> AsyncIterator[str]:
    """syncManifestsSSA (talos_managed.go @ v1.13.0; go-kubernetes ssa/cli LogApplyResults):
    dry run: ` < <action> <Kind/ns/name>` for every object; apply: ` < configured ...` or
    ` > skipped ...: no changes`, then the reconciliation wait. The diffs are not emulated."""
    yield "updating manifests (dry run)" if dry_run else "updating manifests"
    if not world.spec.kube_proxy:  # the lab renders no other manifest
        if not dry_run:
            world.proxy_version = to
            yield "waiting for kubernetes objects to be fully reconciled"
            yield "done"
        return
    subject = "DaemonSet/kube-system/kube-proxy"
    changed = world.proxy_version != to
    if dry_run:
        yield f" < {'configured' if changed else 'unchanged'} {subject}"
        return
    if changed:
        world.proxy_version = to
        world.k8s.proxy_version(to)
        yield f" < configured {subject}"
    else:
        yield f" > skipped {subject}: no changes"
    yield "waiting for kubernetes objects to be fully reconciled"
    yield "done"


async def _manifests(world: EmulatedCluster, to: str, dry_run: bool) -> AsyncIterator[str]:
    if _uses_ssa(world):
        async for line in _manifests_ssa(world, to, dry_run):
            yield line
        return
    yield "updating manifests"
    if not world.spec.kube_proxy:  # Talos renders no kube-proxy manifest when it is disabled
        if not dry_run:
            world.proxy_version = to  # the machine config's cluster.proxy.image was patched
            yield "waiting for all manifests to be applied"
        return
    yield " > processing manifest apps/v1.DaemonSet/kube-system/kube-proxy"
    if world.proxy_version != to:
        yield "--- a/apps/v1.DaemonSet/kube-system/kube-proxy"
        yield "+++ b/apps/v1.DaemonSet/kube-system/kube-proxy"
        yield f"-          image: registry.k8s.io/kube-proxy:v{world.proxy_version}"
        yield f"+          image: registry.k8s.io/kube-proxy:v{to}"
        if dry_run:
            yield " < dry run, change skipped"
            return
        world.proxy_version = to
        world.k8s.proxy_version(to)
        yield " < applied successfully"
    else:
        yield " < no changes"
    if dry_run:
        return
    yield "waiting for all manifests to be applied"
    yield " > waiting for apps/v1.DaemonSet/kube-system/kube-proxy"
