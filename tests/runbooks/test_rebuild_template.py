"""The rebuild runbook's first phases on the lab: preflight, the new template (rebuild.md §2:
download-url content=import, create with import-from, resize, convert, protect, listed) and the
backups (etcd snapshot, the cluster's state), rerun-safe; and where each refusal or fault stops
it, with nothing on the cluster changed."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from drivers.proxmox import Pve
from model.profile import load_profile
from model.schematic import schematic_id
from tests.runbooks.runbook_run import lab_counts, run_runbook

pytestmark = pytest.mark.lab

THREE = "siderolabs/iscsi-tools,siderolabs/qemu-guest-agent,siderolabs/util-linux-tools"
TARGET = ("--talos-version", "v1.12.4", "--k8s-version", "1.35.0", "--extensions", THREE,
          "--template-vmid", "9100")
CLIENT = {"talosctl": "v1.12.4"}


def _pve(lab: Any) -> Pve:
    profile = load_profile(lab.profile)
    assert profile.proxmox is not None
    token = Path(str(profile.proxmox.token.ref)).read_text().strip()
    return Pve(profile.proxmox.api, profile.proxmox.node, token)


def _vms(pve: Pve) -> dict[int, dict[str, Any]]:
    return {int(v["vmid"]): v for v in pve.vms()}


def test_the_template_is_built_listed_and_a_rerun_changes_nothing(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(lab=CLIENT)
    before = lab_counts(lab)
    result = run_runbook(lab, tmp_path, *TARGET, "--prepare-only", runbook="rebuild")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.step("test_template_listed").outcome == "passed"
    assert result.step("test_template_boots_the_target").outcome == "passed"
    assert "test_teardown_gate" not in result.steps  # --prepare-only: deselected
    assert "deselected" in result.stdout
    pve = _pve(lab)
    vms = _vms(pve)
    sid = schematic_id(THREE.split(","))
    new, old = vms[9100], vms[9000]
    assert (new["name"], new["template"], new["status"], new["tags"]) == (
        "talos-v1.12.4", 1, "stopped", "talos;template")
    assert old["template"] == 1  # the way back stays
    assert 9199 not in vms  # the throwaway clone that proved the template is gone
    cfg = pve.config(9100)
    assert str(cfg["protection"]) == "1" and "base-9100-disk-0" in cfg["scsi0"]
    assert "size=32G" in cfg["scsi0"] and cfg["cpu"] == "x86-64-v2-AES" and str(cfg["agent"]) == "1"
    [volume] = [v for v in pve.content("local", "import")
                if v["volid"] == f"local:import/talos-v1.12.4-{sid[:8]}.raw"]
    assert volume["size"] > 0
    assert result.step("test_cluster_state_recorded").outcome == "passed"
    backups = load_profile(lab.profile).backups.etcd_snapshot_dir
    [snapshot] = backups.glob("*-etcd-pre-rebuild-*.snapshot")
    state = snapshot.with_suffix(".state.txt").read_text()
    assert "cp1          v1.9.2     1.32.0" in state and "etcd members (as cp1 sees" in state
    assert lab_counts(lab) == before  # no node touched

    again = run_runbook(lab, tmp_path, *TARGET, "--prepare-only", runbook="rebuild",
                        name="again")
    assert again.exit_code == 0, f"{again.failed}\n{again.tail()}"
    assert _vms(pve)[9100] == {**new, "uptime": _vms(pve)[9100]["uptime"]}
    assert len([v for v in pve.content("local", "import") if "v1.12.4" in v["volid"]]) == 1
    assert list(backups.glob("*-etcd-pre-rebuild-*.snapshot")) == [snapshot]  # resumed: kept


@pytest.mark.parametrize(("lab_settings", "faults", "step", "text"), [
    pytest.param({}, [{"kind": "image_download_fails"}], "test_image_downloaded",
                 "failed: download failed: ERROR 502: Bad Gateway.", id="image_download_fails"),
    pytest.param({}, [{"kind": "template_vmid_taken", "vmid": 9100}], "test_vmids_are_as_planned",
                 "VMID 9100 (the new template) is taken by 'someone-elses-vm'",
                 id="template_vmid_taken"),
    pytest.param({"pve_version": "8.3.2"}, [], "test_pve_can_build_the_template",
                 "import-raw needs PVE 8.4 or newer (pve-storage 8.3.6, commit 76f695f: content "
                 "'import' for .raw); this is 8.3.2", id="pve-8.3"),
    pytest.param({"pve_import": False}, [], "test_pve_can_build_the_template",
                 "storage local is not configured for content-type 'import'", id="no-import"),
    pytest.param({}, [{"kind": "snapshot_hash_mismatch"}], "test_etcd_snapshot",
                 "its sha256 trailer does not match its content (the file is not what etcd "
                 "sent; a recovery from it would fail its hash check)",
                 id="snapshot_hash_mismatch"),
])
def test_each_refusal_stops_before_the_cluster_changes(
        make_lab: Callable[..., Any], tmp_path: Path, lab_settings: dict[str, Any],
        faults: list[dict[str, Any]], step: str, text: str) -> None:
    lab = make_lab(lab={**CLIENT, **lab_settings}, faults=faults)
    before = lab_counts(lab)
    result = run_runbook(lab, tmp_path, *TARGET, runbook="rebuild")
    assert result.exit_code == 1, result.tail()
    assert result.failed == [step], result.tail()
    assert text in result.step(step).text, result.step(step).text
    vms = _vms(_pve(lab))
    if step == "test_vmids_are_as_planned":
        assert vms[9100]["name"] == "someone-elses-vm"  # left alone
    elif step == "test_etcd_snapshot":
        assert vms[9100]["template"] == 1  # the template stands; no backup, so nothing further
        assert result.step("test_cluster_state_recorded").outcome == "skipped"
    else:
        assert 9100 not in vms  # no template VM was created
    assert lab_counts(lab) == before


def test_an_impossible_restore_is_refused_before_anything_runs(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(lab=CLIENT, extra={"rebuild": {"restore_etcd": True}})
    result = run_runbook(lab, tmp_path, *TARGET, "--plan", runbook="rebuild")
    assert result.exit_code == 4, result.tail()
    assert ("cannot plan the rebuild: rebuild.restore_etcd: the pre-rebuild etcd snapshot cannot "
            "be recovered into this target: Kubernetes 1.32.0 -> 1.35.0") in result.stderr
    small = run_runbook(lab, tmp_path, "--template-vmid", "50", "--plan", runbook="rebuild",
                        name="small")
    assert small.exit_code == 4, small.tail()
    assert "--template-vmid 50: a VMID is 100 to 999999999" in small.stderr


def test_the_profile_target_before_v1_10_is_proven_without_a_version_resource(
        lab: Any, tmp_path: Path) -> None:
    # the lab profile's target (v1.9.4, the same schematic), its template VMID from
    # proxmox.template_vmid_range; Versions.runtime.talos.dev only exists from v1.10.0
    result = run_runbook(lab, tmp_path, "--prepare-only", runbook="rebuild")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.step("test_template_boots_the_target").outcome == "passed"
    vms = _vms(_pve(lab))
    assert (vms[9001]["name"], vms[9001]["template"]) == ("talos-v1.9.4", 1)


def test_something_answering_on_the_probe_address_stops_the_preflight(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    import socket

    lab = make_lab(lab=CLIENT)
    probe = load_profile(lab.profile).proxmox.probe  # type: ignore[union-attr]
    assert probe is not None
    with socket.create_server((probe.address, 50000)):  # a stranger on the clone's address
        result = run_runbook(lab, tmp_path, *TARGET, runbook="rebuild")
    assert result.exit_code == 1, result.tail()
    assert result.failed == ["test_vmids_are_as_planned"], result.tail()
    assert (f"something answers on {probe.address}:50000 (proxmox.probe.address): the clone must "
            "be alone there") in result.step("test_vmids_are_as_planned").text
    assert 9100 not in _vms(_pve(lab))


def test_before_pve_8_4_the_disk_is_imported_over_ssh(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    # PVE 8.3 has no `import` content for .raw: with proxmox.ssh the disk is downloaded as an
    # .img (content iso) and imported with qm importdisk over SSH (testinfra), then proven
    lab = make_lab(lab={**CLIENT, "pve_version": "8.3.2", "ssh": True})
    profile = load_profile(lab.profile)
    assert profile.proxmox is not None and profile.proxmox.ssh is not None
    result = run_runbook(lab, tmp_path, *TARGET, "--prepare-only", runbook="rebuild")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.step("test_pve_host_answers_ssh").outcome == "passed"
    assert result.step("test_template_boots_the_target").outcome == "passed"
    pve = _pve(lab)
    sid = schematic_id(THREE.split(","))
    assert [v["volid"] for v in pve.content("local", "iso")] == [
        f"local:iso/talos-v1.12.4-{sid[:8]}.img"]
    cfg = pve.config(9100)
    assert "base-9100-disk-0" in cfg["scsi0"] and "lock" not in cfg
    assert not any(k.startswith("unused") for k in cfg)  # the imported disk is scsi0

    # a key the host does not know: the preflight says so, nothing is built
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    raw = yaml.safe_load(lab.profile.read_text())
    raw["proxmox"]["ssh"]["key"] = {"file": str(other)}
    raw["proxmox"]["template_vmid_range"] = [9200, 9299]
    lab.profile.write_text(yaml.safe_dump(raw, sort_keys=False))
    bad = run_runbook(lab, tmp_path, "--talos-version", "v1.12.4", "--k8s-version", "1.35.0",
                      runbook="rebuild", name="bad-key")
    assert bad.exit_code == 1, bad.tail()
    assert bad.failed == ["test_pve_host_answers_ssh"], bad.tail()
    assert "proxmox.ssh in " in bad.step("test_pve_host_answers_ssh").text
    assert "cannot log in: " in bad.step("test_pve_host_answers_ssh").text
    assert 9200 not in _vms(pve)
