"""The official kubernetes Python client (strict pydantic models) against the emulated API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kube_live import LiveKube, wait_for
from kubernetes import client, watch

from emulator.kube import objects as o


@pytest.fixture
def lab() -> Iterator[LiveKube]:
    live = LiveKube()
    yield live
    live.stop()


@pytest.fixture
def api(lab: LiveKube) -> Iterator[client.ApiClient]:
    cfg = client.Configuration(host=lab.url)
    cfg.proxy = None
    with client.ApiClient(cfg) as c:
        yield c


def body_of(err: client.ApiException) -> dict[str, Any]:
    return json.loads(err.body)


def test_version_and_nodes(api: client.ApiClient) -> None:
    assert client.VersionApi(api).get_code().git_version == "v1.32.0"
    v1 = client.CoreV1Api(api)
    nodes = v1.list_node()
    assert [n.metadata.name for n in nodes.items] == ["cp1", "w1", "w2"]
    assert int(nodes.metadata.resource_version) > 0
    cp1 = v1.read_node("cp1")
    assert cp1.status.node_info.os_image == "Talos (v1.9.2)"
    assert cp1.status.node_info.kubelet_version == "v1.32.0"
    assert "node-role.kubernetes.io/control-plane" in cp1.metadata.labels
    assert {c.type: c.status for c in cp1.status.conditions}["Ready"] == "True"
    with pytest.raises(client.ApiException) as err:
        v1.read_node("w9")
    assert err.value.status == 404 and body_of(err.value)["message"] == 'nodes "w9" not found'


def test_cordon_with_a_strategic_merge_patch(lab: LiveKube, api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    patched = v1.patch_node("w1", {"spec": {"unschedulable": True}})
    assert patched.spec.unschedulable is True
    assert lab.call(lab.store.get, "nodes", "w1")["spec"]["unschedulable"] is True
    ready = v1.list_node(field_selector="spec.unschedulable=false")
    assert [n.metadata.name for n in ready.items] == ["cp1", "w2"]


def test_pods_everywhere_with_selectors_and_paging(api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    pods = v1.list_pod_for_all_namespaces()
    assert len(pods.items) == 11
    cps = v1.list_namespaced_pod("kube-system", label_selector="tier=control-plane")
    assert [p.metadata.name for p in cps.items] == [
        "kube-apiserver-cp1", "kube-controller-manager-cp1", "kube-scheduler-cp1"]
    assert cps.items[0].metadata.annotations["talos.dev/config-version"] == "1"
    on_w2 = v1.list_pod_for_all_namespaces(field_selector="spec.nodeName=w2")
    assert {p.spec.node_name for p in on_w2.items} == {"w2"}
    first = v1.list_pod_for_all_namespaces(limit=5)
    rest = v1.list_pod_for_all_namespaces(limit=50, _continue=first.metadata._continue)
    assert len(first.items) + len(rest.items) == 11


def test_velero_backups_with_custom_objects(lab: LiveKube, api: client.ApiClient) -> None:
    seen: list[str] = []
    lab.call(lab.store.subscribe,
             lambda t, key, obj: seen.append(f"{t} {key} {obj['metadata']['name']}"))
    co = client.CustomObjectsApi(api)
    body = {"apiVersion": "velero.io/v1", "kind": "Backup",
            "metadata": {"name": "pre-upgrade", "namespace": "velero"},
            "spec": {"includedNamespaces": ["*"], "ttl": "720h0m0s",
                     "defaultVolumesToFsBackup": True}}
    created = co.create_namespaced_custom_object("velero.io", "v1", "velero", "backups", body)
    assert created["metadata"]["uid"] and created["metadata"]["generation"] == 1
    assert "ADDED backups.velero.io pre-upgrade" in seen, "the world hears of new backups"
    lab.call(lab.store.mutate, "backups", "pre-upgrade",
             lambda b: o.set_backup_phase(b, "Completed", items=5), "velero")
    got = co.get_namespaced_custom_object("velero.io", "v1", "velero", "backups", "pre-upgrade")
    assert got["status"]["phase"] == "Completed"
    listed = co.list_namespaced_custom_object("velero.io", "v1", "velero", "backups")
    assert [b["metadata"]["name"] for b in listed["items"]] == ["daily-20261119", "pre-upgrade"]
    assert listed["kind"] == "BackupList"
    with pytest.raises(client.ApiException) as err:
        co.create_namespaced_custom_object("velero.io", "v1", "velero", "backups", body)
    assert err.value.status == 409
    assert body_of(err.value)["message"] == 'backups.velero.io "pre-upgrade" already exists'


def test_lease_replace_conflicts_on_stale_resource_version(api: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(api)
    lease = client.V1Lease(metadata=client.V1ObjectMeta(name="upgrade-lock"),
                           spec=client.V1LeaseSpec(holder_identity="runbook-a",
                                                   lease_duration_seconds=60))
    first = leases.create_namespaced_lease("default", lease)
    first.spec.holder_identity = "runbook-b"
    second = leases.replace_namespaced_lease("upgrade-lock", "default", first)
    assert second.spec.holder_identity == "runbook-b"
    assert int(second.metadata.resource_version) > int(first.metadata.resource_version)
    first.spec.holder_identity = "runbook-c"
    with pytest.raises(client.ApiException) as err:
        leases.replace_namespaced_lease("upgrade-lock", "default", first)
    assert err.value.status == 409
    assert body_of(err.value)["message"] == (
        'Operation cannot be fulfilled on leases.coordination.k8s.io "upgrade-lock": the object '
        "has been modified; please apply your changes to the latest version and try again")


def test_pdb_status_and_eviction_refused(api: client.ApiClient) -> None:
    v1, policy = client.CoreV1Api(api), client.PolicyV1Api(api)
    pdb = policy.read_namespaced_pod_disruption_budget("web", "apps")
    assert (pdb.status.disruptions_allowed, pdb.status.current_healthy,
            pdb.status.desired_healthy, pdb.status.expected_pods) == (1, 3, 2, 3)
    names = [p.metadata.name for p in v1.list_namespaced_pod("apps").items]

    def evict(name: str) -> client.V1Eviction:
        return v1.create_namespaced_pod_eviction(name, "apps", client.V1Eviction(
            metadata=client.V1ObjectMeta(name=name, namespace="apps")))

    evict(names[0])
    with pytest.raises(client.ApiException) as err:
        evict(names[1])
    assert err.value.status == 429
    status = body_of(err.value)
    assert status["message"] == "Cannot evict pod as it would violate the pod's disruption budget."
    assert status["details"]["causes"][0]["message"] == (
        "The disruption budget web needs 2 healthy pods and has 2 currently")
    assert policy.read_namespaced_pod_disruption_budget(
        "web", "apps").status.disruptions_allowed == 0
    assert len(v1.list_namespaced_pod("apps").items) == 2


def test_watch_sees_a_node_turn_not_ready(lab: LiveKube, api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    events: list[tuple[str, str, str]] = []
    w = watch.Watch()
    for ev in w.stream(v1.list_node, timeout_seconds=10):
        node = ev["object"]
        ready = {c.type: c.status for c in node.status.conditions}["Ready"]
        events.append((ev["type"], node.metadata.name, ready))
        if len(events) == 3:  # the initial ADDED events: now the world reboots w2
            lab.call(lab.store.mutate, "nodes", "w2", lambda n: o.set_node_ready(n, None))
        if ev["type"] == "MODIFIED":
            w.stop()
    assert events == [("ADDED", "cp1", "True"), ("ADDED", "w1", "True"),
                      ("ADDED", "w2", "True"), ("MODIFIED", "w2", "Unknown")]


def test_delete_and_503(lab: LiveKube, api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    name = v1.list_namespaced_pod("apps").items[0].metadata.name
    gone = v1.delete_namespaced_pod(name, "apps")
    assert gone.metadata.name == name and gone.metadata.deletion_timestamp is not None
    wait_for(lambda: name not in [p.metadata.name for p in v1.list_namespaced_pod("apps").items],
             f"pod {name} to disappear")
    lab.up = False
    with pytest.raises(client.ApiException) as err:
        v1.list_node()
    assert err.value.status == 503
