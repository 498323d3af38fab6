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
    """upgrade.go of the emulated client. Up to v1.12: MachineService.Upgrade (the node drains
    in its upgrade sequence). v1.13+: `--drain` (default true) forces `--wait`; when every node
    runs >1.13.0-alpha.2 the LifecycleService path runs (_upgrade_lifecycle); otherwise `New
    upgrade API is not available, falling back to legacy` and the same legacy call as v1.12
    (no client-side drain: the node drains)."""
    client = ctx.world.client
    wait = bool(ctx.opts.get("wait", True)) or bool(ctx.opts.get("debug"))
    if client.upgrade_api and ctx.opts.get("drain", True):
        wait = True
    if wait and ctx.opts.get("insecure"):
        raise CommandError(f.WAIT_INSECURE_ERROR)
    mode = str(ctx.opts.get("reboot-mode") or "default")
    if client.upgrade_api and mode.upper() not in ("DEFAULT", "FORCE", "POWERCYCLE"):
        raise CommandError(f"invalid argument {f.go_quote(mode)} for \"-m, --reboot-mode\" "
                           "flag: must be one of [default force powercycle]")
    if client.upgrade_api and await _upgrade_api_gate(ctx):
        return await _upgrade_lifecycle(ctx, str(ctx.opts.get("image") or
                                                 client.default_installer), mode, wait)
    if mode.upper() not in ("DEFAULT", "POWERCYCLE"):
        raise CommandError(f"invalid reboot mode: {mode}")
    if ctx.opts.get("insecure"):
        raise CommandError("not emulated: talosctl upgrade --insecure (maintenance mode)")
    from emulator import lifecycle

    world = ctx.world
    image = str(ctx.opts.get("image") or client.default_installer)

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
    if client.multiplexed and errors:  # v1.14: %w of the joined `error from node` lines
        raise CommandError("error performing upgrade: " + "\n".join(
            f"error from node {e}" for e in errors))
    await ctx.report_many(answers, errors, "error performing upgrade: ")
    await ctx.out(f.upgrade_ack_table([t for t, _ in answers]))
    return 0


async def _upgrade_api_gate(ctx: Ctx) -> bool:
    """v1.13+ upgradeViaLifecycleService: --legacy, then helpers.TalosVersionCheck. True when
    every node takes the LifecycleService path."""
    from emulator.talos.client import Client

    if ctx.opts.get("legacy"):
        await ctx.err(f.warning_line("Forcing use of legacy upgrade method. This flag is "
                                     "deprecated and will be removed in Talos 1.18."))
        return False
    versions, down = [], []
    for target in ctx.nodes:
        node = ctx.world.resolve(target)
        if node is None or not node.apid_up:
            down.append(f"{target}: {f.unavailable_error(target)}")
        else:
            versions.append(node.talos_version)
    if down:
        inner = ("\n".join(d.replace(": ", ": error getting server version: ", 1) for d in down)
                 if ctx.world.client.multiplexed
                 else f"error getting server versions: {f.multierror(down)}")
        raise CommandError(f"error checking Talos version compatibility: {inner}")
    if all(Client.uses_upgrade_api(v) for v in versions):
        return True
    await ctx.err("New upgrade API is not available, falling back to legacy\n")
    return False


