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

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.maintenance import NOT_IN_MAINTENANCE, TLS_UNKNOWN_AUTHORITY
from emulator.maintenance import READABLE as MAINTENANCE_READABLE
from emulator.talos import formats as f
from emulator.talos import resources
from emulator.talos.flags import FlagError, find, usage_text
from emulator.talos.specs import (
    COMMANDS,
    CommandSpec,
    HelpRequested,
    parse_command_line,
    tree,
)
from emulator.world import EmulatedCluster, NodeState

NODES_NOT_SET = ("nodes are not set for the command: please use `--nodes` flag or configuration "
                 "file to set the nodes to run the command against")
NO_ENDPOINTS = "failed to determine endpoints"


@dataclass
class Reply:
    """One node's answer to a one-to-many call: its answer, or its error (gRPC text), and how
    long after the request it arrived (a slow node's `delay`)."""

    target: str
    answer: Any = None
    error: str | None = None
    delay: float = 0.0


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
        """The only node; raise the client's single-node refusal otherwise."""
        nodes = self.nodes
        if len(nodes) > 1:
            raise CommandError(self.world.client.single_node_error(command or self.spec.path,
                                                                   len(nodes)))
        return nodes[0]

    def target(self, target: str) -> NodeState:
        """The node addressed by -n; raise CommandError with the gRPC dial error if unreachable.
        A machine in maintenance mode answers only an --insecure client (emulator/maintenance)."""
        machine = self.world.maintenance.get(target)
        if machine is not None:
            if not self.opts.get("insecure"):
                raise CommandError(TLS_UNKNOWN_AUTHORITY)
            return machine  # type: ignore[no-any-return]
        node = self.world.resolve(target)
        if node is None or not node.apid_up:
            raise CommandError(f.unavailable_error(target))
        return node

    async def many(self, call: Callable[[NodeState], Awaitable[Any]]
                   ) -> tuple[list[tuple[str, Any]], list[str]]:
        """Run a one-to-many call: ([(node, answer)], ["<node>: <err>"])."""
        replies = await self.gather(call)
        return ([(r.target, r.answer) for r in replies if r.error is None],
                [f"{r.target}: {r.error}" for r in replies if r.error is not None])

    async def gather(self, call: Callable[[NodeState], Awaitable[Any]],
                     delay: Callable[[NodeState], float] | None = None) -> list[Reply]:
        """Ask every node. Up to v1.13 apid fans the call out and answers once every node did
        (-n order); v1.14 clients ask each node themselves and see answers as they arrive."""
        replies = []
        for target in self.nodes:
            try:
                node = self.target(target)
                answer = await call(node)
            except CommandError as e:
                replies.append(Reply(target, error=str(e)))
                continue
            replies.append(Reply(target, answer, delay=delay(node) if delay else 0.0))
        if self.world.client.multiplexed:
            replies.sort(key=lambda r: r.delay)  # stable: arrival order
        else:
            await asyncio.sleep(max((r.delay for r in replies), default=0.0))
        self.started = time.monotonic()
        return replies

    async def until(self, delay: float) -> None:
        """Sleep until `delay` seconds after the replies started arriving (v1.14 clients)."""
        left = getattr(self, "started", time.monotonic()) + delay - time.monotonic()
        if left > 0:
            await asyncio.sleep(left)

    async def warn_errors(self, replies: list[Reply], prefix: str) -> None:
        """v1.9-v1.13 (FilterMessages + cli.Warning): when some nodes failed, `WARNING:
        <multierror of "<node>: <err>">`, exit 0; when all did, `<prefix><multierror>`, exit 1.
        Nothing for a v1.14 client (see raise_errors)."""
        if self.world.client.multiplexed:
            return
        answers = [(r.target, r.answer) for r in replies if r.error is None]
        await self.report_many(answers, [f"{r.target}: {r.error}" for r in replies
                                         if r.error is not None], prefix)

    def raise_errors(self, replies: list[Reply], form: str = "error from node") -> None:
        """v1.14 (errors.Join of fmt.Errorf("<form> %s: %w", node, err)), after the output:
        one line per failed node, exit 1. Nothing for older clients (see warn_errors)."""
        failed = [r for r in replies if r.error is not None]
        if self.world.client.multiplexed and failed:
            raise CommandError("\n".join(f"{form} {r.target}: {r.error}" for r in failed))

    async def table(self, header: list[str], replies: list[Reply],
                    rows_of: Callable[[Reply], list[list[str]]], *, header_always: bool) -> None:
        """Write a table: at once up to v1.13; for a v1.14 client, flushed whenever
        FLUSH_INTERVAL passed without an answer (root.go outputFlushInterval), so a slow node's
        rows come in a block of their own (no header, their own widths)."""
        from emulator.talos.client import FLUSH_INTERVAL

        if not self.world.client.multiplexed:
            rows = [row for r in replies if r.error is None for row in rows_of(r)]
            if rows or header_always:
                await self.out(f.tabwriter([header, *rows]))
            return
        buffer: list[list[str]] = [header] if header_always else []
        with_header = header_always
        last: float | None = None
        for r in replies:
            if last is not None and r.delay - last > FLUSH_INTERVAL:
                await self.until(last + FLUSH_INTERVAL)
                if buffer:
                    await self.out(f.tabwriter(buffer))
                buffer = []
            await self.until(r.delay)
            rows = rows_of(r) if r.error is None else []
            if rows and not with_header:
                buffer.append(header)
                with_header = True
            buffer += rows
            last = r.delay
        if buffer:
            await self.out(f.tabwriter(buffer))

    async def report_many(self, answers: list[Any], errors: list[str], prefix: str) -> None:
        """talosctl's handling of a one-to-many reply with node errors (see module doc)."""
        if not errors:
            return
        text = f.multierror(errors)
        if not answers:
            raise CommandError(prefix + text)
        await self.err(f"WARNING: {text}\n")

    async def version_check(self) -> None:
        """helpers.ClientVersionCheck: one WARNING line for servers older than the client. Up
        to v1.13 a node that does not answer is skipped; v1.14 returns its error, which stops
        the command (`<node>: error getting server version: <err>`, helpers/checks.go)."""
        servers, errors = [], []
        for target in self.nodes:
            node = self.world.resolve(target)
            if node is not None and node.apid_up:
                servers.append((target, node.talos_version))
            else:
                errors.append(f"{target}: error getting server version: "
                              f"{f.unavailable_error(target)}")
        line = f.client_version_warning(servers, self.world.client_version)
        if line:
            await self.err(line)
        if errors and self.world.client.multiplexed:
            raise CommandError("\n".join(errors))


