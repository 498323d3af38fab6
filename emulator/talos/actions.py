"""talosctl's lifecycle commands on the lab: upgrade, reboot, rollback, upgrade-k8s, health.

`upgrade` and `reboot` with --wait (the default) run talosctl's action tracker
(cmd/talosctl/pkg/talos/action/{tracker,node}.go) against the node's machined events, one
tracker per node in parallel; stderr is not a TTY, so every update is a line
`"<node>": <message>`. Errors of a tracked node are printed as its last line and not again
(common.SuppressErrors): exit 1. When --timeout expires the tracker stops reporting and the
command exits 1 without a further line, as upstream does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from emulator.talos import formats as f
from emulator.talos.commands import CommandError, Ctx, Silent
from emulator.talos.specs import DEFAULT_INSTALLER, DEFAULT_K8S
from emulator.world import NodeState

RETRY_INTERVAL = 1.0  # go-retry's constant interval between "unavailable, retrying..."


async def node_changed(node: NodeState, interval: float) -> None:
    """Wait for the node's next event or a short interval, whichever comes first."""
    if node.changed is None:
        node.changed = asyncio.Event()
    node.changed.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(node.changed.wait(), interval)


def _sequence_error(text: str) -> str:
    """The message of `sequence: X action: NOOP error: [code: <msg> message: <code>]`."""
    return text.split("error: [code: ", 1)[1].rsplit(" message: ", 1)[0]


async def track(ctx: Ctx, target: str, action: Callable[[NodeState], Awaitable[str]],
                timeout: float, debug: bool = False) -> bool:
    """One node's tracker: print its progress; True once the post check passed."""
    def say(message: str) -> Awaitable[None]:
        return ctx.err(f"{f.go_quote(target)}: {message}\n")

    deadline = time.monotonic() + timeout
    try:
        node = ctx.target(target)
    except CommandError as e:
        await say(str(e))
        return False
    await say(f.WAITING_FOR_ACTOR)
    old_boot, seen, logs_from = node.boot_id, len(node.events), len(node.dmesg)
    try:
        actor = await action(node)
    except CommandError as e:
        await say(str(e))
        return False
    await say(f.actor_message(actor))
    ok = await _follow(node, say, actor, deadline, seen)
    if ok:
        ok = await _post_check(node, say, old_boot, deadline)
    if not ok and debug:
        await ctx.err(f"console logs for nodes {f.go_quote_list([target])}:\n")
        for line in node.dmesg[logs_from:]:
            await ctx.err(f"{target}: {line}\n")
    return ok


async def _follow(node: NodeState, say: Callable[[str], Awaitable[None]], actor: str,
                  deadline: float, seen: int) -> bool:
    """Print the node's events until MachineReadyEventFn matches; False on error/timeout."""
    reading, actor_filter = node.boot_id, actor
    lost, last_retry = False, float("-inf")
    while time.monotonic() < deadline:
        # events published before the node went away were delivered: print them first
        while not lost and seen < len(node.events):
            boot, who, text, flag = node.events[seen]
            seen += 1
            if boot != reading:
                continue
            if flag == "ready":
                await say(f.EVENTS_CONDITION_MET)
                return True
            if who != actor_filter:
                continue
            await say(text)
            if flag == "stopall":
                await say(f.STOP_ALL_SERVICES_ERROR)
                lost = True
            elif flag == "error":
                err = f"sequence error: {_sequence_error(text)}"
                await say(f"error: {err}")
                await say(err)
                return False
        if not node.apid_up:
            if time.monotonic() - last_retry >= RETRY_INTERVAL:
                await say(f.UNAVAILABLE_RETRYING)
                last_retry = time.monotonic()
            lost = True
        elif node.boot_id != reading:  # reconnected after a reboot: tail -1, actor ID ""
            if last_retry == float("-inf"):
                await say(f.UNAVAILABLE_RETRYING)
            reading, actor_filter, lost = node.boot_id, "", False
            while seen > 0 and node.events[seen - 1][0] == reading:
                seen -= 1
            while seen < len(node.events) and node.events[seen][0] != reading:
                seen += 1
            continue
        await node_changed(node, 0.05)
    return False


async def _post_check(node: NodeState, say: Callable[[str], Awaitable[None]], old_boot: str,
                      deadline: float) -> bool:
    """BootIDChangedPostCheckFn: retried until the boot ID differs."""
    last_retry = float("-inf")
    while time.monotonic() < deadline:
        if node.apid_up and node.boot_id != old_boot:
            await say(f.POST_CHECK_PASSED)
            return True
        if not node.apid_up and time.monotonic() - last_retry >= RETRY_INTERVAL:
            await say(f.UNAVAILABLE_RETRYING)
            last_retry = time.monotonic()
        await node_changed(node, 0.05)
    return False


async def _tracked(ctx: Ctx, action: Callable[[NodeState], Awaitable[str]]) -> int:
    """Tracker.Run: the version check, then every node tracked in parallel."""
    targets = ctx.nodes
    await ctx.version_check()
    timeout = float(ctx.opts.get("timeout") or 1800.0)
    debug = bool(ctx.opts.get("debug"))
    results = await asyncio.gather(*(track(ctx, t, action, timeout, debug) for t in targets))
    if not all(results):
        raise Silent()
    return 0


