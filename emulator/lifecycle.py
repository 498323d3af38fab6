"""What a Talos node does over time: upgrade, reboot, rollback (machined's sequences).

Durations come from the lab profile's timings (already scaled). Every sequence publishes the
machined events that `talosctl upgrade|reboot --wait` track (node.emit, with the request's actor
ID; boot events have none) and moves the Kubernetes view (world.k8s, emulator/kubesync.py) and
the real etcd member (world.etcd) along. Rules follow the node's own Talos version
(internal/app/machined at v1.7/v1.9/v1.11): the Upgrade API pulls and validates the installer,
then (control planes, unless --force) checks etcd; `--preserve` matters only before v1.8.
upgrade-k8s lives in emulator/kube_upgrade.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from emulator.talos.gotext import go_quote, version_minor
from emulator.talos.upgrade_text import BOOT_PHASES, machine_status_message
from emulator.world import EmulatedCluster, NodeState, Slot

LOCKED = "sequence not started: locked"


class Refused(Exception):
    """The node refused the request before doing anything (the API call's gRPC error)."""

    def __init__(self, message: str, code: str = "Unknown") -> None:
        super().__init__(message)
        self.code = code

    def rpc(self) -> str:
        return f"rpc error: code = {self.code} desc = {self}"


class SequenceFailed(Exception):
    """A task of a running sequence failed; the node keeps the state that explains it."""


def _t(world: EmulatedCluster, name: str) -> float:
    return world.spec.timing(name)


def _legacy(node: NodeState) -> bool:
    """Before Talos v1.8 the installer could wipe the disk: --preserve still mattered."""
    return version_minor(node.talos_version) < (1, 8)


# ---------------------------------------------------------------------------------------------
# sequences (phase, tasks) by the node's Talos version
# ---------------------------------------------------------------------------------------------
def _stop_all(node: NodeState, kexec: bool, unmount: str) -> list[tuple[str, list[str]]]:
    old = version_minor(node.talos_version) < (1, 10)
    phases = [("stopServices", ["stopServicesForUpgrade"])]
    if old:
        phases.append(("unmountUser", ["unmountUserDisks"]))
    phases += [(unmount, (["unmountOverlayFilesystems"] if old else []) + ["unmountPodMounts"]),
               ("unmountBind", ["unmountSystemDiskBindMounts"]),
               ("unmountSystem", ["unmountEphemeralPartition"]
                + (["unmountStatePartition"] if old else [])),
               ("volumeFinalize", ["teardownLifecycle"])]
    if kexec:
        phases.append(("kexec", ["kexecPrepare"]))
    return phases + [("stopEverything", ["stopAllServices"])]


def upgrade_sequence(node: NodeState, preserve: bool, reboot_mode: str
                     ) -> list[tuple[str, list[str]]]:
    """The Upgrade sequence of machined (v1alpha1_sequencer.go) for this node."""
    legacy_wipe = _legacy(node) and not preserve
    phases = [("drain", ["cordonAndDrainNode"]),
              ("cleanup", ["removeAllPods" if legacy_wipe else "stopAllPods"]),
              ("dbus", ["stopDBus"])]
    if legacy_wipe and node.is_control_plane:
        phases.append(("leave", ["leaveEtcd"]))
    rest = _stop_all(node, False, "unmount")
    phases += rest[:-1] + [("upgrade", ["upgrade"]), ("meta", ["reloadMeta"])]
    if reboot_mode == "default":
        phases.append(("kexec", ["kexecPrepare"]))
    return phases + [("stopEverything", ["stopAllServices"])]


def reboot_sequence(node: NodeState, kexec: bool = True) -> list[tuple[str, list[str]]]:
    """The Reboot (and StageUpgrade) sequence: no drain."""
    return [("cleanup", ["stopAllPods"]), ("dbus", ["stopDBus"]),
            *_stop_all(node, kexec, "umount")]


# ---------------------------------------------------------------------------------------------
# upgrade
# ---------------------------------------------------------------------------------------------
async def pull_installer(world: EmulatedCluster, node: NodeState, image: str) -> tuple[str, str]:
    """Pull the installer image (ImageService.Pull, v1.13+); (schematic, version) or Refused
    with containerd's pull error as the node reports it."""
    await asyncio.sleep(_t(world, "pull"))
    if world.take_fault("image_pull_failure", node) is not None:
        raise Refused(f'failed to pull image "{image}": rpc error: code = NotFound desc = '
                      f'failed to pull and unpack image "{image}": failed to resolve reference '
                      f'"{image}": {image}: not found', "NotFound")
    try:
        return world.factory.resolve_installer(image)  # type: ignore[no-any-return]
    except Exception as e:  # typed factory errors carry the pull failure text
        raise Refused(str(e), "NotFound") from None


async def install_only(world: EmulatedCluster, node: NodeState, schematic: str,
                       version: str) -> int:
    """LifecycleService.Upgrade (internal/app/lifecycle/lifecycle.go @ v1.13.0): the installer
    writes the other slot and nothing else (no etcd validation, no drain, no reboot); return
    its exit code (1: the installer's pre-flight refused, see the node's console)."""
    if node.busy:
        raise Refused("another installation/upgrade is already in progress",
                      "FailedPrecondition")
    node.busy = "install"
    try:
        await _install(world, node, schematic, version)
    except SequenceFailed:
        return 1
    finally:
        node.busy = None
    node.upgrade_installed = True
    return 0


async def validate_upgrade(world: EmulatedCluster, node: NodeState, image: str, *,
                           preserve: bool, force: bool) -> tuple[str, str]:
    """The Upgrade API's checks before the ack; return (schematic, version) or raise Refused."""
    await asyncio.sleep(_t(world, "pull"))
    if world.take_fault("image_pull_failure", node) is not None:
        raise Refused(
            f'error validating installer image "{image}": failed to pull image "{image}": '
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
            f'failed to resolve reference "{image}": {image}: not found')
    try:
        schematic, version = world.factory.resolve_installer(image)
    except Exception as e:  # typed factory errors carry the pull failure text
        raise Refused(f'error validating installer image "{image}": {e}') from None
    if node.is_control_plane and not force and not preserve_skips_etcd_check(node, preserve):
        await _validate_etcd_for_upgrade(world, node, preserve)
    return schematic, version


def preserve_skips_etcd_check(node: NodeState, preserve: bool) -> bool:
    """v1alpha1_server.go Upgrade: from commit 89e307e58 ("fix: etcd client leak in the (legacy)
    Upgrade API"; tags v1.12.9+, v1.13.4+, v1.14.0-alpha.2+) a control plane skips the etcd
    validation when the request has preserve set (`&& !in.GetPreserve()`)."""
    from emulator.talos.gotext import semver_key

    if not preserve:
        return False
    v = semver_key(node.talos_version)
    return (semver_key("v1.12.9") <= v < semver_key("v1.13.0-alpha.0")
            or semver_key("v1.13.4") <= v < semver_key("v1.14.0-alpha.0")
            or v >= semver_key("v1.14.0-alpha.2"))


async def _validate_etcd_for_upgrade(world: EmulatedCluster, node: NodeState,
                                     preserve: bool) -> None:
    from emulator.etcd import EtcdError

    prefix = "error validating etcd for upgrade: "
    via = next((n for n in world.control_planes
                if world.etcd.member(n.name).running), None)
    if via is None:
        raise Refused("failed to create etcd client: context deadline exceeded",
                      "DeadlineExceeded")
    try:
        members = await world.etcd.amembers(via.name)
    except EtcdError as e:
        raise Refused(f"{prefix}{e}") from None
    if _legacy(node) and not preserve and len(members) == 1:
        raise Refused(prefix + "only 1 etcd member found; assuming this is not an HA setup and "
                      "refusing to upgrade; if this is a single-node cluster, use --preserve to "
                      "upgrade")
    if len(members) == 2:
        raise Refused(f"{prefix}etcd member count(2) is insufficient to maintain quorum if "
                      "upgrade commences")
    for m in members:
        if not m.name:
            raise Refused(f"{prefix}etcd member {m.id:016x} is not started, all members must be "
                          "running to perform an upgrade")
        if not await _quorum_read_ok(m.client_urls):
            raise Refused(f"{prefix}etcd member {m.id:016x} is not healthy; all members must be "
                          "healthy to perform an upgrade: context deadline exceeded",
                          "DeadlineExceeded")


async def _quorum_read_ok(urls: tuple[str, ...], patience: float = 5.0) -> bool:
    """ValidateQuorum: a Get through the member; an election in progress is waited out (the
    real client retries), a member that refuses connections fails."""
    from emulator.etcd.gateway import ahealth

    deadline = time.monotonic() + patience
    while urls:
        err = await ahealth(urls[0], timeout=1.0)
        if err is None:
            return True
        if "refused" in err or time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.1)
    return False


