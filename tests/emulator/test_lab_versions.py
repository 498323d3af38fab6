"""Behaviour that depends on versions, on a lab of Talos v1.7.7 nodes driven by an emulated
talosctl v1.10.9 (`lab.talosctl_version`): the client's version decides the `etcd status`
columns, the node's version decides the upgrade rules (the installer's host-version rule,
`--preserve` before v1.8)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from emulator.api import Lab
from tests.emulator.lab_helpers import (
    addresses,
    idle,
    installer,
    node_status,
    objects,
    talosctl,
    tracker_lines,
)


@pytest.fixture(scope="module")
def lab(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab(talos="v1.7.7", kubernetes="1.30.5",
                           lab={"talosctl_version": "v1.10.9"})


@pytest.fixture(scope="module")
def ip(lab: Lab) -> dict[str, str]:
    return addresses(lab)


def _member_id(lab: Lab, node: str) -> str:
    return str(objects(talosctl(lab, "get", "etcdmember", "-n", node,
                                "-o", "json").stdout)[0]["spec"]["memberID"])


def test_the_client_version_is_the_labs_setting(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "version", "--short", "-n", ip["w1"])
    assert done.stdout.splitlines()[:2] == ["Client:", "Talos v1.10.9"]
    assert "\tTag:         v1.7.7\n" in done.stdout


def test_etcd_status_of_a_v1_10_client_has_no_protocol_columns(lab: Lab,
                                                               ip: dict[str, str]) -> None:
    done = talosctl(lab, "etcd", "status", "-n", ip["cp1"])
    assert done.returncode == 0
    assert re.split(r"\s{3,}", done.stdout.splitlines()[0].strip()) == [
        "NODE", "MEMBER", "DB SIZE", "IN USE", "LEADER", "RAFT INDEX", "RAFT TERM",
        "RAFT APPLIED INDEX", "LEARNER", "ERRORS"]


def test_host_version_rule_fails_the_install_step(lab: Lab, ip: dict[str, str]) -> None:
    before = node_status(lab, "w1")
    done = talosctl(lab, "upgrade", "-n", ip["w1"], "--image", installer(lab, "v1.9.4"),
                    "--debug")
    assert (done.returncode, done.stdout) == (1, "")
    lines = tracker_lines(done.stderr, ip["w1"])
    err = ('sequence failed: error running phase 10 in upgrade sequence: task 1/1: failed, '
           'task "upgrade" failed: exit code 1')
    assert lines[-4:] == ["sequence: upgrade action: STOP",
                          f"sequence: upgrade action: NOOP error: [code: {err} message: FATAL]",
                          f"error: sequence error: {err}", f"sequence error: {err}"]
    # --debug prints the node's console logs, where the installer says why
    console = done.stderr.split(f'console logs for nodes ["{ip["w1"]}"]:\n', 1)[1]
    assert (f"{ip['w1']}: user:     err: " in console
            and "installer: pre-flight checks failed: host version 1.7.7 is too old to upgrade "
                "to Talos 1.9.4" in console)
    after = node_status(lab, "w1")
    assert (after["talos_version"], after["boot_count"], after["boot_id"]) == \
        ("v1.7.7", before["boot_count"], before["boot_id"])
    # the node was drained and its services stopped before the installer ran: a reboot heals it
    assert after["kubernetes"]["cordoned"] is True and after["kubernetes"]["ready"] == "False"
    assert talosctl(lab, "reboot", "-n", ip["w1"]).returncode == 0
    healed = idle(lab, "w1")
    assert healed["kubernetes"]["ready"] == "True" and not healed["kubernetes"]["cordoned"]


def test_a_supported_hop_works(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "upgrade", "-n", ip["w2"], "--image", installer(lab, "v1.8.4"))
    assert done.returncode == 0, done.stderr
    assert idle(lab, "w2")["talos_version"] == "v1.8.4"


def test_before_v1_8_a_control_plane_without_preserve_rejoins_as_a_new_member(
        lab: Lab, ip: dict[str, str]) -> None:
    old = _member_id(lab, ip["cp2"])
    done = talosctl(lab, "upgrade", "-n", ip["cp2"], "--image", installer(lab, "v1.8.4"))
    assert done.returncode == 0, done.stderr
    lines = tracker_lines(done.stderr, ip["cp2"])
    assert lines[lines.index("phase: cleanup action: START") + 1] == \
        "task: removeAllPods action: START"
    assert "task: leaveEtcd action: START" in lines
    idle(lab, "cp2")
    new = _member_id(lab, ip["cp2"])
    assert new != old
    members = lab.status()["etcd"]["members"]
    assert len(members) == 3 and old not in {m["id"] for m in members}


def test_before_v1_8_preserve_keeps_the_member(lab: Lab, ip: dict[str, str]) -> None:
    old = _member_id(lab, ip["cp3"])
    done = talosctl(lab, "upgrade", "-n", ip["cp3"], "--image", installer(lab, "v1.8.4"),
                    "--preserve")
    assert done.returncode == 0, done.stderr
    lines = tracker_lines(done.stderr, ip["cp3"])
    assert "task: leaveEtcd action: START" not in lines
    assert "task: stopAllPods action: START" in lines
    idle(lab, "cp3")
    assert _member_id(lab, ip["cp3"]) == old


def test_upgrade_k8s_compat_lines_come_from_v1_11_clients_only(lab: Lab,
                                                               ip: dict[str, str]) -> None:
    done = talosctl(lab, "upgrade-k8s", "-n", ip["cp1"], "--to", "1.30.6", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert not any(line.startswith("> ") for line in done.stdout.splitlines())
    assert done.stdout.splitlines()[0] == \
        "automatically detected the lowest Kubernetes version 1.30.5"
