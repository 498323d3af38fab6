"""Issue 4's fault table: each lab fault stops the in-place runbook at the right step with the
text an operator needs, or is waited out, and nodes after the stop are untouched.

One fresh lab per scenario; the runbook runs as a subprocess against it (`--lab-dir`), and the
steps are read from its JUnit XML.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.runbooks.runbook_run import (
    REPO,
    RunResult,
    Step,
    allure_attachments,
    allure_result,
    lab_counts,
    run_runbook,
)

pytestmark = pytest.mark.lab

NODES = ("cp1", "cp2", "cp3", "w1", "w2", "w3")


def assert_stopped_at(result: RunResult, step: str, *texts: str) -> Step:
    """The run failed at `step` only, its failure names `texts`, and every later step was
    skipped because of the chain (pytest-dependency), naming the step it waited for."""
    __tracebackhide__ = True
    assert result.exit_code == 1, f"exit {result.exit_code}\n{result.tail()}"
    assert result.failed == [step], f"failed: {result.failed}\n{result.tail()}"
    failed = result.step(step)
    for text in texts:
        assert text in failed.text, f"{text!r} not in the failure of {step}:\n{failed.text}"
    later = result.after(step)
    assert later, "the failing step should not be the last one"
    assert all(s.outcome == "skipped" for s in later), [(s.name, s.outcome) for s in later]
    assert "depends on" in later[0].message, later[0].message
    assert step in later[0].message, later[0].message
    return failed


def assert_untouched(before: dict[str, Any], after: dict[str, Any], *names: str) -> None:
    """These nodes were neither upgraded nor rebooted."""
    __tracebackhide__ = True
    for name in names:
        assert after[name]["upgrade_count"] == 0, (name, after[name])
        assert after[name]["boot_count"] == before[name]["boot_count"], (name, before[name],
                                                                         after[name])
        assert after[name]["talos_version"] == "v1.9.2", (name, after[name])


def report_categories(alluredir: Path, test_id: str) -> list[str]:
    """The `category` labels of one step's Allure result (what the report files it under)."""
    labels = allure_result(alluredir, test_id)["labels"]
    return [lb["value"] for lb in labels if lb["name"] == "category"]


