"""PodDisruptionBudget status (the disruption controller) and the eviction rules."""

from __future__ import annotations

import pytest

from emulator.kube import objects as o
from emulator.kube.errors import PDB_VIOLATION, InternalError, NotFound, TooManyRequests
from emulator.kube.seed import seed_demo_cluster
from emulator.kube.store import KubeStore


def web_pods(s: KubeStore) -> list[str]:
    return [p["metadata"]["name"] for p in s.list("pods", "apps", "app=web")[0]]


@pytest.fixture
def store() -> KubeStore:
    s = KubeStore()
    seed_demo_cluster(s)
    return s


def pdb_status(s: KubeStore, name: str = "web") -> dict:
    return s.get("pdb", name, "apps")["status"]


def test_status_is_kept_like_the_disruption_controller(store: KubeStore) -> None:
    st = pdb_status(store)
    assert {k: st[k] for k in ("currentHealthy", "desiredHealthy", "disruptionsAllowed",
                               "expectedPods", "observedGeneration")} == {
        "currentHealthy": 3, "desiredHealthy": 2, "disruptionsAllowed": 1, "expectedPods": 3,
        "observedGeneration": 1}
    assert [(c["type"], c["status"], c["reason"]) for c in st["conditions"]] == [
        ("DisruptionAllowed", "True", "SufficientPods")]
    store.mutate("pods", web_pods(store)[0], lambda p: o.set_pod_state(p, ready=False), "apps")
    st = pdb_status(store)
    assert (st["currentHealthy"], st["disruptionsAllowed"]) == (2, 0)
    assert st["conditions"][0]["reason"] == "InsufficientPods"
    store.patch("pdb", "web", {"spec": {"maxUnavailable": "50%"}}, "merge", "apps")
    st = pdb_status(store)
    assert (st["desiredHealthy"], st["observedGeneration"]) == (1, 2), "50% of 3 rounds up"


def test_eviction_consumes_the_budget_then_refuses_with_the_real_text(store: KubeStore) -> None:
    first, second, _ = web_pods(store)
    store.evict("apps", first)
    with pytest.raises(NotFound):
        store.get("pods", first, "apps")
    assert pdb_status(store)["expectedPods"] == 3, "expected pods come from the Deployment scale"
    with pytest.raises(TooManyRequests) as err:
        store.evict("apps", second)
    assert str(err.value) == PDB_VIOLATION == (
        "Cannot evict pod as it would violate the pod's disruption budget.")
    status = err.value.status()
    assert status["code"] == 429 and status["reason"] == "TooManyRequests"
    assert status["details"]["causes"] == [{
        "reason": "DisruptionBudget",
        "message": "The disruption budget web needs 2 healthy pods and has 2 currently"}]
    # the world recreates the pod elsewhere: the budget is available again
    rs = store.list("replicasets", "apps")[0][0]
    store.put("pods", o.replica_pod(rs, "w2", "127.0.10.12", 7))
    assert pdb_status(store)["disruptionsAllowed"] == 1
    store.evict("apps", second)


def test_eviction_dry_run_and_pods_outside_budgets(store: KubeStore) -> None:
    name = web_pods(store)[0]
    store.evict("apps", name, dry_run=True)
    assert store.get("pods", name, "apps")
    coredns = store.list("pods", "kube-system", "k8s-app=kube-dns")[0][0]["metadata"]["name"]
    store.evict("kube-system", coredns)  # no PDB covers CoreDNS in the demo
    with pytest.raises(NotFound, match=f'^pods "{coredns}" not found$'):
        store.evict("kube-system", coredns)


def test_min_available_integer_counts_pods_and_unready_pods_may_go(store: KubeStore) -> None:
    store.delete("pdb", "web", "apps")
    store.create("pdb", o.pdb("web-min", "apps", {"app": "web"}, min_available=3))
    st = pdb_status(store, "web-min")
    assert (st["expectedPods"], st["desiredHealthy"], st["disruptionsAllowed"]) == (3, 3, 0)
    name = web_pods(store)[0]
    with pytest.raises(TooManyRequests, match="disruption budget"):
        store.evict("apps", name)
    store.mutate("pods", name, lambda p: o.set_pod_state(p, crashloop=True), "apps")
    with pytest.raises(TooManyRequests):  # unhealthy, and the budget is not met: refused
        store.evict("apps", name)
    store.patch("pdb", "web-min", {"spec": {"unhealthyPodEvictionPolicy": "AlwaysAllow"}},
                "merge", "apps")
    store.evict("apps", name)


def test_sync_failure_and_overlapping_budgets(store: KubeStore) -> None:
    store.put("pods", o.crashloop_pod("bare", "apps", "w1"))
    store.patch("pods", "bare", {"metadata": {"labels": {"app": "web"}}}, "merge", "apps")
    st = pdb_status(store)
    assert st["disruptionsAllowed"] == 0
    assert (st["conditions"][0]["reason"], st["conditions"][0]["message"]) == (
        "SyncFailed", 'found no controller ref for pod "bare"')
    store.delete("pods", "bare", "apps")
    store.create("pdb", o.pdb("web-too", "apps", {"app": "web"}, min_available=1))
    with pytest.raises(InternalError, match="more than one PodDisruptionBudget"):
        store.evict("apps", web_pods(store)[0])
