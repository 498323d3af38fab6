"""Read-only health gate: every check is its own test, so one run reports every problem.

    pytest runbooks/health --cluster=home        # exit 0 only when the cluster is healthy

The checks are talosctl health's 16 plus what it lacks: versions, extensions and schematic,
etcd raft/learners/alarms, pods, Flux, and the Talos/Kubernetes support matrix.
"""

from __future__ import annotations

import json
import warnings

import allure
import pytest

from checks import ALL_CHECKS, Expectation, get_check
from fixtures.verdicts import assert_no_findings
from model.snapshot import ClusterSnapshot

independent_steps = True  # fixtures/ordering.py: no chaining, every check runs
failure_diagnostics = False  # fixtures/evidence.py: the verdicts' snapshot is attached already


@pytest.mark.parametrize("check", [c.name for c in ALL_CHECKS])
def test_health(check: str, health_snapshot: ClusterSnapshot, expectation: Expectation) -> None:
    """Health check {check}"""
    spec = get_check(check)
    allure.dynamic.title(spec.title)
    allure.dynamic.description(f"`{spec.name}`: {(spec.func.__doc__ or spec.title).strip()}")
    allure.dynamic.label("category", spec.category.value)
    findings = spec(health_snapshot, expectation)
    allure.attach(
        json.dumps([f.to_dict() for f in findings], indent=2),
        "verdict",
        allure.attachment_type.JSON,
    )
    if spec.advisory:
        for f in findings:
            warnings.warn(str(f), stacklevel=1)
        return
    assert_no_findings(findings, spec.title)
