"""KubeStore rules without HTTP: metadata, errors (with the real texts), patches, status
subresource, deletion, watches and subscribers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from emulator.kube import objects as o
from emulator.kube.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotEmulated,
    NotFound,
    UnsupportedMediaType,
)
from emulator.kube.seed import seed_demo_cluster
from emulator.kube.store import KubeStore


@pytest.fixture
def store() -> KubeStore:
    s = KubeStore()
    seed_demo_cluster(s)
    return s


def cm(name: str, ns: str = "default", **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": ns}, "data": dict(data)}


def test_create_assigns_server_fields_and_defaults() -> None:
    s = KubeStore()
    before = int(s.resource_version)
    got = s.create("configmaps", {"metadata": {"name": "a"}, "data": {"k": "v"}})
    meta = got["metadata"]
    assert got["apiVersion"] == "v1" and got["kind"] == "ConfigMap"
    assert meta["namespace"] == "default"
    assert int(meta["resourceVersion"]) == before + 1 == int(s.resource_version)
    assert meta["generation"] == 1 and len(meta["uid"]) == 36
    assert meta["creationTimestamp"].endswith("Z") and "T" in meta["creationTimestamp"]
    ns = s.create("namespaces", {"metadata": {"name": "team"}})
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team"}
    gen = s.create("configmaps", {"metadata": {"generateName": "cfg-"}})
    assert gen["metadata"]["name"].startswith("cfg-") and len(gen["metadata"]["name"]) == 9


def test_default_namespaces_exist_like_a_real_cluster() -> None:
    names = [n["metadata"]["name"] for n in KubeStore().list("namespaces")[0]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    assert KubeStore(namespaces=()).list("namespaces")[0] == []


def test_errors_carry_the_real_messages(store: KubeStore) -> None:
    with pytest.raises(NotFound, match='^nodes "w9" not found$') as nf:
        store.get("nodes", "w9")
    assert nf.value.status()["details"] == {"name": "w9", "kind": "nodes"}
    assert nf.value.status()["code"] == 404
    with pytest.raises(NotFound, match='^backups.velero.io "nope" not found$'):
        store.get("backups.velero.io", "nope", "velero")
    with pytest.raises(AlreadyExists, match='^pods "kube-apiserver-cp1" already exists$'):
        store.create("pods", store.get("pods", "kube-apiserver-cp1", "kube-system"))
    with pytest.raises(NotFound, match='^namespaces "nope" not found$'):
        store.create("configmaps", cm("x", "nope"))
    with pytest.raises(Invalid, match=r'^ConfigMap "Bad_Name" is invalid: metadata.name: '
                                      r'Invalid value: "Bad_Name": a lowercase RFC 1123'):
        store.create("configmaps", cm("Bad_Name"))
    with pytest.raises(Invalid, match="name or generateName is required"):
        store.create("configmaps", {"metadata": {}})
    with pytest.raises(BadRequest, match="does not match the expected API version"):
        store.create("pods", {"apiVersion": "apps/v1", "metadata": {"name": "p"}})


def test_resolve_accepts_keys_plurals_kinds_and_short_names(store: KubeStore) -> None:
    names = ("deployments.apps", "deployments", "deploy", "Deployment", ("apps", "deployments"))
    for name in names:
        assert len(store.list(name, "apps")[0]) == 1, name
    with pytest.raises(KeyError, match="unknown resource 'widgets'"):
        store.list("widgets")


def test_list_filters_by_labels_and_fields(store: KubeStore) -> None:
    def names(**kw: Any) -> list[str]:
        return [p["metadata"]["name"] for p in store.list("pods", **kw)[0]]

    assert names(label_selector="k8s-app in (kube-apiserver,kube-scheduler)") == [
        "kube-apiserver-cp1", "kube-scheduler-cp1"]
    assert len(names(namespace="kube-system", label_selector="tier!=control-plane")) == 5
    assert len(names(label_selector="!k8s-app")) == 3  # the web pods
    on_w1 = names(field_selector="spec.nodeName=w1")
    assert on_w1 and all("cp1" not in n for n in on_w1)
    assert names(field_selector="status.phase!=Running") == []
    with pytest.raises(BadRequest, match="^field label not supported: spec.foo$"):
        store.list("pods", field_selector="spec.foo=x")
    with pytest.raises(BadRequest, match='^"spec.x" is not a known field selector: only '
                                         '"metadata.name", "metadata.namespace"$'):
        store.list("backups", field_selector="spec.x=1")
    items, rv = store.list("nodes")
    assert rv == store.resource_version and [n["metadata"]["name"] for n in items] == [
        "cp1", "w1", "w2"]


def test_replace_checks_resource_version(store: KubeStore) -> None:
    lease = store.create("leases", o.lease("runbook", "default", "me", 30))
    lease["spec"]["holderIdentity"] = "you"
    newer = store.replace("leases", lease)
    assert int(newer["metadata"]["resourceVersion"]) > int(lease["metadata"]["resourceVersion"])
    with pytest.raises(Conflict) as err:
        store.replace("leases", lease)
    assert str(err.value) == (
        'Operation cannot be fulfilled on leases.coordination.k8s.io "runbook": the object has '
        "been modified; please apply your changes to the latest version and try again")
    del newer["metadata"]["resourceVersion"]  # unconditional update
    assert store.replace("leases", newer)["spec"]["holderIdentity"] == "you"
    rv = store.resource_version
    store.replace("leases", store.get("leases", "runbook", "default"))
    assert store.resource_version == rv, "a no-op update must not make a new resourceVersion"


def test_generation_moves_with_spec_only(store: KubeStore) -> None:
    dep = store.get("deployments", "web", "apps")
    assert dep["metadata"]["generation"] == 1
    dep = store.patch("deployments", "web", {"metadata": {"labels": {"x": "y"}}}, "merge", "apps")
    assert dep["metadata"]["generation"] == 1
    dep = store.patch("deployments", "web", {"spec": {"replicas": 4}}, "merge", "apps")
    assert dep["metadata"]["generation"] == 2


def test_merge_strategic_and_json_patches(store: KubeStore) -> None:
    node = store.patch("nodes", "w1", {"spec": {"unschedulable": True}}, "strategic")
    assert node["spec"]["unschedulable"] is True
    node = store.patch("nodes", "w1", {"spec": {"unschedulable": None}},
                       "application/merge-patch+json")
    assert "unschedulable" not in node["spec"]
    cond = {"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "x"}
    node = store.patch("nodes", "w1", {"status": {"conditions": [cond]}}, "strategic",
                       subresource="status")
    types = [c["type"] for c in node["status"]["conditions"]]
    assert types == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"], \
        "strategic merge patch merges conditions by type"
    assert o.node_ready(node) == "False"
    node = store.patch("nodes", "w1", [
        {"op": "add", "path": "/metadata/labels/zone", "value": "a"},
        {"op": "test", "path": "/metadata/labels/zone", "value": "a"}], "json")
    assert node["metadata"]["labels"]["zone"] == "a"
    with pytest.raises(Invalid, match='doc is missing path: "/metadata/labels/nope"'):
        store.patch("nodes", "w1", [{"op": "remove", "path": "/metadata/labels/nope"}], "json")
    with pytest.raises(UnsupportedMediaType, match="application/merge-patch\\+json"):
        store.patch("backups", "daily-20261119", {"spec": {}}, "strategic", "velero")
    with pytest.raises(NotEmulated, match="^not emulated: server-side apply"):
        store.patch("nodes", "w1", {}, "apply")
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"unschedulable": True}}
    with pytest.raises(Conflict, match='on nodes "w1": the object has been modified'):
        store.patch("nodes", "w1", stale, "merge")


def test_status_subresource_rules(store: KubeStore) -> None:
    pod = store.get("pods", "kube-apiserver-cp1", "kube-system")
    changed = o.with_pod_ready(pod, False)
    changed["metadata"]["labels"]["extra"] = "1"
    as_client = store.replace("pods", changed, client=True)
    assert o.pod_ready(as_client), "a client PUT on the main resource ignores .status"
    assert as_client["metadata"]["labels"]["extra"] == "1"
    via_status = store.replace("pods", o.with_pod_ready(as_client, False), subresource="status")
    assert not o.pod_ready(via_status)
    world = store.replace("pods", o.with_pod_ready(via_status, True))
    assert o.pod_ready(world), "the world (client=False) writes status through the main resource"
    with pytest.raises(NotFound):
        store.patch("leases", "cp1", {}, "merge", "kube-node-lease", subresource="status")


def test_delete_finalizers_and_namespace_cascade(store: KubeStore) -> None:
    store.create("configmaps", {"metadata": {"name": "held", "finalizers": ["lab/hold"]}})
    held = store.delete("configmaps", "held")
    assert held["metadata"]["deletionTimestamp"]
    assert store.get("configmaps", "held")["metadata"]["deletionTimestamp"]
    store.patch("configmaps", "held", {"metadata": {"finalizers": None}}, "merge")
    with pytest.raises(NotFound):
        store.get("configmaps", "held")
    with pytest.raises(Conflict, match="Precondition failed: UID in precondition: x, UID in "):
        store.delete("nodes", "w2", preconditions={"uid": "x"})
    store.delete("namespaces", "apps")
    assert store.list("pods", "apps")[0] == [] and store.list("deployments", "apps")[0] == []


def test_watch_replays_filters_and_expires() -> None:
    async def scenario() -> list[tuple[str, str]]:
        s = KubeStore(history_size=50)
        seed_demo_cluster(s)
        seen: list[tuple[str, str]] = []
        w = s.watch("pods", "apps", label_selector="app=web")
        for _ in range(3):
            ev = await w.next(1)
            assert ev is not None
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
        rv = s.resource_version
        first = seen[0][1]
        s.mutate("pods", first, lambda p: p["metadata"]["labels"].update(app="other"), "apps")
        s.mutate("pods", first, lambda p: p["metadata"]["labels"].update(app="web"), "apps")
        s.mutate("pods", first, lambda p: o.set_pod_state(p, ready=False), "apps")
        for _ in range(3):
            ev = await w.next(1)
            assert ev is not None
            seen.append((ev["type"], ev["object"]["metadata"]["name"]))
        assert await w.next(0.05) is None
        resumed = s.watch("pods", "apps", resource_version=rv)
        ev = await resumed.next(1)
        assert ev is not None and ev["type"] == "MODIFIED", "resume sees the changes after rv"
        s.close_watches()
        with pytest.raises(StopAsyncIteration):
            await w.next(1)
        for i in range(60):
            s.create("configmaps", cm(f"c{i}"))
        with pytest.raises(Gone, match=f"^too old resource version: {rv} "):
            s.watch("pods", resource_version=rv)
        return seen

    seen = asyncio.run(scenario())
    assert [t for t, _ in seen] == ["ADDED"] * 3 + ["DELETED", "ADDED", "MODIFIED"]


def test_subscribers_see_every_change(store: KubeStore) -> None:
    got: list[tuple[str, str, str]] = []
    unsubscribe = store.subscribe(lambda t, key, obj: got.append((t, key, obj["metadata"]["name"])))
    store.create("backups", o.velero_backup("pre-upgrade"))
    store.delete("backups", "pre-upgrade", "velero")
    unsubscribe()
    store.create("backups", o.velero_backup("later"))
    assert got == [("ADDED", "backups.velero.io", "pre-upgrade"),
                   ("DELETED", "backups.velero.io", "pre-upgrade")]