async def _upgrade_lifecycle(ctx: Ctx, image: str, mode: str, wait: bool) -> int:
    """upgradeViaLifecycleService @ v1.13.9: pull the image (ImageService.Pull), install it
    (LifecycleService.Upgrade: install only), then with --drain cordon and drain on the client,
    reboot (the action tracker when waiting) and, deferred, wait for Ready and uncordon. Every
    progress line goes to stderr through the reporter (plain when not a TTY: a message is
    printed when it differs from the previous one). Errors exit 1; after a failed drain the
    node stays cordoned and does not reboot."""
    from emulator import lifecycle
    from emulator.kubesync import DrainFailed

    world, targets = ctx.world, ctx.nodes
    drain = bool(ctx.opts.get("drain", True)) and not ctx.opts.get("no-reboot")
    last = [""]

    async def report(message: str) -> None:  # pkg/reporter: TrimSpace, de-duplicated
        line = message.strip().replace("\t", "    ")
        if line != last[0]:
            await ctx.err(line + "\n")
            last[0] = line

    pulled: dict[str, tuple[str, str]] = {}
    errors: list[str] = []
    for target in targets:
        try:
            pulled[target] = await lifecycle.pull_installer(world, ctx.target(target), image)
        except lifecycle.Refused as e:
            errors.append(f"error from node {target}: {e.rpc()}")
        except CommandError as e:
            errors.append(f"error from node {target}: {e}")
    if pulled:
        await report("\n".join(f"{t}: pulled image {image}" for t in sorted(pulled)))
    if errors:
        raise CommandError("error pulling upgrade image: " + "\n".join(errors))
    codes: dict[str, int] = {}
    for target in targets:
        schematic, version = pulled[target]
        try:
            codes[target] = await lifecycle.install_only(world, ctx.target(target), schematic,
                                                         version)
        except lifecycle.Refused as e:
            errors.append(f"error from node {target}: {e.rpc()}")
            continue
        await report("\n".join(f"{t}: Exit code: {c}" for t, c in sorted(codes.items())))
    if codes:
        await report("\n".join(f"{t}: upgrade completed" if c == 0 else
                                f"{t}: upgrade failed with exit code {c}"
                                for t, c in sorted(codes.items())))
    errors += [f"node {t}: upgrade failed with exit code {c}" for t, c in codes.items() if c]
    if errors:
        raise CommandError("error during upgrade: " + "\n".join(errors))
    nodes = {t: world.resolve(t) for t in targets}
    drained: list[NodeState] = []
    if drain:
        for target in targets:
            node = nodes[target]
            assert node is not None
            try:
                await world.k8s.client_drain(node, float(ctx.opts.get("drain-timeout") or 300.0),
                                             report)
            except DrainFailed as e:
                raise CommandError(f"error draining node {f.go_quote(node.name)}: {e}") from None
            drained.append(node)
    code = 0
    try:
        if not ctx.opts.get("no-reboot"):
            code = await _reboot_after_install(ctx, mode, wait)
    finally:
        for node in drained:  # the deferred uncordon, whatever the reboot did
            await _uncordon_when_ready(ctx, node, report)
    return code


async def _reboot_after_install(ctx: Ctx, mode: str, wait: bool) -> int:
    """rebootInternal: the tracked reboot (MachineReadyEventFn, boot ID post check), or a
    reboot request without waiting."""
    from emulator import lifecycle

    reboot_mode = "powercycle" if mode.lower() == "powercycle" else "default"

    async def reboot(node: NodeState) -> str:
        return lifecycle.start_reboot(ctx.world, node, reboot_mode)

    if wait:
        return await _tracked(ctx, reboot)
    await ctx.version_check()
    _, errors = await ctx.many(reboot)
    if errors:
        raise CommandError("error during upgrade: " + "\n".join(
            f"error executing reboot on node {e}" for e in errors))
    return 0


async def _uncordon_when_ready(ctx: Ctx, node: NodeState,
                               report: Callable[[str], Awaitable[None]]) -> None:
    """uncordonNodes: wait (--timeout, polling) for the Node to be Ready, then uncordon."""
    await report(f"{node.name}: waiting for node to become Ready")
    deadline = time.monotonic() + float(ctx.opts.get("timeout") or 1800.0)
    while not (node.k8s_status_known and node.k8s_ready):
        if time.monotonic() >= deadline:
            raise Silent()  # the tracker already set SuppressErrors: exit 1, nothing printed
        await node_changed(node, 0.1)
    await report(f"{node.name}: uncordoning node")
    ctx.world.k8s.cordon(node, False)
    await report(f"{node.name}: node uncordoned")


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
    if errors and ctx.world.client.multiplexed:  # rollback.go @ v1.14: per node, joined
        raise CommandError("\n".join(f"error executing rollback on node {e}" for e in errors))
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
    to = str(ctx.opts.get("to") or ctx.world.client.default_kubernetes).lstrip("v")
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
    from emulator.talos.gotext import semver_key

    server = bool(ctx.opts.get("server", True))
    if server:
        node = ctx.target(ctx.single_node("health"))
        # v1alpha1_cluster.go HealthCheck from v1.13.0-beta.0: machinehelper.CheckControlplane
        if not node.is_control_plane and \
                semver_key(node.talos_version) >= semver_key("v1.13.0-beta.0"):
            raise CommandError("rpc error: code = Unimplemented desc = cluster health check is "
                               "only available on control plane nodes")
    elif not ctx.endpoints:
        raise CommandError("failed to determine endpoints")
    return await health.run(ctx, server=server)