def _signing_key(tmp_path: Path) -> tuple[Path, str]:
    """An Ed25519 key for evidence.signing_key: (PEM file, public key as the session prints)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from drivers.bundle import public_key_text

    key = Ed25519PrivateKey.generate()
    path = tmp_path / "evidence-key.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path, public_key_text(key.public_key())


def _assert_bundle(lab: Any, tmp_path: Path, outcome: str, signer: str) -> None:
    """The session left an intact evidence bundle (and its archive) beside its Allure results,
    holding the report, the results, the plan, the snapshots and the run record, signed by
    `signer`, and not one secret of the lab's talosconfig or kubeconfig, nor the signing key."""
    __tracebackhide__ = True
    (bundle,) = [p for p in tmp_path.glob("bundle-in_place-lab-*") if p.is_dir()]
    assert bundle.with_name(bundle.name + ".tar.gz").is_file()
    verified = subprocess.run([sys.executable, "scripts/verify_bundle.py", str(bundle),
                               "--key", signer],
                              cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["run"]["outcome"].startswith(outcome), manifest["run"]
    assert (bundle / "manifest.json.sig").is_file()
    assert {"report.html", "run-summary.txt", "plan.json", "plan.txt", "run-record.json",
            "snapshot-before.json", "snapshot-after.json",
            "allure-results/commands.log"} <= set(manifest["files"]), sorted(manifest["files"])
    talosconfig = yaml.safe_load((lab.dir / "talosconfig").read_text())
    kubeconfig = yaml.safe_load((lab.dir / "kubeconfig").read_text())
    secrets = {v for c in talosconfig["contexts"].values() for k, v in c.items()
               if k in ("ca", "crt", "key")}
    secrets |= {base64.b64decode(v).decode().strip() for v in secrets}
    secrets |= {u["user"]["token"] for u in kubeconfig["users"] if u["user"].get("token")}
    secrets |= {ln for ln in (tmp_path / "evidence-key.pem").read_text().splitlines()
                if "-----" not in ln}  # the signing key's own body
    assert secrets and all(len(s) >= 16 for s in secrets), secrets
    for path in (p for p in bundle.rglob("*") if p.is_file()):
        text = path.read_bytes().decode("utf-8", "replace")
        leaked = [s for s in secrets if s in text]
        assert not leaked, f"{path.relative_to(bundle)} holds a secret: {leaked}"


# ---- faults that stop the run mid-way -------------------------------------------------------
def test_boot_failure_on_a_worker_stops_at_its_version_proof(make_lab: Callable[..., Any],
                                                               tmp_path: Path) -> None:
    key_file, public = _signing_key(tmp_path)
    lab = make_lab(faults=[{"kind": "boot_failure", "node": "w2"}],
                   extra={"evidence": {"signing_key": {"file": str(key_file)}}})
    before = lab_counts(lab)
    result = run_runbook(lab, tmp_path, f"--alluredir={tmp_path / 'allure'}")
    assert_stopped_at(result, "test_worker_version[v1.9.4-w2]",
                      "w2 came back on v1.9.2, expected v1.9.4", "previous A/B image")
    assert report_categories(tmp_path / "allure", "test_worker_version[v1.9.4-w2]") == [
        "version_mismatch"]
    assert allure_result(tmp_path / "allure", "test_worker_version[v1.9.4-w2]")["name"] == (
        "The worker runs the hop's Talos version (an A/B fallback to the old image fails here) "
        "[v1.9.4-w2]")
    result_w2 = allure_result(tmp_path / "allure", "test_worker_version[v1.9.4-w2]")
    assert {"name": "node", "value": "w2"} in result_w2["labels"]
    # the report's first screen: where it stopped and why, and what state each node is in
    summary = (tmp_path / "allure" / "run-summary.txt").read_text().splitlines()
    assert summary[0] == ("in_place on lab: failed at test_worker_version[v1.9.4-w2]: w2 came "
                          "back on v1.9.2, expected v1.9.4")
    assert summary[-1] == "changed: w1; rebooted: w2; untouched: cp1, cp2, cp3, w3"
    _assert_bundle(lab, tmp_path, "failed at test_worker_version[v1.9.4-w2]: ", public)
    assert f"signed (Ed25519, public key {public})" in result.stdout
    # and the terminal ends with the same table, with the time each change took
    table = result.stdout.split(" run summary ", 1)[1]
    assert "changed: w1; rebooted: w2; untouched: cp1, cp2, cp3, w3" in table, table
    assert re.search(r"^w2 +worker +v1\.9\.2 +1\.32\.0 +rebooted +\d+ s ", table, re.M), table
    # allure-pytest shows a string parameter quoted
    assert result_w2["parameters"] == [
        {"name": "talos_step", "value": "'Talos v1.9.2 -> v1.9.4: w2'"}]
    # the upgrade itself "succeeded": the node rebooted; only the version proof caught it
    assert result.step("test_upgrade_worker[v1.9.4-w2]").outcome == "passed"
    assert result.step("test_cluster_gate_after_worker[v1.9.4-w1]").outcome == "passed"
    after = lab_counts(lab)
    assert after["w1"]["talos_version"] == "v1.9.4"
    assert after["w2"]["upgrade_count"] == 1 and after["w2"]["talos_version"] == "v1.9.2"
    assert after["w2"]["boot_count"] > before["w2"]["boot_count"]
    assert_untouched(before, after, "w3", "cp1", "cp2", "cp3")


def test_extension_missing_stops_at_the_extension_proof(make_lab: Callable[..., Any],
                                                         tmp_path: Path) -> None:
    lab = make_lab(faults=[{"kind": "extension_missing", "node": "w1",
                            "extension": "siderolabs/iscsi-tools"}])
    before = lab_counts(lab)
    result = run_runbook(lab, tmp_path, f"--alluredir={tmp_path / 'allure'}")
    assert_stopped_at(result, "test_worker_extensions[v1.9.4-w1]",
                      "w1 schematic and extensions", "missing siderolabs/iscsi-tools")
    assert report_categories(tmp_path / "allure", "test_worker_extensions[v1.9.4-w1]") == [
        "extensions"]
    assert result.step("test_worker_version[v1.9.4-w1]").outcome == "passed"
    assert_untouched(before, lab_counts(lab), "w2", "w3", "cp1", "cp2", "cp3")


def test_never_ready_stops_at_the_readiness_wait(make_lab: Callable[..., Any],
                                                  tmp_path: Path) -> None:
    lab = make_lab(faults=[{"kind": "never_ready", "node": "w1"}],
                   timeouts={"node_ready": "5s"})
    before = lab_counts(lab)
    result = run_runbook(lab, tmp_path, f"--alluredir={tmp_path / 'allure'}")
    assert_stopped_at(result, "test_worker_ready[v1.9.4-w1]",
                      "w1 running, ready, Kubernetes Node Ready and schedulable: after 5 s still:",
                      "[k8s-nodes-ready] node w1: expected Ready=True, observed Ready=False")
    assert report_categories(tmp_path / "allure", "test_worker_ready[v1.9.4-w1]") == [
        "node_readiness"]
    assert_untouched(before, lab_counts(lab), "w2", "w3", "cp1", "cp2", "cp3")


def test_image_pull_failure_stops_at_the_upgrade_without_reboot(make_lab: Callable[..., Any],
                                                                 tmp_path: Path) -> None:
    lab = make_lab(faults=[{"kind": "image_pull_failure", "node": "w1"}])
    before = lab_counts(lab)
    result = run_runbook(lab, tmp_path, f"--alluredir={tmp_path / 'allure'}", "--no-bundle")
    assert_stopped_at(result, "test_upgrade_worker[v1.9.4-w1]",
                      "[talos-upgrade] node w1: talosctl upgrade to v1.9.4 failed",
                      "failed to pull image", "it did not reboot (boot ID unchanged)")
    assert report_categories(tmp_path / "allure", "test_upgrade_worker[v1.9.4-w1]") == [
        "node_change_command"]
    assert_untouched(before, lab_counts(lab), *NODES)


# ---- faults preflight refuses -----------------------------------------------------------------
PREFLIGHT = [
    pytest.param({"kind": "stale_etcd_member"}, "test_cluster_healthy",
                 ("cluster health before the upgrade", "[etcd-"), id="stale_etcd_member"),
    pytest.param({"kind": "etcd_member_down", "node": "cp2"}, "test_cluster_healthy",
                 ("cluster health before the upgrade", "[etcd-", "cp2"), id="etcd_member_down"),
    pytest.param({"kind": "crashloop_pod", "node": "w2"}, "test_cluster_healthy",
                 ("[no-crashloop]", "CrashLoopBackOff"), id="crashloop_pod"),
    pytest.param({"kind": "flux_not_ready"}, "test_cluster_healthy",
                 ("[flux-", "Ready=False"), id="flux_not_ready"),
    pytest.param({"kind": "drain_blocked", "node": "w2"}, "test_no_pdb_blocks_drain",
                 ("[pdb-blocks-drain] PodDisruptionBudget apps/singleton",
                  "so draining w2 would block"), id="drain_blocked"),
    pytest.param({"kind": "cordoned", "node": "w3"}, "test_cluster_healthy",
                 ("[k8s-nodes-schedulable] node w3", "cordoned"), id="cordoned"),
]


@pytest.mark.parametrize(("fault", "step", "texts"), PREFLIGHT)
def test_preflight_refuses_and_touches_nothing(make_lab: Callable[..., Any], tmp_path: Path,
                                               fault: dict[str, Any], step: str,
                                               texts: tuple[str, ...]) -> None:
    lab = make_lab(faults=[fault])
    before = lab_counts(lab)
    result = run_runbook(lab, tmp_path)
    assert_stopped_at(result, step, *texts)
    assert "test_etcd_snapshot" in result.skipped
    assert_untouched(before, lab_counts(lab), *NODES)
    assert not list((lab.dir / "backups").glob("*.snapshot")), "no backup before preflight passes"


def test_a_talosctl_older_than_the_target_stops_the_preflight(make_lab: Callable[..., Any],
                                                              tmp_path: Path) -> None:
    lab = make_lab(lab={"talosctl": "v1.9.3"})  # the target is v1.9.4
    before = lab_counts(lab)
    alluredir = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, f"--alluredir={alluredir}")
    assert_stopped_at(result, "test_talosctl_not_older_than_target",
                      "talosctl v1.9.3 is older than the target Talos v1.9.4: install "
                      "talosctl v1.9.4 or newer first")
    assert "test_etcd_snapshot" in result.skipped
    assert_untouched(before, lab_counts(lab), *NODES)
    # the version asked at start-up is the step's evidence
    shown = [text for title, text in allure_attachments(alluredir, "talosctl client version")]
    assert shown == ["v1.9.3 (talosctl version --client --short, asked at the session's "
                     "start-up)"], shown


