"""Phase 2, backup: an etcd snapshot of the cluster as it is now, before going back."""

from __future__ import annotations

import pytest

from fixtures import rollback
from fixtures.procedures import Session, take_etcd_snapshot
from model.plan import UpgradePlan


@pytest.mark.mutating
def test_etcd_snapshot_before_rollback(session: Session, plan: UpgradePlan) -> None:
    """etcd snapshot via talosctl before the rollback, verified, recorded (sha256)"""
    rollback.mark_started(session.record, plan)
    note = session.record.current.rollback
    done = note.etcd if note is not None else None
    backup = take_etcd_snapshot(session, plan.nodes.primary, "pre-rollback", done)
    if backup != done:
        session.record.apply(lambda r: r.with_rollback_etcd(backup))
