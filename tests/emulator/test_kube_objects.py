"""Builders: every object passes the strict kubernetes client models and reads like Talos;
server-side Table cells match kubectl's printers."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import kubernetes.client as k
import pytest

from emulator.kube import objects as o
from emulator.kube.clock import human_duration
from emulator.kube.resources import resolve
from emulator.kube.seed import seed_demo_cluster
from emulator.kube.store import KubeStore
from emulator.kube.tables import pod_status_reason, table

AT = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
MODELS = {"namespaces": k.V1Namespace, "nodes": k.V1Node, "pods": k.V1Pod,
          "events": k.CoreV1Event, "services": k.V1Service, "configmaps": k.V1ConfigMap,
          "deployments": k.V1Deployment, "daemonsets": k.V1DaemonSet,
          "replicasets": k.V1ReplicaSet, "poddisruptionbudgets": k.V1PodDisruptionBudget,
          "leases": k.V1Lease}


def test_every_seeded_object_is_accepted_by_the_strict_client() -> None:
    s = KubeStore()
    seed_demo_cluster(s, at=AT)
    s.put("pods", o.crashloop_pod("crash", "default", "w1", at=AT))
    s.put("configmaps", o.configmap("c", "default", {"a": "1"}, at=AT))
    checked = 0
    for plural, model in MODELS.items():
        for obj in s.list(plural)[0]:
            assert model.from_dict(obj) is not None, obj["metadata"]["name"]
            checked += 1
    assert checked > 30
    node_list = {"kind": "NodeList", "apiVersion": "v1", "metadata": {"resourceVersion": "9"},
                 "items": s.list("nodes")[0]}
    assert len(k.V1NodeList.from_dict(node_list).items) == 3
    assert k.VersionInfo.from_dict(o.version_info("1.32.2")).git_version == "v1.32.2"


def test_node_reads_like_talos() -> None:
    n = o.node("cp1", "127.0.10.1", "controlplane", "v1.9.2", "1.32.0", at=AT)
    labels = n["metadata"]["labels"]
    assert labels["node-role.kubernetes.io/control-plane"] == ""
    assert labels["kubernetes.io/hostname"] == "cp1" and labels["kubernetes.io/os"] == "linux"
    info = n["status"]["nodeInfo"]
    assert (info["osImage"], info["kubeletVersion"], info["kernelVersion"],
            info["containerRuntimeVersion"]) == ("Talos (v1.9.2)", "v1.32.0", "6.12.6-talos",
                                                 "containerd://2.0.2")
    assert [c["type"] for c in n["status"]["conditions"]] == [
        "MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
    assert n["status"]["addresses"] == [{"type": "InternalIP", "address": "127.0.10.1"},
                                        {"type": "Hostname", "address": "cp1"}]
    o.set_node_ready(n, None, AT + timedelta(minutes=1))
    ready = n["status"]["conditions"][-1]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
    assert {t["key"] for t in n["spec"]["taints"]} == {
        "node-role.kubernetes.io/control-plane", "node.kubernetes.io/unreachable"}
    o.set_node_ready(n, True, AT)
    o.set_node_unschedulable(n, True, AT)
    assert n["spec"]["unschedulable"] is True
    assert {t["key"] for t in n["spec"]["taints"]} == {
        "node-role.kubernetes.io/control-plane", "node.kubernetes.io/unschedulable"}
    with pytest.raises(ValueError, match="role must be 'controlplane' or 'worker'"):
        o.node("x", "127.0.0.9", "master")


def test_static_pods_and_kube_proxy() -> None:
    p = o.static_pod("kube-apiserver", "cp2", "1.32.0", "3", node_ip="127.0.10.2", at=AT)
    assert p["metadata"]["name"] == "kube-apiserver-cp2"
    assert p["metadata"]["labels"] == {"k8s-app": "kube-apiserver", "tier": "control-plane"}
    assert p["metadata"]["annotations"]["talos.dev/config-version"] == "3"
    assert p["spec"]["containers"][0]["image"] == "registry.k8s.io/kube-apiserver:v1.32.0"
    assert p["status"]["podIP"] == "127.0.10.2" and o.pod_ready(p)
    ds, pods = o.kube_proxy(["cp1", "w1"], "1.32.0")
    assert ds["metadata"]["labels"] == {"k8s-app": "kube-proxy", "tier": "node"}
    assert ds["status"]["desiredNumberScheduled"] == ds["status"]["numberReady"] == 2
    assert all(q["metadata"]["ownerReferences"][0]["kind"] == "DaemonSet" for q in pods)
    assert [q["spec"]["nodeName"] for q in pods] == ["cp1", "w1"]
    upgraded = o.with_image(pods[0], "registry.k8s.io/kube-proxy:v1.32.2")
    assert upgraded["status"]["containerStatuses"][0]["image"].endswith(":v1.32.2")
    assert pods[0]["spec"]["containers"][0]["image"].endswith(":v1.32.0"), "with_* copies"


def test_pod_states_and_their_kubectl_status() -> None:
    dep, rs, pods = o.deployment("web", "apps", 2, {"app": "web"}, "nginx:1.27", ["w1"])
    assert rs["metadata"]["ownerReferences"][0]["name"] == "web"
    assert pods[0]["metadata"]["name"].startswith(rs["metadata"]["name"] + "-")
    crash = o.crashloop_pod("crash", "default", "w1", restarts=4, at=AT)
    cs = crash["status"]["containerStatuses"][0]
    assert cs["state"]["waiting"]["reason"] == "CrashLoopBackOff" and cs["restartCount"] == 4
    assert pod_status_reason(crash) == "CrashLoopBackOff" and not o.pod_ready(crash)
    row = table(resolve("pods"), [crash], AT + timedelta(minutes=3))["rows"][0]["cells"]
    assert row[:5] == ["crash", "0/1", "CrashLoopBackOff", "4 (3m ago)", "3m"]
    pending = o.clone_pod_to(pods[0], None, "abcde")
    assert pending["status"]["phase"] == "Pending" and "nodeName" not in pending["spec"]
    assert pod_status_reason(pending) == "Pending"
    assert o.workload_status(dep, pods + [pending])["readyReplicas"] == 2


def test_velero_and_flux() -> None:
    b = o.velero_backup("pre", excluded_namespaces=["kube-system"], at=AT)
    assert b["status"] == {} and b["spec"]["includedNamespaces"] == ["*"]
    o.set_backup_phase(b, "InProgress", at=AT, items=10)
    o.set_backup_phase(b, "Completed", at=AT + timedelta(minutes=2))
    st = b["status"]
    assert (st["phase"], st["startTimestamp"], st["completionTimestamp"], st["expiration"]) == (
        "Completed", "2026-11-20T10:00:00Z", "2026-11-20T10:02:00Z", "2026-12-20T10:00:00Z")
    assert st["progress"] == {"totalItems": 10, "itemsBackedUp": 10}
    with pytest.raises(ValueError, match="unknown Velero backup phase 'Done'"):
        o.set_backup_phase(b, "Done")
    started = o.backup_status("InProgress", at=AT)
    done = o.backup_status("Completed", items=3, at=AT + timedelta(minutes=1))
    merged = {**started, **done}  # what two merge patches of .status leave
    assert (merged["startTimestamp"], merged["completionTimestamp"]) == (
        "2026-11-20T10:00:00Z", "2026-11-20T10:01:00Z")
    ks = o.with_flux_ready(o.kustomization("apps", at=AT), False, at=AT)
    assert o.flux_ready(ks) == "False"
    assert ks["status"]["conditions"][0]["reason"] == "ReconciliationFailed"
    hr = o.helmrelease("podinfo", "apps", chart="podinfo", version="6.7.1", at=AT)
    assert [(c["type"], c["status"]) for c in hr["status"]["conditions"]] == [
        ("Ready", "True"), ("Released", "True")]


def test_node_table_cells() -> None:
    n = o.node("w1", "127.0.10.11", at=AT)
    o.set_node_unschedulable(n, True)
    t = table(resolve("nodes"), [n], AT + timedelta(days=3, hours=4))
    assert [c["name"] for c in t["columnDefinitions"]][:5] == [
        "Name", "Status", "Roles", "Age", "Version"]
    assert t["rows"][0]["cells"] == ["w1", "Ready,SchedulingDisabled", "<none>", "3d4h",
                                     "v1.32.0", "127.0.10.11", "<none>", "Talos (v1.9.2)",
                                     "6.12.6-talos", "containerd://2.0.2"]
    assert t["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (0, "0s"), (119, "119s"), (150, "2m30s"), (600, "10m"),
    (3 * 3600 + 60, "3h1m"), (9 * 3600, "9h"), (3 * 86400 + 3600, "3d1h"), (30 * 86400, "30d"),
    (3 * 365 * 86400, "3y"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


def test_package_does_not_import_the_kubernetes_client() -> None:
    code = ("import sys, emulator.kube, emulator.kube.objects, emulator.kube.seed; "
            "print('kubernetes' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip() == "False"
