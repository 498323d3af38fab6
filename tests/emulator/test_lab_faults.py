"""Each fault of the lab issue, observable as described, injected two ways with the same
names: from a faults file at start-up, and with `python -m emulator fault` at run time. The
module runs its tests once per way, each on its own lab, in file order (the tests build on
each other: the stale member is removed before the health checks, w1 meets its pull failure
before its boot failure). etcd_member_down is in test_lab_cli.py and test_lab_lifecycle.py
(a stale member plus a stopped one would leave etcd without a quorum)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client, config

from emulator.api import Lab
from tests.emulator.lab_helpers import (
    HEX16,
    addresses,
    emulator_cli,
    idle,
    installer,
    node_status,
    objects,
    table,
    talosctl,
    tracker_lines,
    wait_until,
)

FAULTS: list[dict[str, Any]] = [
    {"kind": "stale_etcd_member"},
    {"kind": "cordoned", "node": "w2"},
    {"kind": "crashloop_pod", "node": "w1", "namespace": "apps"},
    {"kind": "flux_not_ready"},
    {"kind": "velero_backup_fails"},
    {"kind": "drain_blocked", "node": "w3"},
    {"kind": "image_pull_failure", "node": "w1"},
    {"kind": "boot_failure", "node": "w1"},
    {"kind": "extension_missing", "node": "w2", "extension": "siderolabs/iscsi-tools"},
    {"kind": "never_ready", "node": "cp3"},
    {"kind": "slow_etcd_catchup", "node": "cp2", "seconds": 6},
    {"kind": "api_unreachable", "node": "cp2", "seconds": 6},
]
IMMEDIATE = {"stale_etcd_member", "cordoned", "crashloop_pod", "flux_not_ready", "drain_blocked"}
DRAIN_TIMEOUT = 1.5


@pytest.fixture(scope="module", params=["faults-file", "fault-command"])
def lab(request: pytest.FixtureRequest, make_module_lab: Callable[..., Lab]) -> Lab:
    timings = {"drain_timeout": DRAIN_TIMEOUT}
    if request.param == "faults-file":
        return make_module_lab(faults=FAULTS, timings=timings)
    lab = make_module_lab(timings=timings)
    for f in FAULTS:
        argv = ["fault", "--dir", str(lab.dir), f["kind"]]
        for key in ("node", "extension", "seconds", "namespace"):
            if key in f:
                argv += [f"--{key}", str(f[key])]
        done = emulator_cli(*argv)
        node = f" on {f['node']}" if "node" in f else ""
        assert (done.returncode, done.stdout) == (0, f"fault {f['kind']} injected{node}\n"), \
            done.stderr
    return lab


@pytest.fixture(scope="module")
def ip(lab: Lab) -> dict[str, str]:
    return addresses(lab)


@pytest.fixture(scope="module")
def kube(lab: Lab) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(lab.dir / "kubeconfig"))


def kubectl(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=lab.env(),
                          timeout=60, check=False)


def test_status_json_shows_the_faults(lab: Lab) -> None:
    done = emulator_cli("status", "--dir", str(lab.dir), "--json")
    assert done.returncode == 0
    faults = json.loads(done.stdout)["faults"]
    assert [f["kind"] for f in faults] == [f["kind"] for f in FAULTS]
    for want, got in zip(FAULTS, faults, strict=True):
        assert got["fired"] is (want["kind"] in IMMEDIATE), got
        for key, value in want.items():
            assert got[key] == value
    text = emulator_cli("status", "--dir", str(lab.dir)).stdout
    assert "faults: stale_etcd_member (fired), cordoned@w2 (fired)," in text


# ---- stale_etcd_member -------------------------------------------------------------------------
def test_stale_etcd_member(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "etcd", "members", "-n", ip["cp1"])
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert len(rows) == 4
    stale = [r for r in rows if len(r) == 4]  # no hostname, no client URL
    assert len(stale) == 1 and re.fullmatch(HEX16, stale[0][1])
    stale_id = stale[0][1]
    assert stale[0][2].startswith("http://127.") and stale[0][2].endswith(":2380")
    # the health check that notices it
    health = talosctl(lab, "health", "-n", ip["cp1"], "--wait-timeout", "1s")
    assert health.returncode == 1
    line = next(ln for ln in health.stderr.splitlines()
                if ln.startswith("waiting for etcd members to be control plane nodes: etcd"))
    stale_ip = stale[0][2][len("http://"):-len(":2380")]
    assert line.endswith(f'are not subset of control plane node ips ["{ip["cp1"]}" '
                         f'"{ip["cp2"]}" "{ip["cp3"]}"]') and f'"{stale_ip}"' in line
    # the Upgrade API refuses a control plane, unless --force
    refused = talosctl(lab, "upgrade", "-n", ip["cp1"], "--image", installer(lab, "v1.9.4"))
    assert refused.returncode == 1
    assert tracker_lines(refused.stderr, ip["cp1"])[-1] == (
        f"rpc error: code = Unknown desc = error validating etcd for upgrade: etcd member "
        f"{stale_id} is not started, all members must be running to perform an upgrade")
    forced = talosctl(lab, "upgrade", "-n", ip["cp1"], "--image", installer(lab, "v1.9.4"),
                      "--force")
    assert forced.returncode == 0, forced.stderr
    assert idle(lab, "cp1")["talos_version"] == "v1.9.4"
    # the documented way out: remove the dead member by its hex ID
    removed = talosctl(lab, "etcd", "remove-member", stale_id, "-n", ip["cp1"])
    assert (removed.returncode, removed.stdout, removed.stderr) == (0, "", "")
    assert len(lab.status()["etcd"]["members"]) == 3


# ---- cordoned, crashloop_pod, flux_not_ready, velero_backup_fails -------------------------------
def test_cordoned(lab: Lab, ip: dict[str, str]) -> None:
    assert node_status(lab, "w2")["kubernetes"]["cordoned"] is True
    row = kubectl(lab, "get", "node", "w2", "--no-headers").stdout.split()
    assert row[1] == "Ready,SchedulingDisabled"
    health = talosctl(lab, "health", "-n", ip["cp1"], "--wait-timeout", "1s")
    assert health.returncode == 1
    assert health.stderr.splitlines()[-2:] == [
        "waiting for all k8s nodes to report schedulable: some nodes are not schedulable: [w2]",
        "rpc error: code = DeadlineExceeded desc = context deadline exceeded"]


def test_crashloop_pod(lab: Lab) -> None:
    done = kubectl(lab, "get", "pods", "-n", "apps", "-o", "wide", "--no-headers")
    rows = [line.split() for line in done.stdout.splitlines() if line.startswith("crashloop-")]
    assert len(rows) == 1
    assert rows[0][1:3] == ["0/1", "CrashLoopBackOff"] and int(rows[0][3]) > 0
    assert "w1" in rows[0]


def test_flux_not_ready(lab: Lab, kube: client.ApiClient) -> None:
    items = client.CustomObjectsApi(kube).list_cluster_custom_object(
        "kustomize.toolkit.fluxcd.io", "v1", "kustomizations")["items"]
    ready = {k["metadata"]["name"]: next(c for c in k["status"]["conditions"]
                                         if c["type"] == "Ready") for k in items}
    broken = [name for name, c in ready.items() if c["status"] == "False"]
    assert len(broken) == 1
    assert ready[broken[0]]["reason"] == "ReconciliationFailed"
    assert "kustomize build failed" in ready[broken[0]]["message"]


def test_velero_backup_fails(lab: Lab, kube: client.ApiClient) -> None:
    custom = client.CustomObjectsApi(kube)
    custom.create_namespaced_custom_object(
        "velero.io", "v1", "velero", "backups",
        {"apiVersion": "velero.io/v1", "kind": "Backup",
         "metadata": {"name": "nightly", "namespace": "velero"}, "spec": {}})

    def final() -> dict[str, Any] | None:
        st = custom.get_namespaced_custom_object("velero.io", "v1", "velero", "backups",
                                                 "nightly").get("status") or {}
        return st if st.get("phase") in ("Completed", "Failed", "PartiallyFailed") else None

    status = wait_until(final, 30, "backup nightly finished")
    assert status["phase"] == "Failed"
    assert "BackupStorageLocation" in status["failureReason"]


# ---- image_pull_failure then boot_failure on w1 -------------------------------------------------
def test_image_pull_failure_aborts_before_any_reboot(lab: Lab, ip: dict[str, str]) -> None:
    before = node_status(lab, "w1")
    image = installer(lab, "v1.9.4")
    done = talosctl(lab, "upgrade", "-n", ip["w1"], "--image", image)
    assert done.returncode == 1
    assert tracker_lines(done.stderr, ip["w1"])[-1].startswith(
        f'rpc error: code = Unknown desc = error validating installer image "{image}": failed '
        f'to pull image "{image}": ')
    after = node_status(lab, "w1")
    assert (after["boot_count"], after["boot_id"], after["kubernetes"]["cordoned"]) == \
        (before["boot_count"], before["boot_id"], False)


def test_boot_failure_falls_back_with_a_new_boot_id(lab: Lab, ip: dict[str, str]) -> None:
    before = node_status(lab, "w1")
    done = talosctl(lab, "upgrade", "-n", ip["w1"], "--image", installer(lab, "v1.9.4"))
    # talosctl only checks that the node rebooted: the failed boot looks like a success
    assert done.returncode == 0, done.stderr
    assert tracker_lines(done.stderr, ip["w1"])[-1] == "post check passed"
    after = idle(lab, "w1")
    assert (after["talos_version"], after["active_slot"]) == ("v1.9.2", "A")
    assert after["slots"]["B"]["version"] == "v1.9.4"
    assert after["boot_id"] != before["boot_id"]
    assert after["boot_count"] == before["boot_count"] + 2  # the failed boot, then the fallback
    assert after["kubernetes"]["os_image"] == "Talos (v1.9.2)"
    dmesg = talosctl(lab, "dmesg", "-n", ip["w1"]).stdout
    assert "Talos v1.9.4 failed to boot from slot B; falling back to slot A" in dmesg


# ---- extension_missing on w2 ---------------------------------------------------------------
def test_extension_missing_after_the_next_upgrade(lab: Lab, ip: dict[str, str]) -> None:
    names = [d["spec"]["metadata"]["name"] for d in objects(talosctl(
        lab, "get", "extensions", "-n", ip["w2"], "-o", "json").stdout)]
    assert names == ["iscsi-tools", "qemu-guest-agent", "schematic"]
    done = talosctl(lab, "upgrade", "-n", ip["w2"], "--image", installer(lab, "v1.9.4"))
    assert done.returncode == 0, done.stderr
    after = idle(lab, "w2")
    assert after["talos_version"] == "v1.9.4"
    assert after["extensions"] == ["siderolabs/qemu-guest-agent"]
    docs = objects(talosctl(lab, "get", "extensions", "-n", ip["w2"], "-o", "json").stdout)
    assert [(d["metadata"]["id"], d["spec"]["metadata"]["name"]) for d in docs] == \
        [(0, "qemu-guest-agent"), (1, "schematic")]
    services = talosctl(lab, "services", "-n", ip["w2"]).stdout
    assert "ext-iscsid" not in services and "ext-qemu-guest-agent" in services


# ---- drain_blocked on w3 ---------------------------------------------------------------------
def test_drain_blocked_holds_the_drain_until_its_timeout(lab: Lab, ip: dict[str, str]) -> None:
    pdb = kubectl(lab, "get", "pdb", "-n", "apps", "singleton", "--no-headers").stdout.split()
    assert pdb[0] == "singleton" and pdb[3] == "0"  # ALLOWED DISRUPTIONS
    pod = kubectl(lab, "get", "pods", "-n", "apps", "-l", "app=singleton", "-o",
                  "jsonpath={.items[0].metadata.name} {.items[0].spec.nodeName}").stdout.split()
    assert pod[1] == "w3"
    start = time.monotonic()
    done = talosctl(lab, "upgrade", "-n", ip["w3"], "--image", installer(lab, "v1.9.4"))
    lines = tracker_lines(done.stderr, ip["w3"])
    assert done.returncode == 0, done.stderr
    assert time.monotonic() - start >= DRAIN_TIMEOUT
    i = lines.index("task: cordonAndDrainNode action: START")
    assert lines[i + 1] == "task: cordonAndDrainNode action: STOP"  # drains never fail
    idle(lab, "w3")
    # the PDB held: the pod was never evicted (same pod, same node), the upgrade went on
    after = kubectl(lab, "get", "pods", "-n", "apps", "-l", "app=singleton", "-o",
                    "jsonpath={.items[*].metadata.name} {.items[*].spec.nodeName}").stdout.split()
    assert after == pod
    assert node_status(lab, "w3")["talos_version"] == "v1.9.4"


# ---- never_ready on cp3 --------------------------------------------------------------------
def test_never_ready_after_the_next_reboot(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "reboot", "-n", ip["cp3"], "--timeout", "4s")
    assert (done.returncode, done.stdout) == (1, "")
    lines = tracker_lines(done.stderr, ip["cp3"])
    assert "events check condition met" not in lines and "post check passed" not in lines
    assert lines[-1] == ('stage: RUNNING ready: false unmetCond: [name:"nodeReady" '
                         'reason:"node \\"cp3\\" is not ready"]')
    st = node_status(lab, "cp3")
    assert st["kubernetes"]["ready"] == "False" and st["machine_ready"] is False
    health = talosctl(lab, "health", "-n", ip["cp1"], "--wait-timeout", "1s")
    assert health.stderr.splitlines()[-2:] == [
        "waiting for all k8s nodes to report ready: some nodes are not ready: [cp3]",
        "rpc error: code = DeadlineExceeded desc = context deadline exceeded"]


# ---- slow_etcd_catchup and api_unreachable on cp2 at its next reboot ----------------------
def test_slow_etcd_catchup_and_api_unreachable_fire_at_the_reboot(lab: Lab,
                                                                  ip: dict[str, str]) -> None:
    assert lab.status()["kubernetes"]["available"] is True
    done = talosctl(lab, "reboot", "-n", ip["cp2"])
    assert done.returncode == 0, done.stderr
    # the Kubernetes API answers 503 for the fault's seconds
    probe = kubectl(lab, "get", "nodes", "--request-timeout=3s")
    assert probe.returncode == 1
    assert "the server is currently unable to handle the request" in probe.stderr
    assert lab.status()["kubernetes"]["available"] is False

    def indexes() -> tuple[int, int]:
        out = talosctl(lab, "etcd", "status", "-n", f"{ip['cp1']},{ip['cp2']}").stdout
        rows = {r["NODE"]: int(r["RAFT INDEX"]) for r in table(out)}
        return rows[ip["cp1"]], rows[ip["cp2"]]

    leader, member = indexes()
    assert member < leader, "cp2's raft index lags right after its reboot"
    wait_until(lambda: (lambda li: li[1] >= li[0] - 1)(indexes()), 15, "cp2 caught up")
    wait_until(lambda: lab.status()["kubernetes"]["available"], 15, "API available again")
    assert kubectl(lab, "get", "nodes").returncode == 0


def test_api_unreachable_without_a_node_fires_at_once(lab: Lab) -> None:
    done = emulator_cli("fault", "--dir", str(lab.dir), "api_unreachable", "--seconds", "3")
    assert (done.returncode, done.stdout) == (0, "fault api_unreachable injected\n")
    probe = kubectl(lab, "get", "nodes", "--request-timeout=3s")
    assert probe.returncode == 1
    assert "the server is currently unable to handle the request" in probe.stderr
    wait_until(lambda: kubectl(lab, "get", "nodes").returncode == 0, 15, "API back after 3 s")
    faults = json.loads(emulator_cli("status", "--dir", str(lab.dir), "--json").stdout)["faults"]
    assert faults[-1] == {"kind": "api_unreachable", "node": None, "seconds": 3.0, "fired": True}
