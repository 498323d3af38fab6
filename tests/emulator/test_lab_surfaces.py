"""The lab's other surfaces, as users reach them: kubectl and the official Python client on
DIR/kubeconfig, the Image Factory and the Proxmox VE API of a running lab (one shared lab)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from kubernetes import client, config

from emulator.api import Lab
from tests.emulator.lab_helpers import SCHEMATIC, addresses, wait_until


@pytest.fixture(scope="module")
def lab(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab()


@pytest.fixture(scope="module")
def api(lab: Lab) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(lab.dir / "kubeconfig"))
    yield api
    api.close()


def kubectl(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=lab.env(),
                          timeout=60, check=False)


def test_kubectl_get_nodes(lab: Lab) -> None:
    done = kubectl(lab, "get", "nodes", "-o", "wide")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert sorted(rows) == ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
    ip = addresses(lab)
    assert rows["cp1"][1:3] == ["Ready", "control-plane"] and rows["w1"][2] == "<none>"
    assert rows["w2"][4] == "v1.32.0" and rows["w2"][5] == ip["w2"]
    assert "Talos (v1.9.2)" in lines[1]


def test_kubectl_get_pods_all_namespaces(lab: Lab) -> None:
    done = kubectl(lab, "get", "pods", "-A")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    names = {tuple(line.split()[:2]) for line in lines[1:]}
    for cp in ("cp1", "cp2", "cp3"):
        for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
            assert ("kube-system", f"{c}-{cp}") in names
    assert sum(1 for ns, n in names if n.startswith("kube-proxy-")) == 6
    assert any(ns == "kube-system" and n.startswith("coredns-") for ns, n in names)
    assert all(line.split()[2:4] == ["1/1", "Running"] for line in lines[1:])


def test_velero_backups_with_kubectl_and_the_python_client(lab: Lab,
                                                           api: client.ApiClient) -> None:
    done = kubectl(lab, "get", "backups.velero.io", "-A")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr.strip() == "No resources found"
    custom = client.CustomObjectsApi(api)
    custom.create_namespaced_custom_object(
        "velero.io", "v1", "velero", "backups",
        {"apiVersion": "velero.io/v1", "kind": "Backup",
         "metadata": {"name": "pre-upgrade", "namespace": "velero"},
         "spec": {"excludedNamespaces": ["kube-system"], "ttl": "720h0m0s"}})
    phases: list[str] = []

    def completed() -> bool:
        obj: dict[str, Any] = custom.get_namespaced_custom_object(
            "velero.io", "v1", "velero", "backups", "pre-upgrade")
        phase = (obj.get("status") or {}).get("phase", "New")
        if not phases or phases[-1] != phase:
            phases.append(phase)
        return phase == "Completed"

    wait_until(completed, 30, "backup pre-upgrade Completed", interval=0.02)
    assert phases[-1] == "Completed" and "InProgress" in phases
    done = kubectl(lab, "get", "backups.velero.io", "-A")
    assert done.returncode == 0
    assert done.stdout.split()[:5] == ["NAMESPACE", "NAME", "AGE", "velero", "pre-upgrade"]


def test_python_client_strict_models(lab: Lab, api: client.ApiClient) -> None:
    v1 = client.CoreV1Api(api)
    assert client.VersionApi(api).get_code().git_version == "v1.32.0"
    nodes = v1.list_node().items
    assert [n.metadata.name for n in nodes] == ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
    w1 = v1.read_node("w1")
    assert w1.status.node_info.os_image == "Talos (v1.9.2)"
    assert w1.status.node_info.kubelet_version == "v1.32.0"
    assert {c.type: c.status for c in w1.status.conditions}["Ready"] == "True"
    assert not w1.spec.unschedulable
    assert any(a.type == "InternalIP" and a.address == addresses(lab)["w1"]
               for a in w1.status.addresses)
    ds = client.AppsV1Api(api).read_namespaced_daemon_set("kube-proxy", "kube-system")
    assert ds.spec.template.spec.containers[0].image == "registry.k8s.io/kube-proxy:v1.32.0"
    pdbs = client.PolicyV1Api(api).list_pod_disruption_budget_for_all_namespaces().items
    assert [(p.metadata.namespace, p.metadata.name) for p in pdbs] == [("apps", "web")]
    flux = client.CustomObjectsApi(api).list_cluster_custom_object(
        "kustomize.toolkit.fluxcd.io", "v1", "kustomizations")
    assert {k["metadata"]["name"]: k["status"]["conditions"][0]["status"]
            for k in flux["items"]} == {"apps": "True", "flux-system": "True"}


# ---- Image Factory ---------------------------------------------------------------------------
def test_factory_endpoints(lab: Lab) -> None:
    base = lab.state["factory"]
    with httpx.Client(base_url=base, timeout=10) as http:
        versions = http.get("/versions").json()
        assert "v1.9.2" in versions and "v1.9.4" in versions
        body = ("customization:\n    systemExtensions:\n        officialExtensions:\n"
                "            - siderolabs/iscsi-tools\n            - siderolabs/qemu-guest-agent\n")
        made = http.post("/schematics", content=body)
        assert made.status_code == 201 and made.json()["id"] == SCHEMATIC
        vanilla = http.post("/schematics", content="customization: {}\n").json()["id"]
        assert vanilla == "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
        exts = http.get("/version/v1.9.4/extensions/official").json()
        names = {e["name"] for e in exts}
        assert {"siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent"} <= names
        image = http.head(f"/image/{SCHEMATIC}/v1.9.4/nocloud-amd64.raw.xz")
        assert image.status_code == 200
        assert image.headers["Content-Disposition"] == 'attachment; filename="nocloud-amd64.raw.xz"'
        manifest = http.get(f"/v2/installer/{SCHEMATIC}/manifests/v1.9.4")
        assert manifest.status_code == 200 and "Docker-Content-Digest" in manifest.headers
        assert http.get("/pxe/x").status_code == 501


# ---- Proxmox VE ------------------------------------------------------------------------------
def test_proxmox_lists_one_vm_per_node_and_the_template(lab: Lab) -> None:
    token = (lab.dir / "pve-token").read_text().strip()
    assert token.startswith("root@pam!harness=")
    with httpx.Client(base_url=lab.state["proxmox"] + "/api2/json", timeout=10) as http:
        denied = http.get("/cluster/resources", params={"type": "vm"})
        assert denied.status_code == 401
        got = http.get("/cluster/resources", params={"type": "vm"},
                       headers={"Authorization": f"PVEAPIToken={token}"})
    assert got.status_code == 200
    vms = {vm["vmid"]: vm for vm in got.json()["data"]}
    assert sorted(vms) == [201, 202, 203, 301, 302, 303, 9000]
    assert {vms[v]["name"] for v in (201, 202, 203, 301, 302, 303)} == \
        {"cp1", "cp2", "cp3", "w1", "w2", "w3"}
    for vmid in (201, 301):
        vm = vms[vmid]
        assert (vm["id"], vm["type"], vm["node"], vm["status"], vm["template"]) == \
            (f"qemu/{vmid}", "qemu", "pve", "running", 0)
        assert vm["tags"] == "lab;talos"
    template = vms[9000]
    assert (template["template"], template["status"]) == (1, "stopped")
    assert json.dumps(got.json()).count('"vmid"') == 7
