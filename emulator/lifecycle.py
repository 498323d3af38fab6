"""What a Talos node does over time: upgrade, reboot, rollback; and what upgrade-k8s does.

Durations come from the lab profile's timings (already scaled). Every sequence publishes the
progress events that `talosctl upgrade --wait` prints and moves the Kubernetes view along
(through world.k8s, see emulator/kubesync.py) and the real etcd member (world.etcd).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

from emulator.world import COMPONENTS, EmulatedCluster, NodeState, Slot

UPGRADE_PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("drain", ("cordonAndDrainNode",)),
    ("cleanup", ("stopAllPods",)),
    ("dbus", ("stopDBus",)),
    ("stopServices", ("stopServicesForUpgrade",)),
    ("unmount", ("unmountPodMounts",)),
    ("unmountBind", ("unmountSystemDiskBindMounts",)),
    ("unmountSystem", ("unmountEphemeralPartition",)),
    ("volumeFinalize", ("teardownLifecycle",)),
    ("upgrade", ("upgrade",)),
    ("meta", ("reloadMeta",)),
    ("kexec", ("kexecPrepare",)),
    ("stopEverything", ("stopAllServices",)),
)


class Refused(Exception):
    """The node refused the request before doing anything (an rpc error)."""


class SequenceFailed(Exception):
    """A running sequence failed; the node keeps the state that explains it."""


def _t(world: EmulatedCluster, name: str) -> float:
    return world.spec.timing(name)


# ---------------------------------------------------------------------------------------------
# upgrade
# ---------------------------------------------------------------------------------------------
async def validate_upgrade(
    world: EmulatedCluster, node: NodeState, image: str, *, preserve: bool, force: bool
) -> tuple[str, str]:
    """Server-side checks before the ack; return (schematic, version) or raise Refused."""
    if node.busy:
        raise Refused("failed to acquire upgrade mutex: resource is locked by another sequence")
    if node.is_control_plane and not preserve and not force:
        await _validate_etcd_for_upgrade(world)
    await asyncio.sleep(_t(world, "pull"))
    fault = world.take_fault("image_pull_failure", node)
    if fault is not None:
        raise Refused(
            f'error validating installer image "{image}": failed to pull image "{image}": '
            f"rpc error: code = NotFound desc = failed to resolve reference \"{image}\": "
            f"{image}: not found"
        )
    try:
        schematic, version = world.factory.resolve_installer(image)
    except Exception as e:  # typed factory errors carry the pull failure text
        raise Refused(f'error validating installer image "{image}": {e}') from None
    problem = world.catalog_host_rule(node.talos_version, version)
    if problem:
        raise Refused(f"pre-flight checks failed: {problem}")
    return schematic, version


async def _validate_etcd_for_upgrade(world: EmulatedCluster) -> None:
    via = next((n for n in world.control_planes if n.apid_up), None)
    if via is None:
        raise Refused("etcd member count(0) is insufficient to maintain quorum if upgrade commences")
    members = await world.etcd.amembers(via.name)
    if len(members) < 3:
        raise Refused(
            f"etcd member count({len(members)}) is insufficient to maintain quorum "
            "if upgrade commences"
        )
    for m in members:
        if not m.started:
            raise Refused(
                f"etcd member {m.id:016x} is not started, all members must be running "
                "to perform an upgrade"
            )
    for m in members:
        from emulator.etcd.gateway import ahealth

        err = await ahealth(m.client_urls[0]) if m.client_urls else "no client URL"
        if err:
            raise Refused(
                f"etcd member {m.id:016x} is not healthy; all members must be healthy to "
                f"perform an upgrade: {err}"
            )


def start_upgrade(
    world: EmulatedCluster, node: NodeState, schematic: str, version: str, *,
    preserve: bool, stage: bool, reboot_mode: str,
) -> str:
    """Ack the request and run the sequence in the background; return the actor ID."""
    actor = str(uuid.uuid4())
    node.busy = "upgrade"
    node.events.clear()
    world.spawn(_upgrade_sequence(world, node, schematic, version, preserve, stage, reboot_mode))
    return actor


async def _upgrade_sequence(
    world: EmulatedCluster, node: NodeState, schematic: str, version: str,
    preserve: bool, stage: bool, reboot_mode: str,
) -> None:
    node.emit("sequence: upgrade action: START")
    node.stage = "upgrading"
    try:
        for phase, tasks in UPGRADE_PHASES:
            if phase == "kexec" and reboot_mode == "powercycle":
                continue
            node.emit(f"phase: {phase} action: START")
            for task in tasks:
                node.emit(f"task: {task} action: START")
                await _upgrade_task(world, node, task, schematic, version, preserve)
                if task == "stopAllServices":
                    node.emit("error: stopAllServices task completed")
                else:
                    node.emit(f"task: {task} action: STOP")
            node.emit(f"phase: {phase} action: STOP")
    except SequenceFailed as e:
        node.emit(f"sequence: upgrade action: STOP error: [code: {e} message: SEQUENCE_ERROR]")
        node.emit(f"FAILED: {e}")
        node.stage = "running"
        node.busy = None
        world.k8s.cordon(node, False)
        return
    await _reboot(world, node, upgrading=True)


async def _upgrade_task(
    world: EmulatedCluster, node: NodeState, task: str, schematic: str, version: str,
    preserve: bool,
) -> None:
    if task == "cordonAndDrainNode":
        world.k8s.cordon(node, True)
        await world.k8s.drain(node, deadline=time.monotonic() + _t(world, "drain_timeout"))
        await asyncio.sleep(_t(world, "drain"))
    elif task == "stopServicesForUpgrade" and node.is_control_plane:
        if preserve:
            await world.etcd.stop_member(node.name)
        else:
            await world.etcd.leave(node.name)
        node.log("etcd: stopped" + ("" if preserve else " and left the cluster"))
    elif task == "upgrade":
        await asyncio.sleep(_t(world, "install"))
        fault = world.take_fault("extension_missing", node)
        missing = (str(fault.params["extension"]),) if fault else ()
        node.slots[node.other] = Slot(version, schematic, missing)
        node.upgrade_count += 1
        node.pending_slot = node.other
        node.log(f"installer: installed Talos {version} into slot {node.other}")
    elif task == "stopAllPods":
        world.k8s.node_pods_ready(node, False)


# ---------------------------------------------------------------------------------------------
# reboot / rollback
# ---------------------------------------------------------------------------------------------
def start_reboot(world: EmulatedCluster, node: NodeState) -> None:
    """Reboot the node in the background (what `talosctl reboot` asks)."""
    node.busy = "reboot"
    node.events.clear()
    node.emit("sequence: reboot action: START")
    world.spawn(_reboot(world, node, upgrading=False))


def start_rollback(world: EmulatedCluster, node: NodeState) -> None:
    """Switch the A/B boot entry and reboot; raise Refused when there is no other entry."""
    if node.slots[node.other] is None:
        raise Refused(f'cannot rollback to "{node.other}", label does not exist')
    node.pending_slot = node.other
    node.busy = "rollback"
    node.events.clear()
    world.spawn(_reboot(world, node, upgrading=False))


async def _reboot(world: EmulatedCluster, node: NodeState, *, upgrading: bool) -> None:
    # going down
    node.stage = "rebooting"
    node.apid_up = False
    node.k8s_status_known = False
    world.k8s.node_status(node)
    world.k8s.node_pods_ready(node, False)
    world.pve_status(node, "running")
    if node.is_control_plane and node.primary:
        world.set_api_listener(False)
    if node.is_control_plane and not upgrading:
        await world.etcd.stop_member(node.name)
    fault = world.take_fault("api_unreachable", node)
    if fault is not None:
        world.api_down_until = time.time() + float(fault.params.get("seconds", 5.0))
    await asyncio.sleep(_t(world, "reboot"))
    # booting
    wanted = getattr(node, "pending_slot", None)
    node.pending_slot = None
    if wanted is not None:
        if upgrading and world.take_fault("boot_failure", node) is not None:
            failed = node.slots[wanted]
            node.log(f"boot: Talos {failed.version if failed else '?'} failed to boot from slot "
                     f"{wanted}; falling back to slot {node.active}")
            node.boot_count += 1
        else:
            node.active = wanted
    node.boot_id = str(uuid.uuid4())
    node.boot_count += 1
    node.booted_at = time.time()
    node.dmesg.clear()
    node.log(f"Talos {node.talos_version} booting (slot {node.active})")
    node.stage = "booting"
    node.machine_ready = False
    node.apid_up = True
    node.emit('stage: BOOTING ready: false unmetCond: [name:"nodeReady" '
              f'reason:"node \\"{node.name}\\" status is not available yet"]')
    await asyncio.sleep(_t(world, "boot"))
    if node.is_control_plane:
        left = world.etcd.member(node.name).state == "left"
        if left:
            await world.etcd.rejoin(node.name)
        else:
            await world.etcd.start_member(node.name)
        slow = world.take_fault("slow_etcd_catchup", node)
        if slow is not None:
            world.etcd.set_catchup_lag(node.name, float(slow.params.get("seconds", 3.0)))
        if node.primary:
            world.set_api_listener(True)
    node.emit("service: kubelet message: Health check successful healthy: true")
    node.stage = "running"
    node.k8s_status_known = True
    if world.take_fault("never_ready", node) is not None:
        node.never_ready = True
    node.k8s_ready = False
    world.k8s.node_status(node)
    node.emit('stage: RUNNING ready: false unmetCond: [name:"nodeReady" '
              f'reason:"node \\"{node.name}\\" is not ready"]')
    await asyncio.sleep(_t(world, "kubelet_ready"))
    if not node.never_ready:
        node.k8s_ready = True
        world.k8s.node_status(node)
        world.k8s.node_pods_ready(node, True)
        world.k8s.cordon(node, False)
        node.machine_ready = True
        node.emit("stage: RUNNING ready: true unmetCond: []")
    node.busy = None
    node.log("boot sequence: done")


# ---------------------------------------------------------------------------------------------
# upgrade-k8s
# ---------------------------------------------------------------------------------------------
async def upgrade_k8s(
    world: EmulatedCluster, to: str, *, dry_run: bool, pre_pull: bool, upgrade_kubelet: bool,
    from_version: str | None, quote: object,
) -> AsyncIterator[str]:
    """Yield the stdout lines of `talosctl upgrade-k8s`; raise Refused for a refused path."""
    from emulator.talos import formats as f

    current = from_version or world.lowest_k8s_version()
    cps = world.control_planes
    workers = world.workers
    yield f"automatically detected the lowest Kubernetes version {current}"
    cur_minor = tuple(int(x) for x in current.split(".")[:2])
    to_minor = tuple(int(x) for x in to.split(".")[:2])
    if not (to_minor == cur_minor or to_minor == (cur_minor[0], cur_minor[1] + 1)):
        raise Refused(
            f"unsupported upgrade path {cur_minor[0]}.{cur_minor[1]}->{to_minor[0]}.{to_minor[1]}"
            f' (from "{current}" to "{to}")'
        )
    yield f"discovered controlplane nodes {f.go_quote_list([n.address for n in cps])}"
    yield f"discovered worker nodes {f.go_quote_list([n.address for n in workers])}"
    for n in cps + workers:
        problem = world.catalog_k8s_compat(n.talos_version, to)
        if problem:
            raise Refused(f'compatibility check failed on node "{n.address}": {problem}')
        if _minor_at_least(n.talos_version, 11):
            yield (f'> "{n.address}": Talos version {n.talos_version.lstrip("v")} is compatible '
                   f"with Kubernetes version {to}")
    if to_minor != cur_minor:
        yield "checking for removed Kubernetes component flags"
        yield "checking for removed Kubernetes API resource versions"
    if pre_pull:
        for n in cps:
            for c in COMPONENTS:
                yield f' > "{n.address}": pre-pulling registry.k8s.io/{c}:v{to}'
        if upgrade_kubelet:
            for n in cps + workers:
                yield f' > "{n.address}": pre-pulling ghcr.io/siderolabs/kubelet:v{to}'
    for c in COMPONENTS:
        yield f'updating "{c}" to version "{to}"'
        for n in cps:
            yield f' > "{n.address}": starting update'
            old = world.static_versions[n.name][c]
            if dry_run:
                if old != to:
                    yield f" > update {c}: v{old} -> {to}"
                yield " > skipped in dry-run"
                continue
            if old != to:
                yield f" > update {c}: v{old} -> {to}"
            world.static_config_version[n.name][c] += 1
            cfg = world.static_config_version[n.name][c]
            yield f' > "{n.address}": machine configuration patched'
            yield f' > "{n.address}": waiting for {c} pod update'
            yield (f' > "{n.address}": {c}: waiting, config version mismatch: '
                   f'got "{cfg - 1}", expected "{cfg}"')
            world.static_versions[n.name][c] = to
            world.k8s.static_pod(n, c, ready=False)
            await asyncio.sleep(_t(world, "static_pod"))
            yield f' > "{n.address}": {c}: pod is not ready, waiting'
            world.k8s.static_pod(n, c, ready=True)
            yield f' < "{n.address}": successfully updated'
    yield f'updating kube-proxy to version "{to}"'
    for n in cps:
        yield f' > "{n.address}": starting update'
        yield " > skipped in dry-run" if dry_run else f' > "{n.address}": machine configuration patched'
    if upgrade_kubelet:
        yield f'updating kubelet to version "{to}"'
        for n in cps + workers:
            yield f' > "{n.address}": starting update'
            old = n.kubelet_version.lstrip("v")
            if old != to:
                yield f" > update kubelet: {old} -> {to}"
            if dry_run:
                yield " > skipped in dry-run"
                continue
            yield f' > "{n.address}": machine configuration patched'
            yield f' > "{n.address}": waiting for kubelet restart'
            n.kubelet_version = f"v{to}"
            await asyncio.sleep(_t(world, "kubelet_restart"))
            world.k8s.node_status(n)
            yield f' > "{n.address}": waiting for node update'
            yield f' < "{n.address}": successfully updated'
    yield "updating manifests"
    yield " > processing manifest apps/v1.DaemonSet/kube-system/kube-proxy"
    if dry_run:
        yield " < dry run, change skipped"
        return
    if world.proxy_version != to:
        yield f"-          image: registry.k8s.io/kube-proxy:v{world.proxy_version}"
        yield f"+          image: registry.k8s.io/kube-proxy:v{to}"
        world.proxy_version = to
        world.k8s.proxy_version(to)
        yield " < applied successfully"
    else:
        yield " < no changes"
    yield "waiting for all manifests to be applied"
    yield " > waiting for apps/v1.DaemonSet/kube-system/kube-proxy"


def _minor_at_least(talos_version: str, minor: int) -> bool:
    parts = talos_version.lstrip("v").split(".")
    return (int(parts[0]), int(parts[1])) >= (1, minor)
