"""Verify: every health check again, from scratch, against the runbook's target."""

from __future__ import annotations

from fixtures import rollback
from fixtures.procedures.proofs import attach_snapshot, every_check
from fixtures.procedures.run import Run
from fixtures.verdicts import assert_no_findings
from model.plan import UpgradePlan
from model.run_record import now


def test_verify_everything(run: Run, plan: UpgradePlan) -> None:
    """Every check re-evaluated: versions and images everywhere, etcd, workloads"""
    snap = run.observer.look()
    attach_snapshot(snap, "snapshot after")
    image = run.image.image() if plan.changes_image else None
    exp = run.expectation.with_talos(plan.target_talos, image=image)
    exp = exp.with_kubernetes(plan.target_kubernetes)
    results = every_check(snap, exp)
    verified = {name: not found for name, found in results.items()}
    if run.direction == "upgrade":
        run.record.apply(lambda r: r.with_verified(verified))
    assert_no_findings(
        [f for fs in results.values() for f in fs],
        f"cluster after the {run.direction} to Talos {plan.target_talos}, Kubernetes "
        f"{plan.target_kubernetes}",
    )
    if run.direction == "upgrade":
        run.record.apply(lambda r: r.finished_at(now()))
    else:
        rollback.mark_finished(run.record, sorted(results))