def test_velero_backup_failure_stops_in_backups(make_lab: Callable[..., Any],
                                                tmp_path: Path) -> None:
    lab = make_lab(faults=[{"kind": "velero_backup_fails"}])
    before = lab_counts(lab)
    result = run_runbook(lab, tmp_path, f"--alluredir={tmp_path / 'allure'}")
    assert report_categories(tmp_path / "allure", "test_velero_backup") == ["backups"]
    assert_stopped_at(result, "test_velero_backup",
                      "[velero-backup] Backup velero/pre-upgrade-v1-9-4-",
                      "expected Completed with 0 errors, observed Failed", "no node was touched")
    assert result.step("test_etcd_snapshot").outcome == "passed"
    # Velero works while the snapshot is taken: created first, waited on after it
    assert result.step("test_velero_backup_started").outcome == "passed"
    names = list(result.steps)
    assert (names.index("test_velero_backup_started") < names.index("test_etcd_snapshot")
            < names.index("test_velero_backup")), names
    assert_untouched(before, lab_counts(lab), *NODES)


def test_a_snapshot_not_as_etcd_sent_it_stops_in_backups(make_lab: Callable[..., Any],
                                                          tmp_path: Path) -> None:
    lab = make_lab(faults=[{"kind": "snapshot_hash_mismatch"}])
    before = lab_counts(lab)
    result = run_runbook(lab, tmp_path)
    assert_stopped_at(result, "test_etcd_snapshot",
                      "[etcd-snapshot] etcd snapshot:",
                      "its sha256 trailer does not match its content",
                      "the upgrade does not start without a verified snapshot")
    assert_untouched(before, lab_counts(lab), *NODES)


