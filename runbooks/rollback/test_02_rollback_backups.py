"""Phase 2, backup: an etcd snapshot of the cluster as it is now, before going back."""

from __future__ import annotations

import pytest

from fixtures import rollback
from fixtures.procedures.backups import take_etcd_snapshot
from fixtures.procedures.run import Run
from model.plan import UpgradePlan


@pytest.mark.mutating
def test_etcd_snapshot_before_rollback(run: Run, plan: UpgradePlan) -> None:
    """etcd snapshot via talosctl before the rollback, verified, recorded (sha256)"""
    rollback.mark_started(run.record, plan)  # the upgrade's record: no longer resumable
    note = run.record.current.rollback
    done = note.etcd if note is not None else None
    # talosctl etcd snapshot <dir>/<cluster>-etcd-pre-rollback-<time>.snapshot -n <primary>
    backup = take_etcd_snapshot(run, plan.nodes.primary, "pre-rollback", done)
    if backup != done:
        run.record.apply(lambda r: r.with_rollback_etcd(backup))
