"""Phase 1, preflight (read-only): is it safe to start? Nothing here changes the cluster,
except the third step, which takes the cluster lock. The first four steps are every upgrade
runbook's (runbooks/phases/preflight.py: the change, the plan, the lock, the health gate); then this
runbook's own: the cluster is the profile's, the installers exist, talosctl is new enough, Flux
is idle, no PodDisruptionBudget blocks a drain, a way back exists."""

from __future__ import annotations

import allure

from checks import upgrade as proofs
from drivers.factory import Factory
from drivers.talosctl import Talosctl
from fixtures.procedures.batches import predict
from fixtures.procedures.run import Run, kube_path, not_applicable, talos_path
from fixtures.verdicts import assert_no_findings
from model.catalog import Catalog
from model.plan import UpgradePlan, installer_image
from model.versions import TalosVersion
from runbooks.phases.preflight import *  # noqa: F403


def test_cluster_matches_profile(run: Run, plan: UpgradePlan) -> None:
    """The live cluster is the one the profile describes: nodes, versions, schematic"""
    snap = run.observer.latest()
    problems = []
    k8s_names = {n.name for n in snap.k8s_nodes}
    for node in run.profile.all_nodes:
        obs = snap.node(node.name)
        if node.name not in k8s_names:
            problems.append(f"{node.name}: not a Kubernetes node of this cluster")
        if obs is None or obs.talos_version is None:
            problems.append(f"{node.name}: Talos version unknown ({obs.apid_error if obs else ''})")
        elif obs.talos_version not in talos_path(plan):
            problems.append(
                f"{node.name}: runs Talos {obs.talos_version}, the profile says "
                f"{run.profile.talos.version} (plan path: "
                f"{', '.join(map(str, talos_path(plan)))})"
            )
    extra = k8s_names - {n.name for n in run.profile.all_nodes}
    problems += [f"{name}: a Kubernetes node the profile does not list" for name in sorted(extra)]
    if snap.api_server_version not in kube_path(plan):
        problems.append(
            f"API server runs Kubernetes {snap.api_server_version}, the profile says "
            f"{run.profile.talos.kubernetes}"
        )
    assert not problems, "the cluster does not match the profile:\n  " + "\n  ".join(problems)


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


def test_talosctl_not_older_than_target(talos: Talosctl, plan: UpgradePlan) -> None:
    """The talosctl client is not older than the target Talos"""
    client = TalosVersion.parse(talos.client_version())
    allure.attach(str(client), "talosctl client version", allure.attachment_type.TEXT)
    assert client >= plan.target_talos, (
        f"talosctl {client} is older than the target Talos {plan.target_talos}: install "
        f"talosctl {plan.target_talos} or newer first"
    )


def test_no_flux_reconciliation_in_progress(run: Run) -> None:
    """No Flux reconciliation in progress"""
    if not run.profile.flux.enabled:
        not_applicable("flux.enabled is false in the profile: no Flux to wait for")
        return
    snap = run.observer.latest()
    assert_no_findings(proofs.check_flux_idle(snap), "Flux must be idle before nodes reboot")


def test_no_pdb_blocks_drain(run: Run, plan: UpgradePlan) -> None:
    """No PodDisruptionBudget would block draining any node; with worker batches, the batches
    the budgets allow as the cluster stands now"""
    snap = run.observer.latest()
    names = [n.name for n in plan.nodes.in_order] if plan.talos_hops else []
    assert_no_findings(proofs.check_drain_not_blocked(snap, names), "drain preflight")
    if plan.talos_hops and plan.nodes.worker_batch > 1:
        run.batches.predicted = predict(plan, snap)
        allure.attach(
            "\n".join(run.batches.predicted), "worker batches", allure.attachment_type.TEXT
        )


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
