"""Server side of the emulated talosctl: one request = one command line, streamed back.

The thin client (emulator/talos/cli.py) resolves the talosconfig and sends the argv, the
context's nodes and its cwd; this module parses flags exactly as talosctl's cobra/pflag do,
runs the command against the world and writes stdout/stderr as the real binary would.
Anything not emulated exits 1 with `not emulated: talosctl <args>`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.talos import formats as f
from emulator.talos import resources
from emulator.talos.flags import FlagError
from emulator.talos.specs import COMMANDS, CommandSpec, HelpRequested, parse_command_line
from emulator.world import EmulatedCluster, NodeState

NODES_NOT_SET = ("nodes are not set for the command: please use `--nodes` flag or configuration "
                 "file to set the nodes to run the command against")


class CommandError(Exception):
    """The command failed; the message is printed to stderr and the exit code is 1."""


@dataclass
class Ctx:
    world: EmulatedCluster
    write: Callable[[str, str], Awaitable[None]]  # (stream, text)
    opts: dict[str, Any]
    args: list[str]
    config_nodes: list[str]
    cwd: str
    spec: CommandSpec
    errors: list[str] = field(default_factory=list)

    async def out(self, text: str) -> None:
        await self.write("stdout", text)

    async def err(self, text: str) -> None:
        await self.write("stderr", text)

    @property
    def nodes(self) -> list[str]:
        nodes = list(self.opts.get("nodes") or []) or list(self.config_nodes)
        if not nodes:
            raise CommandError(NODES_NOT_SET)
        return nodes

    def single_node(self) -> str:
        nodes = self.nodes
        if len(nodes) > 1:
            raise CommandError(f'command "{self.spec.path}" is not supported with multiple nodes')
        return nodes[0]

    def target(self, target: str) -> NodeState:
        """The node addressed by -n; raise CommandError with the gRPC dial error if unreachable."""
        node = self.world.resolve(target)
        if node is None or not node.apid_up:
            raise CommandError(f.unavailable_error(target))
        return node


async def run(world: EmulatedCluster, request: dict[str, Any],
              write: Callable[[str, str], Awaitable[None]]) -> int:
    """Run one talosctl command line; return its exit code."""
    argv = [str(a) for a in request.get("argv", [])]
    try:
        spec, opts, args = parse_command_line(argv)
    except HelpRequested as e:
        await write("stdout", e.text)
        return 0
    except FlagError as e:
        await write("stderr", str(e) + "\n")
        usage = getattr(e, "usage", "")
        if usage:
            await write("stderr", usage)
        return 1
    if spec.handler is None:
        await write("stderr", f"not emulated: talosctl {' '.join(argv)}\n")
        return 1
    ctx = Ctx(world, write, opts, args, list(request.get("config_nodes") or []),
              str(request.get("cwd") or "."), spec)
    handler = HANDLERS[spec.handler]
    try:
        code = await handler(ctx)
    except CommandError as e:
        await write("stderr", f"{e}\n")
        return 1
    if ctx.errors:
        await write("stderr", f.multierror(ctx.errors))
        return 1
    return code or 0


# ---------------------------------------------------------------------------------------------
# version / get / read / dmesg / services
# ---------------------------------------------------------------------------------------------
async def cmd_version(ctx: Ctx) -> int:
    client = ctx.world.client_version_info()
    if ctx.opts.get("client"):
        await ctx.out(f.version_text(client, None, short=bool(ctx.opts.get("short"))))
        return 0
    servers = []
    for target in ctx.nodes:
        try:
            node = ctx.target(target)
        except CommandError as e:
            ctx.errors.append(f"{target}: {e}")
            continue
        servers.append((target, ctx.world.server_version_info(node)))
    if ctx.opts.get("json"):
        await ctx.out(f.version_json(servers))
    else:
        await ctx.out(f.version_text(client, servers, short=bool(ctx.opts.get("short"))))
    return 0


async def cmd_get(ctx: Ctx) -> int:
    if not ctx.args:
        raise CommandError("accepts between 1 and 2 arg(s), received 0")
    rdef = f.resolve_resource(ctx.args[0])  # raises LookupError with the real text
    builder = resources.BUILDERS.get(rdef.type)
    if builder is None:
        raise CommandError(f"not emulated: talosctl get {ctx.args[0]}")
    items: list[tuple[str, dict[str, Any]]] = []
    for target in ctx.nodes:
        try:
            node = ctx.target(target)
        except CommandError as e:
            ctx.errors.append(f"{target}: {e}")
            continue
        found = builder(ctx.world, node)  # type: ignore[operator]
        if len(ctx.args) > 1:
            found = [r for r in found if str(r["metadata"]["id"]) == ctx.args[1]]
            if not found:
                ctx.errors.append(f"{target}: rpc error: code = NotFound desc = resource "
                                  f"{rdef.type}({rdef.namespace}/{ctx.args[1]}@undefined) "
                                  "doesn't exist")
        items += [(target, r) for r in found]
    output = ctx.opts.get("output") or "table"
    if output == "json":
        await ctx.out(f.resources_json(items))
    elif output == "yaml":
        await ctx.out(f.resources_yaml(items))
    elif output == "table":
        await ctx.out(f.resources_table(items, rdef))
    else:
        raise CommandError(f"output format {output!r} is not supported")
    return 0


async def cmd_read(ctx: Ctx) -> int:
    if len(ctx.args) != 1:
        raise CommandError(f"accepts 1 arg(s), received {len(ctx.args)}")
    if ctx.args[0] != "/proc/sys/kernel/random/boot_id":
        raise CommandError(f"not emulated: talosctl read {ctx.args[0]}")
    for target in ctx.nodes:
        try:
            node = ctx.target(target)
        except CommandError as e:
            ctx.errors.append(f"{target}: {e}")
            continue
        await ctx.out(node.boot_id + "\n")
    return 0


async def cmd_dmesg(ctx: Ctx) -> int:
    for target in ctx.nodes:
        try:
            node = ctx.target(target)
        except CommandError as e:
            ctx.errors.append(f"{target}: {e}")
            continue
        lines = node.dmesg if not ctx.opts.get("tail") else node.dmesg[-int(ctx.opts["tail"]):]
        for line in lines:
            await ctx.out(line.replace(node.address, target, 1) + "\n")
    return 0


async def cmd_services(ctx: Ctx) -> int:
    rows = [["NODE", "SERVICE", "STATE", "HEALTH", "LAST CHANGE", "LAST EVENT"]]
    for target in ctx.nodes:
        try:
            node = ctx.target(target)
        except CommandError as e:
            ctx.errors.append(f"{target}: {e}")
            continue
        for svc, state, health, event in ctx.world.services(node):
            if ctx.args and ctx.args[0] != svc:
                continue
            rows.append([target, svc, state, health, "1m0s ago", event])
    await ctx.out(f.tabwriter(rows))
    return 0


# ---------------------------------------------------------------------------------------------
# etcd
# ---------------------------------------------------------------------------------------------
async def cmd_etcd_members(ctx: Ctx) -> int:
    rows = []
    for target in ctx.nodes:
        try:
            node = ctx.target(target)
            members = await ctx.world.etcd_members_view(node)
        except CommandError as e:
            ctx.errors.append(f"{target}: {e}")
            continue
        rows += [(target, m) for m in members]
    await ctx.out(f.etcd_members_table(rows))
    return 0


async def cmd_etcd_status(ctx: Ctx) -> int:
    rows = []
    version = "v1.9.0"
    for target in ctx.nodes:
        try:
            node = ctx.target(target)
            status = await ctx.world.etcd_status_view(node)
        except CommandError as e:
            ctx.errors.append(f"{target}: {e}")
            continue
        version = node.talos_version
        rows.append((target, status))
    await ctx.out(f.etcd_status_table(rows, version))
    return 0


async def cmd_etcd_snapshot(ctx: Ctx) -> int:
    if len(ctx.args) != 1:
        raise CommandError(f"accepts 1 arg(s), received {len(ctx.args)}")
    node = ctx.target(ctx.single_node())
    dest = Path(ctx.args[0])
    if not dest.is_absolute():
        dest = Path(ctx.cwd) / dest
    info = await ctx.world.etcd_snapshot(node, dest)
    await ctx.out(f.snapshot_lines(ctx.args[0], info))
    return 0


async def cmd_etcd_remove_member(ctx: Ctx) -> int:
    if len(ctx.args) != 1:
        raise CommandError(f"accepts 1 arg(s), received {len(ctx.args)}")
    try:
        member_id = int(ctx.args[0], 16)
    except ValueError:
        raise CommandError(
            "error parsing member ID: error parsing etcd member id: strconv.ParseUint: "
            f'parsing "{ctx.args[0]}": invalid syntax') from None
    node = ctx.target(ctx.single_node())
    await ctx.world.etcd_remove_member(node, member_id)
    return 0


async def cmd_etcd_leave(ctx: Ctx) -> int:
    node = ctx.target(ctx.single_node())
    await ctx.world.etcd_leave(node)
    return 0


async def cmd_etcd_forfeit(ctx: Ctx) -> int:
    for target in ctx.nodes:
        node = ctx.target(target)
        await ctx.world.etcd_forfeit(node)
    return 0


async def cmd_etcd_alarm_list(ctx: Ctx) -> int:
    rows = []
    for target in ctx.nodes:
        try:
            node = ctx.target(target)
            alarms = await ctx.world.etcd_alarms_view(node)
        except CommandError as e:
            ctx.errors.append(f"{target}: {e}")
            continue
        rows += [[target, f"{mid:016x}", alarm] for mid, alarm in alarms]
    await ctx.out(f.tabwriter([["NODE", "MEMBER", "ALARM"], *rows]))
    return 0


# ---------------------------------------------------------------------------------------------
# lifecycle: upgrade / reboot / rollback / upgrade-k8s / health
# ---------------------------------------------------------------------------------------------
async def cmd_upgrade(ctx: Ctx) -> int:
    from emulator import lifecycle

    if ctx.opts.get("insecure") and ctx.opts.get("wait", True):
        raise CommandError("cannot use --wait and --insecure together")
    world = ctx.world
    image = ctx.opts.get("image") or f"ghcr.io/siderolabs/installer:{world.client_version}"
    wait = bool(ctx.opts.get("wait", True)) or bool(ctx.opts.get("debug"))
    targets = ctx.nodes
    await world.client_version_warnings(ctx, targets)
    acks = []
    for target in targets:
        try:
            node = ctx.target(target)
            if wait:
                await ctx.err(f'"{target}": waiting for actor ID\n')
            schematic, version = await lifecycle.validate_upgrade(
                world, node, image, preserve=bool(ctx.opts.get("preserve")),
                force=bool(ctx.opts.get("force")))
        except (CommandError, lifecycle.Refused) as e:
            msg = str(e) if isinstance(e, CommandError) else f.rpc_error("Unknown", str(e))
            if wait:
                await ctx.err(f'"{target}": {msg}\n')
                return 1
            ctx.errors.append(f"{target}: {msg}")
            continue
        boot_id = node.boot_id
        actor = lifecycle.start_upgrade(
            world, node, schematic, version, preserve=bool(ctx.opts.get("preserve")),
            stage=bool(ctx.opts.get("stage")), reboot_mode=str(ctx.opts.get("reboot-mode")))
        acks.append((target, node, boot_id, actor))
    if not wait:
        if acks:
            await ctx.out(f.upgrade_ack_table([t for t, *_ in acks]))
        return 0
    timeout = float(ctx.opts.get("timeout") or 1800.0)
    results = await asyncio.gather(*(track(ctx, t, n, b, a, timeout) for t, n, b, a in acks))
    return 0 if all(results) else 1


async def track(ctx: Ctx, target: str, node: NodeState, old_boot_id: str, actor: str | None,
                timeout: float) -> bool:
    """Print a node's progress as `upgrade --wait` does; True when the post check passed."""
    if actor:
        await ctx.err(f'"{target}": actor ID: {actor}\n')
    deadline = time.monotonic() + timeout
    seen = 0
    was_down = False
    while time.monotonic() < deadline:
        while seen < len(node.events):
            msg = node.events[seen]
            seen += 1
            if msg.startswith("FAILED: "):
                await ctx.err(f'"{target}": {msg.removeprefix("FAILED: ")}\n')
                return False
            await ctx.err(f'"{target}": {msg}\n')
        if not node.apid_up:
            if not was_down:
                await ctx.err(f'"{target}": unavailable, retrying...\n')
            was_down = True
        elif node.busy is None and node.stage == "running" and node.machine_ready:
            await ctx.err(f'"{target}": events check condition met\n')
            if node.boot_id == old_boot_id:
                await ctx.err(f'"{target}": boot ID did not change\n')
                return False
            await ctx.err(f'"{target}": post check passed\n')
            return True
        await node_changed(node, 0.05)
    await ctx.err(f'"{target}": context deadline exceeded\n')
    return False


