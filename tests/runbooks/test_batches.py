"""Workers in batches (--batch N / upgrade.workers.batch): the preflight forms the batches
from the live budgets and --plan shows them; a budget shrinks a batch at run time and the
evidence says why; a failure in a batch lets the other members finish their proofs and starts
no new batch; a kill -9 mid-batch resumes without upgrading a node twice; every hop of a
multi-hop plan forms its own batches. The default lab's
`web` Deployment (3 replicas, a budget of one unavailable) and its 2 coredns replicas keep
workers apart; the pods a batch evicts land on the workers left, which the next batch meets."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runbooks.runbook_run import (
    allure_attachments,
    kill_group,
    lab_counts,
    run_runbook,
    start_runbook,
)

pytestmark = pytest.mark.lab


def _batches(alluredir: Path) -> dict[str, str]:
    """The `batch` attachments of a run, by the parameter id of the step that started it."""
    return {title.rsplit("[", 1)[-1].rstrip("]"): text
            for title, text in allure_attachments(alluredir, "batch")}


def test_a_budget_shrinks_the_batch_and_plan_shows_it(make_lab: Callable[..., Any],
                                                      tmp_path: Path) -> None:
    lab = make_lab(extra_workers=3, lab={"track_disruption": True})
    plan = run_runbook(lab, tmp_path, "--batch", "3", "--plan", name="plan")
    assert plan.exit_code == 0, plan.tail()
    text = plan.stdout.split(" upgrade plan (nothing was changed) ", 1)[1]
    assert ("Workers in batches of up to 3, formed in the preflight from the live "
            "PodDisruptionBudgets and workloads (control planes one at a time)") in text
    # w2 holds web's other pod: a later worker fills w1's batch instead
    assert ("  batch 1: w1, w3, w4 (not w2: PodDisruptionBudget apps/web: draining w1, w2 "
            "together evicts 2 (") in text, text
    assert "  batch 2: w2, w5, w6\n" in text, text

    alluredir = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, "--batch", "3", f"--alluredir={alluredir}",
                         "--no-bundle")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    upgrades = [n.removeprefix("test_upgrade_worker[v1.9.4-").rstrip("]")
                for n in result.steps if n.startswith("test_upgrade_worker")]
    assert upgrades[:4] == ["w1", "w3", "w4", "w2"], upgrades  # the batches' order
    assert sorted(upgrades[4:]) == ["w5", "w6"], upgrades
    batches = _batches(alluredir)
    assert batches["v1.9.4-w1"].splitlines()[0] == "batch (up to 3): w1, w3, w4 -> Talos v1.9.4"
    # w1's batch evicted web's and coredns's pods onto the workers left (which ones depends on
    # the order the lab's drains ran in): formed again as w2 starts, its batch keeps out the
    # ones that now hold the other replicas, and says which budget or workload forbids it
    w2 = batches["v1.9.4-w2"].splitlines()
    assert w2[0].startswith("batch (up to 3): w2") and w2[0] != "batch (up to 3): w2, w5, w6 " \
        "-> Talos v1.9.4", w2
    kept = [line for line in w2 if line.startswith("not now: w")]
    assert kept and all(line.endswith(", it would break:") for line in kept), w2
    assert any(line.startswith("  [pdb-blocks-drain] ") for line in w2), w2
    for name in ("w4", upgrades[-1]):  # a batch's gate runs once no worker is in flight
        assert result.step(f"test_cluster_gate_after_worker[v1.9.4-{name}]").outcome == "passed"
    after = lab_counts(lab)
    assert {n: v["upgrade_count"] for n, v in after.items()} == dict.fromkeys(after, 1)
    disruption = lab.status()["disruption"]
    assert disruption["samples"] > 10 and disruption["pdb_violated"] == [], disruption
    assert disruption["pdb_min_healthy"]["apps/web"]["healthy"] >= 2, disruption


def test_a_failure_in_a_batch_lets_the_others_finish_and_starts_no_new_batch(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(extra_workers=3, faults=[{"kind": "boot_failure", "node": "w1"}])
    before = lab_counts(lab)
    alluredir = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, "--batch", "3", f"--alluredir={alluredir}",
                         "--no-bundle")
    assert result.exit_code == 1, result.tail()
    assert _batches(alluredir)["v1.9.4-w1"].splitlines()[0] == (
        "batch (up to 3): w1, w3, w4 -> Talos v1.9.4")
    assert result.failed == ["test_worker_version[v1.9.4-w1]"], result.tail()
    assert "w1 came back on v1.9.2, expected v1.9.4" in result.step(
        "test_worker_version[v1.9.4-w1]").text
    # w3 and w4 were in flight with w1: every proof of them still ran
    for name in ("w3", "w4"):
        for step in ("test_upgrade_worker", "test_worker_version", "test_worker_extensions",
                     "test_worker_ready"):
            assert result.step(f"{step}[v1.9.4-{name}]").outcome == "passed", (name, step)
    # w2 was not started: no new batch after a failure; no gate, nothing after the batch
    w2 = result.step("test_upgrade_worker[v1.9.4-w2]")  # the next batch waits for this one's gate
    assert w2.outcome == "skipped" and w2.message.startswith(
        "test_upgrade_worker[v1.9.4-w2] depends on runbooks/in_place/test_03_workers.py::"
        "test_cluster_gate_after_worker[v1.9.4-w4]"), w2
    assert result.step("test_cluster_gate_after_worker[v1.9.4-w4]").outcome == "skipped"
    assert result.step("test_upgrade_worker[v1.9.4-w5]").outcome == "skipped"
    after = lab_counts(lab)
    for name in ("w2", "w5", "w6", "cp1", "cp2", "cp3"):
        assert after[name]["upgrade_count"] == 0, name
        assert after[name]["boot_count"] == before[name]["boot_count"], name
    assert after["w3"]["talos_version"] == after["w4"]["talos_version"] == "v1.9.4"
    summary = result.stdout.split(" run summary ", 1)[1].splitlines()[1]
    assert summary.startswith("in_place on lab: failed at test_worker_version[v1.9.4-w1]: w1 "
                              "came back on v1.9.2"), summary


def test_killed_mid_batch_then_resumed_upgrades_each_node_once(make_lab: Callable[..., Any],
                                                               tmp_path: Path) -> None:
    lab = make_lab(extra_workers=3)
    proc, _ = start_runbook(lab, tmp_path, "--batch", "3", name="killed")
    deadline = time.monotonic() + 120
    seen = None
    while seen is None and time.monotonic() < deadline and proc.poll() is None:
        counts = lab_counts(lab)
        if all(counts[n]["upgrade_count"] for n in ("w1", "w3", "w4")):
            seen = counts  # the batch w1, w3, w4 is in flight
        else:
            time.sleep(0.02)  # polling the lab's status for a state, with a deadline
    try:
        assert seen is not None, f"w1, w3, w4 never in flight together (exit {proc.poll()})"
    finally:
        kill_group(proc)
        proc.communicate()
    assert proc.returncode == -9
    result = run_runbook(lab, tmp_path, "--batch", "3", name="resumed")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    after = lab_counts(lab)
    assert {n: v["upgrade_count"] for n, v in after.items()} == dict.fromkeys(after, 1), after
    assert all(v["talos_version"] == "v1.9.4" for v in after.values()), after


def test_every_hop_of_a_multi_hop_plan_upgrades_its_workers_in_batches(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab(extra_workers=3, lab={"talosctl": "v1.10.9", "track_disruption": True})
    alluredir = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, "--batch", "3", "--talos-version", "v1.10.9",
                         f"--alluredir={alluredir}", "--no-bundle", timeout=900)
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.failed == [] and result.skipped == []
    names = list(result.steps)
    hops = list(dict.fromkeys(n.split("[", 1)[1].split("-", 1)[0] for n in names
                              if n.startswith("test_upgrade_worker[")))
    assert hops == ["v1.9.6", "v1.10.9"], hops
    # hop by hop: every worker of a hop, then its control planes, before the next hop
    first_cp = names.index("test_upgrade_control_plane[v1.9.6-cp2]")
    for at, name in enumerate(names):
        if name.startswith("test_upgrade_worker[v1.9.6"):
            assert at < first_cp, name
        elif name.startswith("test_upgrade_worker[v1.10.9"):
            assert at > first_cp, name
    workers = {f"w{i}" for i in range(1, 7)}
    batches = _batches(alluredir)
    for hop in hops:
        heads = [text.splitlines()[0] for key, text in batches.items() if key.startswith(f"{hop}-")]
        members = [head.split(": ", 1)[1].split(" -> ")[0].split(", ") for head in heads]
        assert all(head.endswith(f"-> Talos {hop}") for head in heads), heads
        assert {m for ms in members for m in ms} == workers, (hop, heads)
        assert max(len(ms) for ms in members) > 1, (hop, heads)  # workers went together
    after = lab_counts(lab)
    assert all(v["upgrade_count"] == 2 and v["talos_version"] == "v1.10.9"
               for v in after.values()), after
    disruption = lab.status()["disruption"]
    assert disruption["pdb_violated"] == [], disruption
    assert disruption["pdb_min_healthy"]["apps/web"]["healthy"] >= 2, disruption