# ---- faults the run waits out ---------------------------------------------------------------
def _wait_attachments(alluredir: Path, test_name: str) -> list[str]:
    """The 'wait' attachments of one test in the Allure results (steps walked recursively)."""
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        for att in node.get("attachments", []):
            if att.get("name") == "wait":
                found.append((alluredir / att["source"]).read_text())
        for step in node.get("steps", []):
            walk(step)

    walk(allure_result(alluredir, test_name))
    return found


def test_slow_etcd_catchup_is_waited_for(make_lab: Callable[..., Any], tmp_path: Path) -> None:
    # the lab's raft indexes are ~20, so the fault's visible lag is < 20 entries: a tighter
    # spread than the default 50 makes the check see it (see the report: emulator lag cap)
    lab = make_lab(faults=[{"kind": "slow_etcd_catchup", "node": "cp2", "seconds": 4}],
                   extra={"health": {"max_raft_index_spread": 5}})
    alluredir = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, f"--alluredir={alluredir}")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    fired = [f for f in lab.status()["faults"] if f["kind"] == "slow_etcd_catchup"]
    assert fired and fired[0]["fired"], lab.status()["faults"]
    waits = [w for w in _wait_attachments(alluredir, "test_etcd_caught_up_after[v1.9.4-cp2]")
             if "etcd member back" in w]
    assert waits, "no wait evidence for cp2's etcd catch-up"
    text = waits[0]
    assert "observed: [etcd-raft-caught-up] member" in text and "(cp2)" in text, text
    assert "behind)" in text, text
    assert text.rstrip().endswith("observed: OK"), text
    polls = int(text.split(": ", 2)[1].split(" poll", 1)[0])
    assert polls > 1, text


def test_api_unreachable_during_the_primary_reboot_is_waited_out(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(faults=[{"kind": "api_unreachable", "node": "cp1", "seconds": 6}])
    alluredir = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, f"--alluredir={alluredir}", "--progress-every=1")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    # the terminal (not a TTY here) said what the long wait waited for, what was still wrong,
    # and how it ended
    progress = [ln for ln in result.stdout.splitlines() if "cp1 running, ready" in ln]
    assert any(re.fullmatch(r"waiting for cp1 running, ready, Kubernetes Node Ready and "
                            r"schedulable: \d+ s/\d+ s, still: .+", ln) for ln in progress), \
        result.stdout
    assert any(re.fullmatch(r"waited \d+ s for cp1 running, ready, Kubernetes Node Ready and "
                            r"schedulable: OK", ln) for ln in progress), result.stdout
    fired = [f for f in lab.status()["faults"] if f["kind"] == "api_unreachable"]
    assert fired and fired[0]["fired"], lab.status()["faults"]
    waits = [w for w in _wait_attachments(alluredir, "test_control_plane_ready[v1.9.4-cp1]")
             if "Kubernetes API: expected readable, observed unreadable" in w]
    assert waits, "no evidence that the readiness wait saw the API unreachable"
    assert waits[0].rstrip().endswith("observed: OK"), waits[0]
    after = lab_counts(lab)
    assert all(n["talos_version"] == "v1.9.4" and n["upgrade_count"] == 1 for n in after.values())
