"""Phase 1, preflight (read-only except the lock): is the way back open and the cluster sane?
The first four steps are every upgrade runbook's (runbooks/phases/preflight.py: the change, the
plan, the lock, the health gate); then the rollback's own: the cluster is where the record
says, and each node has a way back."""

from __future__ import annotations

import allure

from drivers.factory import Factory
from fixtures.procedures.run import Run, kube_path, talos_path
from fixtures.run_log import RunLog
from model.catalog import Catalog
from model.plan import TalosHop, UpgradePlan
from model.rollback_plan import predicted_action
from runbooks.phases.preflight import (  # noqa: F401
    test_change_is_approved,
    test_cluster_healthy,
    test_take_cluster_lock,
)
from runbooks.phases.preflight import test_plan_is_valid as test_rollback_plan  # noqa: F401


def test_cluster_is_where_the_record_says(run: Run, plan: UpgradePlan) -> None:
    """Every node runs a version on the rollback's path; the API server too"""
    snap = run.observer.latest()
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
            if predicted_action(record.current, plan, hop, n.name) == "reinstall"
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
