"""A rebuilt node's first steps: `apply-config --insecure` to a machine in maintenance mode, the
boot into its config (etcd Preparing, kubelet waiting for the API) and `bootstrap [--recover-from]`
(a NEW etcd cluster, the others joining, the Kubernetes API back, fresh or from the snapshot).

Upstream, read at v1.12.4 (siderolabs/talos):
* cmd/talosctl/cmd/talos/apply-config.go: `--file/-f`, `--insecure` (WithClientMaintenance: the
  -n nodes are the endpoints, so only the first is configured: talos#11773), errors wrapped
  `error applying new configuration: <err>`, PrintApplyResults (dry-run's ModeDetails on stderr).
* internal/app/maintenance/server.go ApplyConfiguration: modes try/reboot/auto only
  (`apply configuration --mode='<m>' is not supported in maintenance mode`, Unimplemented),
  `configuration validation failed: <multierror>` (InvalidArgument), dry-run summary.
* pkg/machinery/config/types/v1alpha1/v1alpha1_validation.go: the subset of checks below.
* cmd/talosctl/cmd/talos/bootstrap.go: single node, `recovering from snapshot ...` (stdout),
  `error uploading snapshot: `, `error executing bootstrap: `.
* internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go Bootstrap (refusals in this
  order: not available yet, worker, time sync, data dir not empty) and EtcdRecover
  (checkControlplane `etcd recover is only available on control plane nodes`).
* internal/app/machined/pkg/system/services/etcd.go: Preparing until bootstrap; the others join
  as learners and are promoted; recoverFromSnapshot restores into the data dir.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from emulator.talos import formats as f
from emulator.talos.commands import CommandError, Ctx
from emulator.talos.gotext import go_quote, multierror

if TYPE_CHECKING:
    from emulator.world import EmulatedCluster, NodeState

APPLY = "error applying new configuration: "
MODES = ("auto", "interactive", "no-reboot", "reboot", "staged", "try")
DRY_RUN = "Dry run summary:\nNode is running in maintenance mode and does not have a config yet."
WAITING = (
    "etcd is waiting to join the cluster, if this node is the first node in the cluster, "
    "please run `talosctl bootstrap` against one of the following IPs:"
)


class ConfigRejected(Exception):
    """The maintenance service refused the config; str() is the gRPC error text."""


# ---------------------------------------------------------------------------------------------
# the machine config (v1alpha1; minimal but real parsing)
# ---------------------------------------------------------------------------------------------
def parse_config(data: bytes) -> dict[str, Any]:
    """The v1alpha1 document of a machine config, validated as the maintenance service does
    (a subset of v1alpha1_validation.go's checks, in its order); raise ConfigRejected."""
    try:
        docs = [d for d in yaml.safe_load_all(data) if d is not None]
    except yaml.YAMLError as e:  # configloader's own wording is not reproduced (COVERAGE §1)
        raise ConfigRejected(f.rpc_error("Unknown", f"failed to parse config: {e}")) from None
    doc = next((d for d in docs if isinstance(d, dict) and d.get("version") == "v1alpha1"), None)
    if doc is None:
        doc = next((d for d in docs if isinstance(d, dict) and "machine" in d), {})
    errors: list[str] = []
    machine = doc.get("machine")
    if not isinstance(machine, dict):
        errors.append("machine instructions are required")
    else:
        mtype = str(machine.get("type") or "")
        cluster = doc.get("cluster")
        if not isinstance(cluster, dict):
            errors.append("cluster instructions are required")
        elif not ((cluster.get("controlPlane") or {}).get("endpoint")):
            errors.append("cluster controlplane endpoint is required")
        ca = machine.get("ca") if isinstance(machine.get("ca"), dict) else None
        if ca is None and not machine.get("acceptedCAs"):
            errors.append(
                "issuing CA or some accepted CAs are required (.machine.ca, machine.acceptedCAs)"
            )
        if mtype in ("init", "controlplane"):
            if ca is None:
                errors.append("issuing CA is required (.machine.ca)")
            elif not ca.get("key"):
                errors.append("issuing CA key is required for controlplane nodes (.machine.ca.key)")
        elif mtype in ("worker", "join"):
            if ca is not None and ca.get("key"):
                errors.append(
                    "issuing Talos API CA key is not allowed on non-controlplane "
                    "nodes (.machine.ca)"
                )
        else:
            errors.append(f"unknown machine type {go_quote(mtype)}")
    if errors:
        raise ConfigRejected(
            f.rpc_error("InvalidArgument", "configuration validation failed: " + multierror(errors))
        )
    return doc


def role_of(config: dict[str, Any]) -> str:
    """machine.type: init/controlplane -> controlplane, worker/join -> worker."""
    return "controlplane" if config["machine"]["type"] in ("init", "controlplane") else "worker"


def kubelet_version(world: EmulatedCluster, config: dict[str, Any], talos: str) -> str:
    """The tag of machine.kubelet.image (`talosctl gen config` writes
    `ghcr.io/siderolabs/kubelet:v<k8s>`); without one, the Talos version's default."""
    image = str(((config["machine"].get("kubelet") or {}).get("image")) or "")
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    if tag:
        return tag if tag.startswith("v") else f"v{tag}"
    from model.versions import TalosVersion

    return f"v{world.catalog.default_kubernetes(TalosVersion.parse(talos))}"


# ---------------------------------------------------------------------------------------------
# apply-config
# ---------------------------------------------------------------------------------------------
async def cmd_apply_config(ctx: Ctx) -> int:
    if ctx.args:
        if ctx.args[0] != "config" and ctx.args[0].lower() != "machineconfig":
            raise CommandError(f"unknown positional argument {ctx.args[0]}")
        raise CommandError("expected no positional arguments")
    mode = str(ctx.opts.get("mode") or "auto")
    if mode not in MODES:
        raise CommandError(
            f'invalid argument {go_quote(mode)} for "-m, --mode" flag: possible '
            "options are: auto, no-reboot, reboot, staged, try"
        )
    filename = str(ctx.opts.get("file") or "")
    if not filename:
        if mode == "interactive":
            raise CommandError("not emulated: talosctl apply-config --mode=interactive")
        raise CommandError("no filename supplied for configuration")
    path = Path(filename) if Path(filename).is_absolute() else Path(ctx.cwd) / filename
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CommandError(
            f"failed to read configuration from {go_quote(filename)}: open "
            f"{filename}: no such file or directory"
        ) from None
    except IsADirectoryError:
        raise CommandError(
            f"failed to read configuration from {go_quote(filename)}: read "
            f"{filename}: is a directory"
        ) from None
    if not data:
        raise CommandError("no configuration data read")
    if ctx.opts.get("config-patch"):
        raise CommandError("not emulated: talosctl apply-config --config-patch")
    if mode == "interactive":
        raise CommandError("not emulated: talosctl apply-config --mode=interactive")
    nodes = list(ctx.opts.get("nodes") or []) or ctx.nodes
    world = ctx.world
    if not ctx.opts.get("insecure"):
        ctx.target(nodes[0])  # a machine in maintenance mode: the TLS handshake fails
        raise CommandError("not emulated: talosctl apply-config to a configured node")
    target = nodes[0]  # WithClientMaintenance: the nodes are endpoints, one gets the call
    machine = world.maintenance.get(target)
    if machine is None:
        node = world.resolve(target)
        if node is None or not node.apid_up:
            raise CommandError(APPLY + f.unavailable_error(target))
        raise CommandError("not emulated: talosctl apply-config --insecure to a configured node")
    if mode in ("staged", "no-reboot"):
        raise CommandError(
            APPLY
            + f.rpc_error(
                "Unimplemented",
                f"apply configuration --mode='{mode}' is not supported in maintenance mode",
            )
        )
    try:
        config = parse_config(data)
    except ConfigRejected as e:
        raise CommandError(APPLY + str(e)) from None
    if ctx.opts.get("dry-run"):
        await ctx.err(DRY_RUN + "\n")
        return 0
    old = world.by_address.get(machine.address)
    if old is None or not old.destroyed or old.name != machine.name:
        raise CommandError(
            "not emulated: apply-config to a machine that does not replace a "
            "destroyed lab node (same address and VM name)"
        )
    if world.take_fault("maintenance_stuck", old) is not None:
        return 0  # accepted, but the machine never leaves maintenance mode
    configure(world, machine, old, config)
    return 0


def configure(
    world: EmulatedCluster, machine: Any, node: NodeState, config: dict[str, Any]
) -> None:
    """The maintenance service hands the config over: the machine becomes the lab node at its
    address (name = the VM's, Talos = what its disk booted) and boots into its config."""
    from emulator.world import Slot

    world.maintenance.pop(machine.address, None)  # the address stays open: it is the node's now
    node.destroyed = False
    node.powered_off = False
    node.config = config
    node.role = role_of(config)
    node.vmid = machine.vmid
    node.slots = {"A": Slot(machine.slot.version, machine.slot.schematic), "B": None}
    node.active = "A"
    node.kubelet_version = kubelet_version(world, config, machine.slot.version)
    node.boot_id = str(uuid.uuid4())
    node.boot_count, node.upgrade_count = 1, 0
    node.stage, node.machine_ready = "booting", False
    node.apid_up, node.cri_up = False, False
    node.k8s_ready, node.kubelet_running, node.k8s_status_known = False, False, True
    node.never_ready, node.etcd_delay = False, 0.0
    node.upgrade_installed, node.busy = False, None
    node.pending_slot, node.staged = None, None
    node.events.clear()
    node.dmesg.clear()
    node.booted_at = time.time()
    node.boot_log()
    if node.is_control_plane:
        world.etcd.prepare_member(node.name, node.address)  # `service etcd`: Preparing
        version = node.kubelet_version.lstrip("v")
        world.static_versions[node.name] = dict.fromkeys(_components(), version)
        world.static_config_version[node.name] = dict.fromkeys(_components(), 1)
    world.spawn(boot_configured(world, node))


def _components() -> tuple[str, ...]:
    from emulator.world import COMPONENTS

    return COMPONENTS


def _t(world: EmulatedCluster, name: str) -> float:
    return world.spec.timing(name)


async def boot_configured(world: EmulatedCluster, node: NodeState) -> None:
    """The boot into the applied config: apid (TLS) up, CRI up, then a control plane's etcd
    waits in Preparing until bootstrapped here or a cluster to join exists; the kubelet waits
    for the Kubernetes API, registers the Node, becomes Ready."""
    boot_id = node.boot_id
    await asyncio.sleep(_t(world, "boot"))
    if node.boot_id != boot_id:
        return
    node.apid_up = True
    node.emit("sequence: boot action: START")
    node.touch()
    node.cri_up = True
    if node.is_control_plane:
        node.log(WAITING, "user")
        node.log(f"[{node.address}]", "user")
        while True:
            if node.boot_id != boot_id or node.destroyed:
                return
            if node.name in world.etcd.serving:
                break  # bootstrapped on this node
            others = [n for n in world.etcd.serving if n != node.name]
            if getattr(world, "etcd_bootstrapped", True) and others:
                async with world.lock("etcd-join"):
                    await world.etcd.join_member(node.name)
                break
            await asyncio.sleep(0.05)
        node.emit("service: etcd message: Health check successful healthy: true")
    await _kubelet(world, node, boot_id)



async def _kubelet(world: EmulatedCluster, node: NodeState, boot_id: str) -> None:
    while not (world.api_available() and world.api_listener_up):
        if node.boot_id != boot_id or node.destroyed:
            return
        await asyncio.sleep(0.05)
    node.kubelet_running = True
    node.stage = "running"
    node.k8s_status_known, node.k8s_ready = True, False
    world.k8s.register(node)
    await asyncio.sleep(_t(world, "kubelet_ready"))
    if node.boot_id != boot_id or node.destroyed:
        return
    node.k8s_ready = True
    world.k8s.node_status(node)
    world.k8s.node_pods_ready(node, True)
    node.machine_ready = True
    node.emit("sequence: boot action: STOP")
    from emulator.talos.upgrade_text import machine_status_message

    node.emit(machine_status_message("running", True), flag="ready")
    node.log("boot sequence: done", "user")
    node.touch()


# ---------------------------------------------------------------------------------------------
# bootstrap
# ---------------------------------------------------------------------------------------------
async def cmd_bootstrap(ctx: Ctx) -> int:
    from emulator.etcd import EtcdError
    from emulator.etcd.snapshot import run_etcdctl

    world = ctx.world
    if len(ctx.opts.get("nodes") or []) > 1:
        raise CommandError('command "bootstrap" is not supported with multiple nodes')
    target = ctx.nodes[0]
    recover = str(ctx.opts.get("recover-from") or "")
    skip_hash = bool(ctx.opts.get("recover-skip-hash-check"))
    if recover:
        path = Path(recover) if Path(recover).is_absolute() else Path(ctx.cwd) / recover
        if not path.exists():  # etcdutl snapshot.Status: os.Stat first
            raise CommandError(f"stat {recover}: no such file or directory")
        import json

        try:
            st = json.loads(
                await asyncio.to_thread(
                    run_etcdctl,
                    world.etcd.etcdctl_bin,
                    ["snapshot", "status", "-w", "json", str(path)],
                    30.0,
                )
            )
        except EtcdError as e:
            raise CommandError(str(e).split(" failed: ", 1)[-1]) from None
        await ctx.out(
            f"recovering from snapshot {go_quote(recover)}: hash {int(st['hash']):08x}, "
            f"revision {int(st['revision'])}, total keys {int(st['totalKey'])}, "
            f"total size {int(st['totalSize'])}\n"
        )
        try:
            node = ctx.target(target)
        except CommandError as e:
            raise CommandError(f"error uploading snapshot: {e}") from None
        if not node.is_control_plane:
            raise CommandError(
                "error uploading snapshot: "
                + f.rpc_error(
                    "Unimplemented", "etcd recover is only available on control plane nodes"
                )
            )
        dest = world.dir / "recovery" / f"{node.name}.snapshot"
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
        world.recovery[node.name] = dest
    try:
        node = ctx.target(target)
    except CommandError as e:
        raise CommandError(f"error executing bootstrap: {e}") from None
    refusal = bootstrap_refusal(world, node)
    if refusal is not None:
        raise CommandError(f"error executing bootstrap: {refusal}")
    snapshot = world.recovery.pop(node.name, None) if recover else None
    await bootstrap(world, node, snapshot, skip_hash)
    return 0


def bootstrap_refusal(world: EmulatedCluster, node: NodeState) -> str | None:
    """Bootstrap's checks (v1alpha1_server.go, in order), as gRPC error texts."""
    if not node.cri_up:
        return f.rpc_error("FailedPrecondition", "bootstrap is not available yet")
    if not node.is_control_plane:
        return f.rpc_error(
            "FailedPrecondition", "bootstrap can only be performed on a control plane node"
        )
    if world.take_fault("bootstrap_fails", node) is not None:
        return f.rpc_error("FailedPrecondition", "time is not in sync yet")
    try:
        member = world.etcd.member(node.name)
    except Exception:  # noqa: BLE001 - no record: nothing on disk either
        member = None
    if (
        member is not None
        and (member.running or world.etcd.has_data(node.name))
        or getattr(world, "_bootstrapping", False)
    ):
        return f.rpc_error("AlreadyExists", "etcd data directory is not empty")
    return None


async def bootstrap(
    world: EmulatedCluster, node: NodeState, snapshot: Path | None, skip_hash: bool
) -> None:
    """Start etcd on `node` as a new single-member cluster (restored from `snapshot` if given);
    then the Kubernetes API comes back on its endpoint: a fresh store, or the objects of the
    restored etcd's `/registry/` keys. The Preparing control planes join by themselves."""
    from emulator.etcd import EtcdError

    world._bootstrapping = True  # type: ignore[attr-defined]
    try:
        if snapshot is not None:
            st = snapshot.stat().st_size
            node.log(f"recovering etcd from snapshot {snapshot.name} ({st} bytes)", "user")
        try:
            await world.etcd.bootstrap_member(node.name, snapshot, skip_hash)
        except EtcdError as e:  # the etcd service fails; Bootstrap already answered
            node.log(f"etcd: error recovering from the snapshot: {e}", "user", "err")
            return
        world.etcd_bootstrapped = True  # type: ignore[attr-defined]
        if snapshot is not None:
            world.k8s.load_registry(await world.etcd.registry())
            snapshot.unlink(missing_ok=True)
        else:
            world.k8s.fresh()
        world.api_gone = False
        world.api_down_until = 0.0
        world.set_api_listener(True)
    finally:
        world._bootstrapping = False  # type: ignore[attr-defined]
