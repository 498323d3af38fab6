"""A clone of a Talos template boots into maintenance mode on its cloud-init address
(emulator/maintenance.py, rebuild.md §3.2): it answers an insecure client only, for
non-sensitive resources; `version --insecure` is not implemented there; stopping it takes it
away. The lab PVE carries what a disk holds from the download to the template and its clones."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers.proxmox import Pve
from fixtures.procedures.pve_tasks import pve_task
from model.profile import load_profile
from tests.emulator.kube_live import wait_for

pytestmark = pytest.mark.lab


def _pve(lab: Any) -> tuple[Pve, Any]:
    profile = load_profile(lab.profile)
    conf = profile.proxmox
    token = Path(str(conf.token.ref)).read_text().strip()
    return Pve(conf.api, conf.node, token), conf



def test_a_clone_of_a_template_answers_in_maintenance_mode(make_lab: Callable[..., Any]) -> None:
    lab = make_lab()
    pve, conf = _pve(lab)
    factory = load_profile(lab.profile).talos.factory
    url = f"{factory.url}/image/{factory.schematic}/v1.10.5/nocloud-amd64.raw"
    pve_task(pve, "POST", "/nodes/pve/storage/local/download-url", "download", 10, url=url,
            content="import", filename="t.raw")
    pve_task(pve, "POST", "/nodes/pve/qemu", "create", 10, vmid=9300, name="t",
            scsi0="local-lvm:0,import-from=local:import/t.raw", net0="virtio,bridge=vmbr0")
    pve_task(pve, "POST", "/nodes/pve/qemu/9300/template", "template", 10)
    pve_task(pve, "POST", "/nodes/pve/qemu/9300/clone", "clone", 10, newid=9301, name="c", full=1)
    addr = conf.probe.address
    pve.call("PUT", "/nodes/pve/qemu/9301/config", {"ipconfig0": f"ip={addr}/8"})
    pve_task(pve, "POST", "/nodes/pve/qemu/9301/status/start", "start", 10)

    def get(*args: str) -> Any:
        return lab.talosctl(*args, "-n", addr)

    done = wait_for(lambda: (r := get("get", "machinestatus", "--insecure", "-o", "json"))
                  .returncode == 0 and r, "maintenance mode answers")
    assert json.loads(done.stdout)["spec"]["stage"] == "maintenance"
    version = json.loads(get("get", "version", "--insecure", "-o", "json").stdout)
    assert version["spec"]["version"] == "v1.10.5"
    ext = get("get", "extensions", "--insecure", "-o", "json").stdout
    assert factory.schematic in ext and "iscsi-tools" in ext
    secure = get("get", "machinestatus")
    assert secure.returncode == 1
    assert "x509: certificate signed by unknown authority" in secure.stderr
    unimplemented = get("version", "--insecure")
    assert "API is not implemented in maintenance mode" in unimplemented.stderr
    pve_task(pve, "POST", "/nodes/pve/qemu/9301/status/stop", "stop", 10)
    gone = get("get", "machinestatus", "--insecure")
    assert gone.returncode == 1 and "connection refused" in gone.stderr
