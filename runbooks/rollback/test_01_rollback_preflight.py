"""Phase 1, preflight (read-only except the lock): is the way back open and the cluster sane?"""

from __future__ import annotations

import json

import allure
import pytest

from checks import ALL_CHECKS, run_checks
from drivers.factory import Factory
from fixtures import rollback
from fixtures.procedures import Session, expectation_now, kube_path, talos_path
from fixtures.run_log import RunLog
from fixtures.upgrade import take_lock
from fixtures.verdicts import assert_no_findings
from model.catalog import Catalog
from model.plan import TalosHop, UpgradePlan
from model.versions import TalosVersion


def test_rollback_plan(
    plan: UpgradePlan, record: RunLog, talosctl_client: TalosVersion | None
) -> None:
    """The rollback plan: steps, node order, rollback or reinstall per node"""
    allure.attach(
        rollback.describe(plan, record.current, talosctl_client),
        "rollback plan",
        allure.attachment_type.TEXT,
    )
    allure.attach(json.dumps(plan.to_dict(), indent=2), "plan.json", allure.attachment_type.JSON)
    assert plan.nodes.in_order[-1] == plan.nodes.primary, "the primary must go last"
    if plan.kube_hops and plan.talos_hops:
        assert plan.hops.index(plan.kube_hops[0]) < plan.hops.index(plan.talos_hops[-1]), (
            "Kubernetes goes back before the Talos that made it possible"
        )


def test_take_cluster_lock(session: Session, pytestconfig: pytest.Config) -> None:
    """Take the cluster lock (a Lease in kube-system) for the whole session (--plan: only check
    that no other session holds it)"""
    take_lock(session, pytestconfig, "rollback")


def test_cluster_healthy(session: Session, plan: UpgradePlan) -> None:
    """The whole health gate passes, each node expected on the version it runs on the way back"""
    snap = session.look()
    allure.attach(
        json.dumps(snap.to_dict(), indent=2, default=str),
        "snapshot before",
        allure.attachment_type.JSON,
    )
    exp = expectation_now(session, snap, talos_path(plan), kube_path(plan))
    results = run_checks(snap, exp, [c for c in ALL_CHECKS if not c.advisory])
    assert_no_findings(
        [f for fs in results.values() for f in fs], "cluster health before the rollback"
    )


def test_cluster_is_where_the_record_says(session: Session, plan: UpgradePlan) -> None:
    """Every node runs a version on the rollback's path; the API server too"""
    snap = session.last or session.look()
    problems = []
    for node in plan.nodes.in_order:
        obs = snap.node(node.name)
        running = obs.talos_version if obs is not None else None
        if running not in talos_path(plan):
            problems.append(
                f"{node.name}: runs Talos {running}, not on the rollback path "
                f"({', '.join(map(str, talos_path(plan)))})"
            )
    if snap.api_server_version not in kube_path(plan):
        problems.append(
            f"API server runs Kubernetes {snap.api_server_version}, not on the "
            f"rollback path ({', '.join(map(str, kube_path(plan)))})"
        )
    assert not problems, "the cluster is not in a state this rollback knows:\n  " + "\n  ".join(
        problems
    )


def test_way_back_exists(
    plan: UpgradePlan, record: RunLog, factory: Factory, catalog: Catalog
) -> None:
    """Each node has a way back: its other A/B slot, or an installer the factory has and the
    running Talos accepts"""
    problems = []
    for hop in plan.talos_hops:
        reinstall = [
            n.name
            for n in hop.nodes
            if rollback.predicted_action(record.current, plan, hop, n.name) == "reinstall"
        ]
        ab = sorted({n.name for n in hop.nodes} - set(reinstall))
        allure.attach(
            f"{hop.title}: talosctl rollback on {', '.join(ab) or '-'}; reinstall on "
            f"{', '.join(reinstall) or '-'}",
            "way back",
            allure.attachment_type.TEXT,
        )
        if reinstall:
            problems += _reinstall_problems(hop, factory, catalog)
    assert not problems, "no way back:\n  " + "\n  ".join(problems)


def _reinstall_problems(hop: TalosHop, factory: Factory, catalog: Catalog) -> list[str]:
    out = []
    ok, detail = factory.installer_exists(hop.image)
    if not ok:
        out.append(f"{hop.image}: {detail}")
    refusal = catalog.can_upgrade_host(hop.from_version, hop.to_version)
    if refusal:
        out.append(f"{hop.title}: the installer refuses: {refusal}")
    return out
