"""The rollback runbook returns an upgraded lab to v1.9.2/1.32.0 from the upgrade's run record:
Kubernetes first, then every node with `talosctl rollback` (its other A/B slot holds v1.9.2)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runbooks.runbook_run import lab_counts, run_runbook

pytestmark = pytest.mark.lab

ORDER = ("w1", "w2", "w3", "cp2", "cp3", "cp1")


def test_rollback_returns_the_lab_to_the_versions_before_the_upgrade(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab()
    up = run_runbook(lab, tmp_path, name="upgrade")
    assert up.exit_code == 0, up.tail()
    upgraded = lab_counts(lab)
    assert all(n["talos_version"] == "v1.9.4" and n["active_slot"] == "B"
               for n in upgraded.values()), upgraded

    plan = run_runbook(lab, tmp_path, "--plan", runbook="rollback", name="plan")
    assert plan.exit_code == 0, plan.tail()
    assert "Talos v1.9.4 -> v1.9.2, Kubernetes 1.32.2 -> 1.32.0 (2 hops)" in plan.stdout
    k8s, talos = (plan.stdout.index("1. Kubernetes 1.32.2 -> 1.32.0"),
                  plan.stdout.index("2. Talos v1.9.4 -> v1.9.2"))
    assert k8s < talos, "Kubernetes goes back first"
    lines = [ln for ln in plan.stdout.splitlines() if "talosctl rollback -n" in ln]
    assert [ln.split()[0] for ln in lines] == list(ORDER), plan.stdout
    assert lab_counts(lab) == upgraded, "--plan changes nothing"

    back = run_runbook(lab, tmp_path, runbook="rollback", name="rollback")
    assert back.exit_code == 0, f"{back.failed}\n{back.tail()}"
    assert back.failed == [] and back.skipped == []
    names = list(back.steps)
    assert names.index("test_kubernetes_back[1.32.0]") < names.index(
        "test_roll_back_worker[v1.9.2-w1]")
    assert [n.split("-")[-1].rstrip("]") for n in names
            if n.startswith(("test_roll_back_worker", "test_roll_back_control_plane"))] == \
        list(ORDER)

    after = lab_counts(lab)
    for name, node in after.items():
        assert node["talos_version"] == "v1.9.2", (name, node)
        assert node["active_slot"] == "A", (name, node)
        assert node["upgrade_count"] == 1, f"{name}: reinstalled instead of an A/B rollback"
        assert node["boot_count"] == upgraded[name]["boot_count"] + 1, (name, node)
        assert node["kubelet"] == "v1.32.0", (name, node)
    k = lab.status()["kubernetes"]
    assert (k["version"], k["proxy_version"]) == ("1.32.0", "1.32.0"), k

    record = json.loads(next((lab.dir / "backups" / "runs").glob("*.json")).read_text())
    assert record["rollback"]["finished"] and record["rollback"]["etcd"]["sha256"]
    assert {n: [e["action"] for e in es] for n, es in record["nodes"].items()} == \
        dict.fromkeys(ORDER, ["upgrade", "rollback"])
    assert any("rollback" in s["holder"]["runbook"] for s in record["sessions"])
