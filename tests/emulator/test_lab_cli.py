"""`python -m emulator up|status|fault|down` as a user runs them: the files a lab leaves,
the stable `status --json`, two labs at once, no process left after `down`, and bad input
(a clear one-line error naming what and where, exit non-zero, nothing left running)."""

from __future__ import annotations

import json
import os
import random
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from emulator.api import DEFAULT_PROFILE
from emulator.etcd import read_pid_file
from tests.emulator.lab_helpers import REPO, emulator_cli, wait_until

STATUS_KEYS = {"name", "dir", "nodes", "etcd", "kubernetes", "faults", "disruption", "endpoints"}
NODE_KEYS = {"name", "address", "role", "primary", "vmid", "talos_version", "active_slot",
             "slots", "schematic", "extensions", "boot_id", "boot_count", "upgrade_count",
             "stage", "machine_ready", "apid", "busy", "kubernetes"}


def processes_using(path: Path) -> list[int]:
    """PIDs of processes whose command line mentions `path` (the lab's own and its etcd)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if str(path).encode() in raw and state != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def labs(tmp_path: Path) -> Iterator[list[Path]]:
    """Lab directories a test starts with the CLI; each is brought down afterwards."""
    dirs: list[Path] = []
    yield dirs
    for d in dirs:
        emulator_cli("down", "--dir", str(d))


def _profile(tmp_path: Path, name: str, change: dict[str, object]) -> Path:
    raw = yaml.safe_load(DEFAULT_PROFILE.read_text())
    for dotted, value in change.items():
        *parents, leaf = dotted.split(".")
        node = raw
        for p in parents:
            node = node.setdefault(p, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    __tracebackhide__ = True
    assert done.returncode != 0
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0][len("error: "):]


# ---- up / status / fault / down -----------------------------------------------------------
def test_up_status_down(tmp_path: Path, labs: list[Path]) -> None:
    d = tmp_path / "lab"
    labs.append(d)
    done = emulator_cli("up", "--dir", str(d))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"lab ready in {d}"
    assert f"source {d / 'env'}" in done.stdout
    for name in ("talosconfig", "kubeconfig", "env", "cluster.yaml", "pve-token", "lab.json"):
        assert (d / name).is_file(), name
    assert os.access(d / "bin" / "talosctl", os.X_OK)
    # the env file puts the lab's talosctl first on PATH and points at its configs
    shell = subprocess.run(["bash", "-c", f"source {d / 'env'}; command -v talosctl; "
                            "echo $TALOSCONFIG $KUBECONFIG; talosctl version --client --short"],
                           capture_output=True, text=True, check=True)
    assert shell.stdout.splitlines() == [str(d / "bin" / "talosctl"),
                                         f"{d / 'talosconfig'} {d / 'kubeconfig'}",
                                         "Client:", "Talos v1.9.6"]
    # status --json: the documented, stable keys
    status = json.loads(emulator_cli("status", "--dir", str(d), "--json").stdout)
    assert set(status) == STATUS_KEYS
    assert [n["name"] for n in status["nodes"]] == ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
    assert all(set(n) == NODE_KEYS for n in status["nodes"])
    assert set(status["nodes"][0]["kubernetes"]) == {"ready", "cordoned", "kubelet_version",
                                                     "os_image"}
    assert set(status["kubernetes"]) == {"api", "version", "available", "proxy_version"}
    assert set(status["endpoints"]) == {"factory", "proxmox", "control"}
    assert {frozenset(m) for m in status["etcd"]["members"]} == \
        {frozenset({"id", "name", "peer_urls", "client_urls", "learner", "started"})}
    cp1 = status["nodes"][0]
    assert (cp1["role"], cp1["primary"], cp1["talos_version"], cp1["active_slot"]) == \
        ("controlplane", True, "v1.9.2", "A")
    assert cp1["slots"] == {"A": {"version": "v1.9.2", "schematic": cp1["schematic"]},
                            "B": None}
    assert re.fullmatch(r"127\.\d+\.\d+\.\d+", cp1["address"])
    table = emulator_cli("status", "--dir", str(d)).stdout
    assert table.splitlines()[0].split()[:3] == ["NODE", "ADDRESS", "ROLE"]
    assert "faults: none" in table
    # fault at run time
    fault = emulator_cli("fault", "--dir", str(d), "cordoned", "--node", "w3")
    assert (fault.returncode, fault.stdout) == (0, "fault cordoned injected on w3\n")
    after = json.loads(emulator_cli("status", "--dir", str(d), "--json").stdout)
    assert after["faults"] == [{"kind": "cordoned", "node": "w3", "fired": True}]
    assert after["nodes"][5]["kubernetes"]["cordoned"] is True
    # down: nothing left
    pid = json.loads((d / "lab.json").read_text())["pid"]
    etcd_pids = list(read_pid_file(d / "etcd").values())
    assert len(etcd_pids) == 3
    down = emulator_cli("down", "--dir", str(d))
    assert (down.returncode, down.stdout) == (0, "lab stopped\n")
    for p in [pid, *etcd_pids]:
        assert not Path(f"/proc/{p}").exists() or \
            Path(f"/proc/{p}/stat").read_text().split()[2] == "Z", p
    assert processes_using(d) == []
    with socket.socket() as s:
        assert s.connect_ex((cp1["address"], 50000)) != 0
    again = emulator_cli("down", "--dir", str(d))
    assert (again.returncode, again.stdout) == (0, f"no lab was running in {d}\n")
    gone = emulator_cli("status", "--dir", str(d))
    assert _one_line_error(gone) == (f"no lab is running in {d} (start one with: "
                                     f"python -m emulator up --dir {d})")


def test_two_labs_at_once_with_faults_from_a_file_and_at_run_time(tmp_path: Path,
                                                                  labs: list[Path]) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("- kind: etcd_member_down\n  node: cp3\n")
    first, second = tmp_path / "one", tmp_path / "two"
    labs += [first, second]
    assert emulator_cli("up", "--dir", str(first), "--faults", str(faults)).returncode == 0
    assert emulator_cli("up", "--dir", str(second)).returncode == 0
    fault = emulator_cli("fault", "--dir", str(second), "etcd_member_down")
    assert (fault.returncode, fault.stdout) == (0, "fault etcd_member_down injected on cp3\n")
    statuses = [json.loads(emulator_cli("status", "--dir", str(d), "--json").stdout)
                for d in (first, second)]
    blocks = [".".join(s["nodes"][0]["address"].split(".")[:3]) for s in statuses]
    assert blocks[0] != blocks[1]
    for lab_dir, st in zip((first, second), statuses, strict=True):
        assert st["faults"] == [{"kind": "etcd_member_down", "node": "cp3", "fired": True}]
        ip = {n["name"]: n["address"] for n in st["nodes"]}
        done = subprocess.run([str(lab_dir / "bin" / "talosctl"), "--talosconfig",
                               str(lab_dir / "talosconfig"), "etcd", "status", "-n",
                               f"{ip['cp1']},{ip['cp3']}"], capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0
        assert done.stderr.startswith(f"WARNING: 1 error occurred:\n\t* {ip['cp3']}: rpc error: "
                                      "code = Unavailable desc = connection error: ")
        assert len(read_pid_file(lab_dir / "etcd")) == 2  # cp3's etcd is stopped
    for d in (first, second):
        assert emulator_cli("down", "--dir", str(d)).stdout == "lab stopped\n"
        assert processes_using(d) == []


# ---- bad input -----------------------------------------------------------------------------
def test_malformed_profiles(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("talos: [\n")
    d = tmp_path / "lab"
    err = _one_line_error(emulator_cli("up", "--dir", str(d), "--profile", str(bad)))
    assert err == f"{bad}: not valid YAML (line 2)"
    missing = _profile(tmp_path, "missing.yaml", {"talos.version": None})
    err = _one_line_error(emulator_cli("up", "--dir", str(d), "--profile", str(missing)))
    assert err == f"{missing}: talos.version: required field is missing"
    block = _profile(tmp_path, "block.yaml", {"lab.address_block": [127, 300]})
    err = _one_line_error(emulator_cli("up", "--dir", str(d), "--profile", str(block)))
    assert err.startswith(f"{block}: lab.address_block: [127, 300] must be [A, B] with ")
    timing = _profile(tmp_path, "timing.yaml", {"lab.timings.warp": 1})
    err = _one_line_error(emulator_cli("up", "--dir", str(d), "--profile", str(timing)))
    assert err.startswith(f"{timing}: lab.timings.warp: unknown timing (known: pull, drain,")
    assert not (d / "lab.json").exists() and processes_using(d) == []


KNOWN = ("api_unreachable, boot_failure, bootstrap_fails, change_attachment_fails, "
         "change_not_approved, change_outside_window, clone_fails, cordoned, crashloop_pod, "
         "drain_blocked, etcd_member_down, extension_missing, flux_not_ready, "
         "image_download_fails, image_pull_failure, maintenance_stuck, never_ready, node_down, "
         "slow_etcd_catchup, slow_etcd_member, snapshot_hash_mismatch, stale_etcd_member, "
         "template_vmid_taken, velero_backup_fails, vm_wont_stop")


@pytest.mark.parametrize(("text", "problem"), [
    ("kind: cordoned\n", "a faults file must be a YAML list of {kind: ..., node: ...}"),
    ("- [\n", "not valid YAML"),
    ("- node: w1\n", "[0]: each fault needs a 'kind'"),
    ("- kind: cordoned\n- kind: nope\n", f"[1]: unknown fault 'nope' (known: {KNOWN})"),
    ("- kind: cordoned\n  node: w9\n", "[0]: fault cordoned: unknown node 'w9' (lab nodes: "
     "cp1, cp2, cp3, w1, w2, w3)"),
    ("- kind: extension_missing\n", "[0]: fault extension_missing: parameter 'extension' is "
     "required"),
    ("- kind: slow_etcd_catchup\n  seconds: soon\n", "[0]: fault slow_etcd_catchup: seconds "
     "must be a number"),
])
def test_malformed_faults_files(tmp_path: Path, text: str, problem: str) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text(text)
    d = tmp_path / "lab"
    err = _one_line_error(emulator_cli("up", "--dir", str(d), "--faults", str(faults)))
    assert err == f"{faults}: {problem}"
    assert processes_using(d) == []


def test_bad_faults_at_run_time(tmp_path: Path, labs: list[Path]) -> None:
    d = tmp_path / "lab"
    labs.append(d)
    assert emulator_cli("up", "--dir", str(d)).returncode == 0
    cases = {
        ("nope",): f"unknown fault 'nope' (known: {KNOWN})",
        ("cordoned", "--node", "w9"): "fault cordoned: unknown node 'w9' (lab nodes: cp1, cp2, "
                                      "cp3, w1, w2, w3)",
        ("extension_missing",): "fault extension_missing: parameter 'extension' is required",
        ("extension_missing", "--extension", "siderolabs/gvisor"):
            "fault extension_missing: extension 'siderolabs/gvisor' is not in the lab's "
            "schematic (siderolabs/iscsi-tools, siderolabs/qemu-guest-agent)",
        ("etcd_member_down", "--node", "w1"): "fault etcd_member_down: node 'w1' is not a "
                                              "control plane",
        ("flux_not_ready", "--name", "nope"): "fault flux_not_ready: no Flux object named 'nope'",
    }
    for argv, problem in cases.items():
        assert _one_line_error(emulator_cli("fault", "--dir", str(d), *argv)) == problem
    status = json.loads(emulator_cli("status", "--dir", str(d), "--json").stdout)
    assert status["faults"] == []
    assert _one_line_error(emulator_cli("fault", "--dir", str(tmp_path / "none"), "cordoned")) \
        == (f"no lab is running in {tmp_path / 'none'} (start one with: python -m emulator up "
            f"--dir {tmp_path / 'none'})")


def _free_block() -> tuple[int, int]:
    rng = random.Random()
    for _ in range(50):
        a, b = rng.randint(20, 250), rng.randint(0, 250)
        with socket.socket() as s:
            try:
                s.bind((f"127.{a}.{b}.2", 7777))
            except OSError:
                continue
        return a, b
    raise AssertionError("no free loopback block")


@pytest.mark.parametrize(("slot", "port", "what"), [
    (10, 50000, "{addr}:50000 is already in use; cannot start the lab there"),
    (12, 2379, "cannot start etcd member cp3: {addr}:2379 is already in use (Address already in "
               "use)"),
    (14, 50000, "{addr}:50000 is already in use; cannot start the lab there"),
])
def test_a_port_already_taken(tmp_path: Path, slot: int, port: int, what: str) -> None:
    a, b = _free_block()
    addr = f"127.{a}.{b}.{slot + 1}"
    profile = _profile(tmp_path, "fixed.yaml", {"lab.address_block": [a, b]})
    d = tmp_path / "lab"
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAITs of other runs
        taken.bind((addr, port))
        taken.listen()
        err = _one_line_error(emulator_cli("up", "--dir", str(d), "--profile", str(profile)))
    assert err == what.format(addr=addr)
    state = json.loads((d / "lab.json").read_text()) if (d / "lab.json").exists() else {}
    assert state.get("state") in (None, "failed")
    wait_until(lambda: processes_using(d) == [], 10, "nothing left running")


def test_missing_etcd_binary(tmp_path: Path) -> None:
    d = tmp_path / "lab"
    env = dict(os.environ, PYTHONPATH=str(REPO), PATH=str(tmp_path / "empty-bin"))
    done = subprocess.run([sys.executable, "-m", "emulator", "up", "--dir", str(d)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=60,
                          check=False)
    err = _one_line_error(done)
    assert err == (f"etcd binary 'etcd' not found on PATH ({tmp_path / 'empty-bin'}): install "
                   "etcd-server (apt-get install etcd-server etcd-client)")
    assert not (d / "lab.json").exists() and processes_using(d) == []
