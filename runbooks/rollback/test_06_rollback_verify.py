"""Phase 6, verify: every health check again, from scratch, against the rollback's target."""

from __future__ import annotations

import json

import allure

from checks import ALL_CHECKS, run_checks
from fixtures import rollback
from fixtures.procedures import Session
from fixtures.verdicts import assert_no_findings
from model.plan import UpgradePlan


def test_verify_everything(session: Session, plan: UpgradePlan) -> None:
    """Every check re-evaluated: versions and extensions everywhere, etcd, workloads"""
    snap = session.look()
    allure.attach(
        json.dumps(snap.to_dict(), indent=2, default=str),
        "snapshot after",
        allure.attachment_type.JSON,
    )
    exp = session.expectation.with_talos(plan.target_talos).with_kubernetes(plan.target_kubernetes)
    results = run_checks(snap, exp, [c for c in ALL_CHECKS if not c.advisory])
    assert_no_findings(
        [f for fs in results.values() for f in fs],
        f"cluster after the rollback to Talos {plan.target_talos}, Kubernetes "
        f"{plan.target_kubernetes}",
    )
    rollback.mark_finished(session.record, sorted(results))
