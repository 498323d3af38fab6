"""Phase 6, verify: every health check again, from scratch, against the target."""

from __future__ import annotations

import json

import allure

from checks import ALL_CHECKS, run_checks
from fixtures.procedures import Session
from fixtures.verdicts import assert_no_findings
from model.plan import UpgradePlan
from model.run_record import now


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
    verified = {name: len(f) == 0 for name, f in results.items()}
    session.record.apply(lambda r: r.with_verified(verified))
    assert_no_findings(
        [f for fs in results.values() for f in fs],
        f"cluster after the upgrade to Talos {plan.target_talos}, Kubernetes "
        f"{plan.target_kubernetes}",
    )
    session.record.apply(lambda r: r.finished_at(now()))
