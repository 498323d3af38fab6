"""The health gate is read-only: every driver refuses mutating calls in this runbook."""

from __future__ import annotations

import json
from collections.abc import Callable

import allure
import pytest

from model.snapshot import ClusterSnapshot


@pytest.fixture(scope="session")
def read_only() -> bool:
    return True


@pytest.fixture(scope="session")
def health_snapshot(observe_cluster: Callable[[], ClusterSnapshot]) -> ClusterSnapshot:
    """One observation of the cluster; every check of the gate judges this same snapshot."""
    with allure.step("observe the cluster (talosctl + Kubernetes API)"):
        snap = observe_cluster()
    allure.attach(json.dumps(snap.to_dict(), indent=2, default=str),
                  "snapshot the verdicts were made from", allure.attachment_type.JSON)
    return snap