async def run(world: EmulatedCluster, request: dict[str, Any],
              write: Callable[[str, str], Awaitable[None]]) -> int:
    """Run one talosctl command line; return its exit code."""
    argv = [str(a) for a in request.get("argv", [])]
    root = tree(world.client)
    try:
        found, _ = find(root, argv)
        if found.runnable and found.handler is None:
            await write("stderr", f"not emulated: talosctl {' '.join(argv)}\n")
            return 1
        spec, opts, args, notices = parse_command_line(argv, root)
    except HelpRequested as e:
        await write("stdout", e.text)
        return 0
    except FlagError as e:
        await write("stderr", f.cli_error_output(str(e), getattr(e, "usage", "")))
        return 1
    if spec.handler is None:
        await write("stderr", f"not emulated: talosctl {' '.join(argv)}\n")
        return 1
    for notice in notices:  # pflag writes them to cobra's stderr before the command runs
        await write("stderr", notice + "\n")
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
        if node.stage == "maintenance":
            raise CommandError(f.rpc_error("Unimplemented", NOT_IN_MAINTENANCE))
        return ctx.world.server_version_info(node)

    replies = await ctx.gather(ask)
    await ctx.warn_errors(replies, "error getting version: ")
    multiplexed = ctx.world.client.multiplexed
    for r in replies:
        if r.error is not None:
            continue
        await ctx.until(r.delay)
        if json_out:  # v1.14: one-to-one calls carry no metadata (the node cannot be named)
            info = {k: v for k, v in r.answer.items() if k != "hostname"} if multiplexed \
                else r.answer
            await ctx.out(f.version_json([(r.target, info)]))
        else:
            text = f.version_text(client, [(r.target, r.answer)])
            await ctx.out(text[text.index("Server:\n") + len("Server:\n"):])
    ctx.raise_errors(replies, "error getting version from node")
    return 0


async def cmd_get(ctx: Ctx) -> int:
    """get.go: the version check, the resource type resolved on the FIRST node only
    (helpers/resources.go v1.9-v1.13, get.go v1.14), then each node one-to-one; a node's
    error is its bare gRPC error in a multierror (v1.9-v1.13) or `error listing resources on
    node <n>: <err>` (v1.14), after the other nodes' output, exit 1."""
    targets = ctx.nodes
    multiplexed = ctx.world.client.multiplexed
    await ctx.version_check()
    output = str(ctx.opts.get("output") or "table")
    if output not in ("table", "json", "yaml") and not output.startswith("jsonpath="):
        raise CommandError(f"output format {f.go_quote(output)} is not supported")
    if output.startswith("jsonpath="):
        raise CommandError(f"not emulated: talosctl get -o {output}")
    if ctx.opts.get("watch"):
        raise CommandError("not emulated: talosctl get --watch")
    first = ctx.target(targets[0])  # down: its bare dial error is the whole failure
    try:
        rdef = f.resolve_resource(ctx.args[0], f.registry_for(first.talos_version))
    except f.ResourceLookupError as e:
        raise CommandError(str(e)) from None
    builder = resources.BUILDERS.get(rdef.type)
    if builder is None:
        raise CommandError(f"not emulated: talosctl get {ctx.args[0]}")
    namespace = ctx.opts.get("namespace") or rdef.namespace
    items: list[tuple[str, dict[str, Any]]] = []
    errors: list[str] = []

    def failed(target: str, error: str, how: str = "listing resources") -> None:
        errors.append(f"error {how} on node {target}: {error}" if multiplexed else error)

    for target in targets:
        try:
            node = ctx.target(target)
        except CommandError as e:
            failed(target, str(e))
            continue
        if node.stage == "maintenance" and rdef.type not in MAINTENANCE_READABLE:
            raise CommandError(f"not emulated: talosctl get {ctx.args[0]} --insecure "
                               "(maintenance mode)")
        if all(rd.type != rdef.type for rd in f.registry_for(node.talos_version)):
            failed(target, f.rpc_error("PermissionDenied", f"resource type "
                                       f"{f.go_quote(rdef.type)} is not supported"))
            continue  # machined's resources.AccessPolicy (internal/app/resources/access.go)
        found = [r for r in builder(ctx.world, node)
                 if r["metadata"]["namespace"] == namespace]
        if len(ctx.args) > 1:
            found = [r for r in found if str(r["metadata"]["id"]) == ctx.args[1]]
            if not found:
                failed(target, f"rpc error: code = NotFound desc = resource {rdef.type}"
                               f"({namespace}/{ctx.args[1]}@undefined) doesn't exist",
                       "getting resource")
        items += [(target, r) for r in found]
    if output == "json":
        await ctx.out(f.resources_json(items))
    elif output == "yaml":
        await ctx.out(f.resources_yaml(items))
    else:
        await ctx.out(f.resources_table(items, rdef))
    if errors:
        raise CommandError("\n".join(errors) if multiplexed else f.multierror(errors))
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
def _etcd_delay(node: NodeState) -> float:
    """How late a node's etcd API answers (the slow_etcd_member fault)."""
    return node.etcd_delay


