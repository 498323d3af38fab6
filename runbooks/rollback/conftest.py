"""Rollback runbook wiring: the rollback plan (from the upgrade's run record or explicit
versions), per-step parametrization and ordering (shared with in_place), the session, the lock."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from checks import Expectation
from drivers.factory import Factory
from drivers.kube import Kube
from drivers.talosctl import Talosctl
from fixtures import rollback, upgrade
from fixtures.procedures import Session
from model.plan import UpgradePlan
from model.profile import Profile
from model.snapshot import ClusterSnapshot


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    upgrade.install(config, compute=rollback.compute_rollback_plan)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    upgrade.generate(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    upgrade.order_items(config, items)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config
                            ) -> None:
    if upgrade.PLAN in config.stash and config.getoption("--plan"):
        terminalreporter.section("rollback plan (nothing was changed)")
        terminalreporter.write_line(rollback.describe(upgrade.get_plan(config),
                                                      config.stash[rollback.RECORD]))
    upgrade.lock_summary(terminalreporter, config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    upgrade.release_lock(session.config)


@pytest.fixture(scope="session")
def plan(pytestconfig: pytest.Config) -> UpgradePlan:
    return upgrade.get_plan(pytestconfig)


@pytest.fixture(scope="session")
def record(pytestconfig: pytest.Config) -> upgrade.RunRecord:
    """The run record of the upgrade being undone (rollback steps are appended to it)."""
    return pytestconfig.stash[rollback.RECORD]


@pytest.fixture(scope="session")
def factory(profile: Profile) -> Factory:
    return Factory(profile.talos.factory.url)


@pytest.fixture(scope="session")
def session(profile: Profile, talos: Talosctl, kube: Kube,
            observe_cluster: Callable[[], ClusterSnapshot], expectation: Expectation,
            record: upgrade.RunRecord) -> Iterator[Session]:
    yield Session(profile, talos, kube, observe_cluster, expectation, record,
                  preserve=profile.upgrade.preserve)
