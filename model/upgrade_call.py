"""How the harness runs `talosctl upgrade` on one node, decided from both versions (pure).

The same command line does different things depending on the talosctl client and the node's
Talos (reference §3.1, §3.2, §9; siderolabs/talos cmd/talosctl/cmd/talos/upgrade.go):

- client up to v1.12: MachineService.Upgrade; `--wait=false` returns at the ack; the node's own
  upgrade sequence cordons and drains it (its `drain` phase), and uncordons it after the boot.
- client v1.13+, node older than v1.13: the client falls back to the same legacy call, but
  `--drain` (default true) forces `--wait`: `--wait=false` is ignored unless `--drain=false` is
  given too. The client does not drain on this path; the node still does.
- client v1.13+, node v1.13+: the LifecycleService path installs only; the client cordons and
  drains (`--drain`), reboots, waits for Ready and uncordons. `--drain=false` would reboot a
  node nobody drained, so the harness lets talosctl drain and waits for it (blocking).

`--preserve` is sent only to nodes older than v1.8: since v1.8 the installer never wipes on
upgrade (release notes), and from v1.12.9/v1.13.4/v1.14.0-alpha.2 a control plane skips its
etcd health validation when the request says preserve (v1alpha1_server.go, commit 89e307e58):
sending it would only remove a safety check.
"""

from __future__ import annotations

from dataclasses import dataclass

from model.versions import TalosVersion

CLIENT_DRAINS_FROM = TalosVersion.parse("v1.13.0")  # talosctl with --drain
NODE_UPGRADE_API_AFTER = TalosVersion.parse("v1.13.0-alpha.2")  # LifecycleService.Upgrade
WIPES_BEFORE = TalosVersion.parse("v1.8.0")  # older installers wipe without --preserve
DRAIN_TIMEOUT = 300.0  # talosctl's --drain-timeout default (nodedrain.DefaultDrainTimeout)

NODE_DRAINS = "the node (its upgrade sequence cordons and drains it; it uncordons after booting)"
CLIENT_DRAINS = (
    "talosctl (client-side cordon and drain, then reboot, wait for Ready and "
    "uncordon: the v1.13+ upgrade API)"
)


@dataclass(frozen=True)
class UpgradeStyle:
    """What the profile says about every `talosctl upgrade` (upgrade.preserve, and the reboot
    timeout that bounds a blocking call)."""

    preserve: bool = True
    reboot_timeout: float = 600.0


DEFAULT_STYLE = UpgradeStyle()


@dataclass(frozen=True)
class UpgradeCall:
    """The arguments of one `talosctl upgrade`, who drains the node, and whether talosctl
    blocks until the node is back (then `timeout` bounds the process)."""

    args: tuple[str, ...]
    drainer: str
    blocking: bool
    timeout: float

    def command(self, address: str) -> str:
        """The command line as an operator would type it (talosconfig/endpoints aside)."""
        return f"talosctl {' '.join(self.args)} -n {address}"


def upgrade_call(
    client: TalosVersion | None,
    node: TalosVersion,
    image: str,
    *,
    preserve: bool = True,
    reboot_timeout: float = 600.0,
) -> UpgradeCall:
    """The upgrade of a node running `node` with talosctl `client` (None: not known yet,
    taken as a client older than v1.13)."""
    args = ["upgrade", "--image", image]
    if preserve and node < WIPES_BEFORE:
        args.append("--preserve")
    new_client = client is not None and client >= CLIENT_DRAINS_FROM
    if not new_client:
        return UpgradeCall((*args, "--wait=false"), NODE_DRAINS, False, 60.0)
    if node <= NODE_UPGRADE_API_AFTER:  # legacy fallback: only --drain=false lets it return
        return UpgradeCall((*args, "--drain=false", "--wait=false"), NODE_DRAINS, False, 60.0)
    wait = f"{int(reboot_timeout)}s"
    # the tracker's --timeout covers the reboot; uncordon waits for Ready within it again
    return UpgradeCall(
        (*args, "--drain", "--wait", "--timeout", wait),
        CLIENT_DRAINS,
        True,
        DRAIN_TIMEOUT + 2 * reboot_timeout + 60.0,
    )
