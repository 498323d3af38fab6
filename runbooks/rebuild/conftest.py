"""The template-based rebuild runbook (Proxmox VE), as data for the upgrade plugin: its plan is
a RebuildPlan (fixtures/rebuild.py, model/rebuild.py) from the profile's versions and image to
--talos-version/--k8s-version and --extensions/--schematic, with the new template's VMID."""

import pytest

from fixtures.procedures.run import not_applicable
from fixtures.rebuild import compute_rebuild, describe_rebuild, open_rebuild_record
from fixtures.upgrade import RUN, UpgradeRunbook

UPGRADE_RUNBOOK = UpgradeRunbook(
    name="rebuild",
    direction="upgrade",
    compute=compute_rebuild,
    record=open_rebuild_record,
    describe=describe_rebuild,
    plan_section="rebuild plan (nothing was changed)",
)


FIRST_DESTRUCTIVE_PHASE = "test_04_"  # the teardown: --prepare-only stops before it


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--prepare-only: the phases from the teardown on are deselected (reported as such)."""
    if not config.getoption("--prepare-only"):
        return
    keep, drop = [], []
    for item in items:
        later = item.path.parent.name == "rebuild" and item.path.name >= FIRST_DESTRUCTIVE_PHASE
        (drop if later else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# Steps that read or lock the old cluster: once a run tore it down (its record says which VMs
# it stopped or destroyed), a rerun passes them as not applicable and goes on from there.
PAST_TEARDOWN = frozenset(
    {
        "test_take_cluster_lock",
        "test_cluster_healthy",
        "test_cluster_matches_profile",
        "test_vmids_are_as_planned",
        "test_restore_marker_written",
        "test_cluster_state_recorded",
    }
)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A rerun after the teardown began: the old cluster's reads are not applicable."""
    if pyfuncitem.originalname not in PAST_TEARDOWN:
        return None
    run = pyfuncitem.config.stash.get(RUN, None)
    rec = run.record.current if run is not None else None
    if rec is None or rec.rebuild is None or not rec.rebuild.torn_down:
        return None
    gone = ", ".join(str(v) for v in rec.rebuild.destroyed) or "none"
    stopped = ", ".join(str(v) for v in rec.rebuild.stopped)
    not_applicable(
        f"run {rec.run_id} already tore the old cluster down (stopped: {stopped}; destroyed: "
        f"{gone}): resuming after the teardown"
    )
    return True
