"""The lab's talosctl per client version and its nodes per Talos version (reference §9).

Each behaviour asserted here is upstream's at the tag named (siderolabs/talos; see
emulator/COVERAGE.md "talosctl versions"): the lab must never be kinder than the real thing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest

from drivers import parse
from emulator.api import Lab
from tests.emulator.lab_helpers import addresses, idle, installer, talosctl, tracker_lines

DIAL = ('rpc error: code = Unavailable desc = connection error: desc = "transport: Error while '
        'dialing: dial tcp {0}:50000: connect: connection refused"')
DEPRECATED = ("Flag --preserve has been deprecated, legacy flag for MachineService.Upgrade "
              "fallback, to be removed in Talos 1.18\n")


# ---- the default lab: v1.9.2 nodes, talosctl v1.9.6 (the newest patch of the cluster's minor)
@pytest.fixture(scope="module")
def v19(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab(faults=[{"kind": "node_down", "node": "w3"}])


def test_the_default_client_is_the_newest_patch_of_the_clusters_minor(v19: Lab) -> None:
    done = talosctl(v19, "version", "--client", "--short")
    assert done.stdout == "Client:\nTalos v1.9.6\n"


def test_a_v1_9_node_has_no_version_resource(v19: Lab) -> None:
    """Versions.runtime.talos.dev first ships in v1.10.0 (commit 5e4c24758)."""
    ip = addresses(v19)
    done = talosctl(v19, "get", "version", "-n", f"{ip['cp1']},{ip['cp2']}", "-o", "json")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.endswith('rpc error: code = NotFound desc = resource "version" is not '
                                "registered\n")


def test_version_answers_on_every_talos_version(v19: Lab) -> None:
    ip = addresses(v19)
    done = talosctl(v19, "version", "-n", f"{ip['cp1']},{ip['w1']}")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\tTag:         v1.9.2\n") == 2


def test_get_resolves_the_type_on_the_first_node_only(v19: Lab) -> None:
    """helpers/resources.go (v1.9-v1.13): the first node down fails the whole call with its
    bare error; a later node down is a bullet after the others' output."""
    ip = addresses(v19)
    first_down = talosctl(v19, "get", "machinestatus", "-n", f"{ip['w3']},{ip['w1']}")
    assert (first_down.returncode, first_down.stdout) == (1, "")
    assert first_down.stderr.splitlines()[-1] == DIAL.format(ip["w3"])
    later_down = talosctl(v19, "get", "machinestatus", "-n", f"{ip['w1']},{ip['w3']}")
    assert later_down.returncode == 1
    assert later_down.stdout.splitlines()[1].startswith(ip["w1"])
    assert f"1 error occurred:\n\t* {DIAL.format(ip['w3'])}\n\n" in later_down.stderr


def test_node_down_is_a_warning_for_one_to_many_calls_up_to_v1_13(v19: Lab) -> None:
    ip = addresses(v19)
    done = talosctl(v19, "version", "-n", f"{ip['w1']},{ip['w3']}")
    assert done.returncode == 0
    bullet = f"{ip['w3']}: {DIAL.format(ip['w3'])}"
    assert done.stderr == f"WARNING: 1 error occurred:\n\t* {bullet}\n\n\n"


