"""The emulated Proxmox VE API: listing shapes, token auth, status changes and tasks over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from emulator.proxmox.errors import VmNotFound
from emulator.proxmox.models import ProxmoxModel, Vm
from emulator.proxmox.routes import build_app
from tests.emulator.serving import serve

TOKEN_ID = "root@pam!harness"
SECRET = "5f0c7e0e-9f55-4d55-9c9a-6b7a7d0a1c2e"
AUTH = {"Authorization": f"PVEAPIToken={TOKEN_ID}={SECRET}"}
UPID = re.compile(r"^UPID:pve:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:(\w+):(\d+):root@pam!harness:$")
VM_KEYS = {"id", "vmid", "node", "type", "status", "name", "template", "uptime", "cpu", "maxcpu",
           "mem", "maxmem", "disk", "maxdisk", "netin", "netout", "diskread", "diskwrite"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now




@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def model(clock: Clock) -> ProxmoxModel:
    m = ProxmoxModel("pve", tokens={TOKEN_ID: SECRET}, clock=clock)
    m.add_vm(201, "cp1", "pve", ["talos", "Home"], "running")
    m.add_vm(301, "w1", "pve", "talos,home", "running")
    m.add_vm(1000, "w2", "pve", ["talos"], "stopped")
    m.add_vm(9000, "talos-v1.9.2", "pve", ["template", "talos"], "stopped", template=True)
    return m


@pytest.fixture
def base(model: ProxmoxModel) -> Iterator[str]:
    with serve(build_app(model)) as url:
        yield url


@pytest.fixture
def api(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base + "/api2/json", headers=AUTH) as c:
        yield c


def wait_task(api: httpx.Client, upid: str, polls: int = 10) -> dict[str, object]:
    """Poll the task status until it has stopped; fail with the last answer if it does not."""
    last: dict[str, object] = {}
    for _ in range(polls):
        last = api.get(f"/nodes/pve/tasks/{upid}/status").json()["data"]
        if last["status"] == "stopped":
            return last
    raise AssertionError(f"task {upid} still running after {polls} polls: {last}")


# ---- listing shapes ---------------------------------------------------------------------------
def test_cluster_resources_vm_shape(api: httpx.Client, clock: Clock) -> None:
    clock.now += 42
    r = api.get("/cluster/resources", params={"type": "vm"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json;charset=UTF-8"
    data = r.json()["data"]
    assert [e["vmid"] for e in data] == [1000, 201, 301, 9000], "PVE sorts vmids as text"
    cp1 = next(e for e in data if e["vmid"] == 201)
    assert set(cp1) >= VM_KEYS
    assert (cp1["id"], cp1["type"], cp1["node"], cp1["status"], cp1["name"]) == (
        "qemu/201", "qemu", "pve", "running", "cp1")
    assert cp1["template"] == 0 and cp1["uptime"] == 42
    assert cp1["tags"] == "home;talos", "tags are lower-cased, sorted, joined with ';'"
    template = next(e for e in data if e["vmid"] == 9000)
    assert (template["template"], template["status"], template["uptime"]) == (1, "stopped", 0)
    assert all(isinstance(e["vmid"], int) for e in data)
    everything = api.get("/cluster/resources").json()["data"]
    assert [e["id"] for e in everything if e["type"] == "node"] == ["node/pve"]


def test_nodes_and_qemu_list(api: httpx.Client) -> None:
    nodes = api.get("/nodes").json()["data"]
    assert [(n["node"], n["status"], n["type"]) for n in nodes] == [("pve", "online", "node")]
    vms = api.get("/nodes/pve/qemu").json()["data"]
    assert [v["vmid"] for v in vms] == [201, 301, 1000, 9000]
    running = vms[0]
    assert running["status"] == "running" and "pid" in running and "template" not in running
    assert vms[-1]["template"] == 1 and "pid" not in vms[-1]
    unknown = api.get("/nodes/pve2/qemu")
    assert unknown.status_code == 500
    assert unknown.json()["message"].startswith("hostname lookup 'pve2' failed")


def test_status_current_and_config(api: httpx.Client) -> None:
    cur = api.get("/nodes/pve/qemu/201/status/current").json()["data"]
    assert (cur["vmid"], cur["status"], cur["qmpstatus"], cur["name"]) == (
        201, "running", "running", "cp1")
    assert cur["ha"] == {"managed": 0} and cur["tags"] == "home;talos"
    cfg = api.get("/nodes/pve/qemu/9000/config").json()["data"]
    assert cfg["template"] == 1 and cfg["name"] == "talos-v1.9.2"
    assert cfg["tags"] == "talos;template"
    assert re.fullmatch(r"[0-9a-f]{40}", cfg["digest"])
    assert "template" not in api.get("/nodes/pve/qemu/201/config").json()["data"]


def test_missing_and_malformed_vm(api: httpx.Client) -> None:
    r = api.get("/nodes/pve/qemu/999/status/current")
    assert r.status_code == 500
    assert r.reason_phrase == "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist"
    assert r.json() == {"data": None, "message":
                        "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist\n"}
    bad = api.get("/nodes/pve/qemu/abc/config")
    assert bad.status_code == 400
    assert bad.json()["errors"] == {"vmid": "type check ('integer') failed - got 'abc'"}


# ---- auth -------------------------------------------------------------------------------------
def test_token_auth(base: str) -> None:
    url = base + "/api2/json/nodes"
    none = httpx.get(url)
    assert (none.status_code, none.reason_phrase, none.content) == (401, "No ticket", b"")
    wrong = httpx.get(url, headers={"Authorization": f"PVEAPIToken={TOKEN_ID}=nope"})
    assert (wrong.status_code, wrong.reason_phrase) == (401, "Authentication failed!")
    other = httpx.get(url, headers={"Authorization": f"PVEAPIToken=root@pam!other={SECRET}"})
    assert other.status_code == 401
    cookie = httpx.get(url, cookies={"PVEAuthCookie": "PVE:root@pam:..."})
    assert (cookie.status_code, cookie.reason_phrase) == (401, "Authentication failed!")
    spaced = httpx.get(url, headers={"Authorization": f"PVEAPIToken {TOKEN_ID}={SECRET}"})
    assert spaced.status_code == 200, "PVE also accepts a space after PVEAPIToken"
    assert httpx.get(url, headers=AUTH).status_code == 200


def test_unknown_paths_are_not_emulated(api: httpx.Client, base: str) -> None:
    r = api.get("/nodes/pve/lxc")
    assert r.status_code == 501
    assert r.json()["message"] == "not emulated: GET /api2/json/nodes/pve/lxc\n"
    assert httpx.get(base + "/api2/json/nodes/pve/lxc").status_code == 401, "auth comes first"


# ---- status changes ---------------------------------------------------------------------------
def test_lab_changes_vm_status(api: httpx.Client, model: ProxmoxModel, clock: Clock) -> None:
    model.set_status(301, "stopped")
    entry = next(e for e in api.get("/cluster/resources", params={"type": "vm"}).json()["data"]
                 if e["vmid"] == 301)
    assert (entry["status"], entry["uptime"], entry["mem"]) == ("stopped", 0, 0)
    clock.now += 5
    model.set_status(301, "running")
    clock.now += 7
    assert api.get("/nodes/pve/qemu/301/status/current").json()["data"]["uptime"] == 7
    with pytest.raises(ValueError, match="running or stopped"):
        model.set_status(301, "paused")
    with pytest.raises(VmNotFound, match="qemu-server/4242.conf"):
        model.set_status(4242, "running")


def test_power_actions_return_upids_and_tasks_finish(api: httpx.Client,
                                                     model: ProxmoxModel) -> None:
    model.task_polls = 1
    events: list[tuple[str, int]] = []
    model.listeners.append(lambda event, vm: events.append((event, vm.vmid)))
    upid = api.post("/nodes/pve/qemu/201/status/shutdown", data={"timeout": "60"}).json()["data"]
    m = UPID.match(upid)
    assert m and m.groups() == ("qmshutdown", "201"), upid
    first = api.get(f"/nodes/pve/tasks/{upid}/status").json()["data"]
    assert first["status"] == "running" and "exitstatus" not in first
    done = wait_task(api, upid)
    assert (done["exitstatus"], done["user"], done["tokenid"], done["id"]) == (
        "OK", "root@pam", "harness", "201")
    assert model.vms[201].status == "stopped"
    start = api.post("/nodes/pve/qemu/201/status/start").json()["data"]
    assert wait_task(api, start)["exitstatus"] == "OK" and model.vms[201].status == "running"
    again = api.post("/nodes/pve/qemu/201/status/start").json()["data"]
    assert wait_task(api, again)["exitstatus"] == "VM 201 already running"
    assert events == [("shutdown", 201), ("start", 201)]
    reboot = api.post("/nodes/pve/qemu/1000/status/reboot")
    assert (reboot.status_code, reboot.json()["message"]) == (500, "VM 1000 not running\n")
    tpl = api.post("/nodes/pve/qemu/9000/status/start").json()["data"]
    assert wait_task(api, tpl)["exitstatus"] == "you can't start a vm if it's a template"


def test_unknown_task(api: httpx.Client) -> None:
    r = api.get("/nodes/pve/tasks/UPID:nope/status")
    assert r.status_code == 400
    assert r.json()["errors"] == {"upid": "unable to parse worker upid"}
    upid = "UPID:pve:00000001:00000002:00000003:qmstart:1:u@pam:"
    missing = api.get(f"/nodes/pve/tasks/{upid}/status")
    assert missing.json()["errors"] == {"upid": "no such task"}


def test_clone_template_delete(api: httpx.Client, model: ProxmoxModel) -> None:
    upid = api.post("/nodes/pve/qemu/9000/clone", data={"newid": "302", "name": "w3",
                                                        "full": "1"}).json()["data"]
    m = UPID.match(upid)
    assert m and m.groups() == ("qmclone", "9000"), "a clone task carries the source vmid"
    assert wait_task(api, upid)["exitstatus"] == "OK"
    clone: Vm = model.vms[302]
    assert (clone.name, clone.status, clone.template, clone.tags) == (
        "w3", "stopped", False, ("talos", "template"))
    missing = api.post("/nodes/pve/qemu/9000/clone", json={"name": "x"})
    assert missing.json()["errors"] == {"newid": "property is missing and it is not optional"}
    taken = api.post("/nodes/pve/qemu/9000/clone", data={"newid": "201"})
    assert taken.json()["message"] == "unable to create VM 201: config file already exists\n"
    api.put("/nodes/pve/qemu/302/config", data={"tags": "talos;w", "delete": "agent"})
    cfg = api.get("/nodes/pve/qemu/302/config").json()["data"]
    assert cfg["tags"] == "talos;w" and "agent" not in cfg
    tpl = api.post("/nodes/pve/qemu/302/template").json()["data"]
    assert wait_task(api, tpl)["type"] == "qmtemplate" and model.vms[302].template
    busy = api.delete("/nodes/pve/qemu/201")
    assert busy.json()["message"] == "VM 201 is running - destroy failed\n"
    gone = api.delete("/nodes/pve/qemu/302").json()["data"]
    assert UPID.match(gone) and 302 not in model.vms


def test_set_config_digest_guard(api: httpx.Client) -> None:
    r = api.post("/nodes/pve/qemu/301/config", data={"name": "w1b", "digest": "0" * 40})
    assert r.status_code == 500
    assert r.json()["message"].startswith("detected modified configuration")
    digest = api.get("/nodes/pve/qemu/301/config").json()["data"]["digest"]
    upid = api.post("/nodes/pve/qemu/301/config", data={"name": "w1b", "digest": digest})
    assert UPID.match(upid.json()["data"])
    assert api.get("/nodes/pve/qemu/301/config").json()["data"]["name"] == "w1b"
