"""Phase 1, preflight (read-only): is it safe to start? Nothing here changes the cluster,
except the third step, which takes the cluster lock. The first four steps are every upgrade
runbook's (runbooks/phases/preflight.py: the change, the plan, the lock, the health gate); then this
runbook's own: the cluster is the profile's, the installers exist, talosctl is new enough, Flux
is idle, no PodDisruptionBudget blocks a drain, a way back exists."""

from __future__ import annotations

import allure
import pytest

from checks import upgrade as proofs
from drivers.factory import Factory
from drivers.talosctl import Talosctl
from fixtures.procedures.batches import describe, predict
from fixtures.procedures.proofs import client_not_older, cluster_matches_profile
from fixtures.procedures.run import Run, not_applicable
from fixtures.upgrade import follow_batches
from fixtures.verdicts import assert_no_findings
from model.catalog import Catalog
from model.plan import UpgradePlan, installer_image
from model.versions import TalosVersion
from runbooks.phases.preflight import *  # noqa: F403


def test_cluster_matches_profile(run: Run, plan: UpgradePlan) -> None:
    """The live cluster is the one the profile describes: nodes, versions, schematic"""
    cluster_matches_profile(run, plan)


def test_installer_images_exist(plan: UpgradePlan, factory: Factory) -> None:
    """Every installer image of the plan exists in the Image Factory"""
    missing = []
    for hop in plan.talos_hops:
        ok, detail = factory.installer_exists(hop.image)
        allure.attach(
            f"{hop.image}: {detail}", f"installer {hop.to_version}", allure.attachment_type.TEXT
        )
        if not ok:
            missing.append(f"{hop.image}: {detail}")
    assert not missing, "installer images missing from the Image Factory:\n  " + "\n  ".join(
        missing
    )


def test_talosctl_not_older_than_target(
    talos: Talosctl, plan: UpgradePlan, talosctl_client: TalosVersion | None
) -> None:
    """The talosctl client is not older than the target Talos"""
    client_not_older(talos, plan.target_talos, talosctl_client)


def test_no_flux_reconciliation_in_progress(run: Run) -> None:
    """No Flux reconciliation in progress"""
    if not run.profile.flux.enabled:
        not_applicable("flux.enabled is false in the profile: no Flux to wait for")
        return
    snap = run.observer.latest()
    assert_no_findings(proofs.check_flux_idle(snap), "Flux must be idle before nodes reboot")


def test_no_pdb_blocks_drain(run: Run, plan: UpgradePlan, request: pytest.FixtureRequest) -> None:
    """No PodDisruptionBudget would block draining any node; with worker batches, the batches
    the budgets allow as the cluster stands now, which the worker steps then follow"""
    snap = run.observer.latest()
    names = [n.name for n in plan.nodes.in_order] if plan.talos_hops else []
    assert_no_findings(proofs.check_drain_not_blocked(snap, names), "drain preflight")
    if plan.talos_hops and plan.nodes.worker_batch > 1:
        chunks = predict(plan, snap, [n.name for n in plan.nodes.workers])
        run.batches.predicted = describe(plan, snap, chunks)
        allure.attach(
            "\n".join(run.batches.predicted), "worker batches", allure.attachment_type.TEXT
        )
        session = request.session
        run.batches.follow = lambda formed: follow_batches(session, plan, formed)
        run.batches.form(chunks)


def test_rollback_path_exists(
    run: Run, plan: UpgradePlan, factory: Factory, catalog: Catalog
) -> None:
    """A rollback path exists: the current installer still exists and the way back is allowed"""
    if not plan.talos_hops:
        not_applicable("no Talos hop: Kubernetes rolls back with upgrade-k8s")
        return
    first = plan.talos_hops[0]
    factory_ = run.profile.talos.factory
    back = installer_image(factory_.url, factory_.schematic, plan.current_talos)
    ok, detail = factory.installer_exists(back)
    assert ok, f"no way back: the current installer {back} is not in the Image Factory ({detail})"
    problem = catalog.can_upgrade_host(first.to_version, plan.current_talos)
    assert problem is None, (
        f"no way back from {first.to_version} to {plan.current_talos}: {problem}"
    )
    allure.attach(
        f"A/B rollback to {plan.current_talos} ('talosctl rollback') after the first "
        f"hop; explicit reinstall from {back} otherwise",
        "rollback path",
        allure.attachment_type.TEXT,
    )
