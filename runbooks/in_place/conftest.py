"""In-place upgrade runbook wiring: the plan, per-hop parametrization and ordering, the session
shared by the steps, the run record and the cluster lock (released at the end of the session)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from checks import Expectation
from drivers.factory import Factory
from drivers.kube import Kube
from drivers.talosctl import Talosctl
from fixtures import upgrade
from fixtures.procedures import Session
from model.plan import UpgradePlan
from model.profile import Profile
from model.snapshot import ClusterSnapshot


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    upgrade.install(config)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    upgrade.generate(metafunc)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    upgrade.order_items(config, items)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config
                            ) -> None:
    if upgrade.PLAN in config.stash and config.getoption("--plan"):
        terminalreporter.section("upgrade plan (nothing was changed)")
        terminalreporter.write_line(upgrade.get_plan(config).describe())
    upgrade.lock_summary(terminalreporter, config)


def pytest_sessionfinish(session: pytest.Session) -> None:
    upgrade.release_lock(session.config)


@pytest.fixture(scope="session")
def plan(pytestconfig: pytest.Config) -> UpgradePlan:
    return upgrade.get_plan(pytestconfig)


@pytest.fixture(scope="session")
def record(profile: Profile, plan: UpgradePlan) -> upgrade.RunRecord:
    return upgrade.RunRecord.open(profile, plan)


@pytest.fixture(scope="session")
def factory(profile: Profile) -> Factory:
    return Factory(profile.talos.factory.url)


@pytest.fixture(scope="session")
def session(profile: Profile, talos: Talosctl, kube: Kube,
            observe_cluster: Callable[[], ClusterSnapshot], expectation: Expectation,
            record: upgrade.RunRecord) -> Iterator[Session]:
    yield Session(profile, talos, kube, observe_cluster, expectation, record,
                  preserve=profile.upgrade.preserve)
