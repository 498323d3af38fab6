"""The health gate is read-only: every driver refuses mutating calls in this runbook."""

from __future__ import annotations

import json
from collections.abc import Callable

import allure
import pytest

from drivers.errors import DriverError
from fixtures.evidence import record_environment
from model.snapshot import ClusterSnapshot


@pytest.fixture(scope="session")
def read_only() -> bool:
    return True


def _versions(values: dict[str, str]) -> str:
    """`v1.9.2` when all nodes agree, else `v1.9.2 (cp1, cp2), v1.9.4 (w1)`; `unknown` if none."""
    by: dict[str, list[str]] = {}
    for node, value in values.items():
        by.setdefault(value, []).append(node)
    if len(by) == 1:
        return next(iter(by))
    return ", ".join(f"{v} ({', '.join(n)})" for v, n in by.items()) or "unknown"


@pytest.fixture(scope="session")
def health_snapshot(request: pytest.FixtureRequest) -> ClusterSnapshot:
    """One observation of the cluster; every check of the gate judges this same snapshot.

    When the cluster cannot be observed at all (a harness error: talosctl output that cannot
    be parsed...), the session stops after the first test: no check has anything to judge.
    """
    with allure.step("observe the cluster (talosctl + Kubernetes API)"):
        try:
            observe_cluster: Callable[[], ClusterSnapshot] = request.getfixturevalue(
                "observe_cluster"
            )
            snap = observe_cluster()
        except DriverError as e:
            request.session.shouldfail = (
                f"harness error, no check could run: {type(e).__name__}: {e}"
            )
            raise
    pytestconfig = request.config
    allure.attach(
        json.dumps(snap.to_dict(), indent=2, default=str),
        "snapshot the verdicts were made from",
        allure.attachment_type.JSON,
    )
    talos = {n.name: str(n.talos_version) for n in snap.nodes if n.talos_version is not None}
    kubelets = {
        n.name: str(n.kubelet_version) for n in snap.k8s_nodes if n.kubelet_version is not None
    }
    record_environment(
        pytestconfig,
        **{
            "talos.running": _versions(talos),
            "kubernetes.apiserver": str(snap.api_server_version or "unknown"),
            "kubernetes.kubelet": _versions(kubelets),
        },
    )
    return snap
