"""The lab's node VMs as real cloned Talos VMs, and PVE power/clone/destroy semantics a template
rebuild relies on: qemu-server `vm_shutdown`/`vm_stop` (`_do_vm_stop`), `clone_vm`'s error
path, `destroy_vm`, and the MAC rules of `update_vm_api` (pve-common `pve_verify_mac_addr`).
Faults `vm_wont_stop` and `clone_fails`, in the model and through a running lab.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from emulator.api import Lab
from emulator.errors import LabError
from emulator.proxmox.models import ProxmoxModel, Vm
from emulator.proxmox.routes import build_app
from tests.emulator.lab_helpers import lab_api
from tests.emulator.serving import serve

TOKEN_ID = "root@pam!harness"
SECRET = "5f0c7e0e-9f55-4d55-9c9a-6b7a7d0a1c2e"
AUTH = {"Authorization": f"PVEAPIToken={TOKEN_ID}={SECRET}"}
TIMEOUT = "VM quit/powerdown failed - got timeout"
LVM_FULL = "  Cannot create new thin volume, free space in thin pool pve/data reached threshold."
MAC = re.compile(r"^virtio=(BC:24:11(?::[0-9A-F]{2}){3}),bridge=vmbr0$")


@pytest.fixture
def model() -> ProxmoxModel:
    m = ProxmoxModel("pve", tokens={TOKEN_ID: SECRET}, clock=lambda: 1_700_000_000.0)
    tpl = m.add_talos_vm(9000, "talos-v1.10.6", "pve", ["template", "talos"], template=True)
    base = str(tpl.config["scsi0"]).split(",", 1)[0]
    for vmid, name, cores in ((201, "cp1", 4), (301, "w1", 2)):
        m.add_talos_vm(
            vmid,
            name,
            "pve",
            ["talos"],
            "running",
            cores=cores,
            memory=4096,
            ipconfig0=f"ip=127.40.0.{vmid - 180}/8",
            base=base,
        )
    return m


@pytest.fixture
def events(model: ProxmoxModel) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []

    def listener(event: str, vm: Vm) -> None:
        seen.append((event, vm.vmid))

    model.listeners.append(listener)
    return seen


@pytest.fixture
def api(model: ProxmoxModel) -> Iterator[httpx.Client]:
    with (
        serve(build_app(model)) as base,
        httpx.Client(base_url=base + "/api2/json", headers=AUTH, timeout=10) as client,
    ):
        yield client


def task(api: httpx.Client, upid: str) -> dict[str, Any]:
    got = api.get(f"/nodes/pve/tasks/{upid}/status").json()["data"]
    assert got["status"] == "stopped"
    return dict(got)


def log(api: httpx.Client, upid: str) -> list[str]:
    return [line["t"] for line in api.get(f"/nodes/pve/tasks/{upid}/log").json()["data"]]


def post(api: httpx.Client, path: str, **data: Any) -> str:
    r = api.post(path, data=data)
    assert r.status_code == 200, r.text
    return str(r.json()["data"])


def status(api: httpx.Client, vmid: int) -> str:
    return str(api.get(f"/nodes/pve/qemu/{vmid}/status/current").json()["data"]["status"])


# ---- node VMs ---------------------------------------------------------------------------------
def test_node_vm_config_is_a_cloned_talos_vm(api: httpx.Client, model: ProxmoxModel) -> None:
    cfg = api.get("/nodes/pve/qemu/201/config").json()["data"]
    m = MAC.match(cfg["net0"])
    assert m, cfg["net0"]
    assert (cfg["ipconfig0"], cfg["cpu"], cfg["cores"], cfg["memory"], cfg["agent"]) == (
        "ip=127.40.0.21/8",
        "x86-64-v2-AES",
        4,
        "4096",
        "1",
    )
    assert cfg["ide2"] == "local-lvm:vm-201-cloudinit,media=cdrom"
    assert cfg["scsi0"] == "local-lvm:vm-201-disk-0,iothread=1,size=32G"
    assert (cfg["boot"], cfg["ostype"], cfg["scsihw"], cfg["tags"]) == (
        "order=scsi0",
        "l26",
        "virtio-scsi-single",
        "talos",
    )
    assert cfg["smbios1"].startswith("uuid=") and "template" not in cfg
    # the MAC is stable per VM and differs between VMs; the first octet is unicast (I/G clear)
    other = api.get("/nodes/pve/qemu/301/config").json()["data"]["net0"]
    assert MAC.match(other) and other != cfg["net0"]
    assert int(m.group(1)[:2], 16) & 1 == 0
    disks = {d["volid"]: d for d in api.get("/nodes/pve/storage/local-lvm/content").json()["data"]}
    assert {
        "local-lvm:vm-201-disk-0",
        "local-lvm:vm-201-cloudinit",
        "local-lvm:base-9000-disk-0",
    } <= set(disks)
    assert disks["local-lvm:vm-201-disk-0"]["vmid"] == 201
    # recorded as a linked clone of the template's base volume
    vol = model.storages["local-lvm"].volumes["local-lvm:vm-201-disk-0"]
    assert vol.parent == "local-lvm:base-9000-disk-0"
    tpl = api.get("/nodes/pve/qemu/9000/config").json()["data"]
    assert (tpl["template"], tpl["cpu"], "ipconfig0" in tpl) == (1, "x86-64-v2-AES", False)


def test_without_guest_agent_agent_is_0(model: ProxmoxModel) -> None:
    vm = model.add_talos_vm(400, "x", agent=False)
    assert vm.config["agent"] == "0"
    assert "agent" not in model.status_current("pve", 400)


# ---- shutdown / stop ---------------------------------------------------------------------------
def test_shutdown_succeeds_at_once(api: httpx.Client, events: list[tuple[str, int]]) -> None:
    upid = post(api, "/nodes/pve/qemu/301/status/shutdown")
    assert ":qmshutdown:301:" in upid
    assert task(api, upid)["exitstatus"] == "OK"
    assert status(api, 301) == "stopped"
    assert events == [("shutdown", 301)]
    # a VM that is not running: check_running says no, the task ends OK at once
    assert task(api, post(api, "/nodes/pve/qemu/301/status/shutdown"))["exitstatus"] == "OK"
    assert task(api, post(api, "/nodes/pve/qemu/301/status/stop"))["exitstatus"] == "OK"


def test_shutdown_parameters_are_checked(api: httpx.Client) -> None:
    r = api.post("/nodes/pve/qemu/301/status/shutdown", data={"timeout": "-1", "forceStop": "x"})
    assert r.status_code == 400
    assert r.json()["errors"] == {
        "timeout": "value must have a minimum value of 0",
        "forceStop": "type check ('boolean') failed - got 'x'",
    }
    r = api.post("/nodes/pve/qemu/301/status/shutdown", data={"force": "1"})
    assert r.status_code == 400 and "force" in r.json()["errors"]
    assert status(api, 301) == "running"


def test_vm_wont_stop_times_out_and_stays_running(
    api: httpx.Client, model: ProxmoxModel, events: list[tuple[str, int]]
) -> None:
    model.wont_stop.add(301)
    upid = post(api, "/nodes/pve/qemu/301/status/shutdown", timeout="30")
    got = task(api, upid)
    assert got["exitstatus"] == TIMEOUT
    assert log(api, upid) == [f"TASK ERROR: {TIMEOUT}"]
    assert status(api, 301) == "running"
    assert events == []
    # reboot is a shutdown too (vm_reboot -> _do_vm_stop): it fails the same way
    assert task(api, post(api, "/nodes/pve/qemu/301/status/reboot"))["exitstatus"] == TIMEOUT
    # destroy still refuses the running VM
    r = api.delete("/nodes/pve/qemu/301")
    assert (r.status_code, r.json()["message"]) == (500, "VM 301 is running - destroy failed\n")
    assert events == []


def test_vm_wont_stop_force_stop_terminates(
    api: httpx.Client, model: ProxmoxModel, events: list[tuple[str, int]]
) -> None:
    model.wont_stop.add(301)
    upid = post(api, "/nodes/pve/qemu/301/status/shutdown", forceStop="1", timeout="5")
    assert task(api, upid)["exitstatus"] == "OK"  # a plain warn: not counted as a warning
    assert log(api, upid) == ["VM still running - terminating now with SIGTERM", "TASK OK"]
    assert status(api, 301) == "stopped"
    assert events == [("shutdown", 301)]


def test_vm_wont_stop_hard_stop_works(
    api: httpx.Client, model: ProxmoxModel, events: list[tuple[str, int]]
) -> None:
    model.wont_stop.add(301)
    upid = post(api, "/nodes/pve/qemu/301/status/stop")
    assert ":qmstop:301:" in upid and task(api, upid)["exitstatus"] == "OK"
    assert status(api, 301) == "stopped"
    assert events == [("stop", 301)]


def test_shutdown_timeout_0_times_out_but_the_guest_goes_down(
    api: httpx.Client, events: list[tuple[str, int]]
) -> None:
    upid = post(api, "/nodes/pve/qemu/301/status/shutdown", timeout="0")
    assert task(api, upid)["exitstatus"] == TIMEOUT
    assert status(api, 301) == "stopped"
    assert events == [("shutdown", 301)]


def test_locked_vm_shutdown_fails_in_the_task(
    api: httpx.Client, model: ProxmoxModel, events: list[tuple[str, int]]
) -> None:
    model.vms[301].lock = "backup"
    upid = post(api, "/nodes/pve/qemu/301/status/shutdown")
    assert task(api, upid)["exitstatus"] == "VM is locked (backup)"
    assert status(api, 301) == "running" and events == []


def test_power_needs_vm_powermgmt(api: httpx.Client, model: ProxmoxModel) -> None:
    model.revoke(TOKEN_ID, "VM.PowerMgmt")
    r = api.post("/nodes/pve/qemu/301/status/shutdown")
    assert (r.status_code, r.json()["message"]) == (
        403,
        "Permission check failed (/vms/301, VM.PowerMgmt)\n",
    )


# ---- clone failures ----------------------------------------------------------------------------
def test_clone_fails_after_n_and_leaves_nothing(
    api: httpx.Client, model: ProxmoxModel, events: list[tuple[str, int]]
) -> None:
    model.fail_clone(after=1)
    ok = post(api, "/nodes/pve/qemu/9000/clone", newid="501", name="cp1")
    assert task(api, ok)["exitstatus"] == "OK"
    bad = post(api, "/nodes/pve/qemu/9000/clone", newid="502", name="cp2")
    assert ":qmclone:9000:" in bad
    want = f"clone failed: lvcreate 'pve/vm-502-cloudinit' error: {LVM_FULL}"
    assert task(api, bad)["exitstatus"] == want
    assert log(api, bad) == [
        "creating a clone of VM 9000 with ID 502",
        "create full clone of drive ide2 (local-lvm:vm-9000-cloudinit)",
        f"TASK ERROR: {want}",
    ]
    r = api.get("/nodes/pve/qemu/502/status/current")
    assert (r.status_code, r.json()["message"]) == (
        500,
        "Configuration file 'nodes/pve/qemu-server/502.conf' does not exist\n",
    )
    assert not any(v.vmid == 502 for st in model.storages.values() for v in st.volumes.values())
    assert events == [("clone", 501)]
    # one-shot: the next clone works
    assert task(api, post(api, "/nodes/pve/qemu/9000/clone", newid="502"))["exitstatus"] == "OK"


def test_clone_fails_with_a_message_and_linked_base_text(model: ProxmoxModel) -> None:
    model.fail_clone(message="custom reason")
    upid = model.clone("pve", 9000, {"newid": "503"}, TOKEN_ID)
    assert model.tasks[upid].exitstatus == "clone failed: custom reason"
    # a source without a cloud-init drive fails at its linked disk: clone_image's text
    del model.vms[9000].config["ide2"]
    model.fail_clone()
    upid = model.clone("pve", 9000, {"newid": "504"}, TOKEN_ID)
    assert model.tasks[upid].exitstatus == (
        f"clone failed: clone image 'pve/base-9000-disk-0' error: {LVM_FULL}"
    )
    assert 503 not in model.vms and 504 not in model.vms


# ---- destroy and config -----------------------------------------------------------------------
def test_destroy_running_refused_then_purged(
    api: httpx.Client, model: ProxmoxModel, events: list[tuple[str, int]]
) -> None:
    r = api.delete("/nodes/pve/qemu/201", params={"purge": "1", "destroy-unreferenced-disks": "1"})
    assert (r.status_code, r.json()["message"]) == (500, "VM 201 is running - destroy failed\n")
    task(api, post(api, "/nodes/pve/qemu/201/status/stop"))
    model.add_volume("local-lvm:vm-201-disk-7", 1024**3)  # an orphan disk of this vmid
    r = api.delete("/nodes/pve/qemu/201", params={"purge": "1", "destroy-unreferenced-disks": "1"})
    assert r.status_code == 200
    upid = r.json()["data"]
    assert ":qmdestroy:201:" in upid and task(api, upid)["exitstatus"] == "OK"
    assert "Removed volume 'local-lvm:vm-201-disk-7'" in log(api, upid)
    assert not any(v.vmid == 201 for st in model.storages.values() for v in st.volumes.values())
    r = api.get("/nodes/pve/qemu/201/status/current")
    assert (r.status_code, r.json()["message"]) == (
        500,
        "Configuration file 'nodes/pve/qemu-server/201.conf' does not exist\n",
    )
    assert events == [("stop", 201), ("delete", 201)]


def test_destroy_template_is_not_refused_but_protection_is(api: httpx.Client) -> None:
    post(api, "/nodes/pve/qemu/9000/config", protection="1")
    r = api.delete("/nodes/pve/qemu/9000")
    assert (r.status_code, r.json()["message"]) == (
        500,
        "can't remove VM 9000 - protection mode enabled\n",
    )
    post(api, "/nodes/pve/qemu/9000/config", delete="protection")
    upid = str(api.delete("/nodes/pve/qemu/9000").json()["data"])
    assert task(api, upid)["exitstatus"] == "OK"  # LVM-thin: linked clones do not pin the base


def test_config_keeps_a_given_mac_and_checks_it(api: httpx.Client) -> None:
    post(api, "/nodes/pve/qemu/9000/clone", newid="510", name="cp1")
    post(
        api,
        "/nodes/pve/qemu/510/config",
        net0="virtio=BC:24:11:0A:0B:0c,bridge=vmbr0",
        ipconfig0="ip=127.40.0.21/8",
    )
    cfg = api.get("/nodes/pve/qemu/510/config").json()["data"]
    assert (cfg["net0"], cfg["ipconfig0"]) == (
        "virtio=BC:24:11:0A:0B:0c,bridge=vmbr0",
        "ip=127.40.0.21/8",
    )
    r = api.post("/nodes/pve/qemu/510/config", data={"net0": "virtio=01:00:5E:00:00:01,bridge=x"})
    assert r.status_code == 400
    assert r.json()["errors"] == {
        "net0": "invalid format - format error\nnet0.macaddr: invalid "
        "format - value does not look like a valid unicast MAC "
        "address"
    }
    post(api, "/nodes/pve/qemu/510/config", net1="virtio,bridge=vmbr1")
    assert MAC.match(
        api.get("/nodes/pve/qemu/510/config").json()["data"]["net1"].replace("vmbr1", "vmbr0")
    )


# ---- through a running lab ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def lab(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab()


def test_lab_node_vms_carry_mac_and_ipconfig(lab: Lab) -> None:
    with lab_api(lab) as http:
        vms = {
            v["name"]: v["vmid"]
            for v in http.get("/cluster/resources", params={"type": "vm"}).json()["data"]
        }
        for node in lab.status()["nodes"]:
            vmid = vms[node["name"]]
            cfg = http.get(f"/nodes/pve/qemu/{vmid}/config").json()["data"]
            assert MAC.match(cfg["net0"]), cfg
            assert cfg["ipconfig0"] == f"ip={node['address']}/8"
            assert (cfg["cpu"], cfg["agent"], cfg["ide2"]) == (
                "x86-64-v2-AES",
                "1",
                f"local-lvm:vm-{vmid}-cloudinit,media=cdrom",
            )
            assert cfg["cores"] == (4 if node["name"].startswith("cp") else 2)


def test_lab_faults_vm_wont_stop_and_clone_fails(lab: Lab) -> None:
    with pytest.raises(LabError, match="give a node or a vmid"):
        lab.fault("vm_wont_stop")
    with pytest.raises(LabError, match="after must be a number"):
        lab.fault("clone_fails", after="x")
    lab.fault("vm_wont_stop", "w3")
    faults = {f["kind"]: f for f in lab.status()["faults"]}
    assert (faults["vm_wont_stop"]["node"], faults["vm_wont_stop"]["vmid"]) == ("w3", 303)
    with lab_api(lab) as http:
        upid = http.post("/nodes/pve/qemu/303/status/shutdown").json()["data"]
        got = http.get(f"/nodes/pve/tasks/{upid}/status").json()["data"]
        assert got["exitstatus"] == TIMEOUT
        assert http.get("/nodes/pve/qemu/303/status/current").json()["data"]["status"] == "running"
        lab.fault("clone_fails", message="injected")
        upid = http.post("/nodes/pve/qemu/9000/clone", data={"newid": "777"}).json()["data"]
        got = http.get(f"/nodes/pve/tasks/{upid}/status").json()["data"]
        assert got["exitstatus"] == "clone failed: injected"
        assert http.get("/nodes/pve/qemu/777/config").status_code == 500
