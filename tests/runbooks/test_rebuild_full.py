"""The whole rebuild runbook on the lab (issue 12's done-when): template, backups, teardown,
redeploy with the old MACs, bootstrap (or an etcd recovery that brings a pre-rebuild object
back), verify, Flux, the profile committed; and where each destructive-phase fault stops it."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from model.profile import load_profile
from model.schematic import schematic_id
from tests.runbooks.runbook_run import kill_group, run_runbook, start_runbook
from tests.runbooks.test_rebuild_template import CLIENT, TARGET, THREE, _pve, _vms

pytestmark = pytest.mark.lab

NODE_VMIDS = {201: "cp1", 202: "cp2", 203: "cp3", 301: "w1", 302: "w2", 303: "w3"}


def _macs(lab: Any) -> dict[int, str]:
    pve = _pve(lab)
    return {vmid: str(pve.config(vmid)["net0"]) for vmid in NODE_VMIDS}


def _git(lab: Any, *args: str) -> str:
    return subprocess.run(["git", "-C", str(lab.profile.parent), *args], capture_output=True,
                          text=True, check=True).stdout


def test_the_cluster_is_rebuilt_on_the_target_with_its_profile_committed(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(lab=CLIENT)
    nets = _macs(lab)
    text_before = lab.profile.read_text()
    result = run_runbook(lab, tmp_path, *TARGET, runbook="rebuild", timeout=900)
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    for step in ("test_old_vms_destroyed", "test_vms_cloned", "test_etcd_bootstrapped",
                 "test_nodes_ready", "test_verify_everything_but_flux", "test_flux_ready",
                 "test_profile_committed"):
        assert result.step(step).outcome == "passed", result.step(step).text
    status = lab.status()
    sid = schematic_id(THREE.split(","))
    for node in status["nodes"]:
        assert node["talos_version"] == "v1.12.4", node
        assert node["kubernetes"]["kubelet_version"] == "v1.35.0", node
        assert node["schematic"] == sid, node
        assert sorted(node["extensions"]) == sorted(THREE.split(",")), node
    vms = _vms(_pve(lab))
    assert vms[9100]["template"] == 1 and vms[9000]["template"] == 1  # new beside old
    assert str(_pve(lab).config(9000).get("protection")) == "1"  # the way back, protected
    assert _macs(lab) == nets  # the clones kept their MAC and bridge
    profile = load_profile(lab.profile)
    assert (str(profile.talos.version), str(profile.talos.kubernetes)) == ("v1.12.4", "1.35.0")
    assert profile.talos.factory.schematic == sid
    assert profile.proxmox is not None and profile.proxmox.template_vmid == 9100
    comments = [ln for ln in text_before.splitlines() if ln.lstrip().startswith("#")]
    after = lab.profile.read_text()
    assert comments and all(c in after for c in comments)  # every comment kept
    assert _git(lab, "log", "-1", "--format=%s") == (
        "feat(talos): upgrade to Talos v1.12.4 with K8s 1.35.0\n")
    assert _git(lab, "status", "--porcelain", "--", lab.profile.name) == ""

    # the in-place rollback cannot undo a rebuild: it says so, nothing runs
    back = run_runbook(lab, tmp_path, runbook="rollback", name="rollback")
    assert back.exit_code == 4, back.tail()
    assert "is a template rebuild that stopped or destroyed the cluster's VMs" in back.stderr


def test_an_etcd_recovery_brings_back_an_object_from_before(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(lab={"talosctl": "v1.10.6"})
    secrets = lab.dir / "secrets.yaml"
    assert secrets.is_file()
    raw = yaml.safe_load(lab.profile.read_text())
    raw["rebuild"] = {"restore_etcd": True, "secrets": str(secrets)}
    lab.profile.write_text(yaml.safe_dump(raw, sort_keys=False))
    result = run_runbook(lab, tmp_path, "--talos-version", "v1.10.6", "--k8s-version", "1.33.4",
                         "--template-vmid", "9100", runbook="rebuild", timeout=900)
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.step("test_restore_marker_written").outcome == "passed"
    assert result.step("test_recovered_object_is_back").outcome == "passed"
    for node in lab.status()["nodes"]:
        assert node["talos_version"] == "v1.10.6", node


def test_without_the_secrets_bundle_the_rebuilt_cluster_gets_a_new_identity(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    patch = tmp_path / "cilium.yaml"  # Cilium without kube-proxy, as the Talos docs patch it
    patch.write_text("cluster:\n  network:\n    cni:\n      name: none\n"
                     "  proxy:\n    disabled: true\n")
    lab = make_lab(lab=CLIENT, extra={"rebuild": {"restore_etcd": False,
                                                  "config_patches": [str(patch)]}})
    talosconfig = lab.dir / "talosconfig"
    old_ca = yaml.safe_load(talosconfig.read_text())["contexts"]["lab"]["ca"]
    result = run_runbook(lab, tmp_path, *TARGET, runbook="rebuild", timeout=900)
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    backup = yaml.safe_load((lab.dir / "talosconfig.pre-rebuild").read_text())
    now = yaml.safe_load(talosconfig.read_text())
    assert backup["contexts"]["lab"]["ca"] == old_ca  # the old credentials kept aside
    assert now["contexts"]["lab"]["ca"] != old_ca  # the new cluster's
    assert now["contexts"]["lab"]["endpoints"] == backup["contexts"]["lab"]["endpoints"]
    [bundle] = (lab.dir / "rebuild").glob("*/secrets.yaml")
    assert oct(bundle.stat().st_mode & 0o777) == "0o600"
    assert (lab.dir / "kubeconfig.pre-rebuild").is_file()
    for name in ("controlplane.yaml", "worker.yaml"):  # the patch is in both configs
        [config] = (lab.dir / "rebuild").glob(f"*/{name}")
        cluster = yaml.safe_load(config.read_text())["cluster"]
        assert cluster["network"]["cni"] == {"name": "none"}, cluster["network"]
        assert cluster["proxy"]["disabled"] is True, cluster.get("proxy")


@pytest.mark.parametrize(("faults", "step", "text"), [
    pytest.param([{"kind": "vm_wont_stop", "node": "w2"}], "test_old_vms_shut_down",
                 "w2 (VM 302) did not stop: Proxmox VE task shutdown 302 (w2)", id="vm_wont_stop"),
    # the probe clone of phase 2 is the first clone: after 3, cp3's fails
    pytest.param([{"kind": "clone_fails", "after": 3}], "test_vms_cloned",
                 "the clone of cp3 (VM 203) from template 9100 failed", id="clone_fails"),
    pytest.param([{"kind": "maintenance_stuck", "node": "cp2"}], "test_configs_applied",
                 "did not leave maintenance mode after apply-config", id="maintenance_stuck"),
    pytest.param([{"kind": "bootstrap_fails"}], "test_etcd_bootstrapped",
                 "[bootstrap] talosctl bootstrap on cp1 failed", id="bootstrap_fails"),
    # an immediate fault: Flux is broken before the run, so the health gate stops it
    pytest.param([{"kind": "flux_not_ready", "name": "flux-system"}], "test_cluster_healthy",
                 "[flux-ready] Kustomization flux-system/flux-system: expected Ready=True",
                 id="flux_not_ready"),
])
def test_each_destructive_fault_stops_at_its_step(
        make_lab: Callable[..., Any], tmp_path: Path, faults: list[dict[str, Any]], step: str,
        text: str) -> None:
    lab = make_lab(lab=CLIENT, faults=faults)
    result = run_runbook(lab, tmp_path, *TARGET, runbook="rebuild", timeout=900)
    assert result.exit_code == 1, result.tail()
    assert result.failed == [step], result.tail()
    assert text in result.step(step).text, result.step(step).text
    vms = _vms(_pve(lab))
    if step == "test_old_vms_shut_down":
        message = result.step(step).text
        assert "Nothing is destroyed yet; destroyed: none; stopped: w1 (301); untouched: w2 " \
            "(302), w3 (303), cp2 (202), cp3 (203), cp1 (201)" in message
        assert all(v in vms for v in NODE_VMIDS)  # nothing destroyed
        assert vms[301]["status"] == "stopped" and vms[302]["status"] == "running"
    elif step == "test_vms_cloned":
        message = result.step(step).text
        assert "clone failed: lvcreate 'pve/vm-203-cloudinit' error:" in message
        assert "Cloned so far: cp1, cp2; the old VMs are gone" in message
        assert 203 not in vms and vms[201]["name"] == "cp1" and vms[202]["name"] == "cp2"
    elif step == "test_configs_applied":
        assert "cp2 (127." in result.step(step).text  # the node and its address
    elif step == "test_cluster_healthy":
        assert all(vms[v]["status"] == "running" for v in NODE_VMIDS)  # nothing touched
        assert 9100 not in vms
    elif step == "test_etcd_bootstrapped":
        assert "time is not in sync yet" in result.step(step).text
        assert "The nodes are configured and wait for it" in result.step(step).text


def _rebuild_progress(lab: Any) -> dict[str, Any]:
    runs = load_profile(lab.profile).backups.etcd_snapshot_dir / "runs"
    for path in sorted(runs.glob("*-rebuild-*.json")):
        try:
            return dict(json.loads(path.read_text()).get("rebuild") or {})
        except ValueError:
            continue  # being written
    return {}


def test_killed_after_the_teardown_then_rerun_finishes_the_rebuild(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(lab=CLIENT)
    proc, _ = start_runbook(lab, tmp_path, *TARGET, runbook="rebuild", name="killed")
    deadline = time.monotonic() + 120
    seen: dict[str, Any] = {}
    while not seen and time.monotonic() < deadline and proc.poll() is None:
        progress = _rebuild_progress(lab)
        if len(progress.get("destroyed") or []) >= 2:
            seen = progress  # the old cluster is half gone
        else:
            time.sleep(0.02)  # polling the run record for a state, with a deadline
    try:
        assert seen, f"the teardown was never seen under way (exit {proc.poll()})"
    finally:
        kill_group(proc)
        proc.communicate()
    assert proc.returncode == -9
    result = run_runbook(lab, tmp_path, *TARGET, runbook="rebuild", name="resumed", timeout=900)
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    for step in ("test_take_cluster_lock", "test_cluster_healthy", "test_vmids_are_as_planned",
                 "test_cluster_state_recorded"):
        assert result.step(step).outcome == "passed"  # passed as not applicable
    for node in lab.status()["nodes"]:
        assert node["talos_version"] == "v1.12.4", node
    progress = _rebuild_progress(lab)
    assert sorted(progress["destroyed"]) == sorted(NODE_VMIDS)  # each destroyed once
    assert sorted(progress["cloned"]) == sorted(NODE_VMIDS)
    assert _git(lab, "log", "-1", "--format=%s").startswith("feat(talos): upgrade to Talos")


def test_the_rebuild_is_rolled_back_to_the_old_template_and_snapshot(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(lab=CLIENT)
    nets = _macs(lab)
    result = run_runbook(lab, tmp_path, *TARGET, runbook="rebuild", timeout=900)
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    plan = run_runbook(lab, tmp_path, "--plan", runbook="rebuild_rollback", name="plan")
    assert plan.exit_code == 0, plan.tail()
    assert "Rebuild rollback of run lab-rebuild-v1.9.2-1.32.0-to-v1.12.4-1.35.0" in plan.stdout
    back = run_runbook(lab, tmp_path, runbook="rebuild_rollback", name="back", timeout=900)
    assert back.exit_code == 0, f"{back.failed}\n{back.tail()}"
    assert back.step("test_object_from_before_the_rebuild_is_back").outcome == "passed"
    old = schematic_id(["siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent"])
    for node in lab.status()["nodes"]:
        assert (node["talos_version"], node["schematic"]) == ("v1.9.2", old), node
        assert node["kubernetes"]["kubelet_version"] == "v1.32.0", node
    assert _macs(lab) == nets
    profile = load_profile(lab.profile)
    assert (str(profile.talos.version), profile.talos.factory.schematic) == ("v1.9.2", old)
    assert profile.proxmox is not None and profile.proxmox.template_vmid == 9000
    assert _git(lab, "log", "-1", "--format=%s").startswith(
        "revert(talos): back to Talos v1.9.2 with K8s 1.32.0 (rollback of lab-rebuild-")
    vms = _vms(_pve(lab))
    assert vms[9100]["template"] == 1 and vms[9000]["template"] == 1  # both kept
    again = run_runbook(lab, tmp_path, "--plan", runbook="rebuild_rollback", name="again")
    assert again.exit_code == 4, again.tail()
    assert "tore its VMs down without being rolled back" in again.stderr


def test_a_snapshot_changed_after_the_backup_stops_the_teardown_before_any_vm(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(lab=CLIENT)
    prepared = run_runbook(lab, tmp_path, *TARGET, "--prepare-only", runbook="rebuild",
                           name="prepare")
    assert prepared.exit_code == 0, f"{prepared.failed}\n{prepared.tail()}"
    backups = load_profile(lab.profile).backups.etcd_snapshot_dir
    [snapshot] = backups.glob("*-etcd-pre-rebuild-*.snapshot")
    data = bytearray(snapshot.read_bytes())
    data[100] ^= 0xFF  # same size, other content
    snapshot.write_bytes(bytes(data))
    result = run_runbook(lab, tmp_path, *TARGET, runbook="rebuild", timeout=900)
    assert result.exit_code == 1, result.tail()
    assert result.failed == ["test_teardown_gate"], result.tail()
    text = result.step("test_teardown_gate").text
    assert "[teardown-gate] not tearing anything down:" in text
    assert f"the etcd snapshot {snapshot} has sha256 " in text and ", the record says " in text
    vms = _vms(_pve(lab))
    assert all(vms[v]["status"] == "running" for v in NODE_VMIDS)  # nothing stopped
