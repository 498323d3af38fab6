"""Fidelity of the lab's lifecycle commands (reference §3, §8.6, §8.7) through bin/talosctl:
upgrade (--wait and --wait=false), the etcd refusals, reboot, rollback, a node that does not
answer, upgrade-k8s. One lab for the module; the tests run in file order and build on each
other (w1 is upgraded before it is rolled back, and so on). Reboots take 2 s here so that a
rebooting node can be caught while it does not answer. The client is talosctl v1.11.6 (the
legacy upgrade path; v1.13+ clients: test_lab_clients.py)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from emulator.api import Lab
from tests.emulator.lab_helpers import (
    HEX16,
    addresses,
    idle,
    installer,
    node_status,
    objects,
    table,
    talosctl,
    tracker_lines,
    wait_until,
)

UUID = r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}"
V19_PHASES = [("drain", ["cordonAndDrainNode"]), ("cleanup", ["stopAllPods"]),
              ("dbus", ["stopDBus"]), ("stopServices", ["stopServicesForUpgrade"]),
              ("unmountUser", ["unmountUserDisks"]),
              ("unmount", ["unmountOverlayFilesystems", "unmountPodMounts"]),
              ("unmountBind", ["unmountSystemDiskBindMounts"]),
              ("unmountSystem", ["unmountEphemeralPartition", "unmountStatePartition"]),
              ("volumeFinalize", ["teardownLifecycle"]), ("upgrade", ["upgrade"]),
              ("meta", ["reloadMeta"]), ("kexec", ["kexecPrepare"])]


@pytest.fixture(scope="module")
def lab(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab(timings={"reboot": 2.0}, lab={"talosctl": "v1.11.6"})


@pytest.fixture(scope="module")
def ip(lab: Lab) -> dict[str, str]:
    return addresses(lab)


def _before_reboot(phases: list[tuple[str, list[str]]]) -> list[str]:
    out = ["sequence: upgrade action: START"]
    for phase, tasks in phases:
        out.append(f"phase: {phase} action: START")
        for task in tasks:
            out += [f"task: {task} action: START", f"task: {task} action: STOP"]
        out.append(f"phase: {phase} action: STOP")
    return out + ["phase: stopEverything action: START", "task: stopAllServices action: START",
                  "error: stopAllServices task completed", "unavailable, retrying..."]


def _kubectl_node(lab: Lab, name: str) -> list[str]:
    done = subprocess.run(["kubectl", "get", "node", name, "--no-headers", "-o", "wide"],
                          capture_output=True, text=True, env=lab.env(), check=True)
    return done.stdout.split()


# ---- upgrade --wait --------------------------------------------------------------------------
def test_upgrade_worker_with_wait(lab: Lab, ip: dict[str, str]) -> None:
    before = node_status(lab, "w1")
    done = talosctl(lab, "upgrade", "-n", ip["w1"], "--image", installer(lab, "v1.9.4"))
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert done.stderr.splitlines()[0] == (f"WARNING: {ip['w1']}: server version 1.9.2 is older "
                                           "than client version 1.11.6")
    lines = tracker_lines(done.stderr, ip["w1"])
    assert len(lines) == len(done.stderr.splitlines()) - 1  # every other line is the node's
    assert lines[0] == "waiting for actor ID" and re.fullmatch(f"actor ID: {UUID}", lines[1])
    expected = _before_reboot(V19_PHASES)
    assert lines[2:2 + len(expected)] == expected
    after = lines[2 + len(expected):]
    assert after[-2:] == ["events check condition met", "post check passed"]
    assert "sequence: boot action: START" in after
    assert ('stage: BOOTING ready: false unmetCond: [name:"nodeReady" reason:"node \\"w1\\" '
            'status is not available yet"]') in after
    assert "service: kubelet message: Health check successful healthy: true" in after
    # the node really changed
    now = idle(lab, "w1")
    assert (now["talos_version"], now["active_slot"]) == ("v1.9.4", "B")
    assert now["slots"] == {"A": {"version": "v1.9.2", "schematic": before["schematic"]},
                            "B": {"version": "v1.9.4", "schematic": before["schematic"]}}
    assert (now["boot_count"], now["upgrade_count"]) == (before["boot_count"] + 1, 1)
    assert now["boot_id"] != before["boot_id"]
    assert now["kubernetes"] == {"ready": "True", "cordoned": False, "kubelet_version": "v1.32.0",
                                 "os_image": "Talos (v1.9.4)"}
    row = _kubectl_node(lab, "w1")
    assert row[1] == "Ready" and "(v1.9.4)" in " ".join(row)


def test_upgrade_wait_false_prints_the_ack_table(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "upgrade", "-n", ip["w2"], "--image", installer(lab, "v1.9.4"),
                    "--wait=false")
    assert done.returncode == 0
    assert done.stderr == (f"WARNING: {ip['w2']}: server version 1.9.2 is older than client "
                           "version 1.11.6\n")
    header, row = done.stdout.splitlines()
    assert re.fullmatch(r"NODE\s{3,}ACK\s{3,}STARTED", header)
    assert re.fullmatch(rf"{re.escape(ip['w2'])}\s{{3,}}Upgrade request received\s{{3,}}"
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ [+-]\d{4} \w+ m=\+\d+\.\d{9}\s*",
                        row)
    assert row.index("Upgrade") == header.index("ACK")
    assert idle(lab, "w2")["talos_version"] == "v1.9.4"


@pytest.mark.parametrize("what", ["version", "schematic"])
def test_upgrade_to_an_unknown_installer_aborts_before_anything(lab: Lab, ip: dict[str, str],
                                                                what: str) -> None:
    image = installer(lab, "v1.9.99") if what == "version" else \
        installer(lab, "v1.9.4", schematic="0" * 64)
    before = node_status(lab, "w3")
    done = talosctl(lab, "upgrade", "-n", ip["w3"], "--image", image)
    assert done.returncode == 1
    lines = tracker_lines(done.stderr, ip["w3"])
    assert lines[0] == "waiting for actor ID" and len(lines) == 2
    assert lines[1].startswith(f'rpc error: code = Unknown desc = error validating installer '
                               f'image "{image}": ')
    assert lines[1].endswith(": not found")
    after = node_status(lab, "w3")
    assert (after["boot_count"], after["boot_id"], after["talos_version"]) == \
        (before["boot_count"], before["boot_id"], "v1.9.2")
    assert after["kubernetes"]["cordoned"] is False and after["upgrade_count"] == 0


def test_upgrade_bad_flags(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "upgrade", "-n", ip["w3"], "--reboot-mode", "warp")
    assert (done.returncode, done.stderr) == (1, "invalid reboot mode: warp\n")
    done = talosctl(lab, "upgrade", "-n", ip["w3"], "--insecure")
    assert (done.returncode, done.stderr) == (1, "cannot use --wait and --insecure together\n")


def test_upgrade_control_plane_keeps_its_etcd_member(lab: Lab, ip: dict[str, str]) -> None:
    member = objects(talosctl(lab, "get", "etcdmember", "-n", ip["cp2"], "-o", "json").stdout)
    done = talosctl(lab, "upgrade", "-n", ip["cp2"], "--image", installer(lab, "v1.9.4"))
    assert done.returncode == 0, done.stderr
    assert tracker_lines(done.stderr, ip["cp2"])[-1] == "post check passed"
    idle(lab, "cp2")
    again = objects(talosctl(lab, "get", "etcdmember", "-n", ip["cp2"], "-o", "json").stdout)
    # Talos >= 1.8 never wipes the disk on upgrade: the member keeps its ID (--preserve or not)
    assert again[0]["spec"]["memberID"] == member[0]["spec"]["memberID"]
    assert len(lab.status()["etcd"]["members"]) == 3


# ---- the server-side etcd refusals (--force skips them; --preserve does not since v1.8) -------
def test_upgrade_is_refused_while_an_etcd_member_is_down(lab: Lab, ip: dict[str, str]) -> None:
    down_id = objects(talosctl(lab, "get", "etcdmember", "-n", ip["cp3"],
                               "-o", "json").stdout)[0]["spec"]["memberID"]
    lab.fault("etcd_member_down", node="cp3")
    refusal = (f"rpc error: code = DeadlineExceeded desc = error validating etcd for upgrade: "
               f"etcd member {down_id} is not healthy; all members must be healthy to perform "
               "an upgrade: context deadline exceeded")
    before = node_status(lab, "cp1")
    for flags in ([], ["--preserve"]):
        done = talosctl(lab, "upgrade", "-n", ip["cp1"], "--image", installer(lab, "v1.11.6"),
                        *flags)
        assert done.returncode == 1
        assert tracker_lines(done.stderr, ip["cp1"]) == ["waiting for actor ID", refusal]
    done = talosctl(lab, "upgrade", "-n", ip["cp1"], "--image", installer(lab, "v1.11.6"),
                    "--wait=false")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.endswith(f"error performing upgrade: 1 error occurred:\n\t* {ip['cp1']}: "
                                f"{refusal}\n\n\n")
    assert node_status(lab, "cp1")["boot_count"] == before["boot_count"]


def test_etcd_reads_with_a_member_down(lab: Lab, ip: dict[str, str]) -> None:
    down = (f'{ip["cp3"]}: rpc error: code = Unavailable desc = connection error: desc = '
            '"transport: Error while dialing: dial tcp 127.0.0.1:2379: connect: connection '
            'refused"')
    done = talosctl(lab, "etcd", "status", "-n", f"{ip['cp1']},{ip['cp3']}")
    assert done.returncode == 0
    assert done.stderr == f"WARNING: 1 error occurred:\n\t* {down}\n\n\n"
    assert [line.split()[0] for line in done.stdout.splitlines()] == ["NODE", ip["cp1"]]
    done = talosctl(lab, "health", "-n", ip["cp1"], "--wait-timeout", "1s")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines()[-3:] == [
        "waiting for etcd to be healthy: 1 error occurred:",
        f'\t* {ip["cp3"]}: service "etcd" not in expected state "Running": current state '
        "[Preparing] Running pre state",
        "rpc error: code = DeadlineExceeded desc = context deadline exceeded"]


# ---- reboot, and a node that does not answer --------------------------------------------------
def test_reboot_with_wait_restarts_etcd_and_changes_the_boot_id(lab: Lab,
                                                                ip: dict[str, str]) -> None:
    old = talosctl(lab, "read", "/proc/sys/kernel/random/boot_id", "-n", ip["cp3"]).stdout
    done = talosctl(lab, "reboot", "-n", ip["cp3"])
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    lines = tracker_lines(done.stderr, ip["cp3"])
    assert lines[:3] == ["waiting for actor ID", lines[1], "sequence: reboot action: START"]
    assert "phase: drain action: START" not in lines  # a reboot does not drain
    assert "error: stopAllServices task completed" in lines
    assert lines[-2:] == ["events check condition met", "post check passed"]
    new = talosctl(lab, "read", "/proc/sys/kernel/random/boot_id", "-n", ip["cp3"]).stdout
    assert re.fullmatch(UUID + "\n", new) and new != old
    idle(lab, "cp3")
    assert all(m["started"] for m in lab.status()["etcd"]["members"])
    dmesg = talosctl(lab, "dmesg", "-n", ip["cp3"]).stdout.splitlines()
    assert "Linux version 6.12.6-talos" in dmesg[0]


def test_a_rebooting_node_gives_per_node_errors(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "reboot", "-n", ip["w3"], "--wait=false")
    assert (done.returncode, done.stdout) == (0, "")
    wait_until(lambda: not node_status(lab, "w3")["apid"], 10, "w3 apid down")
    dial = (f'rpc error: code = Unavailable desc = connection error: desc = "transport: Error '
            f'while dialing: dial tcp {ip["w3"]}:50000: connect: connection refused"')
    with ThreadPoolExecutor(3) as pool:  # all three while w3 is still down
        calls = [pool.submit(talosctl, lab, *argv) for argv in (
            ["get", "nodename", "-n", f"{ip['w1']},{ip['w3']}", "-o", "json"],
            ["version", "--short", "-n", f"{ip['w1']},{ip['w3']}"],
            ["version", "-n", ip["w3"]])]
        got, ver, alone = (c.result() for c in calls)
    still_down = not node_status(lab, "w3")["apid"]
    assert still_down, "w3 came back too early for this test"
    # get: one-to-one proxying, the bare gRPC error in a multierror, exit 1
    assert got.returncode == 1 and [d["node"] for d in objects(got.stdout)] == [ip["w1"]]
    assert got.stderr.endswith(f"1 error occurred:\n\t* {dial}\n\n\n")
    # version: one-to-many, a WARNING and the nodes that answered, exit 0
    assert ver.returncode == 0 and f"NODE:        {ip['w1']}" in ver.stdout
    assert ip["w3"] not in ver.stdout
    assert ver.stderr == f"WARNING: 1 error occurred:\n\t* {ip['w3']}: {dial}\n\n\n"
    # nobody answered: an error
    assert alone.returncode == 1 and alone.stdout.startswith("Client:\n")
    assert alone.stderr == f"error getting version: 1 error occurred:\n\t* {ip['w3']}: {dial}\n\n\n"
    idle(lab, "w3")


def test_kubernetes_api_goes_away_while_the_primary_reboots(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "reboot", "-n", ip["cp1"], "--wait=false")
    assert done.returncode == 0
    wait_until(lambda: not node_status(lab, "cp1")["apid"], 10, "cp1 down")
    probe = subprocess.run(["kubectl", "get", "nodes", "--request-timeout=2s"],
                           capture_output=True, text=True, env=lab.env(), check=False)
    assert probe.returncode == 1
    assert "refused" in probe.stderr, probe.stderr
    idle(lab, "cp1")
    assert lab.status()["kubernetes"]["available"] is True
    assert _kubectl_node(lab, "cp1")[1] == "Ready"


# ---- rollback --------------------------------------------------------------------------------
def test_rollback_switches_slots_and_reboots(lab: Lab, ip: dict[str, str]) -> None:
    before = node_status(lab, "w1")
    assert (before["talos_version"], before["active_slot"]) == ("v1.9.4", "B")
    done = talosctl(lab, "rollback", "-n", ip["w1"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    def rebooted() -> dict[str, object] | None:
        n = node_status(lab, "w1")
        return n if n["boot_id"] != before["boot_id"] and n["busy"] is None else None

    after = wait_until(rebooted, 30, "w1 rebooted after rollback")
    assert (after["talos_version"], after["active_slot"]) == ("v1.9.2", "A")
    assert after["boot_count"] == before["boot_count"] + 1


def test_rollback_without_a_previous_install_is_refused(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "rollback", "-n", ip["w3"])
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == (f"error executing rollback: 1 error occurred:\n\t* {ip['w3']}: rpc "
                           'error: code = Unknown desc = cannot rollback to "", label does not '
                           "exist\n\n\n")


# ---- several nodes, v1.11 nodes ----------------------------------------------------------------
def test_upgrade_two_nodes_is_tracked_in_parallel(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "upgrade", "-n", f"{ip['w1']},{ip['w3']}", "--image",
                    installer(lab, "v1.9.5"), "--reboot-mode", "powercycle")
    assert done.returncode == 0, done.stderr
    for node in ("w1", "w3"):
        lines = tracker_lines(done.stderr, ip[node])
        assert lines[-1] == "post check passed"
        assert "phase: kexec action: START" not in lines  # powercycle skips kexec
        assert idle(lab, node)["talos_version"] == "v1.9.5"
    first = [line for line in done.stderr.splitlines() if line.startswith('"')][:4]
    assert {line.split(":")[0] for line in first} == {f'"{ip["w1"]}"', f'"{ip["w3"]}"'}


def test_etcd_status_of_a_v1_11_node_fills_protocol_and_storage(lab: Lab,
                                                                ip: dict[str, str]) -> None:
    done = talosctl(lab, "upgrade", "-n", ip["cp1"], "--image", installer(lab, "v1.11.6"))
    assert done.returncode == 0, done.stderr
    assert idle(lab, "cp1")["talos_version"] == "v1.11.6"
    status = talosctl(lab, "etcd", "status", "-n", f"{ip['cp1']},{ip['cp2']}")
    lines = status.stdout.splitlines()
    proto, storage = lines[0].index("PROTOCOL"), lines[0].index("STORAGE")
    cp1 = lines[1][proto:lines[0].index("ERRORS")].split()
    assert re.fullmatch(r"3\.\d+\.\d+", cp1[0]) and cp1[1] == ".".join(cp1[0].split(".")[:2]) + ".0"
    assert lines[2][proto:storage].strip() == ""  # v1.9 machined leaves them empty
    assert re.fullmatch(HEX16, lines[1].split()[1])


# ---- upgrade-k8s -----------------------------------------------------------------------------
def _quoted(addrs: list[str]) -> str:
    return "[" + " ".join(f'"{a}"' for a in addrs) + "]"


def _k8s_versions(lab: Lab) -> tuple[set[str], str]:
    st = lab.status()
    return {n["kubernetes"]["kubelet_version"] for n in st["nodes"]}, \
        st["kubernetes"]["proxy_version"]


def test_upgrade_k8s_refuses_more_than_one_minor_and_incompatible_versions(
        lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "upgrade-k8s", "-n", ip["cp1"], "--to", "1.34.0")
    assert done.returncode == 1
    assert done.stdout == "automatically detected the lowest Kubernetes version 1.32.0\n"
    assert done.stderr.endswith('unsupported upgrade path 1.32->1.34 (from "1.32.0" to '
                                '"1.34.0")\n')
    done = talosctl(lab, "upgrade-k8s", "-n", ip["cp1"], "--to", "1.33.0")
    assert done.returncode == 1
    assert done.stderr.endswith(f'compatibility check failed on node "{ip["cp2"]}": version of '
                                "Kubernetes 1.33.0 is too new to be used with Talos 1.9.4\n")
    done = talosctl(lab, "upgrade-k8s", "-n", f"{ip['cp1']},{ip['cp2']}", "--to", "1.32.3")
    assert done.returncode == 1
    assert done.stderr.startswith('command "upgrade-k8s" is not supported with multiple nodes')
    assert _k8s_versions(lab) == ({"v1.32.0"}, "1.32.0")


def test_upgrade_k8s_dry_run_changes_nothing(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "upgrade-k8s", "-n", ip["cp1"], "--to", "1.32.3", "--dry-run")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines.count(" > skipped in dry-run") == 3 * 3 + 3 + 6
    assert lines[-1] == " < dry run, change skipped"
    assert "waiting for all manifests to be applied" not in lines
    assert _k8s_versions(lab) == ({"v1.32.0"}, "1.32.0")


def test_upgrade_k8s_line_sequence_and_result(lab: Lab, ip: dict[str, str]) -> None:
    cps = [ip["cp1"], ip["cp2"], ip["cp3"]]
    workers = [ip["w1"], ip["w2"], ip["w3"]]
    done = talosctl(lab, "upgrade-k8s", "-n", ip["cp1"], "--to", "1.32.3")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # cp1 runs Talos v1.11.6: not older than the client
    lines = done.stdout.splitlines()
    assert lines[:3] == ["automatically detected the lowest Kubernetes version 1.32.0",
                         f"discovered controlplane nodes {_quoted(cps)}",
                         f"discovered worker nodes {_quoted(workers)}"]
    compat = [line for line in lines if line.startswith("> ")]
    assert compat[0] == f'> "{ip["cp1"]}": Talos version 1.11.6 is compatible with Kubernetes ' \
                        "version 1.32.3"
    assert len(compat) == 6
    i = lines.index('updating "kube-apiserver" to version "1.32.3"')
    assert lines[i + 1:i + 8] == [
        f' > "{ip["cp1"]}": starting update', " > update kube-apiserver: v1.32.0 -> 1.32.3",
        f' > "{ip["cp1"]}": machine configuration patched',
        f' > "{ip["cp1"]}": waiting for kube-apiserver pod update',
        f' > "{ip["cp1"]}": kube-apiserver: waiting, config version mismatch: got "1", '
        'expected "2"',
        f' > "{ip["cp1"]}": kube-apiserver: pod is not ready, waiting',
        f' < "{ip["cp1"]}": successfully updated']
    order = [line for line in lines if line.startswith("updating")]
    assert order == ['updating "kube-apiserver" to version "1.32.3"',
                     'updating "kube-controller-manager" to version "1.32.3"',
                     'updating "kube-scheduler" to version "1.32.3"',
                     'updating kube-proxy to version "1.32.3"',
                     'updating kubelet to version "1.32.3"', "updating manifests"]
    k = lines.index('updating kubelet to version "1.32.3"')
    assert [line for line in lines[k:] if line.endswith("successfully updated")] == \
        [f' < "{a}": successfully updated' for a in cps + workers]
    assert lines[lines.index("updating manifests"):] == [
        "updating manifests", " > processing manifest apps/v1.DaemonSet/kube-system/kube-proxy",
        "--- a/apps/v1.DaemonSet/kube-system/kube-proxy",
        "+++ b/apps/v1.DaemonSet/kube-system/kube-proxy",
        "-          image: registry.k8s.io/kube-proxy:v1.32.0",
        "+          image: registry.k8s.io/kube-proxy:v1.32.3", " < applied successfully",
        "waiting for all manifests to be applied",
        " > waiting for apps/v1.DaemonSet/kube-system/kube-proxy"]
    # after it: kubelets, static pods and kube-proxy are at the new version
    assert _k8s_versions(lab) == ({"v1.32.3"}, "1.32.3")
    pods = subprocess.run(["kubectl", "get", "pods", "-n", "kube-system", "-o",
                           "jsonpath={range .items[*]}{.metadata.name}={.spec.containers[0].image}"
                           "{\"\\n\"}{end}"], capture_output=True, text=True, env=lab.env(),
                          check=True).stdout.split()
    images = dict(p.split("=", 1) for p in pods)
    for name, image in images.items():
        if name.startswith(("kube-apiserver-", "kube-controller-manager-", "kube-scheduler-",
                            "kube-proxy-")):
            assert image.endswith(":v1.32.3"), (name, image)
    again = talosctl(lab, "upgrade-k8s", "-n", ip["cp1"], "--to", "1.32.3")
    assert again.returncode == 0
    assert " > update kube-apiserver" not in again.stdout and " < no changes" in again.stdout


# ---- etcd changes ----------------------------------------------------------------------------
def _leader(lab: Lab, ip: dict[str, str]) -> str:
    rows = table(talosctl(lab, "etcd", "status", "-n", ip["cp1"]).stdout)
    ids = {r["ID"]: r["HOSTNAME"] for r in table(talosctl(lab, "etcd", "members", "-n",
                                                          ip["cp1"]).stdout)}
    return ids[rows[0]["LEADER"]]


def test_etcd_forfeit_leadership(lab: Lab, ip: dict[str, str]) -> None:
    leader = _leader(lab, ip)
    done = talosctl(lab, "etcd", "forfeit-leadership", "-n", ip[leader])
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert wait_until(lambda: (lead := _leader(lab, ip)) != leader and lead, 10,
                      f"leadership moved away from {leader}")
    follower = next(n for n in ("cp1", "cp2", "cp3") if n != _leader(lab, ip))
    done = talosctl(lab, "etcd", "forfeit-leadership", "-n", ip[follower])  # a no-op
    assert (done.returncode, done.stderr) == (0, "")
    done = talosctl(lab, "etcd", "forfeit-leadership", "-n", ip["w1"])
    assert done.returncode == 1
    assert done.stderr == (f"1 error occurred:\n\t* {ip['w1']}: rpc error: code = Unimplemented "
                           "desc = etcd forfeit leadership is only available on control plane "
                           "nodes\n\n\n")


def test_etcd_leave_then_a_reboot_rejoins_as_a_new_member(lab: Lab, ip: dict[str, str]) -> None:
    old = objects(talosctl(lab, "get", "etcdmember", "-n", ip["cp3"],
                           "-o", "json").stdout)[0]["spec"]["memberID"]
    done = talosctl(lab, "etcd", "leave", "-n", f"{ip['cp2']},{ip['cp3']}")
    assert done.returncode == 1
    assert done.stderr.startswith('command "etcd leave" is not supported with multiple nodes')
    done = talosctl(lab, "etcd", "leave", "-n", ip["cp3"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    members = table(talosctl(lab, "etcd", "members", "-n", ip["cp1"]).stdout)
    assert sorted(m["HOSTNAME"] for m in members) == ["cp1", "cp2"]
    assert objects(talosctl(lab, "get", "etcdmember", "-n", ip["cp3"], "-o", "json").stdout) == []
    assert talosctl(lab, "reboot", "-n", ip["cp3"]).returncode == 0
    idle(lab, "cp3")
    members = table(talosctl(lab, "etcd", "members", "-n", ip["cp1"]).stdout)
    assert sorted(m["HOSTNAME"] for m in members) == ["cp1", "cp2", "cp3"]
    new = next(m["ID"] for m in members if m["HOSTNAME"] == "cp3")
    assert re.fullmatch(HEX16, new) and new != old


def test_staged_upgrade_installs_at_the_next_boot(lab: Lab, ip: dict[str, str]) -> None:
    before = node_status(lab, "w2")
    done = talosctl(lab, "upgrade", "-n", ip["w2"], "--image", installer(lab, "v1.9.5"),
                    "--stage")
    assert done.returncode == 0, done.stderr
    lines = tracker_lines(done.stderr, ip["w2"])
    assert "sequence: stageUpgrade action: START" in lines
    assert "phase: drain action: START" not in lines and "task: upgrade action: START" not in lines
    assert lines[-1] == "post check passed"
    after = idle(lab, "w2")
    assert after["talos_version"] == "v1.9.5" and after["upgrade_count"] == \
        before["upgrade_count"] + 1