# ---- talosctl v1.13: --drain forces --wait; the legacy fallback for older nodes --------------
@pytest.fixture(scope="module")
def v113(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab(lab={"talosctl": "v1.13.9"})


def test_v1_13_upgrade_wait_false_still_waits_because_drain_is_on(v113: Lab) -> None:
    """upgrade.go @v1.13.0: `if drain { wait = true }`; an older node takes the legacy path."""
    ip = addresses(v113)
    done = talosctl(v113, "upgrade", "-n", ip["w1"], "--image", installer(v113, "v1.9.4"),
                    "--wait=false")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # no ack table: the tracker ran
    assert done.stderr.startswith("New upgrade API is not available, falling back to legacy\n")
    assert tracker_lines(done.stderr, ip["w1"])[-1] == "post check passed"


def test_v1_13_drain_false_wait_false_returns_at_the_ack(v113: Lab) -> None:
    ip = addresses(v113)
    done = talosctl(v113, "upgrade", "-n", ip["w2"], "--image", installer(v113, "v1.9.4"),
                    "--drain=false", "--wait=false", "--preserve")
    assert done.returncode == 0, done.stderr
    assert done.stderr == (DEPRECATED + "New upgrade API is not available, falling back to "
                           f"legacy\nWARNING: {ip['w2']}: server version 1.9.2 is older than "
                           "client version 1.13.9\n")
    assert done.stdout.split()[:4] == ["NODE", "ACK", "STARTED", ip["w2"]]
    idle(v113, "w2")


def test_the_upgrade_api_range() -> None:
    from emulator.talos.client import Client

    assert Client.uses_upgrade_api("v1.13.0") and not Client.uses_upgrade_api("v1.12.11")
    assert not Client.uses_upgrade_api("v1.13.0-alpha.2")


# ---- talosctl v1.13 on v1.13 nodes: the LifecycleService path, drained by the client --------
@pytest.fixture(scope="module")
def new_api(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab(talos="v1.13.0", target={"talos": "v1.13.9", "kubernetes": "1.32.2"},
                           lab={"talosctl": "v1.13.9"},
                           faults=[{"kind": "drain_blocked", "node": "w2"}])


def _node(lab: Lab, name: str) -> dict[str, Any]:
    return next(n for n in lab.status()["nodes"] if n["name"] == name)


def test_v1_13_upgrade_api_installs_then_the_client_drains_reboots_and_uncordons(
        new_api: Lab) -> None:
    """upgradeViaLifecycleService @ v1.13.9: pull, install only (LifecycleService.Upgrade),
    client-side cordon and drain (nodedrain.go), the tracked reboot, then the deferred wait
    for Ready and uncordon; the progress goes to stderr through the reporter."""
    ip = addresses(new_api)
    image = installer(new_api, "v1.13.9")
    done = talosctl(new_api, "upgrade", "-n", ip["w1"], "--image", image)
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    lines = [ln for ln in done.stderr.splitlines() if not ln.startswith(f'"{ip["w1"]}": ')]
    assert lines[:6] == [f"{ip['w1']}: pulled image {image}", f"{ip['w1']}: Exit code: 0",
                         f"{ip['w1']}: upgrade completed", "w1: cordoning node",
                         "w1: node cordoned", "w1: draining node"]
    assert "w1: node drained" in lines
    assert any(ln.startswith("w1: evicted pod apps/web-") for ln in lines)
    assert lines[-3:] == ["w1: waiting for node to become Ready", "w1: uncordoning node",
                          "w1: node uncordoned"]
    tracked = tracker_lines(done.stderr, ip["w1"])
    assert tracked[2] == "sequence: reboot action: START"  # a reboot, not an upgrade sequence
    assert tracked[-1] == "post check passed"
    after = idle(new_api, "w1")
    assert after["talos_version"] == "v1.13.9" and not after["kubernetes"]["cordoned"]


def test_v1_13_client_drain_blocked_by_a_pdb_fails_before_the_reboot(new_api: Lab) -> None:
    """The drain helper retries a refused eviction until --drain-timeout, then the upgrade
    fails: the new image is installed, nothing reboots, the node stays cordoned."""
    ip = addresses(new_api)
    before = _node(new_api, "w2")
    done = talosctl(new_api, "upgrade", "-n", ip["w2"], "--image",
                    installer(new_api, "v1.13.9"), "--drain-timeout", "1s")
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert re.fullmatch(r'error draining node "w2": error when evicting pods/"singleton-[\w-]+" '
                        r'-n "apps": global timeout reached: 1s', last), last
    after = _node(new_api, "w2")
    assert after["boot_id"] == before["boot_id"] and after["talos_version"] == "v1.13.0"
    assert after["kubernetes"]["cordoned"] is True


# ---- talosctl v1.14: per-node error lines, split tables, no --insecure ----------------------
@pytest.fixture(scope="module")
def v114(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab(talos="v1.11.6", kubernetes="1.34.1",
                           target={"talos": "v1.12.11", "kubernetes": "1.34.1"},
                           lab={"talosctl": "v1.14.0-rc.1"},
                           faults=[{"kind": "slow_etcd_member", "node": "cp3", "seconds": 0.8},
                                   {"kind": "node_down", "node": "w3"}])


def test_v1_14_flushes_a_slow_nodes_rows_in_a_block_of_its_own(v114: Lab) -> None:
    """root.go outputFlushInterval (500 ms): cp3 answers 0.8 s late, so its row comes after a
    flush, without a header and with its own widths (different from the first block's)."""
    ip = addresses(v114)
    start = time.monotonic()
    done = talosctl(v114, "etcd", "status", "-n", f"{ip['cp3']},{ip['cp1']},{ip['cp2']}")
    assert time.monotonic() - start >= 0.8
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("NODE ") and "PROTOCOL" in lines[0]
    assert [ln.split()[0] for ln in lines[1:]] == [ip["cp1"], ip["cp2"], ip["cp3"]]
    # block 2's DB SIZE column is as wide as its own cell, not as the header "DB SIZE"
    assert lines[3].index("(") < lines[1].index("(")
    rows = parse.table(done.stdout, "talosctl etcd status", ("MEMBER", "LEADER", "ERRORS"))
    assert [r["NODE"] for r in rows] == [ip["cp1"], ip["cp2"], ip["cp3"]]
    assert {r["LEADER"] for r in rows} == {rows[0]["LEADER"]} and rows[2]["LEARNER"] == "false"


def test_v1_14_node_errors_are_lines_and_exit_1(v114: Lab) -> None:
    ip = addresses(v114)
    done = talosctl(v114, "version", "-n", f"{ip['w1']},{ip['w3']}")
    assert done.returncode == 1
    assert "\tNODE:        " + ip["w1"] in done.stdout
    assert done.stderr.endswith(
        f"error getting version from node {ip['w3']}: {DIAL.format(ip['w3'])}\n")


def test_v1_14_get_stops_when_any_node_misses_the_version_check(v114: Lab) -> None:
    ip = addresses(v114)
    done = talosctl(v114, "get", "machinestatus", "-n", f"{ip['w1']},{ip['w3']}")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.endswith(
        f"{ip['w3']}: error getting server version: {DIAL.format(ip['w3'])}\n")


def test_the_version_resource_on_v1_10_and_newer_nodes(v114: Lab) -> None:
    """runtime.Version on v1.11 nodes: id `version`, spec.version the tag; table columns
    VERSION (the resource's) and VERSION (the spec's), as in tuppr#213's real output."""
    ip = addresses(v114)
    done = talosctl(v114, "get", "version", "-n", ip["cp1"], "-o", "json")
    assert done.returncode == 0, done.stderr
    doc = parse.concatenated_json(done.stdout, "get version")[0]
    assert (doc["metadata"]["type"], doc["metadata"]["id"], doc["spec"]) == \
        ("Versions.runtime.talos.dev", "version", {"version": "v1.11.6"})
    table = talosctl(v114, "get", "version", "-n", ip["cp1"]).stdout.splitlines()
    assert table[0].split() == ["NODE", "NAMESPACE", "TYPE", "ID", "VERSION", "VERSION"]
    assert table[1].split()[1:] == ["runtime", "Version", "version", "1", "v1.11.6"]


def test_the_version_resource_gains_a_name_column_in_v1_13() -> None:
    from emulator.talos.rdefs import registry_for

    def columns(v: str) -> list[str] | None:
        rd = next((r for r in registry_for(v) if r.type == "Versions.runtime.talos.dev"), None)
        return None if rd is None else rd.headers[5:]

    assert columns("v1.9.6") is None
    assert columns("v1.10.0") == columns("v1.12.11") == ["VERSION"]
    assert columns("v1.13.0") == ["NAME", "VERSION"]


def test_v1_14_has_no_upgrade_insecure_flag(v114: Lab) -> None:
    ip = addresses(v114)
    done = talosctl(v114, "upgrade", "-n", ip["w1"], "--insecure")
    assert done.returncode == 1
    assert done.stderr.startswith("unknown flag: --insecure\n")


def test_v1_14_single_node_commands_say_how_many_nodes_they_got(v114: Lab) -> None:
    ip = addresses(v114)
    done = talosctl(v114, "read", "/proc/sys/kernel/random/boot_id", "-n",
                    f"{ip['w1']},{ip['w2']}")
    assert done.stderr.startswith('command "read" requires exactly one node (got 2)\n')


# ---- cluster shape: kube-proxy replaced -------------------------------------------------------
@pytest.fixture(scope="module")
def no_proxy(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab(lab={"kube_proxy": False})


def test_without_kube_proxy_health_skips_its_check(no_proxy: Lab) -> None:
    """pkg/cluster/check/default.go: no DaemonSet -> conditions.ErrSkipAssertion -> SKIP."""
    ip = addresses(no_proxy)
    done = talosctl(no_proxy, "health", "-n", ip["cp1"], "--wait-timeout", "30s")
    assert done.returncode == 0, done.stderr
    assert "waiting for kube-proxy to report ready: SKIP\n" in done.stderr


def test_upgrade_k8s_does_not_skip_kube_proxy(no_proxy: Lab) -> None:
    """talos_managed.go upgradeKubeProxy is unconditional (v1.9-v1.14): it still patches
    cluster.proxy.image; only the manifests have no kube-proxy DaemonSet."""
    ip = addresses(no_proxy)
    done = talosctl(no_proxy, "upgrade-k8s", "-n", ip["cp1"], "--to", "1.32.2", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert 'updating kube-proxy to version "1.32.2"\n' in done.stdout
    assert "DaemonSet/kube-system/kube-proxy" not in done.stdout


def test_v1_13_upgrade_k8s_syncs_manifests_with_server_side_apply(new_api: Lab) -> None:
    """talos_managed.go @ v1.13.0: every node on Talos 1.13+ -> syncManifestsSSA; the dry run
    lists ` < <action> <Kind/ns/name>` (go-kubernetes ssa), not the legacy diff."""
    ip = addresses(new_api)
    done = talosctl(new_api, "upgrade-k8s", "-n", ip["cp1"], "--to", "1.32.2", "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    i = lines.index("updating manifests (dry run)")
    assert lines[i + 1:] == [" < configured DaemonSet/kube-system/kube-proxy"]
    assert " > processing manifest apps/v1.DaemonSet/kube-system/kube-proxy" not in lines


def test_v1_14_upgrade_k8s_logs_the_old_version_without_v(v114: Lab) -> None:
    ip = addresses(v114)
    done = talosctl(v114, "upgrade-k8s", "-n", ip["cp1"], "--to", "1.34.2", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert " > update kube-apiserver: 1.34.1 -> 1.34.2" in done.stdout.splitlines()


def test_v1_14_rollback_and_forfeit_errors_name_the_node(v114: Lab) -> None:
    """rollback.go / etcd.go @ v1.14.0-rc.1: multiplexed, one error line per node."""
    ip = addresses(v114)
    done = talosctl(v114, "rollback", "-n", ip["w3"])
    assert done.returncode == 1
    assert done.stderr.endswith(f"error executing rollback on node {ip['w3']}: "
                                f"{DIAL.format(ip['w3'])}\n")
    done = talosctl(v114, "etcd", "forfeit-leadership", "-n", ip["w1"])
    assert done.returncode == 1
    assert done.stderr.startswith(f"error from node {ip['w1']}: rpc error: code = Unimplemented")


def test_v1_13_nodes_refuse_the_cluster_health_check_on_a_worker(new_api: Lab) -> None:
    """v1alpha1_cluster.go from v1.13.0-beta.0: machinehelper.CheckControlplane."""
    ip = addresses(new_api)
    done = talosctl(new_api, "health", "-n", ip["w3"], "--wait-timeout", "5s")
    assert done.returncode == 1
    assert done.stderr == ("rpc error: code = Unimplemented desc = cluster health check is only "
                           "available on control plane nodes\n")
