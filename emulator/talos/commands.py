"""Server side of the emulated talosctl: one request = one command line, streamed back.

The thin client (emulator/talos/cli.py) resolves the talosconfig and sends the argv, the
context's endpoints and nodes and its cwd; this module parses flags exactly as talosctl's
cobra/pflag do, runs the command against the world and writes stdout/stderr as the real
binary would (talosctl v1.11 client code paths, cmd/talosctl/cmd/talos/*.go):

* COSI reads (`get`) go to each node one-to-one: a node's error is the bare gRPC error,
  collected in a multierror (exit 1) after the other nodes' output.
* one-to-many calls (`version`, `etcd members|status|alarm list`, `services`) come back with
  per-node errors `<node>: <err>`; if some nodes answered, talosctl prints them as
  `WARNING: <multierror>` and exits 0; if none did, `error getting ...: <multierror>`, exit 1.
* errors containing "arg(s)", "flag" or "command" are followed by the usage (root.go).

Anything not emulated exits 1 with `not emulated: talosctl <args>`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.talos import formats as f
from emulator.talos import resources
from emulator.talos.flags import FlagError, find, usage_text
from emulator.talos.specs import (
    COMMANDS,
    ROOT,
    CommandSpec,
    HelpRequested,
    parse_command_line,
)
from emulator.world import EmulatedCluster, NodeState

NODES_NOT_SET = ("nodes are not set for the command: please use `--nodes` flag or configuration "
                 "file to set the nodes to run the command against")
NO_ENDPOINTS = "failed to determine endpoints"


class CommandError(Exception):
    """The command failed; the message is printed to stderr and the exit code is 1."""


class Silent(Exception):  # noqa: N818 - a control-flow signal, not an error type
    """The command failed and already said so (talosctl's common.SuppressErrors): exit 1."""


@dataclass
class Ctx:
    world: EmulatedCluster
    write: Callable[[str, str], Awaitable[None]]  # (stream, text)
    opts: dict[str, Any]
    args: list[str]
    config_nodes: list[str]
    cwd: str
    spec: CommandSpec
    endpoints: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def out(self, text: str) -> None:
        await self.write("stdout", text)

    async def err(self, text: str) -> None:
        await self.write("stderr", text)

    @property
    def nodes(self) -> list[str]:
        """The -n nodes (or the context's); raise the real errors when there are none."""
        if not self.endpoints:
            raise CommandError(NO_ENDPOINTS)
        nodes = list(self.opts.get("nodes") or []) or list(self.config_nodes)
        if not nodes:
            raise CommandError(NODES_NOT_SET)
        return nodes

    def single_node(self, command: str | None = None) -> str:
        """The only node; raise `command "X" is not supported with multiple nodes` otherwise."""
        nodes = self.nodes
        if len(nodes) > 1:
            raise CommandError(f.multi_node_error(command or self.spec.path))
        return nodes[0]

    def target(self, target: str) -> NodeState:
        """The node addressed by -n; raise CommandError with the gRPC dial error if unreachable."""
        node = self.world.resolve(target)
        if node is None or not node.apid_up:
            raise CommandError(f.unavailable_error(target))
        return node

    async def many(self, call: Callable[[NodeState], Awaitable[Any]]
                   ) -> tuple[list[tuple[str, Any]], list[str]]:
        """Run a one-to-many call: ([(node, answer)], ["<node>: <err>"])."""
        answers, errors = [], []
        for target in self.nodes:
            try:
                answers.append((target, await call(self.target(target))))
            except CommandError as e:
                errors.append(f"{target}: {e}")
        return answers, errors

    async def report_many(self, answers: list[Any], errors: list[str], prefix: str) -> None:
        """talosctl's handling of a one-to-many reply with node errors (see module doc)."""
        if not errors:
            return
        text = f.multierror(errors)
        if not answers:
            raise CommandError(prefix + text)
        await self.err(f"WARNING: {text}\n")

    async def version_check(self) -> None:
        """helpers.ClientVersionCheck: one WARNING line for servers older than the client."""
        servers = []
        for target in self.nodes:
            node = self.world.resolve(target)
            if node is not None and node.apid_up:
                servers.append((target, node.talos_version))
        line = f.client_version_warning(servers, self.world.client_version)
        if line:
            await self.err(line)


async def run(world: EmulatedCluster, request: dict[str, Any],
              write: Callable[[str, str], Awaitable[None]]) -> int:
    """Run one talosctl command line; return its exit code."""
    argv = [str(a) for a in request.get("argv", [])]
    try:
        found, _ = find(ROOT, argv)
        if found.runnable and found.handler is None:
            await write("stderr", f"not emulated: talosctl {' '.join(argv)}\n")
            return 1
        spec, opts, args = parse_command_line(argv)
    except HelpRequested as e:
        await write("stdout", e.text)
        return 0
    except FlagError as e:
        await write("stderr", f.cli_error_output(str(e), getattr(e, "usage", "")))
        return 1
    if spec.handler is None:
        await write("stderr", f"not emulated: talosctl {' '.join(argv)}\n")
        return 1
    ctx = Ctx(world, write, opts, args, list(request.get("config_nodes") or []),
              str(request.get("cwd") or "."), spec, list(request.get("endpoints") or []))
    handler = HANDLERS[spec.handler]
    try:
        code = await handler(ctx)
    except Silent:
        return 1
    except CommandError as e:
        await write("stderr", f.cli_error_output(str(e), usage_text(spec)))
        return 1
    return code or 0


# ---------------------------------------------------------------------------------------------
# version / get / read / dmesg
# ---------------------------------------------------------------------------------------------
async def cmd_version(ctx: Ctx) -> int:
    client = ctx.world.client_version_info()
    json_out = bool(ctx.opts.get("json"))
    if not json_out:
        out = f.version_text(client, None, short=bool(ctx.opts.get("short")))
        if ctx.opts.get("client"):
            await ctx.out(out)
            return 0
        await ctx.out(out + "Server:\n")

    async def ask(node: NodeState) -> dict[str, str]:
        return ctx.world.server_version_info(node)

    answers, errors = await ctx.many(ask)
    await ctx.report_many(answers, errors, "error getting version: ")
    if json_out:
        await ctx.out(f.version_json(answers))
    else:
        text = f.version_text(client, answers)
        await ctx.out(text[text.index("Server:\n") + len("Server:\n"):])
    return 0


async def cmd_get(ctx: Ctx) -> int:
    targets = ctx.nodes
    await ctx.version_check()
    output = str(ctx.opts.get("output") or "table")
    if output not in ("table", "json", "yaml") and not output.startswith("jsonpath="):
        raise CommandError(f"output format {f.go_quote(output)} is not supported")
    if output.startswith("jsonpath="):
        raise CommandError(f"not emulated: talosctl get -o {output}")
    if ctx.opts.get("watch"):
        raise CommandError("not emulated: talosctl get --watch")
    try:
        rdef = f.resolve_resource(ctx.args[0])
    except f.ResourceLookupError as e:
        raise CommandError(str(e)) from None
    builder = resources.BUILDERS.get(rdef.type)
    if builder is None:
        raise CommandError(f"not emulated: talosctl get {ctx.args[0]}")
    namespace = ctx.opts.get("namespace") or rdef.namespace
    items: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []
    for target in targets:
        try:
            node = ctx.target(target)
        except CommandError as e:  # one-to-one proxying: the bare gRPC error, no node prefix
            errors.append(str(e))
            continue
        found = [r for r in builder(ctx.world, node)
                 if r["metadata"]["namespace"] == namespace]
        if len(ctx.args) > 1:
            found = [r for r in found if str(r["metadata"]["id"]) == ctx.args[1]]
            if not found:
                errors.append(f"rpc error: code = NotFound desc = resource {rdef.type}"
                              f"({namespace}/{ctx.args[1]}@undefined) doesn't exist")
        items += [(target, r) for r in found]
    if output == "json":
        await ctx.out(f.resources_json(items))
    elif output == "yaml":
        await ctx.out(f.resources_yaml(items))
    else:
        await ctx.out(f.resources_table(items, rdef))
    if errors:
        raise CommandError(f.multierror(errors))
    return 0


async def cmd_read(ctx: Ctx) -> int:
    node = ctx.target(ctx.single_node("read"))
    if ctx.args[0] != "/proc/sys/kernel/random/boot_id":
        raise CommandError(f"not emulated: talosctl read {ctx.args[0]}")
    await ctx.out(node.boot_id + "\n")
    return 0


async def cmd_dmesg(ctx: Ctx) -> int:
    if ctx.opts.get("follow"):
        raise CommandError("not emulated: talosctl dmesg --follow")
    errors = []
    for target in ctx.nodes:
        try:
            node = ctx.target(target)
        except CommandError as e:  # ReadGRPCStream: the node's bare error
            errors.append(str(e))
            continue
        if ctx.opts.get("tail"):  # only messages newer than the request: none without --follow
            continue
        for line in node.dmesg:
            await ctx.out(f"{target}: {line}\n")
    if errors:
        word = "error" if len(errors) == 1 else "errors"
        raise CommandError(f"{len(errors)} {word} occurred:\n"
                           + "\n".join(f" {e}" for e in errors))
    return 0


async def cmd_services(ctx: Ctx) -> int:
    from emulator.talos import services

    action = ctx.args[1] if len(ctx.args) > 1 else "status"
    if action != "status":
        if action in ("start", "stop", "restart"):
            raise CommandError(f"not emulated: talosctl service {' '.join(ctx.args)}")
        raise CommandError(f"unsupported service action: {f.go_quote(action)}")

    async def ask(node: NodeState) -> list[services.Service]:
        return services.services(ctx.world, node)

    answers, errors = await ctx.many(ask)
    await ctx.report_many(answers, errors, "error listing services: ")
    now = time.time()
    if not ctx.args:
        await ctx.out(services.list_table(answers, now))
        return 0
    wanted = [(n, s) for n, svcs in answers for s in svcs if s.id == ctx.args[0]]
    if not wanted:
        raise CommandError(f"service {f.go_quote(ctx.args[0])} is not registered on any nodes")
    await ctx.out(services.info_text(wanted, now))
    return 0


# ---------------------------------------------------------------------------------------------
# etcd
# ---------------------------------------------------------------------------------------------
async def cmd_etcd_members(ctx: Ctx) -> int:
    answers, errors = await ctx.many(ctx.world.etcd_members_view)
    await ctx.report_many(answers, errors, "error getting members: ")
    rows = []
    for i, (target, members) in enumerate(answers):
        if i == 0 and not members:
            return 0  # upstream prints its header with the first message's first member
        rows += [(target, m) for m in members]
    await ctx.out(f.etcd_members_table(rows))
    return 0


async def cmd_etcd_status(ctx: Ctx) -> int:
    answers, errors = await ctx.many(ctx.world.etcd_status_view)
    await ctx.report_many(answers, errors, "error getting status: ")
    # the client's code decides the columns (PROTOCOL/STORAGE from talosctl v1.11 on);
    # the node's Talos decides whether they are filled (see etcd_status_view)
    await ctx.out(f.etcd_status_table(answers, ctx.world.client_version))
    return 0


async def cmd_etcd_snapshot(ctx: Ctx) -> int:
    node = ctx.target(ctx.single_node("etcd snapshot"))
    dest = Path(ctx.args[0])
    if not dest.is_absolute():
        dest = Path(ctx.cwd) / dest
    info = await ctx.world.etcd_snapshot(node, dest)
    await ctx.out(f.snapshot_lines(ctx.args[0], info))
    return 0


async def cmd_etcd_remove_member(ctx: Ctx) -> int:
    try:
        member_id = int(ctx.args[0], 16)
        if not 0 <= member_id < 1 << 64 or ctx.args[0].startswith(("+", "-", "0x")):
            raise ValueError
    except ValueError:
        raise CommandError(f.member_id_parse_error(ctx.args[0])) from None

    async def remove(node: NodeState) -> None:
        await ctx.world.etcd_remove_member(node, member_id)

    _, errors = await ctx.many(remove)
    if errors:
        raise CommandError(f.multierror(errors))
    return 0


async def cmd_etcd_leave(ctx: Ctx) -> int:
    ctx.single_node("etcd leave")  # helpers.FailIfMultiNodes
    _, errors = await ctx.many(ctx.world.etcd_leave)
    if errors:
        raise CommandError(f.multierror(errors))
    return 0


async def cmd_etcd_forfeit(ctx: Ctx) -> int:
    _, errors = await ctx.many(ctx.world.etcd_forfeit)
    if errors:
        raise CommandError(f.multierror(errors))
    return 0


async def cmd_etcd_alarm_list(ctx: Ctx) -> int:
    answers, errors = await ctx.many(ctx.world.etcd_alarms_view)
    await ctx.report_many(answers, errors, "error getting alarms: ")
    if not answers or not answers[0][1]:
        return 0  # the header comes with the first message's first alarm
    rows = [(target, mid, alarm) for target, alarms in answers for mid, alarm in alarms]
    await ctx.out(f.etcd_alarms_table(rows))
    return 0


def _handlers() -> dict[str, Callable[[Ctx], Awaitable[int]]]:
    from emulator.talos import actions

    return {
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
        "upgrade": actions.cmd_upgrade,
        "reboot": actions.cmd_reboot,
        "rollback": actions.cmd_rollback,
        "upgrade-k8s": actions.cmd_upgrade_k8s,
        "health": actions.cmd_health,
    }


class _Handlers(dict[str, Callable[[Ctx], Awaitable[int]]]):
    """The handler table, filled on first use (actions imports this module)."""

    def __missing__(self, key: str) -> Callable[[Ctx], Awaitable[int]]:
        if not self:
            self.update(_handlers())
            assert set(self) <= {c.handler for c in COMMANDS if c.handler}
            return self[key]
        raise KeyError(key)


HANDLERS = _Handlers()
