"""Phase 2, backups: an etcd snapshot saved outside the cluster and verified, and a Velero
backup waited on until Completed. Nothing is rebooted before both are proven."""

from __future__ import annotations

import time

import allure
import pytest

from drivers.etcdsnap import verify_snapshot
from fixtures.procedures import Session, already_done
from fixtures.waiting import wait_until
from model.findings import Category, Finding
from model.plan import UpgradePlan

TERMINAL = ("Completed", "PartiallyFailed", "Failed", "FailedValidation")


@pytest.mark.mutating
def test_etcd_snapshot(session: Session, plan: UpgradePlan) -> None:
    """etcd snapshot via talosctl, saved outside the cluster, verified, recorded with its checksum"""
    done = session.record.data["backups"].get("etcd")
    if done and (p := __import__("pathlib").Path(done["path"])).exists() \
            and p.stat().st_size == done["size_bytes"]:
        already_done(f"etcd snapshot {done['path']} (sha256 {done['sha256']})")
        return
    directory = session.profile.backups.etcd_snapshot_dir
    directory.mkdir(parents=True, exist_ok=True)
    dest = directory / f"{session.profile.name}-etcd-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.snapshot"
    primary = plan.nodes.primary
    with allure.step(f"talosctl etcd snapshot {dest} on {primary.name}"):
        out = session.talos.etcd_snapshot(primary.address, dest, timeout=session.timeouts.etcd)
    rec = verify_snapshot(dest, out.stdout, primary.name, session.talos.runner)
    allure.attach(rec.to_json(), "etcd snapshot record", allure.attachment_type.JSON)
    dest.with_suffix(".json").write_text(rec.to_json())
    session.record.data["backups"]["etcd"] = rec.__dict__
    session.record.save()


def _velero_name(session: Session) -> str:
    return f"pre-upgrade-{session.record.data['run_id'].lower().replace('.', '-')}"[:63].rstrip("-")


@pytest.mark.mutating
def test_velero_backup(session: Session) -> None:
    """Velero backup created as the guide does, waited on until Completed with no errors"""
    velero = session.profile.backups.velero
    if velero is None:
        pytest.skip("backups.velero is not configured in the profile")
    name = _velero_name(session)
    existing = session.kube.find_backup(velero.namespace, name)
    if existing is not None and (existing.get("status") or {}).get("phase") == "Completed":
        already_done(f"Velero backup {velero.namespace}/{name} Completed")
        return
    if existing is None:
        spec = {"excludedNamespaces": list(velero.exclude_namespaces),
                "defaultVolumesToFsBackup": velero.default_volumes_to_fs_backup,
                "ttl": velero.ttl}
        if velero.storage_location:
            spec["storageLocation"] = velero.storage_location
        body = {"apiVersion": "velero.io/v1", "kind": "Backup",
                "metadata": {"name": name, "namespace": velero.namespace,
                             "labels": {"app.kubernetes.io/managed-by": "talos-runbooks"}},
                "spec": spec}
        with allure.step(f"create Velero backup {velero.namespace}/{name}"):
            session.kube.create_backup(velero.namespace, body)

    def judge(b: dict) -> list[Finding]:  # type: ignore[type-arg]
        status = b.get("status") or {}
        phase = status.get("phase", "New")
        if phase not in TERMINAL:
            return [Finding("velero-backup", f"Backup {velero.namespace}/{name}", "Completed",
                            f"phase {phase}", "", Category.BACKUPS)]
        return []

    rec = wait_until(lambda: session.kube.get_backup(velero.namespace, name), judge,
                     timeout=session.timeouts.backup, what=f"Velero backup {name} finished")
    status = (rec.value or {}).get("status") or {}
    allure.attach(str(status), "Velero backup status", allure.attachment_type.TEXT)
    phase, errors = status.get("phase"), int(status.get("errors") or 0)
    assert phase == "Completed" and errors == 0, (
        f"[velero-backup] Backup {velero.namespace}/{name}: expected Completed with 0 errors, "
        f"observed {phase} with {errors} error(s)"
        + (f" ({status.get('failureReason')})" if status.get("failureReason") else "")
        + f" — hint: 'velero backup describe {name} --details -n {velero.namespace}'; "
        "no node was touched")
    session.record.data["backups"]["velero"] = {"namespace": velero.namespace, "name": name,
                                                "status": status}
    session.record.save()