async def node_changed(node: NodeState, interval: float) -> None:
    """Wait for the node's next event or a short interval, whichever comes first."""
    if node.changed is None:
        node.changed = asyncio.Event()
    node.changed.clear()
    try:
        await asyncio.wait_for(node.changed.wait(), interval)
    except TimeoutError:
        pass


async def cmd_reboot(ctx: Ctx) -> int:
    from emulator import lifecycle

    wait = bool(ctx.opts.get("wait", True)) or bool(ctx.opts.get("debug"))
    started = []
    for target in ctx.nodes:
        node = ctx.target(target)
        started.append((target, node, node.boot_id))
        lifecycle.start_reboot(ctx.world, node)
    if not wait:
        return 0
    timeout = float(ctx.opts.get("timeout") or 1800.0)
    results = await asyncio.gather(*(track(ctx, t, n, b, None, timeout) for t, n, b in started))
    return 0 if all(results) else 1


async def cmd_rollback(ctx: Ctx) -> int:
    from emulator import lifecycle

    for target in ctx.nodes:
        node = ctx.target(target)
        try:
            lifecycle.start_rollback(ctx.world, node)
        except lifecycle.Refused as e:
            raise CommandError(f"error executing rollback: {f.rpc_error('Unknown', str(e))}") from None
    return 0


