"""A full rebuild of the lab's cluster through its own PVE API and talosctl (rebuild.md §3):
every node VM shut down and destroyed (its address refuses, etcd and the Kubernetes API go
away), a clone of a new template on each old VMID/address boots into maintenance mode,
`apply-config --insecure` makes it a node again (control planes: etcd Preparing), `bootstrap`
starts a NEW etcd cluster the other control planes join, and the Kubernetes API comes back:
empty, or with the objects of the snapshot given to `bootstrap --recover-from`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from drivers.proxmox import Pve
from fixtures.procedures.pve_tasks import pve_task
from model.profile import load_profile
from tests.emulator.kube_live import wait_for

pytestmark = pytest.mark.lab

NEW = "v1.9.4"
TEMPLATE = 9010
CONFIG = """\
version: v1alpha1
machine:
  type: {type}
  token: lab-token
  ca:
    crt: LS0tLS1CRUdJTiBMQUIgRFVNTVktLS0tLQ==
{key}  kubelet:
    image: ghcr.io/siderolabs/kubelet:v1.32.2
  install:
    image: {installer}
cluster:
  id: bGFiLWNsdXN0ZXItaWQ=
  clusterName: lab
  controlPlane:
    endpoint: https://{endpoint}:6443
  secretboxEncryptionSecret: bGFiLXNlY3JldGJveA==