def start_upgrade(world: EmulatedCluster, node: NodeState, schematic: str, version: str, *,
                  preserve: bool, stage: bool, reboot_mode: str) -> str:
    """Ack the request and run the sequence in the background; return the actor ID."""
    actor = str(uuid.uuid4())
    if node.busy:  # machined's priority lock: the ack is sent, the sequence does not start
        node.emit(f"sequence: upgrade action: NOOP error: [code: {LOCKED} message: LOCKED]",
                  actor, "error")
        return actor
    node.busy = "upgrade"
    world.spawn(_upgrade(world, node, schematic, version, actor, preserve, stage, reboot_mode))
    return actor


async def _run_phases(world: EmulatedCluster, node: NodeState, sequence: str, actor: str,
                      phases: list[tuple[str, list[str]]], run_task: object) -> bool:
    """Publish the sequence's events and run its tasks; False (events published) on failure.

    Stops at `stopAllServices` (the node then goes down: the caller reboots it).
    """
    node.emit(f"sequence: {sequence} action: START", actor)
    for number, (phase, tasks) in enumerate(phases, 1):
        node.emit(f"phase: {phase} action: START", actor)
        for i, task in enumerate(tasks, 1):
            if task == "stopAllServices":
                node.emit(f"task: {task} action: START", actor, "stopall")
                return True
            node.emit(f"task: {task} action: START", actor)
            try:
                await run_task(task)  # type: ignore[operator]
            except SequenceFailed as e:
                err = (f"sequence failed: error running phase {number} in {sequence} sequence: "
                       f"task {i}/{len(tasks)}: failed, {e}")
                for line in (f"task: {task} action: STOP", f"phase: {phase} action: STOP",
                             f"sequence: {sequence} action: STOP"):
                    node.emit(line, actor)
                node.emit(f"sequence: {sequence} action: NOOP error: [code: {err} message: "
                          "FATAL]", actor, "error")
                node.log(f"{sequence} sequence: failed")
                return False
            node.emit(f"task: {task} action: STOP", actor)
        node.emit(f"phase: {phase} action: STOP", actor)
    return True