# ---------------------------------------------------------------------------------------------
# upgrade / reboot / rollback
# ---------------------------------------------------------------------------------------------
async def cmd_upgrade(ctx: Ctx) -> int:
    from emulator import lifecycle

    wait = bool(ctx.opts.get("wait", True)) or bool(ctx.opts.get("debug"))
    if wait and ctx.opts.get("insecure"):
        raise CommandError(f.WAIT_INSECURE_ERROR)
    mode = str(ctx.opts.get("reboot-mode") or "default")
    if mode.upper() not in ("DEFAULT", "POWERCYCLE"):
        raise CommandError(f"invalid reboot mode: {mode}")
    if ctx.opts.get("insecure"):
        raise CommandError("not emulated: talosctl upgrade --insecure (maintenance mode)")
    world = ctx.world
    image = str(ctx.opts.get("image") or DEFAULT_INSTALLER)
    if image == DEFAULT_INSTALLER:  # the flag default follows the emulated client's version
        image = f"ghcr.io/siderolabs/installer:{world.client_version}"

    async def upgrade(node: NodeState) -> str:
        try:
            schematic, version = await lifecycle.validate_upgrade(
                world, node, image, preserve=bool(ctx.opts.get("preserve")),
                force=bool(ctx.opts.get("force")))
        except lifecycle.Refused as e:
            raise CommandError(e.rpc()) from None
        return lifecycle.start_upgrade(
            world, node, schematic, version, preserve=bool(ctx.opts.get("preserve")),
            stage=bool(ctx.opts.get("stage")), reboot_mode=mode.lower())

    if wait:
        return await _tracked(ctx, upgrade)
    ctx.nodes  # noqa: B018 - endpoints/nodes errors come first
    await ctx.version_check()
    answers, errors = await ctx.many(upgrade)
    await ctx.report_many(answers, errors, "error performing upgrade: ")
    await ctx.out(f.upgrade_ack_table([t for t, _ in answers]))
    return 0


async def cmd_reboot(ctx: Ctx) -> int:
    from emulator import lifecycle

    mode = str(ctx.opts.get("mode") or "default")
    if mode not in ("default", "powercycle"):
        raise CommandError(f"invalid reboot mode: {f.go_quote(mode)}")
    wait = bool(ctx.opts.get("wait", True)) or bool(ctx.opts.get("debug"))

    async def reboot(node: NodeState) -> str:
        return lifecycle.start_reboot(ctx.world, node, mode)

    if wait:
        return await _tracked(ctx, reboot)
    ctx.nodes  # noqa: B018
    await ctx.version_check()
    _, errors = await ctx.many(reboot)
    if errors:
        raise CommandError(f"error executing reboot: {f.multierror(errors)}")
    return 0


async def cmd_rollback(ctx: Ctx) -> int:
    from emulator import lifecycle

    async def rollback(node: NodeState) -> None:
        try:
            lifecycle.start_rollback(ctx.world, node)
        except lifecycle.Refused as e:
            raise CommandError(e.rpc()) from None

    _, errors = await ctx.many(rollback)
    if errors:
        raise CommandError(f"error executing rollback: {f.multierror(errors)}")
    return 0


# ---------------------------------------------------------------------------------------------
# upgrade-k8s / health
# ---------------------------------------------------------------------------------------------
async def cmd_upgrade_k8s(ctx: Ctx) -> int:
    from emulator.kube_upgrade import upgrade_k8s
    from emulator.lifecycle import Refused

    target = ctx.single_node("upgrade-k8s")
    await ctx.version_check()
    node = ctx.target(target)
    if not node.is_control_plane:
        raise CommandError("error building kubernetes client: rpc error: code = Unimplemented "
                           "desc = kubeconfig is only available on control plane nodes")
    to = str(ctx.opts.get("to") or DEFAULT_K8S).lstrip("v")
    if to == DEFAULT_K8S:  # constants.DefaultKubernetesVersion of the emulated client
        to = ctx.world.default_kubernetes()
    lines = upgrade_k8s(
        ctx.world, to, dry_run=bool(ctx.opts.get("dry-run")),
        pre_pull=bool(ctx.opts.get("pre-pull-images", True)),
        upgrade_kubelet=bool(ctx.opts.get("upgrade-kubelet", True)),
        from_version=(str(ctx.opts["from"]).lstrip("v") if ctx.opts.get("from") else None))
    try:
        async for line in lines:
            await ctx.out(line + "\n")
    except Refused as e:
        raise CommandError(str(e)) from None
    return 0


async def cmd_health(ctx: Ctx) -> int:
    from emulator.talos import health

    server = bool(ctx.opts.get("server", True))
    if server:
        ctx.target(ctx.single_node("health"))
    elif not ctx.endpoints:
        raise CommandError("failed to determine endpoints")
    return await health.run(ctx, server=server)
