"""Which workers may drain together (checks/upgrade.check_batch_drain, choose_batch): the
budget logic of the one-node drain check, over a batch; and no workload spread over several
nodes loses all its Ready replicas."""

from __future__ import annotations

from checks.upgrade import check_batch_drain, check_drain_not_blocked, choose_batch
from model.snapshot import ClusterSnapshot, Pod, PodDisruptionBudget
from tests.snapshot_builder import add, healthy_snapshot


def _web(snap: ClusterSnapshot, nodes: list[str], allowed: int) -> ClusterSnapshot:
    """A Deployment `web` with one Ready replica per node, under a budget allowing `allowed`."""
    pods = [Pod("apps", f"web-abc-{i}", "Running", node=n, ready=True, labels={"app": "web"},
                owner_kind="ReplicaSet", owner_name="web-abc") for i, n in enumerate(nodes)]
    pdb = PodDisruptionBudget("apps", "web", disruptions_allowed=allowed,
                              current_healthy=len(nodes), desired_healthy=len(nodes) - allowed,
                              expected_pods=len(nodes), selector={"app": "web"})
    return add(add(snap, "pods", *pods), "pdbs", pdb)


def test_a_budget_allowing_one_lets_one_of_its_nodes_into_a_batch() -> None:
    snap = _web(healthy_snapshot(), ["w1", "w2"], allowed=1)
    assert check_batch_drain(snap, ["w1"]) == []
    budget, workload = check_batch_drain(snap, ["w1", "w2"])
    assert workload.subject == "ReplicaSet apps/web-abc"  # and its replicas are all there
    assert str(budget) == (
        "[pdb-blocks-drain] PodDisruptionBudget apps/web: expected at most 1 of its pods "
        "evicted at once, observed draining w1, w2 together evicts 2 (apps/web-abc-0, "
        "apps/web-abc-1) — hint: a smaller batch, or relax the budget")
    # the one-node preflight check agrees: each node alone may drain
    assert check_drain_not_blocked(snap, ["w1"]) == [] and check_drain_not_blocked(
        snap, ["w2"]) == []


def test_choose_batch_leaves_out_what_would_break_a_budget_and_takes_the_next() -> None:
    snap = _web(healthy_snapshot(), ["w1", "w2"], allowed=1)
    assert choose_batch(snap, ["w1"]) == (["w1"], {})
    chosen, out = choose_batch(snap, ["w1", "w2", "w3"])
    assert chosen == ["w1", "w3"]  # w2 holds the budget's other pod; w3 does not
    assert [f.subject for f in out["w2"]] == ["PodDisruptionBudget apps/web",
                                             "ReplicaSet apps/web-abc"]


def test_choose_batch_counts_the_nodes_still_rebooting_and_the_room() -> None:
    snap = _web(healthy_snapshot(), ["w1", "w2"], allowed=1)
    # w1 is still rebooting with its web pod evicted-to-be: w2 must wait, w3 and w4 may go
    chosen, out = choose_batch(snap, ["w3", "w2", "w4"], busy=["w1"], room=3)
    assert chosen == ["w3", "w4"]
    assert "PodDisruptionBudget apps/web" in [f.subject for f in out["w2"]]
    chosen, out = choose_batch(snap, ["w3", "w2", "w4"], busy=["w1"], room=1)
    assert chosen == ["w3"] and out == {"w2": [], "w4": []}  # no room left


def test_a_workload_spread_over_the_batch_must_keep_a_ready_replica() -> None:
    snap = add(healthy_snapshot(), "pods",
               Pod("apps", "api-x-0", "Running", node="w1", ready=True,
                   owner_kind="ReplicaSet", owner_name="api-x"),
               Pod("apps", "api-x-1", "Running", node="w2", ready=True,
                   owner_kind="ReplicaSet", owner_name="api-x"))
    (finding,) = [f for f in check_batch_drain(snap, ["w1", "w2"]) if "api-x" in f.subject]
    assert str(finding) == (
        "[pdb-blocks-drain] ReplicaSet apps/api-x: expected a Ready replica left while the "
        "batch drains, observed all 2 Ready replicas are on w1, w2 — hint: a smaller batch, or "
        "more replicas spread over other nodes")


def test_a_single_replica_is_not_the_batchs_fault() -> None:
    """A workload whose Ready replicas share one node loses them when that node drains, batch
    or not: it does not shrink a batch."""
    snap = add(healthy_snapshot(), "pods",
               Pod("apps", "solo-0", "Running", node="w1", ready=True,
                   owner_kind="ReplicaSet", owner_name="solo"))
    assert [f for f in check_batch_drain(snap, ["w1", "w2"]) if "solo" in f.subject] == []
