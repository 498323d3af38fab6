"""Rollback runbook wiring: the rollback plan (from the upgrade's run record or explicit
versions), per-step parametrization and ordering (shared with in_place), the session, the lock."""

from __future__ import annotations

import pytest

from fixtures import rollback, upgrade
from fixtures.cluster import client_version
from fixtures.run_log import RunLog


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    upgrade.install(config, compute=rollback.compute_rollback_plan)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    upgrade.generate(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    upgrade.order_items(config, items)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if upgrade.PLAN in config.stash and config.getoption("--plan"):
        terminalreporter.section("rollback plan (nothing was changed)")
        terminalreporter.write_line(
            rollback.describe(
                upgrade.get_plan(config),
                config.stash[rollback.RECORD].current,
                client_version(config),
            )
        )
    upgrade.lock_summary(terminalreporter, config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    upgrade.release_lock(session.config)


@pytest.fixture(scope="session")
def record(pytestconfig: pytest.Config) -> RunLog:
    """The run record of the upgrade being undone (rollback steps are appended to it)."""
    return pytestconfig.stash[rollback.RECORD]
