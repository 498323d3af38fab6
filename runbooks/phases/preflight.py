"""The first steps of every upgrade-shaped runbook, read-only except the lock: the change this
run is performed under is approved (before any call to the cluster), the plan is sound, the
target image is known to the Image Factory (an image change), the cluster lock is ours (taken
next, so that a second session stops at once, naming the holder, instead of judging a cluster
another session is changing), the whole health gate passes. A runbook's own preflight steps
follow these."""

from __future__ import annotations

import json

import allure
import pytest

from drivers.factory import Factory
from fixtures.change_gate import check_change
from fixtures.cluster_lock import take_lock
from fixtures.evidence import without_diagnostics
from fixtures.procedures.images import learn_target_image
from fixtures.procedures.proofs import healthy_before
from fixtures.procedures.run import Run, not_applicable
from fixtures.upgrade import spec_of
from model.plan import UpgradePlan
from model.profile import Profile

__all__ = [
    "test_change_is_approved",
    "test_plan_is_valid",
    "test_target_image_is_known",
    "test_take_cluster_lock",
    "test_cluster_healthy",
]


@without_diagnostics
def test_change_is_approved(pytestconfig: pytest.Config, profile: Profile) -> None:
    """The change this run is performed under is approved and, where the change system has one,
    inside its planned window (the profile's change: section); nothing before this step
    touches the cluster"""
    check_change(pytestconfig, profile)


def test_plan_is_valid(plan: UpgradePlan, plan_description: str, run: Run) -> None:
    """The plan: hops, node order, installer images, the command for each node"""
    allure.attach(plan_description, "plan", allure.attachment_type.TEXT)
    allure.attach(json.dumps(plan.to_dict(), indent=2), "plan.json", allure.attachment_type.JSON)
    order = plan.nodes.in_order
    assert order[-1] == plan.nodes.primary, "the primary control plane must go last"
    kinds = [n in plan.nodes.workers for n in order]
    assert kinds == sorted(kinds, reverse=True), "workers must come before control planes"
    for hop in plan.talos_hops:
        assert hop.image.endswith(f":{hop.to_version}"), f"installer image {hop.image} vs {hop}"
    if run.direction == "rollback" and plan.kube_hops and plan.talos_hops:
        assert plan.hops.index(plan.kube_hops[0]) < plan.hops.index(plan.talos_hops[-1]), (
            "Kubernetes goes back before the Talos that made it possible"
        )


def test_target_image_is_known(run: Run, plan: UpgradePlan, factory: Factory) -> None:
    """An image change: the Image Factory knows the target schematic, its ID is the one the
    schematic hashes to, and its extension list is the one the nodes will be held to"""
    if not plan.changes_image:
        not_applicable("the nodes keep their image (no --extensions, --schematic or target)")
        return
    learn_target_image(run.image, factory)
    image = run.image.image()
    allure.attach(
        f"schematic {image.schematic}\nextensions: {', '.join(image.extensions) or 'none'}\n"
        f"dropped: {', '.join(image.without) or 'none'}",
        "target image",
        allure.attachment_type.TEXT,
    )


def test_take_cluster_lock(run: Run, pytestconfig: pytest.Config) -> None:
    """Take the cluster lock (a Lease in kube-system) for the whole session (--plan: only check
    that no other session holds it)"""
    take_lock(run, pytestconfig, spec_of(pytestconfig).name)


def test_cluster_healthy(run: Run, plan: UpgradePlan) -> None:
    """The whole health gate passes (every check), each node expected on the version of the
    plan's path it runs (the profile's, or where a resumed run or a rollback left it)"""
    healthy_before(run, plan)  # every check of runbooks/health
