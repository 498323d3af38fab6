"""Phase 2, backups: a Velero backup started, an etcd snapshot saved outside the cluster and
verified while Velero works, then the Velero backup waited on until Completed. Nothing is
rebooted before both are proven."""

from __future__ import annotations

import pytest

from fixtures.procedures.backups import (
    start_velero_backup,
    take_etcd_snapshot,
    velero_backup,
    velero_name,
)
from fixtures.procedures.run import Run, not_applicable
from model.plan import UpgradePlan
from model.profile import Velero


def _velero(run: Run) -> Velero | None:
    velero = run.profile.backups.velero
    if velero is None:
        not_applicable(
            "backups.velero is not configured in the profile: no Velero backup; "
            "the etcd snapshot is the backup"
        )
    return velero


@pytest.mark.mutating
def test_velero_backup_started(run: Run) -> None:
    """Velero backup created as the guide does; it runs while the etcd snapshot is taken"""
    velero = _velero(run)
    if velero is not None:
        # velero backup create pre-upgrade-<target>-<run start> --exclude-namespaces ...
        start_velero_backup(run, velero, velero_name(run))


@pytest.mark.mutating
def test_etcd_snapshot(run: Run, plan: UpgradePlan) -> None:
    """etcd snapshot via talosctl, saved outside the cluster, verified, recorded (sha256)"""
    done = run.record.current.etcd
    # talosctl etcd snapshot <dir>/<cluster>-etcd-pre-upgrade-<time>.snapshot -n <primary>
    backup = take_etcd_snapshot(run, plan.nodes.primary, "pre-upgrade", done)
    if backup != done:
        run.record.apply(lambda r: r.with_etcd(backup))


@pytest.mark.mutating
def test_velero_backup(run: Run) -> None:
    """Velero backup waited on until Completed with no errors (the guide's --wait)"""
    velero = _velero(run)
    if velero is not None:
        done = velero_backup(run, velero, velero_name(run))
        run.record.apply(lambda r: r.with_velero(done))
