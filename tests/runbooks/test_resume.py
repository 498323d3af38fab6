"""Resume (issue 4, Safety): kill -9 the session while a control plane reboots, run it again:
it completes, no node is upgraded twice, and it says it re-took its own dead session's lock."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runbooks.runbook_run import kill_group, lab_counts, run_runbook, start_runbook

pytestmark = pytest.mark.lab


def _rebooting(lab: Any, node: str) -> dict[str, Any] | None:
    n = lab_counts(lab)[node]
    return n if n["stage"] == "rebooting" else None


def test_killed_mid_reboot_then_resumed_upgrades_each_node_once(make_lab: Callable[..., Any],
                                                                 tmp_path: Path) -> None:
    lab = make_lab()
    proc, _ = start_runbook(lab, tmp_path, name="killed")
    deadline = time.monotonic() + 120
    seen = None
    while seen is None and time.monotonic() < deadline and proc.poll() is None:
        seen = _rebooting(lab, "cp2")
        if seen is None:
            time.sleep(0.02)  # polling the lab's status for a state, with a deadline
    try:
        assert seen is not None, f"cp2 never seen rebooting (runbook exit {proc.poll()})"
    finally:
        kill_group(proc)
        proc.communicate()
    assert proc.returncode == -9
    at_kill = lab_counts(lab)
    assert at_kill["cp2"]["upgrade_count"] == 1 and at_kill["cp3"]["upgrade_count"] == 0
    assert all(at_kill[w]["talos_version"] == "v1.9.4" for w in ("w1", "w2", "w3"))

    result = run_runbook(lab, tmp_path, name="resumed")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.failed == [] and result.skipped == []
    warning = next((ln for ln in result.stdout.splitlines()
                    if ln.startswith("WARNING: re-took the lock left by an earlier session")), "")
    assert f"(runbook in_place, pid {proc.pid}, since " in warning, result.stdout

    after = lab_counts(lab)
    assert {n: v["upgrade_count"] for n, v in after.items()} == dict.fromkeys(after, 1)
    assert all(v["talos_version"] == "v1.9.4" and v["kubelet"] == "v1.32.2"
               for v in after.values()), after
    # each finished worker was rebooted exactly once more than at start, not again on resume
    assert all(after[w]["boot_count"] == at_kill[w]["boot_count"] for w in ("w1", "w2", "w3"))

    runs = list((lab.dir / "backups" / "runs").glob("*.json"))
    assert len(runs) == 1, "the resumed session continues the same run record"
    record = json.loads(runs[0].read_text())
    assert len(record["sessions"]) == 2 and record["finished"]
    assert {n: len(e) for n, e in record["nodes"].items()} == dict.fromkeys(after, 1)
    assert len(list((lab.dir / "backups").glob("*.snapshot"))) == 1, "one etcd snapshot per run"
