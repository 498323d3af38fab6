"""Phase 1, preflight (read-only): is it safe to start? Nothing here changes the cluster,
except the second step, which takes the cluster lock (first, so that a second session stops at
once, naming the holder, instead of judging a cluster another session is changing)."""

from __future__ import annotations

import json

import allure
import pytest

from checks import ALL_CHECKS, run_checks
from checks import upgrade as proofs
from drivers.factory import Factory
from drivers.talosctl import Talosctl
from fixtures.procedures import (
    Session,
    expectation_now,
    kube_path,
    not_applicable,
    talos_path,
)
from fixtures.upgrade import take_lock
from fixtures.verdicts import assert_no_findings
from fixtures.waiting import wait_until
from model.catalog import Catalog
from model.findings import Finding
from model.plan import UpgradePlan
from model.snapshot import ClusterSnapshot
from model.versions import TalosVersion


def test_plan_is_valid(plan: UpgradePlan, talosctl_client: TalosVersion | None) -> None:
    """The upgrade plan: hops, node order, installer images, commands"""
    allure.attach(plan.describe(talosctl_client), "plan", allure.attachment_type.TEXT)
    allure.attach(json.dumps(plan.to_dict(), indent=2), "plan.json", allure.attachment_type.JSON)
    order = [n.name for n in plan.nodes.in_order]
    assert order[-1] == plan.nodes.primary.name, "the primary control plane must be upgraded last"
    workers = {n.name for n in plan.nodes.workers}
    first_cp = (
        next(i for i, n in enumerate(order) if n not in workers)
        if workers != set(order)
        else len(order)
    )
    assert all(n in workers for n in order[:first_cp]), "workers must come before control planes"
    for hop in plan.talos_hops:
        assert hop.image.endswith(f":{hop.to_version}"), f"installer image {hop.image} vs {hop}"


def test_take_cluster_lock(session: Session, pytestconfig: pytest.Config) -> None:
    """Take the cluster lock (a Lease in kube-system) for the whole session (--plan: only check
    that no other session holds it)"""
    take_lock(session, pytestconfig, "in_place")


def _health(session: Session, plan: UpgradePlan, snap: ClusterSnapshot) -> list[Finding]:
    exp = expectation_now(session, snap, talos_path(plan), kube_path(plan))
    results = run_checks(snap, exp, [c for c in ALL_CHECKS if not c.advisory])
    return [f for fs in results.values() for f in fs]


def test_cluster_healthy(session: Session, plan: UpgradePlan) -> None:
    """The whole health gate passes (every check), against the profile or a resumed run"""
    if session.record.resumed:
        # an interrupted session may have left a node mid-reboot: give it time to come back
        waited = wait_until(
            session.look,
            lambda sn: _health(session, plan, sn),
            timeout=session.timeouts.node_ready,
            what="cluster healthy before resuming the interrupted run",
        ).value
        assert waited is not None
        snap = waited
    else:
        snap = session.look()
    allure.attach(
        json.dumps(snap.to_dict(), indent=2, default=str),
        "snapshot before",
        allure.attachment_type.JSON,
    )
    assert_no_findings(_health(session, plan, snap), "cluster health before the upgrade")


def test_cluster_matches_profile(session: Session, plan: UpgradePlan) -> None:
    """The live cluster is the one the profile describes: nodes, versions, schematic"""
    snap = session.last or session.look()
    problems = []
    k8s_names = {n.name for n in snap.k8s_nodes}
    for node in session.profile.all_nodes:
        obs = snap.node(node.name)
        if node.name not in k8s_names:
            problems.append(f"{node.name}: not a Kubernetes node of this cluster")
        if obs is None or obs.talos_version is None:
            problems.append(f"{node.name}: Talos version unknown ({obs.apid_error if obs else ''})")
        elif obs.talos_version not in talos_path(plan):
            problems.append(
                f"{node.name}: runs Talos {obs.talos_version}, the profile says "
                f"{session.profile.talos.version} (plan path: "
                f"{', '.join(map(str, talos_path(plan)))})"
            )
    extra = k8s_names - {n.name for n in session.profile.all_nodes}
    problems += [f"{name}: a Kubernetes node the profile does not list" for name in sorted(extra)]
    if snap.api_server_version not in kube_path(plan):
        problems.append(
            f"API server runs Kubernetes {snap.api_server_version}, the profile says "
            f"{session.profile.talos.kubernetes}"
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


def test_no_flux_reconciliation_in_progress(session: Session) -> None:
    """No Flux reconciliation in progress"""
    if not session.profile.flux.enabled:
        not_applicable("flux.enabled is false in the profile: no Flux to wait for")
        return
    snap = session.last or session.look()
    assert_no_findings(proofs.check_flux_idle(snap), "Flux must be idle before nodes reboot")


def test_no_pdb_blocks_drain(session: Session, plan: UpgradePlan) -> None:
    """No PodDisruptionBudget would block draining any node"""
    snap = session.last or session.look()
    names = [n.name for n in plan.nodes.in_order] if plan.talos_hops else []
    assert_no_findings(proofs.check_drain_not_blocked(snap, names), "drain preflight")


def test_rollback_path_exists(plan: UpgradePlan, factory: Factory, catalog: Catalog) -> None:
    """A rollback path exists: the current installer still exists and the way back is allowed"""
    if not plan.talos_hops:
        not_applicable("no Talos hop: Kubernetes rolls back with upgrade-k8s")
        return
    first = plan.talos_hops[0]
    back = first.image.rsplit(":", 1)[0] + f":{plan.current_talos}"
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
