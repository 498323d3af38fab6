"""Phase 6, verify (the seed's step 10): the postconditions of the in-place verify phase, from
scratch, on the rebuilt cluster: the target Talos, schematic and extensions on every node, the
target Kubernetes, every node Ready, etcd healthy and consistent, the workloads; Flux is the
next phase's. With an etcd recovery, the ConfigMap written before the snapshot is back."""

from __future__ import annotations

import allure

from checks import ALL_CHECKS, run_checks
from fixtures.procedures.proofs import attach_snapshot
from fixtures.procedures.run import Run, not_applicable
from fixtures.rebuild import MARKER, target_image
from fixtures.verdicts import assert_no_findings
from model.findings import Category
from model.rebuild import RebuildPlan


def test_verify_everything_but_flux(run: Run, rebuild_plan: RebuildPlan) -> None:
    """Every check but Flux's: versions, image and extensions everywhere, etcd, nodes,
    workloads"""
    snap = run.observer.look()
    attach_snapshot(snap, "snapshot after the rebuild")
    exp = run.expectation.with_talos(
        rebuild_plan.target_talos, image=target_image(run, rebuild_plan)
    ).with_kubernetes(rebuild_plan.target_kubernetes)
    specs = [c for c in ALL_CHECKS if c.category != Category.FLUX and not c.advisory]
    results = run_checks(snap, exp, specs)
    run.record.apply(lambda r: r.with_verified({n: not f for n, f in results.items()}))
    assert_no_findings(
        [f for fs in results.values() for f in fs],
        f"cluster rebuilt on Talos {rebuild_plan.target_talos}, Kubernetes "
        f"{rebuild_plan.target_kubernetes}",
    )


def test_recovered_object_is_back(run: Run, rebuild_plan: RebuildPlan) -> None:
    """With an etcd recovery: the ConfigMap written before the snapshot is back, naming this
    run"""
    if not rebuild_plan.restore_etcd:
        not_applicable("etcd was bootstrapped empty (rebuild.restore_etcd is false)")
        return
    have = run.kube.get_configmap(*MARKER)
    run_id = run.record.current.run_id
    assert have is not None, (
        f"[restore] configmap {'/'.join(MARKER)}, written before the pre-rebuild snapshot, is not "
        "in the rebuilt cluster: etcd was not recovered from the snapshot"
    )
    got = (have.get("data") or {}).get("run")
    assert got == run_id, f"[restore] configmap {'/'.join(MARKER)} names run {got}, not {run_id}"
    allure.attach(str(have.get("data")), "recovered configmap", allure.attachment_type.TEXT)