async def _upgrade(world: EmulatedCluster, node: NodeState, schematic: str, version: str,
                   actor: str, preserve: bool, stage: bool, reboot_mode: str) -> None:
    async def task(name: str) -> None:
        await _upgrade_task(world, node, name, schematic, version)

    node.stage = "upgrading"
    node.machine_ready = False
    if stage:  # install on the next boot: reboot now without a drain
        node.staged = (schematic, version)
        phases = reboot_sequence(node, kexec=reboot_mode == "default")
        ok = await _run_phases(world, node, "stageUpgrade", actor, phases, task)
    else:
        ok = await _run_phases(world, node, "upgrade", actor,
                               upgrade_sequence(node, preserve, reboot_mode), task)
    if not ok:
        node.stage = "running"
        node.busy = None
        node.touch()
        return
    await _reboot(world, node)


async def _upgrade_task(world: EmulatedCluster, node: NodeState, task: str, schematic: str,
                        version: str) -> None:
    if task == "cordonAndDrainNode":
        world.k8s.cordon(node, True, by_talos=True)
        await world.k8s.drain(node, deadline=time.monotonic() + _t(world, "drain_timeout"))
        await asyncio.sleep(_t(world, "drain"))
    elif task in ("stopAllPods", "removeAllPods"):
        world.k8s.node_pods_ready(node, False)
    elif task == "leaveEtcd":
        await world.etcd.leave(node.name)
        node.log("etcd: left the cluster")
    elif task == "stopServicesForUpgrade":
        await _stop_services(world, node)
    elif task == "upgrade":
        await _install(world, node, schematic, version)


async def _stop_services(world: EmulatedCluster, node: NodeState) -> None:
    """Ephemeral services stop: etcd (control planes) and the kubelet (Node goes NotReady)."""
    if node.is_control_plane and world.etcd.member(node.name).state != "left":
        await world.etcd.stop_member(node.name)
    node.kubelet_running = False
    node.k8s_ready = False
    world.k8s.node_status(node)


async def _install(world: EmulatedCluster, node: NodeState, schematic: str, version: str) -> None:
    """The installer container: pre-flight (host version rule), then write the other slot."""
    await asyncio.sleep(_t(world, "install"))
    problem = world.catalog_host_rule(node.talos_version, version)
    if problem:
        node.log(f"installer: pre-flight checks failed: {problem}", "user", "err")
        raise SequenceFailed('task "upgrade" failed: exit code 1')
    fault = world.take_fault("extension_missing", node)
    missing = (str(fault.params["extension"]),) if fault else ()
    node.slots[node.other] = Slot(version, schematic, missing)
    node.upgrade_count += 1
    node.pending_slot = node.other
    node.log(f"installer: installed Talos {version} into slot {node.other}", "user")


