"""Phase 2, backup: an etcd snapshot of the cluster as it is now, before going back."""

from __future__ import annotations

import pytest

from fixtures import rollback
from fixtures.procedures import Session, already_done, take_etcd_snapshot
from model.plan import UpgradePlan


@pytest.mark.mutating
def test_etcd_snapshot_before_rollback(session: Session, plan: UpgradePlan) -> None:
    """etcd snapshot via talosctl before the rollback, verified, recorded (sha256)"""
    rollback.mark_started(session.record, plan)
    done = session.record.data["rollback"].get("etcd")
    if done:
        already_done(f"etcd snapshot {done['path']} (sha256 {done['sha256']})")
        return
    before = session.record.data["backups"].pop("etcd", None)
    try:
        take_etcd_snapshot(session, plan.nodes.primary, "pre-rollback")
        session.record.data["rollback"]["etcd"] = session.record.data["backups"]["etcd"]
    finally:
        if before is not None:
            session.record.data["backups"]["etcd"] = before  # keep the upgrade's own record
        session.record.save()