"""



class Rebuild:
    """The lab, its PVE API and its talosctl, with the steps of the rebuild runbook."""

    def __init__(self, lab: Any, tmp: Path) -> None:
        self.lab = lab
        self.profile = load_profile(lab.profile)
        conf = self.profile.proxmox
        self.pve = Pve(conf.api, conf.node, Path(str(conf.token.ref)).read_text().strip())
        self.tmp = tmp
        status = lab.status()
        self.nodes = [(n["name"], n["address"], n["role"], n["vmid"]) for n in status["nodes"]]
        self.primary = next(n["address"] for n in status["nodes"] if n["primary"])
        self.kube = f"http://{self.primary}:6443"
        factory = self.profile.talos.factory
        self.schematic = factory.schematic
        self.installer = f"{factory.url.split('://', 1)[1]}/installer/{factory.schematic}:{NEW}"
        for role, key in (("controlplane", "    key: LS0tLS1LRVktLS0tLQ==\n"), ("worker", "")):
            (tmp / f"{role}.yaml").write_text(
                CONFIG.format(type=role, key=key, installer=self.installer, endpoint=self.primary)
            )

    def talosctl(self, *args: str) -> Any:
        return self.lab.talosctl(*args)

    def make_template(self) -> None:
        url = f"{self.profile.talos.factory.url}/image/{self.schematic}/{NEW}/nocloud-amd64.raw"
        pve_task(
            self.pve,
            "POST",
            "/nodes/pve/storage/local/download-url",
            "download",
            10,
            url=url,
            content="import",
            filename="new.raw",
        )
        pve_task(
            self.pve,
            "POST",
            "/nodes/pve/qemu",
            "create",
            10,
            vmid=TEMPLATE,
            name="tpl",
            scsi0="local-lvm:0,import-from=local:import/new.raw",
            net0="virtio,bridge=vmbr0",
        )
        pve_task(self.pve, "POST", f"/nodes/pve/qemu/{TEMPLATE}/template", "template", 10)

    def teardown(self) -> None:
        for _, _, _, vmid in self.nodes:
            pve_task(self.pve, "POST", f"/nodes/pve/qemu/{vmid}/status/shutdown", "shutdown", 10)
            pve_task(
                self.pve,
                "DELETE",
                f"/nodes/pve/qemu/{vmid}",
                "destroy",
                10,
                purge=1,
                **{"destroy-unreferenced-disks": 1},
            )

    def redeploy(self, name: str, address: str, vmid: int) -> None:
        pve_task(
            self.pve,
            "POST",
            f"/nodes/pve/qemu/{TEMPLATE}/clone",
            "clone",
            10,
            newid=vmid,
            name=name,
            full=1,
        )
        self.pve.call("POST", f"/nodes/pve/qemu/{vmid}/config", {"ipconfig0": f"ip={address}/8"})
        pve_task(self.pve, "POST", f"/nodes/pve/qemu/{vmid}/status/start", "start", 10)
        wait_for(lambda: self.stage(address) == "maintenance", f"{name} in maintenance mode", 30)

    def stage(self, address: str, insecure: bool = True) -> str | None:
        flags = ["--insecure"] if insecure else []
        r = self.talosctl("get", "machinestatus", *flags, "-n", address, "-o", "json")
        return json.loads(r.stdout)["spec"]["stage"] if r.returncode == 0 else None

    def apply(self, address: str, role: str, *extra: str) -> Any:
        return self.talosctl(
            "apply-config",
            "--insecure",
            "-n",
            address,
            "--file",
            str(self.tmp / f"{role}.yaml"),
            *extra,
        )

    def etcd_state(self, address: str) -> str | None:
        r = self.talosctl("service", "etcd", "-n", address)
        for line in r.stdout.splitlines():
            if line.startswith("STATE"):
                return line.split()[1]
        return None

    def redeploy_all(self) -> None:
        self.make_template()
        for name, address, role, vmid in self.nodes:
            self.redeploy(name, address, vmid)
            r = self.apply(address, role)
            assert (r.returncode, r.stdout, r.stderr) == (0, "", ""), r.stderr
        for _, address, role, _ in self.nodes:
            if role == "controlplane":
                wait_for(lambda a=address: self.etcd_state(a) == "Preparing", "etcd Preparing", 30)

    def bootstrap(self, *extra: str) -> Any:
        return self.talosctl("bootstrap", "-n", self.primary, "-e", self.primary, *extra)

    def nodes_ready(self) -> dict[str, tuple[str, str, str]]:
        try:
            items = httpx.get(f"{self.kube}/api/v1/nodes", timeout=5).json()["items"]
        except (httpx.HTTPError, ValueError, KeyError):
            return {}
        return {
            n["metadata"]["name"]: (
                next(c["status"] for c in n["status"]["conditions"] if c["type"] == "Ready"),
                n["status"]["nodeInfo"]["kubeletVersion"],
                n["status"]["nodeInfo"]["osImage"],
            )
            for n in items
        }

    def wait_rebuilt(self) -> None:
        cps = sorted(a for _, a, role, _ in self.nodes if role == "controlplane")

        def members() -> bool:
            r = self.talosctl("etcd", "members", "-n", self.primary)
            return (
                r.returncode == 0
                and sorted(
                    line.split()[3].split("//")[1].split(":")[0]
                    for line in r.stdout.splitlines()[1:]
                    if line.split()[-1] == "false"
                )
                == cps
            )

        wait_for(members, "etcd members = the control planes, no learners", 60)
        want = {name: ("True", "v1.32.2", f"Talos ({NEW})") for name, *_ in self.nodes}
        wait_for(lambda: self.nodes_ready() == want, "every node Ready with the new versions",
                 30)
        assert self.stage(self.primary, insecure=False) == "running"

    def configmap(self, create: bool = False) -> int:
        url = f"{self.kube}/api/v1/namespaces/default/configmaps"
        if create:
            body = {"metadata": {"name": "before-rebuild"}, "data": {"k": "v"}}
            return httpx.post(url, json=body, timeout=5).status_code
        return httpx.get(f"{url}/before-rebuild", timeout=5).status_code


@pytest.fixture
def rebuild(make_lab: Callable[..., Any], tmp_path: Path) -> Rebuild:
    return Rebuild(make_lab(), tmp_path)


def test_a_destroyed_cluster_is_redeployed_and_bootstrapped_fresh(rebuild: Rebuild) -> None:
    assert rebuild.configmap(create=True) == 201
    rebuild.teardown()
    for _, address, _, _ in rebuild.nodes:
        gone = rebuild.talosctl("version", "-n", address, "-e", address)
        assert gone.returncode == 1 and "connection refused" in gone.stderr
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{rebuild.kube}/version", timeout=5)
    assert rebuild.lab.status()["etcd"]["members"] == []
    rebuild.redeploy_all()
    cp = rebuild.nodes[0][1]
    assert rebuild.stage(cp, insecure=False) == "booting"
    r = rebuild.bootstrap()
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    rebuild.wait_rebuilt()
    assert rebuild.configmap() == 404  # a NEW cluster: nothing of the old one
    again = rebuild.bootstrap()
    assert again.returncode == 1
    assert again.stderr.startswith(
        "error executing bootstrap: rpc error: code = AlreadyExists "
        "desc = etcd data directory is not empty"
    )
    worker = next(a for _, a, role, _ in rebuild.nodes if role == "worker")
    refused = rebuild.talosctl("bootstrap", "-n", worker, "-e", worker)
    assert (
        "code = FailedPrecondition desc = bootstrap can only be performed on a control "
        "plane node" in refused.stderr
    )
    status = rebuild.lab.status()
    assert {n["talos_version"] for n in status["nodes"]} == {NEW}


def test_bootstrap_recover_from_brings_the_snapshot_objects_back(rebuild: Rebuild) -> None:
    assert rebuild.configmap(create=True) == 201
    snap = rebuild.tmp / "etcd.snapshot"
    r = rebuild.talosctl("etcd", "snapshot", str(snap), "-n", rebuild.primary)
    assert r.returncode == 0, r.stderr
    rebuild.teardown()
    rebuild.redeploy_all()
    r = rebuild.bootstrap(f"--recover-from={snap}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f'recovering from snapshot "{snap}": hash ')
    assert ", revision " in r.stdout and ", total keys " in r.stdout and r.stderr == ""
    rebuild.wait_rebuilt()
    assert rebuild.configmap() == 200


def test_maintenance_refusals_and_faults(rebuild: Rebuild) -> None:
    cp, worker = rebuild.nodes[0], rebuild.nodes[-1]
    rebuild.lab.fault("maintenance_stuck", worker[0])
    rebuild.lab.fault("bootstrap_fails", cp[0])
    rebuild.teardown()
    rebuild.make_template()
    rebuild.redeploy(cp[0], cp[1], cp[3])
    secure = rebuild.talosctl("bootstrap", "-n", cp[1], "-e", cp[1])
    assert "x509: certificate signed by unknown authority" in secure.stderr
    staged = rebuild.apply(cp[1], "controlplane", "--mode=staged")
    assert staged.stderr.startswith(
        "error applying new configuration: rpc error: code = Unimplemented desc = apply "
        "configuration --mode='staged' is not supported in maintenance mode"
    )
    bad = rebuild.tmp / "bad.yaml"
    bad.write_text(
        (rebuild.tmp / "controlplane.yaml").read_text().replace("type: controlplane", "type: nope")
    )
    invalid = rebuild.talosctl("apply-config", "--insecure", "-n", cp[1], "-f", str(bad))
    assert (
        "code = InvalidArgument desc = configuration validation failed: 1 error "
        'occurred:\n\t* unknown machine type "nope"' in invalid.stderr
    )
    assert rebuild.stage(cp[1]) == "maintenance"
    assert rebuild.apply(cp[1], "controlplane").returncode == 0
    wait_for(lambda: rebuild.etcd_state(cp[1]) == "Preparing", "etcd Preparing", 30)
    failed = rebuild.bootstrap()
    assert "code = FailedPrecondition desc = time is not in sync yet" in failed.stderr
    assert rebuild.bootstrap().returncode == 0  # the fault fired once
    rebuild.redeploy(worker[0], worker[1], worker[3])
    stuck = rebuild.apply(worker[1], "worker")
    assert (stuck.returncode, stuck.stderr) == (0, "")
    assert rebuild.stage(worker[1]) == "maintenance"
