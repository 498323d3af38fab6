"""Phase 2, backups: an etcd snapshot saved outside the cluster and verified, and a Velero
backup waited on until Completed. Nothing is rebooted before both are proven."""

from __future__ import annotations

import allure
import pytest

from fixtures.procedures import Session, already_done, not_applicable, take_etcd_snapshot
from fixtures.verdicts import assert_no_findings
from fixtures.waiting import wait_until
from model.findings import Category, Finding
from model.plan import UpgradePlan
from model.run_record import VeleroBackup

TERMINAL = ("Completed", "PartiallyFailed", "Failed", "FailedValidation")


@pytest.mark.mutating
def test_etcd_snapshot(session: Session, plan: UpgradePlan) -> None:
    """etcd snapshot via talosctl, saved outside the cluster, verified, recorded (sha256)"""
    done = session.record.current.etcd
    backup = take_etcd_snapshot(session, plan.nodes.primary, "pre-upgrade", done)
    if backup != done:
        session.record.apply(lambda r: r.with_etcd(backup))


def _velero_name(session: Session) -> str:
    """pre-upgrade-<target>-<run start>: unique per run, at most 63 characters."""
    rec = session.record.current
    stamp = rec.run_id.rsplit("-", 1)[-1].lower()
    target = str(rec.target.talos if rec.target else "").replace(".", "-")
    return f"pre-upgrade-{target}-{stamp}"[:63].rstrip("-")


@pytest.mark.mutating
def test_velero_backup(session: Session) -> None:
    """Velero backup created as the guide does, waited on until Completed with no errors"""
    velero = session.profile.backups.velero
    if velero is None:
        not_applicable(
            "backups.velero is not configured in the profile: no Velero backup; "
            "the etcd snapshot is the backup"
        )
        return
    name = _velero_name(session)
    existing = session.kube.find_backup(velero.namespace, name)
    if existing is not None and (existing.get("status") or {}).get("phase") == "Completed":
        already_done(f"Velero backup {velero.namespace}/{name} Completed")
        return
    if existing is None:
        spec = {
            "excludedNamespaces": list(velero.exclude_namespaces),
            "defaultVolumesToFsBackup": velero.default_volumes_to_fs_backup,
            "ttl": velero.ttl,
        }
        if velero.storage_location:
            spec["storageLocation"] = velero.storage_location
        body = {
            "apiVersion": "velero.io/v1",
            "kind": "Backup",
            "metadata": {
                "name": name,
                "namespace": velero.namespace,
                "labels": {"app.kubernetes.io/managed-by": "talos-runbooks"},
            },
            "spec": spec,
        }
        with allure.step(f"create Velero backup {velero.namespace}/{name}"):
            session.kube.create_backup(velero.namespace, body)

    def judge(b: dict) -> list[Finding]:  # type: ignore[type-arg]
        status = b.get("status") or {}
        phase = status.get("phase", "New")
        if phase not in TERMINAL:
            return [
                Finding(
                    "velero-backup",
                    f"Backup {velero.namespace}/{name}",
                    "Completed",
                    f"phase {phase}",
                    "",
                    Category.BACKUPS,
                )
            ]
        return []

    rec = wait_until(
        lambda: session.kube.get_backup(velero.namespace, name),
        judge,
        timeout=session.timeouts.backup,
        what=f"Velero backup {name} finished",
    )
    status = (rec.value or {}).get("status") or {}
    allure.attach(str(status), "Velero backup status", allure.attachment_type.TEXT)
    phase, errors = status.get("phase"), int(status.get("errors") or 0)
    if phase != "Completed" or errors:
        reason = f" ({status['failureReason']})" if status.get("failureReason") else ""
        assert_no_findings(
            [
                Finding(
                    "velero-backup",
                    f"Backup {velero.namespace}/{name}",
                    "Completed with 0 errors",
                    f"{phase} with {errors} error(s){reason}",
                    f"'velero backup describe {name} --details -n {velero.namespace}'; no node was "
                    "touched",
                    Category.BACKUPS,
                )
            ],
            "the Velero backup before the upgrade",
        )
    done = VeleroBackup(velero.namespace, name, status)
    session.record.apply(lambda r: r.with_velero(done))