async def cmd_upgrade_k8s(ctx: Ctx) -> int:
    from emulator import lifecycle

    node = ctx.target(ctx.single_node())
    if not node.is_control_plane:
        raise CommandError(f"node {ctx.single_node()} is not a control plane node")
    to = str(ctx.opts.get("to") or ctx.world.default_kubernetes()).lstrip("v")
    gen = lifecycle.upgrade_k8s(
        ctx.world, to, dry_run=bool(ctx.opts.get("dry-run")),
        pre_pull=bool(ctx.opts.get("pre-pull-images", True)),
        upgrade_kubelet=bool(ctx.opts.get("upgrade-kubelet", True)),
        from_version=(str(ctx.opts["from"]).lstrip("v") if ctx.opts.get("from") else None),
        quote=f.go_quote)
    try:
        async for line in gen:
            await ctx.out(line + "\n")
    except lifecycle.Refused as e:
        raise CommandError(str(e)) from None
    return 0


async def cmd_health(ctx: Ctx) -> int:
    from emulator.talos import health

    node_target = ctx.single_node() if ctx.opts.get("server", True) else None
    if node_target is not None:
        ctx.target(node_target)
    return await health.run(ctx, server=node_target is not None)


HANDLERS: dict[str, Callable[[Ctx], Awaitable[int]]] = {
    "version": cmd_version,
    "get": cmd_get,
    "read": cmd_read,
    "dmesg": cmd_dmesg,
    "services": cmd_services,
    "etcd members": cmd_etcd_members,
    "etcd status": cmd_etcd_status,
    "etcd snapshot": cmd_etcd_snapshot,
    "etcd remove-member": cmd_etcd_remove_member,
    "etcd leave": cmd_etcd_leave,
    "etcd forfeit-leadership": cmd_etcd_forfeit,
    "etcd alarm list": cmd_etcd_alarm_list,
    "upgrade": cmd_upgrade,
    "reboot": cmd_reboot,
    "rollback": cmd_rollback,
    "upgrade-k8s": cmd_upgrade_k8s,
    "health": cmd_health,
}
assert set(HANDLERS) <= {c.handler for c in COMMANDS if c.handler}
