"""In-place upgrade runbook wiring: the plan, per-hop parametrization and ordering, the run
record and the cluster lock (released at the end of the session). The fixtures shared with the
rollback runbook (plan, factory, session) are in fixtures/steps.py."""

from __future__ import annotations

import pytest

from fixtures import upgrade
from fixtures.cluster import client_version
from fixtures.run_log import RunLog
from model.plan import UpgradePlan
from model.profile import Profile


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    upgrade.install(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    upgrade.generate(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    upgrade.order_items(config, items)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if upgrade.PLAN in config.stash and config.getoption("--plan"):
        terminalreporter.section("upgrade plan (nothing was changed)")
        terminalreporter.write_line(upgrade.get_plan(config).describe(client_version(config)))
    upgrade.lock_summary(terminalreporter, config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    upgrade.release_lock(session.config)


@pytest.fixture(scope="session")
def record(profile: Profile, plan: UpgradePlan) -> RunLog:
    return RunLog.open(profile, plan)