# ---------------------------------------------------------------------------------------------
# reboot / rollback
# ---------------------------------------------------------------------------------------------
def start_reboot(world: EmulatedCluster, node: NodeState, mode: str = "default") -> str:
    """Reboot the node in the background (what `talosctl reboot` asks); return the actor ID."""
    actor = str(uuid.uuid4())
    if node.busy:
        node.emit(f"sequence: reboot action: NOOP error: [code: {LOCKED} message: LOCKED]",
                  actor, "error")
        return actor
    node.busy = "reboot"
    world.spawn(_reboot_request(world, node, actor, mode))
    return actor


async def _reboot_request(world: EmulatedCluster, node: NodeState, actor: str, mode: str) -> None:
    async def task(name: str) -> None:
        if name == "stopAllPods":
            world.k8s.node_pods_ready(node, False)
        elif name == "stopServicesForUpgrade":
            await _stop_services(world, node)

    node.stage = "rebooting"
    await _run_phases(world, node, "reboot", actor,
                      reboot_sequence(node, kexec=mode == "default"), task)
    await _reboot(world, node)


def start_rollback(world: EmulatedCluster, node: NodeState) -> None:
    """Switch the A/B boot entry and reboot; raise Refused when there is no other entry."""
    if node.slots[node.other] is None:
        raise Refused(f"cannot rollback to {go_quote('')}, label does not exist")
    node.pending_slot = node.other
    node.busy = "rollback"
    world.spawn(_reboot_request(world, node, "", "default"))


async def power_off(world: EmulatedCluster, node: NodeState) -> None:
    """The machine is off (the node_down fault): its Talos API refuses connections, its etcd
    member is down (still listed), its kubelet stops posting, so the Node goes Ready=Unknown
    (NodeStatusUnknown) and its pods unready. It stays off until the lab stops. The Kubernetes
    API stays up when it is the primary (a real cluster's endpoint moves to another control
    plane; the lab serves the API on one address only)."""
    node.powered_off = True
    node.kubelet_running = False
    _go_down(world, node, "unknown")
    if node.is_control_plane and world.etcd.member(node.name).running:
        await world.etcd.stop_member(node.name)
        await world.etcd.wait_leader()


def vm_stopped(world: EmulatedCluster, node: NodeState) -> None:
    """The node's VM was shut down or stopped through PVE: as power_off (apid away at once,
    kubelet stops posting, its etcd member stopped but still listed). When no control plane is
    left running, the Kubernetes API goes away (listener closed)."""
    if node.powered_off or node.destroyed:
        return
    node.powered_off = True
    node.kubelet_running = False
    _go_down(world, node, "unknown")
    world.spawn(_after_power_loss(world, node, destroy=False))


def vm_destroyed(world: EmulatedCluster, node: NodeState) -> None:
    """The node's VM was destroyed through PVE: nothing answers at its address any more (it is
    free for a new machine), its etcd member's data dir is gone (the member stays listed by
    the others). When no control plane is left, the old etcd cluster is shut down."""
    if node.destroyed:
        return
    if not node.powered_off:
        node.powered_off = True
        node.kubelet_running = False
        _go_down(world, node, "unknown")
    node.destroyed = True
    world.set_maintenance_listener(node.address, False)  # nothing answers there any more
    world.spawn(_after_power_loss(world, node, destroy=True))


async def _after_power_loss(world: EmulatedCluster, node: NodeState, destroy: bool) -> None:
    from emulator.etcd import EtcdError

    async with world.lock("vm"):
        if node.is_control_plane:
            try:
                member = world.etcd.member(node.name)
            except EtcdError:
                member = None
            if member is not None and destroy:
                await world.etcd.destroy_member(node.name)
            elif member is not None and member.running:
                await world.etcd.stop_member(node.name)
        alive = [n for n in world.control_planes if not n.powered_off and not n.destroyed]
        if not alive:
            world.api_gone = True
            world.set_api_listener(False)
            if all(n.destroyed for n in world.control_planes) and world.etcd.names:
                await world.etcd.forget()
                world.etcd_bootstrapped = False  # type: ignore[attr-defined]
        elif node.is_control_plane:
            await world.etcd.wait_leader()


def _go_down(world: EmulatedCluster, node: NodeState, stage: str) -> None:
    """The machine stops answering: apid away, the Node's status unknown, its pods unready."""
    node.stage = stage
    node.machine_ready = False
    node.apid_up = False
    node.k8s_status_known = False
    node.touch()
    world.k8s.node_status(node)
    world.k8s.node_pods_ready(node, False)


