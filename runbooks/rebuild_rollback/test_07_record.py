"""Phase 7, record: the profile back to the versions, image and template the cluster runs
again, committed in its git repository (never pushed); the rebuild's record and this one
closed."""

from __future__ import annotations

import pytest

from fixtures.procedures.redeploy import attach, commit_profile, update_profile
from fixtures.procedures.run import Run
from fixtures.rebuild import target_image
from fixtures.rebuild_rollback import FORWARD
from model.rebuild import RebuildPlan
from model.run_record import now


@pytest.mark.mutating
def test_profile_reverted(run: Run, rebuild_plan: RebuildPlan) -> None:
    """The profile names the old versions, schematic, extensions and template again"""
    diff = update_profile(run, rebuild_plan, target_image(run, rebuild_plan))
    attach(diff or "(unchanged)", "profile diff")


@pytest.mark.mutating
def test_profile_committed(
    run: Run, rebuild_plan: RebuildPlan, pytestconfig: pytest.Config
) -> None:
    """git commit: revert(talos): back to Talos v<version> with K8s <version>"""
    forward = pytestconfig.stash[FORWARD].current.run_id
    version = str(rebuild_plan.target_talos).lstrip("v")
    commit_profile(
        run,
        f"revert(talos): back to Talos v{version} with K8s {rebuild_plan.target_kubernetes} "
        f"(rollback of {forward})",
    )
    at = now()
    pytestconfig.stash[FORWARD].apply(
        lambda r: r.with_rollback_finished(at, ["rebuild rolled back"])
    )
    run.record.apply(lambda r: r.finished_at(at))
