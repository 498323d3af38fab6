"""model/upgrade_call.py: the `talosctl upgrade` the harness runs, per client and node version
(upstream cmd/talosctl/cmd/talos/upgrade.go at v1.12.11, v1.13.0, v1.14.0-rc.1; reference §9)."""

from __future__ import annotations

import pytest

from model.upgrade_call import CLIENT_DRAINS, NODE_DRAINS, upgrade_call
from model.versions import TalosVersion

IMG = "factory.talos.dev/installer/abc:v1.9.4"


def v(text: str) -> TalosVersion:
    return TalosVersion.parse(text)


@pytest.mark.parametrize(("client", "node", "args", "drainer", "blocking"), [
    # up to v1.12: --wait=false returns at the ack; the node's upgrade sequence drains it
    (None, "v1.9.2", ("--wait=false",), NODE_DRAINS, False),
    ("v1.9.6", "v1.9.2", ("--wait=false",), NODE_DRAINS, False),
    ("v1.12.11", "v1.11.6", ("--wait=false",), NODE_DRAINS, False),
    # v1.13+ with an older node: legacy fallback; `--drain` would force --wait
    ("v1.13.9", "v1.9.2", ("--drain=false", "--wait=false"), NODE_DRAINS, False),
    ("v1.14.0-rc.1", "v1.12.11", ("--drain=false", "--wait=false"), NODE_DRAINS, False),
    ("v1.13.0", "v1.13.0-alpha.2", ("--drain=false", "--wait=false"), NODE_DRAINS, False),
    # v1.13+ with a v1.13+ node: the new API installs only; talosctl drains and reboots
    ("v1.13.9", "v1.13.0", ("--drain", "--wait", "--timeout", "600s"), CLIENT_DRAINS, True),
    ("v1.14.0-rc.1", "v1.13.9", ("--drain", "--wait", "--timeout", "600s"), CLIENT_DRAINS,
     True),
])
def test_who_drains_and_whether_talosctl_blocks(client: str | None, node: str,
                                               args: tuple[str, ...], drainer: str,
                                               blocking: bool) -> None:
    call = upgrade_call(v(client) if client else None, v(node), IMG, reboot_timeout=600)
    assert call.args == ("upgrade", "--image", IMG, *args)
    assert (call.drainer, call.blocking) == (drainer, blocking)
    if blocking:  # never killed before talosctl's own drain and reboot timeouts end
        assert call.timeout > 300 + 600
    assert call.command("10.5.0.3") == f"talosctl upgrade --image {IMG} {' '.join(args)} " \
                                       "-n 10.5.0.3"


@pytest.mark.parametrize("node", ["v1.8.0", "v1.9.2", "v1.12.9", "v1.13.4", "v1.14.0-rc.1"])
def test_preserve_is_never_sent_to_v1_8_and_newer(node: str) -> None:
    """A no-op since v1.8; from v1.12.9/v1.13.4/v1.14.0-alpha.2 it also skips the control
    plane's etcd validation (commit 89e307e58)."""
    for client in (None, v("v1.11.6"), v("v1.14.0-rc.1")):
        assert "--preserve" not in upgrade_call(client, v(node), IMG).args


def test_preserve_is_kept_for_installers_that_wipe() -> None:
    assert "--preserve" in upgrade_call(v("v1.11.6"), v("v1.7.7"), IMG).args
    assert "--preserve" not in upgrade_call(v("v1.11.6"), v("v1.7.7"), IMG, preserve=False).args


def test_the_plan_prints_the_call_the_runbook_runs_as_the_profile_shapes_it() -> None:
    from model.plan import NodeRef, TalosHop
    from model.upgrade_call import UpgradeStyle
    from model.versions import KubeVersion

    node = NodeRef("w1", "10.0.0.4")
    hop = TalosHop(v("v1.7.7"), v("v1.8.4"), IMG, (node,), KubeVersion.parse("1.30.0"), "target")
    keep = UpgradeStyle(preserve=True, reboot_timeout=300)
    wipe = UpgradeStyle(preserve=False, reboot_timeout=300)
    assert "--preserve" in hop.command_for(node, v("v1.11.6"), keep)
    # upgrade.preserve: false in the profile: neither the plan nor the runbook sends it
    assert "--preserve" not in hop.command_for(node, v("v1.11.6"), wipe)
    assert hop.call(None, v("v1.11.6"), wipe).command(node.address) == hop.command_for(
        node, v("v1.11.6"), wipe)
    # a blocking call is bounded by the profile's reboot timeout
    blocking = TalosHop(v("v1.13.2"), v("v1.14.1"), IMG, (node,), KubeVersion.parse("1.34.0"), "t")
    assert blocking.call(None, v("v1.14.1"), keep).args[-2:] == ("--timeout", "300s")