async def _reboot(world: EmulatedCluster, node: NodeState) -> None:
    """Shut down (APIs go away), boot the pending slot (or fall back), rejoin, become Ready."""
    upgrading = node.pending_slot is not None and (node.busy == "upgrade"
                                                   or node.upgrade_installed)
    node.upgrade_installed = False
    _go_down(world, node, "rebooting")
    if node.primary:
        world.set_api_listener(False)
    if node.is_control_plane and world.etcd.member(node.name).running:
        await world.etcd.stop_member(node.name)
    fault = world.take_fault("api_unreachable", node)
    if fault is not None:
        world.api_down_until = time.time() + float(fault.params.get("seconds", 5.0))
    await asyncio.sleep(_t(world, "reboot"))
    _boot_slot(world, node, upgrading)
    node.emit("sequence: initialize action: START")
    node.emit("sequence: initialize action: STOP")
    node.emit("sequence: boot action: START")
    node.stage = "booting"
    node.apid_up = True
    node.touch()
    for phase, tasks in BOOT_PHASES[:-1]:
        node.emit(f"phase: {phase} action: START")
        for t in tasks:
            node.emit(f"task: {t} action: START")
            node.emit(f"task: {t} action: STOP")
        node.emit(f"phase: {phase} action: STOP")
    if node.staged is not None:  # a staged upgrade installs now, then boots the new slot
        schematic, version = node.staged
        node.staged = None
        try:
            await _install(world, node, schematic, version)
        except SequenceFailed:
            pass
        else:
            await asyncio.sleep(_t(world, "reboot"))
            _boot_slot(world, node, True)
    node.emit("phase: startEverything action: START")
    node.emit("task: startAllServices action: START")
    not_avail = [("nodeReady", f"node {go_quote(node.name)} status is not available yet")]
    node.emit(machine_status_message("booting", False, not_avail))
    await asyncio.sleep(_t(world, "boot"))
    await _start_etcd(world, node)
    if node.primary:
        world.set_api_listener(True)
    node.kubelet_running = True
    node.emit("service: kubelet message: Health check successful healthy: true")
    node.emit("task: startAllServices action: STOP")
    node.emit("phase: startEverything action: STOP")
    node.stage = "running"
    node.k8s_status_known = True
    if world.take_fault("never_ready", node) is not None:
        node.never_ready = True
    node.k8s_ready = False
    world.k8s.node_status(node)
    node.emit(machine_status_message(
        "running", False, [("nodeReady", f"node {go_quote(node.name)} is not ready")]))
    await asyncio.sleep(_t(world, "kubelet_ready"))
    if node.never_ready:  # the kubelet runs, the network does not: host-network pods only
        world.k8s.node_pods_ready(node, True, host_network_only=True)
    else:
        node.k8s_ready = True
        world.k8s.node_status(node)
        world.k8s.node_pods_ready(node, True)
        world.k8s.cordon(node, False, by_talos=True)  # NodeApplyController: its own cordon only
        node.machine_ready = True
        node.emit("sequence: boot action: STOP")
        node.emit(machine_status_message("running", True), flag="ready")
    node.busy = None
    node.log("boot sequence: done", "user")
    node.touch()


def _boot_slot(world: EmulatedCluster, node: NodeState, upgrading: bool) -> None:
    """Pick the slot that boots (boot_failure falls back by itself) and start a new boot."""
    wanted, node.pending_slot = node.pending_slot, None
    if wanted is not None:
        if upgrading and world.take_fault("boot_failure", node) is not None:
            failed = node.slots[wanted]
            node.boot_id = str(uuid.uuid4())
            node.boot_count += 1
            node.booted_at = time.time()
            node.dmesg.clear()
            node.log(f"Talos {failed.version if failed else '?'} failed to boot from slot "
                     f"{wanted}; falling back to slot {node.active}", priority="err")
        else:
            node.active = wanted
    earlier = [line for line in node.dmesg if "failed to boot" in line]
    node.boot_id = str(uuid.uuid4())
    node.boot_count += 1
    node.booted_at = time.time()
    node.dmesg[:] = earlier
    node.boot_log()


async def _start_etcd(world: EmulatedCluster, node: NodeState) -> None:
    if not node.is_control_plane:
        return
    if world.etcd.member(node.name).state == "left":
        await world.etcd.rejoin(node.name)
    else:
        await world.etcd.start_member(node.name)
    slow = world.take_fault("slow_etcd_catchup", node)
    if slow is not None:
        world.etcd.set_catchup_lag(node.name, float(slow.params.get("seconds", 3.0)))
    node.emit("service: etcd message: Health check successful healthy: true")
