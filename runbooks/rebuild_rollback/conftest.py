"""The rebuild's rollback, as data for the upgrade plugin: its plan goes back from the newest
rebuild that tore the cluster down (or --rollback-from) to the old template, versions and
image, with etcd recovered from the pre-rebuild snapshot (fixtures/rebuild_rollback.py)."""

from fixtures.rebuild_rollback import (
    compute_rebuild_rollback,
    describe_way_back,
    open_rollback_record,
)
from fixtures.upgrade import UpgradeRunbook

UPGRADE_RUNBOOK = UpgradeRunbook(
    name="rebuild_rollback",
    direction="rollback",
    compute=compute_rebuild_rollback,
    record=open_rollback_record,
    describe=describe_way_back,
    plan_section="rebuild rollback plan (nothing was changed)",
)
