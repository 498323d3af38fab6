"""A multi-hop target (Talos v1.9.2 -> v1.11.6, Kubernetes 1.32.0 -> 1.34.1) completes in one
session, hop by hop; the step ids name the hop and the node."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runbooks.runbook_run import lab_counts, run_runbook

pytestmark = pytest.mark.lab


def test_multi_hop_target_completes_in_one_session(make_lab: Callable[..., Any],
                                                    tmp_path: Path) -> None:
    lab = make_lab(lab={"talosctl": "v1.11.6"})  # talosctl may not be older than the target
    result = run_runbook(lab, tmp_path, "--talos-version", "v1.11.6", "--k8s-version", "1.34.1",
                         timeout=900)
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.failed == [] and result.skipped == []
    names = list(result.steps)
    hops = ["test_upgrade_worker[v1.9.6-w1]", "test_upgrade_control_plane[v1.9.6-cp1]",
            "test_upgrade_worker[v1.10.9-w1]", "test_upgrade_control_plane[v1.10.9-cp1]",
            "test_upgrade_kubernetes[1.33.11]", "test_upgrade_worker[v1.11.6-w1]",
            "test_upgrade_control_plane[v1.11.6-cp1]", "test_upgrade_kubernetes[1.34.1]",
            "test_verify_everything"]
    positions = [names.index(h) for h in hops]
    assert positions == sorted(positions), "hop by hop, in plan order"
    assert sum(n.startswith("test_upgrade_worker[") for n in names) == 9
    assert sum(n.startswith("test_upgrade_control_plane[") for n in names) == 9
    after = lab_counts(lab)
    assert all(n["talos_version"] == "v1.11.6" and n["upgrade_count"] == 3
               and n["kubelet"] == "v1.34.1" for n in after.values()), after
    assert lab.status()["kubernetes"]["version"] == "1.34.1"