async def cmd_etcd_members(ctx: Ctx) -> int:
    replies = await ctx.gather(ctx.world.etcd_members_view, _etcd_delay)
    await ctx.warn_errors(replies, "error getting members: ")
    # up to v1.13 the header comes with the first message's first member (none: no header
    # and no rows at all); v1.14 writes it before the first answer
    multiplexed = ctx.world.client.multiplexed
    first = next((r for r in replies if r.error is None), None)
    if not multiplexed and (first is None or not first.answer):
        return 0
    await ctx.table(f.ETCD_MEMBERS_HEADER, replies,
                    lambda r: f.etcd_members_rows([(r.target, m) for m in r.answer]),
                    header_always=multiplexed)
    ctx.raise_errors(replies)
    return 0


async def cmd_etcd_status(ctx: Ctx) -> int:
    replies = await ctx.gather(ctx.world.etcd_status_view, _etcd_delay)
    await ctx.warn_errors(replies, "error getting status: ")
    # the client's code decides the columns (PROTOCOL/STORAGE from talosctl v1.11 on);
    # the node's Talos decides whether they are filled (see etcd_status_view)
    client = ctx.world.client
    if any(r.error is None for r in replies) or client.multiplexed:
        await ctx.table(f.etcd_status_header(client.tag), replies,
                        lambda r: f.etcd_status_rows([(r.target, r.answer)], client.tag),
                        header_always=True)
    ctx.raise_errors(replies)
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

    replies = await ctx.gather(remove)
    ctx.raise_errors(replies)  # v1.14: `error from node <n>: <err>` lines
    _raw_multierror(replies)
    return 0


async def cmd_etcd_leave(ctx: Ctx) -> int:
    ctx.single_node("etcd leave")  # helpers.FailIfMultiNodes
    _, errors = await ctx.many(ctx.world.etcd_leave)
    if errors:
        raise CommandError(f.multierror(errors))
    return 0


async def cmd_etcd_forfeit(ctx: Ctx) -> int:
    replies = await ctx.gather(ctx.world.etcd_forfeit)
    ctx.raise_errors(replies)  # v1.14: `error from node <n>: <err>` lines
    _raw_multierror(replies)
    return 0


def _raw_multierror(replies: list[Reply]) -> None:
    """Up to v1.13 (FilterMessages): the nodes' errors as a multierror, returned as is."""
    errors = [f"{r.target}: {r.error}" for r in replies if r.error is not None]
    if errors:
        raise CommandError(f.multierror(errors))


async def cmd_etcd_alarm_list(ctx: Ctx) -> int:
    replies = await ctx.gather(ctx.world.etcd_alarms_view, _etcd_delay)
    await ctx.warn_errors(replies, "error getting alarms: ")
    answered = [r for r in replies if r.error is None]
    if not ctx.world.client.multiplexed and (not answered or not answered[0].answer):
        return 0  # up to v1.13 the header comes with the first message's first alarm
    await ctx.table(f.ETCD_ALARMS_HEADER, replies,
                    lambda r: f.etcd_alarms_rows([(r.target, m, a) for m, a in r.answer]),
                    header_always=False)
    ctx.raise_errors(replies)
    return 0


def _handlers() -> dict[str, Callable[[Ctx], Awaitable[int]]]:
    from emulator.talos import actions, gen, provision

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
        "gen secrets": gen.cmd_gen_secrets,
        "gen config": gen.cmd_gen_config,
        "kubeconfig": gen.cmd_kubeconfig,
        "apply-config": provision.cmd_apply_config,
        "bootstrap": provision.cmd_bootstrap,
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
