"""The rollback runbook, as data for the upgrade plugin (fixtures/upgrade.py): its plan undoes
the upgrade's run record (or goes to explicit versions), and the rollback's steps are appended
to that record (fixtures/rollback.py, model/rollback_plan.py)."""

from __future__ import annotations

import pytest

from fixtures import rollback
from fixtures.cluster import PROFILE
from fixtures.procedures.run import style_of
from fixtures.run_log import RunLog
from fixtures.upgrade import UpgradeRunbook
from model.plan import UpgradePlan
from model.profile import Profile
from model.rollback_plan import describe
from model.versions import TalosVersion


def _record(config: pytest.Config, profile: Profile, plan: UpgradePlan) -> RunLog:
    return config.stash[rollback.RECORD]


def _describe(config: pytest.Config, plan: UpgradePlan, client: TalosVersion | None) -> str:
    style = style_of(config.stash[PROFILE])
    return describe(plan, config.stash[rollback.RECORD].current, client, style)


UPGRADE_RUNBOOK = UpgradeRunbook(
    name="rollback",
    direction="rollback",
    compute=rollback.compute_rollback_plan,
    record=_record,
    describe=_describe,
    plan_section="rollback plan (nothing was changed)",
)
