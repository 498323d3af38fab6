"""The emulated PVE calls of a template-based rebuild (rebuild.md §1-§2): version, nextid, storage
listing, download-url, VM create with import-from, resize, linked clones, protection, destroy,
task logs and token privileges. Texts are PVE's (see the upstream file each model method names).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.proxmox.errors import (
    ParameterError,
    PermissionDenied,
    PveError,
    wget_http_error,
)
from emulator.proxmox.models import (
    DEFAULT_TOKEN_PRIVS,
    GIB,
    MIB,
    ONLY_ROOT_PATHS,
    ProxmoxModel,
)
from emulator.proxmox.routes import build_app
from tests.emulator.serving import serve

TOKEN_ID = "root@pam!harness"
SECRET = "5f0c7e0e-9f55-4d55-9c9a-6b7a7d0a1c2e"
AUTH = {"Authorization": f"PVEAPIToken={TOKEN_ID}={SECRET}"}
UPID = re.compile(r"^UPID:pve:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:([\w]+):([^:]+):"
                  r"root@pam!harness:$")
FACTORY = "https://factory.talos.dev/image/376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba/v1.11.0"
RAW_URL = f"{FACTORY}/nocloud-amd64.raw"
RAW_NAME = "talos-v1.11.0-376567988.raw"
RAW_VOLID = f"local:import/{RAW_NAME}"
RAW_SIZE = 1246 * MIB  # MinRAWDiskSize (rebuild.md §1)
NOW = 1_700_000_000


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = float(NOW)

    def __call__(self) -> float:
        return self.now




def factory_fetch(url: str) -> int | bytes:
    """A Factory stand-in: the raw image is 1246 MiB, a `.sha` test file is real bytes."""
    if url == RAW_URL:
        return RAW_SIZE
    if url.endswith("/small.iso"):
        return b"ISO" * 100
    if url.endswith("/nocloud-amd64.iso"):
        return 100 * MIB
    raise wget_http_error(404, "Not Found", "2026-08-21 10:00:00")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def model(clock: Clock) -> ProxmoxModel:
    m = ProxmoxModel("pve", tokens={TOKEN_ID: SECRET}, clock=clock, fetch=factory_fetch)
    m.add_vm(201, "cp1", "pve", ["talos"], "running")
    m.add_vm(9000, "talos-v1.10.6", "pve", ["template", "talos"], "stopped", template=True)
    return m


@pytest.fixture
def importing(model: ProxmoxModel) -> ProxmoxModel:
    """The model with `import` content enabled on `local` (off by default on PVE 8.x)."""
    model.set_storage_content("local", "iso,vztmpl,backup,import")
    return model


@pytest.fixture
def api(model: ProxmoxModel) -> Iterator[httpx.Client]:
    with serve(build_app(model)) as url, \
            httpx.Client(base_url=url + "/api2/json", headers=AUTH) as c:
        yield c


def task(api: httpx.Client, upid: str) -> dict[str, Any]:
    data: dict[str, Any] = api.get(f"/nodes/pve/tasks/{upid}/status").json()["data"]
    assert data["status"] == "stopped", data
    return data


def log_lines(api: httpx.Client, upid: str) -> list[str]:
    return [line["t"] for line in api.get(f"/nodes/pve/tasks/{upid}/log").json()["data"]]


def download(model: ProxmoxModel, **params: str) -> str:
    return model.download_url("pve", "local", params, TOKEN_ID)


def exitstatus(model: ProxmoxModel, upid: str) -> str:
    return str(model.task_status("pve", upid)["exitstatus"])


def talos_vm(vmid: int, source: str = RAW_VOLID, **extra: str) -> dict[str, str]:
    """The create parameters rebuild.md §2.3A/§2.4 give for a Talos template VM."""
    params = {"vmid": str(vmid), "name": f"talos-{vmid}", "memory": "4096", "cores": "2",
              "sockets": "1", "cpu": "x86-64-v2-AES", "ostype": "l26",
              "scsihw": "virtio-scsi-single", "boot": "order=scsi0",
              "net0": "virtio,bridge=vmbr0", "ide2": "local-lvm:cloudinit", "agent": "1",
              "tags": "talos;Template", "scsi0": f"local-lvm:0,import-from={source},iothread=1"}
    params.update(extra)
    return params


def error(e: pytest.ExceptionInfo[PveError]) -> tuple[int, str, dict[str, str]]:
    return e.value.status, e.value.message, e.value.errors


# ---- GET /version ------------------------------------------------------------------------------
def test_version_default_older_and_console(api: httpx.Client, model: ProxmoxModel) -> None:
    r = api.get("/version")
    assert r.status_code == 200
    data = r.json()["data"]
    assert set(data) == {"version", "release", "repoid"}, "console only when datacenter.cfg sets it"
    assert (data["version"], data["release"]) == ("8.4.1", "8.4")
    assert re.fullmatch(r"[0-9a-f]{16}", data["repoid"])
    model.version = "7.4-3"
    old = api.get("/version").json()["data"]
    assert (old["version"], old["release"]) == ("7.4-3", "7.4")
    assert re.fullmatch(r"[0-9a-f]{8}", old["repoid"]), "short ids before 8.0"
    model.version, model.console = "8.3.2", "xtermjs"
    newer = api.get("/version").json()["data"]
    assert newer == {"version": "8.3.2", "release": "8.3", "repoid": newer["repoid"],
                     "console": "xtermjs"}


# ---- GET /cluster/nextid -----------------------------------------------------------------------
def test_nextid_lowest_free_and_check(api: httpx.Client, model: ProxmoxModel) -> None:
    assert api.get("/cluster/nextid").json() == {"data": "100"}, "a string, as pve-manager sends"
    model.add_vm(100, "a")
    model.add_vm(101, "b")
    assert api.get("/cluster/nextid").json()["data"] == "102"
    assert api.get("/cluster/nextid", params={"vmid": "202"}).json()["data"] == "202"
    taken = api.get("/cluster/nextid", params={"vmid": "201"})
    assert taken.status_code == 400
    assert taken.json() == {"data": None, "message": "Parameter verification failed.\n",
                            "errors": {"vmid": "VM 201 already exists"}}
    low = api.get("/cluster/nextid", params={"vmid": "99"})
    assert low.json()["errors"] == {"vmid": "value must have a minimum value of 100"}
    assert "102" not in {str(v) for v in model.vms}, "nextid reserves nothing"
    model.next_id_range = (100, 102)
    full = api.get("/cluster/nextid")
    assert (full.status_code, full.json()["message"]) == (
        500, "unable to get any free VMID in range [100, 102]\n")


# ---- storages ----------------------------------------------------------------------------------
def test_storage_index_shape_filters_and_privileges(api: httpx.Client,
                                                    model: ProxmoxModel) -> None:
    data = api.get("/nodes/pve/storage").json()["data"]
    assert [s["storage"] for s in data] == ["local", "local-lvm"]
    local, lvm = data
    assert set(local) == {"storage", "type", "content", "shared", "enabled", "active", "total",
                          "used", "avail", "used_fraction"}
    assert (local["type"], local["content"], local["active"], local["enabled"]) == (
        "dir", "iso,vztmpl,backup", 1, 1), "PVE 8.x installs do not enable import"
    assert local["avail"] == local["total"] - local["used"]
    assert (lvm["type"], lvm["content"]) == ("lvmthin", "images,rootdir")
    assert lvm["used"] == 2 * 32 * GIB + 2 * 4 * MIB, "the two VMs' disks and cloud-init disks"
    assert api.get("/nodes/pve/storage", params={"content": "import"}).json()["data"] == []
    only = api.get("/nodes/pve/storage", params={"storage": "local-lvm"}).json()["data"]
    assert [s["storage"] for s in only] == ["local-lvm"]
    missing = api.get("/nodes/pve/storage", params={"storage": "nope"})
    assert (missing.status_code, missing.json()["errors"]) == (400, {"storage": "No such storage."})
    model.revoke(TOKEN_ID, "Datastore.Audit", "Datastore.AllocateSpace")
    assert api.get("/nodes/pve/storage").json()["data"] == [], "unreadable storages are left out"


def test_local_import_content_default_follows_the_installer(model: ProxmoxModel) -> None:
    assert model.storage_content_types("local") == ("iso", "vztmpl", "backup")
    model.version = "9.0.3"
    assert model.storage_content_types("local") == ("iso", "vztmpl", "backup", "import")
    model.set_storage_content("local", ["iso", "import"])
    assert model.storage_content_types("local") == ("iso", "import")
    with pytest.raises(ValueError, match="invalid content type 'isos'"):
        model.set_storage_content("local", "isos")


def test_storage_content_listing(api: httpx.Client, importing: ProxmoxModel,
                                 clock: Clock) -> None:
    importing.add_volume("local:iso/Alpine.iso", 50 * MIB)
    importing.add_volume("local:import/b.qcow2", 7)
    clock.now += 5
    download(importing, url=RAW_URL, content="import", filename=RAW_NAME)
    everything = api.get("/nodes/pve/storage/local/content").json()["data"]
    assert [v["volid"] for v in everything] == [
        "local:import/b.qcow2", RAW_VOLID, "local:iso/Alpine.iso"], "sorted, case-insensitive"
    imports = api.get("/nodes/pve/storage/local/content", params={"content": "import"}).json()
    assert imports["data"][1] == {"volid": RAW_VOLID, "format": "raw", "size": RAW_SIZE,
                                  "ctime": NOW + 5, "content": "import"}
    assert api.get("/nodes/pve/storage/local/content",
                   params={"content": "iso"}).json()["data"] == [
        {"volid": "local:iso/Alpine.iso", "format": "iso", "size": 50 * MIB, "ctime": NOW,
         "content": "iso"}]
    disks = api.get("/nodes/pve/storage/local-lvm/content", params={"vmid": "9000"}).json()
    assert disks["data"] == [
        {"volid": "local-lvm:base-9000-disk-0", "format": "raw", "size": 32 * GIB,
         "ctime": NOW, "content": "images", "vmid": 9000},
        {"volid": "local-lvm:vm-9000-cloudinit", "format": "raw", "size": 4 * MIB,
         "ctime": NOW, "content": "images", "vmid": 9000}]
    importing.set_storage_content("local", "iso")
    assert api.get("/nodes/pve/storage/local/content",
                   params={"content": "import"}).json()["data"] == [], "content not configured"
    bad = api.get("/nodes/pve/storage/local/content", params={"content": "isos"})
    assert bad.json()["errors"] == {"content": "invalid format - invalid content type 'isos'"}
    missing = api.get("/nodes/pve/storage/nope/content")
    assert missing.json()["message"] == "storage 'nope' does not exist\n"
    importing.revoke(TOKEN_ID, "Datastore.Audit", "Datastore.AllocateSpace")
    denied = api.get("/nodes/pve/storage/local/content")
    assert (denied.status_code, denied.json()["message"]) == (
        403, "Permission check failed (/storage/local, Datastore.Audit|Datastore.AllocateSpace)\n")


# ---- download-url ------------------------------------------------------------------------------
def test_download_import_raw(api: httpx.Client, importing: ProxmoxModel) -> None:
    r = api.post("/nodes/pve/storage/local/download-url",
                 data={"url": RAW_URL, "content": "import",
                       "filename": "talos v1.11.0 (376567988).raw"})
    assert r.status_code == 200
    upid = r.json()["data"]
    m = UPID.match(upid)
    name = "talos_v1.11.0__376567988_.raw"
    assert m and m.groups() == ("download", name), "the task id is the normalized file name"
    assert task(api, upid)["exitstatus"] == "OK"
    assert log_lines(api, upid) == [
        f"downloading {RAW_URL} to /var/lib/vz/import/{name}",
        f"download of '{RAW_URL}' to '/var/lib/vz/import/{name}' finished", "TASK OK"]
    vol = importing.storages["local"].volumes[f"local:import/{name}"]
    assert (vol.size, vol.format, vol.content) == (RAW_SIZE, "raw", "import")
    again = download(importing, url=RAW_URL, content="import", filename=name)
    assert exitstatus(importing, again) == (
        f"refusing to override existing file '/var/lib/vz/import/{name}'")
    assert log_lines(api, again)[-1] == (
        f"TASK ERROR: refusing to override existing file '/var/lib/vz/import/{name}'")


def test_download_iso_and_synchronous_errors(api: httpx.Client, model: ProxmoxModel) -> None:
    url = "/nodes/pve/storage/local/download-url"
    iso = api.post(url, data={"url": f"{FACTORY}/nocloud-amd64.iso", "content": "iso",
                              "filename": "talos.iso"}).json()["data"]
    assert task(api, iso)["exitstatus"] == "OK"
    assert "local:iso/talos.iso" in model.storages["local"].volumes
    not_configured = api.post(url, data={"url": RAW_URL, "content": "import",
                                         "filename": RAW_NAME})
    assert (not_configured.status_code, not_configured.json()["message"]) == (
        500, "storage 'local' is not configured for content-type 'import'\n")
    wrong = api.post(url, data={"url": RAW_URL, "content": "iso", "filename": "x.raw"})
    assert (wrong.status_code, wrong.json()["errors"]) == (
        400, {"filename": "wrong file extension"})
    model.set_storage_content("local", "iso,import")
    xz = api.post(url, data={"url": RAW_URL + ".xz", "content": "import", "filename": "x.raw.xz"})
    assert xz.json()["errors"] == {"filename": "invalid filename or wrong extension"}
    empty = api.post(url, data={})
    assert empty.json()["errors"] == {
        "url": "property is missing and it is not optional",
        "content": "property is missing and it is not optional",
        "filename": "property is missing and it is not optional"}
    bad = api.post(url, data={"url": "ftp://x/y.iso", "content": "images", "filename": "y.iso",
                              "checksum": "00", "bogus": "1"})
    assert bad.json()["errors"] == {
        "url": "value does not match the regex pattern",
        "content": "value 'images' does not have a value in the enumeration "
                   "'iso, vztmpl, import'",
        "checksum-algorithm": "missing property required by 'checksum'",
        "bogus": "property is not defined in schema and the schema does not allow additional "
                 "properties"}
    lvm = api.post("/nodes/pve/storage/local-lvm/download-url",
                   data={"url": RAW_URL, "content": "iso", "filename": "a.iso"})
    assert lvm.json()["message"] == (
        "can't upload to storage type 'lvmthin', not a file based storage!\n")
    nope = api.post("/nodes/pve/storage/nope/download-url",
                    data={"url": RAW_URL, "content": "iso", "filename": "a.iso"})
    assert (nope.status_code, nope.json()["message"]) == (500, "storage 'nope' does not exist\n")


def test_download_version_gates(importing: ProxmoxModel) -> None:
    importing.version = "8.3.2"
    with pytest.raises(ParameterError) as raw:
        download(importing, url=RAW_URL, content="import", filename=RAW_NAME)
    assert raw.value.errors == {"filename": "invalid filename or wrong extension"}
    importing.fetch = lambda url: 10 * MIB
    ova = download(importing, url=f"{FACTORY}/x.ova", content="import", filename="x.ova")
    assert exitstatus(importing, ova) == "OK", ".ova imports exist from 8.3"
    importing.version = "8.2.7"
    with pytest.raises(ParameterError) as enum:
        download(importing, url=RAW_URL, content="import", filename=RAW_NAME)
    assert enum.value.errors == {
        "content": "value 'import' does not have a value in the enumeration 'iso, vztmpl'"}
    importing.version = "7.4-3"
    importing.grant(TOKEN_ID, "Sys.Audit", "Sys.Modify")  # Sys.AccessNetwork alone is too new
    with pytest.raises(ParameterError) as comp:
        download(importing, url=RAW_URL + ".gz", content="iso", filename="x.img",
                 compression="gz")
    assert comp.value.errors == {"compression": "property is not defined in schema and the "
                                                "schema does not allow additional properties"}
    importing.version = "6.4-13"
    with pytest.raises(PveError) as missing:
        download(importing, url=RAW_URL, content="iso", filename="x.img")
    assert error(missing) == (
        501, "Method 'POST /nodes/pve/storage/local/download-url' not implemented", {})


def test_download_compression_task_errors(importing: ProxmoxModel) -> None:
    importing.fetch = lambda url: 300 * MIB
    imp = download(importing, url=RAW_URL + ".gz", content="import", filename="a.raw",
                   compression="gz")
    assert exitstatus(importing, imp) == "decompression not supported for import"
    xz = download(importing, url=RAW_URL + ".xz", content="iso", filename="a.img",
                  compression="xz")
    assert exitstatus(importing, xz) == "no decompression method found", "xz passes the schema"
    gz = download(importing, url=RAW_URL + ".gz", content="iso", filename="a.img",
                  compression="gz")
    assert exitstatus(importing, gz) == "OK"
    assert "local:iso/a.img" in importing.storages["local"].volumes
    assert "local:import/a.raw" not in importing.storages["local"].volumes


def test_download_failures_from_the_fetch_hook_and_fault(importing: ProxmoxModel) -> None:
    gone = download(importing, url=f"{FACTORY}/nocloud-arm64.raw", content="import",
                    filename="arm.raw")
    assert exitstatus(importing, gone) == (
        "download failed: 2026-08-21 10:00:00 ERROR 404: Not Found.")
    assert "local:import/arm.raw" not in importing.storages["local"].volumes
    importing.fail_downloads = "download failed: 2026-08-21 10:00:00 ERROR 503: Unavailable."
    fault = download(importing, url=RAW_URL, content="import", filename=RAW_NAME)
    assert exitstatus(importing, fault) == importing.fail_downloads
    assert RAW_VOLID not in importing.storages["local"].volumes
    importing.fail_downloads = None
    importing.fetch = lambda url: 200 * GIB
    full = download(importing, url=RAW_URL, content="import", filename=RAW_NAME)
    assert exitstatus(importing, full).startswith(
        f"download failed: Cannot write to '/var/lib/vz/import/{RAW_NAME}.tmp_dwnl.")
    offline = ProxmoxModel("pve", tokens={TOKEN_ID: SECRET})
    iso = offline.download_url("pve", "local", {"url": f"{FACTORY}/nocloud-amd64.iso",
                                                "content": "iso", "filename": "t.iso"}, TOKEN_ID)
    assert exitstatus(offline, iso) == (
        "download failed: wget: unable to resolve host address 'factory.talos.dev'"), \
        "without a fetch hook the emulator has no network"


def test_download_checksums(importing: ProxmoxModel) -> None:
    url = f"{FACTORY}/small.iso"
    good = hashlib.sha256(b"ISO" * 100).hexdigest()
    ok = download(importing, url=url, content="iso", filename="s.iso", checksum=good.upper(),
                  **{"checksum-algorithm": "sha256"})
    assert exitstatus(importing, ok) == "OK"
    same = download(importing, url=url, content="iso", filename="s.iso", checksum=good,
                    **{"checksum-algorithm": "sha256"})
    assert exitstatus(importing, same) == "OK"
    assert importing.task_log("pve", same, TOKEN_ID)[1][1]["t"] == (
        "calculating checksum of existing file...OK, got correct file already, no need to "
        "download")
    other = download(importing, url=url, content="iso", filename="s.iso", checksum="ab" * 32,
                     **{"checksum-algorithm": "sha256"})
    assert exitstatus(importing, other) == (
        f"checksum mismatch: got '{good}' != expect '{'ab' * 32}', aborting")
    fresh = download(importing, url=url, content="iso", filename="t.iso", checksum="ab" * 32,
                     **{"checksum-algorithm": "sha256"})
    assert exitstatus(importing, fresh) == (
        f"checksum mismatch: got '{good}' != expect '{'ab' * 32}'")
    sized = download(importing, url=RAW_URL, content="import", filename=RAW_NAME, checksum="ab",
                     **{"checksum-algorithm": "sha512"})
    assert exitstatus(importing, sized).startswith("not emulated: a checksum needs the download")


def test_download_permissions(importing: ProxmoxModel) -> None:
    params = {"url": RAW_URL, "content": "import", "filename": RAW_NAME}
    importing.revoke(TOKEN_ID, "Sys.AccessNetwork")
    with pytest.raises(PermissionDenied) as either:
        download(importing, **params)
    assert error(either) == (403, "Permission check failed", {}), "a failed 'or' names no path"
    importing.grant(TOKEN_ID, "Sys.AccessNetwork", path="/nodes/pve")
    assert exitstatus(importing, download(importing, **params)) == "OK"
    importing.revoke(TOKEN_ID, "Datastore.AllocateTemplate")
    with pytest.raises(PermissionDenied) as template:
        download(importing, **params)
    assert template.value.message == (
        "Permission check failed (/storage/local, Datastore.AllocateTemplate)")
    importing.grant(TOKEN_ID, "Datastore.AllocateTemplate")
    importing.version = "8.1.4"
    with pytest.raises(PermissionDenied) as old:
        download(importing, url=RAW_URL, content="iso", filename="a.iso")
    assert old.value.message == "Permission check failed (/, Sys.Audit)", \
        "Sys.AccessNetwork is no alternative before pve-storage 8.1.0"
    importing.grant(TOKEN_ID, "Sys.Audit", "Sys.Modify")
    assert exitstatus(importing, download(importing, url=RAW_URL, content="iso",
                                          filename="a.iso")) == "OK"


# ---- DELETE .../content/{volume} ---------------------------------------------------------------
def test_delete_volume(api: httpx.Client, importing: ProxmoxModel) -> None:
    importing.add_volume(RAW_VOLID, RAW_SIZE)
    path = f"/nodes/pve/storage/local/content/{RAW_VOLID}"
    denied = api.delete(path)
    assert (denied.status_code, denied.json()["message"]) == (
        403, "Permission check failed (/storage/local, Datastore.Allocate)\n"), \
        "rebuild.md's token ACL list lacks Datastore.Allocate"
    importing.grant(TOKEN_ID, "Datastore.Allocate")
    upid = api.delete(path.replace(":", "%3A").replace("import/", "import%2F")).json()["data"]
    m = UPID.match(upid)
    assert m and m.groups() == ("imgdel", "local")
    assert log_lines(api, upid) == [f"Removed volume '{RAW_VOLID}'", "TASK OK"]
    assert RAW_VOLID not in importing.storages["local"].volumes
    again = api.delete(path).json()["data"]
    assert task(api, again)["exitstatus"] == "OK", "a missing file is only a warning"
    assert log_lines(api, again)[0] == (
        f"disk image '/var/lib/vz/import/{RAW_NAME}' does not exist")
    short = api.delete(f"/nodes/pve/storage/local/content/import/{RAW_NAME}")
    assert UPID.match(short.json()["data"]), "a volume name without the storage works too"
    mismatch = api.delete(f"/nodes/pve/storage/local-lvm/content/{RAW_VOLID}")
    assert mismatch.json()["errors"] == {"volume": "storage ID mismatch (local != local-lvm)"}
    importing.add_volume(RAW_VOLID, RAW_SIZE)
    assert api.delete(path, params={"delay": "5"}).json() == {"data": None}
    disk = api.delete("/nodes/pve/storage/local-lvm/content/local-lvm:vm-201-disk-1").json()
    m = UPID.match(disk["data"])
    assert m and m.group(2) == "201@local-lvm", "the owner vmid is in the task id"


# ---- POST /nodes/{node}/qemu -------------------------------------------------------------------
def test_create_vm_with_import_from(api: httpx.Client, importing: ProxmoxModel) -> None:
    importing.add_volume(RAW_VOLID, RAW_SIZE)
    r = api.post("/nodes/pve/qemu", data=talos_vm(110))
    assert r.status_code == 200
    upid = r.json()["data"]
    m = UPID.match(upid)
    assert m and m.groups() == ("qmcreate", "110")
    assert task(api, upid)["exitstatus"] == "OK"
    cfg = api.get("/nodes/pve/qemu/110/config").json()["data"]
    assert cfg["scsi0"] == "local-lvm:vm-110-disk-0,iothread=1,size=1248M", \
        "1246 MiB on LVM-thin is two extents' rounding away: 1248M"
    assert cfg["ide2"] == "local-lvm:vm-110-cloudinit,media=cdrom"
    assert re.fullmatch(r"virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0", cfg["net0"])
    assert (cfg["cpu"], cfg["ostype"], cfg["scsihw"], cfg["boot"], cfg["agent"]) == (
        "x86-64-v2-AES", "l26", "virtio-scsi-single", "order=scsi0", "1")
    assert (cfg["name"], cfg["tags"], cfg["memory"], cfg["cores"]) == (
        "talos-110", "talos;template", "4096", 2)
    assert re.fullmatch(r"uuid=[0-9a-f-]{36}", cfg["smbios1"]) and "template" not in cfg
    assert "import-from" not in cfg["scsi0"]
    disks = api.get("/nodes/pve/storage/local-lvm/content", params={"vmid": "110"}).json()
    assert [(d["volid"], d["size"]) for d in disks["data"]] == [
        ("local-lvm:vm-110-cloudinit", 4 * MIB), ("local-lvm:vm-110-disk-0", 1248 * MIB)]
    assert log_lines(api, upid) == [
        "ide2: successfully created disk 'local-lvm:vm-110-cloudinit,media=cdrom'",
        "scsi0: successfully created disk 'local-lvm:vm-110-disk-0,iothread=1,size=1248M'",
        "TASK OK"]
    taken = api.post("/nodes/pve/qemu", data=talos_vm(201))
    assert (taken.status_code, taken.json()["message"]) == (
        500, "unable to create VM 201 - VM 201 already exists on node 'pve'\n")
    template = api.post("/nodes/pve/qemu", data=talos_vm(111, template="1")).json()["data"]
    assert task(api, template)["exitstatus"] == "OK"
    assert importing.vms[111].template and "vm-111-disk-0" in importing.vms[111].config["scsi0"]
    linked = api.post("/nodes/pve/qemu/111/clone", data={"newid": "112"})
    assert (linked.status_code, linked.json()["message"]) == (
        500, "Linked clone feature is not supported for 'local-lvm:vm-111-disk-0' (scsi0)\n"), \
        "created with template=1, the disk never became a base volume (bpg#998)"


def test_create_vm_parameter_errors(importing: ProxmoxModel) -> None:
    importing.add_volume(RAW_VOLID, RAW_SIZE)
    importing.add_volume("local:iso/x.img", 10 * MIB)

    def create(**params: str) -> str:
        return importing.create_vm("pve", params, TOKEN_ID)

    with pytest.raises(ParameterError) as no_vmid:
        create(name="x")
    assert no_vmid.value.errors == {"vmid": "property is missing and it is not optional"}
    for disk in (f"local-lvm:32,import-from={RAW_VOLID}",
                 f"local-lvm:vm-120-disk-0,import-from={RAW_VOLID}"):
        with pytest.raises(ParameterError) as syntax:
            create(vmid="120", scsi0=disk)
        assert syntax.value.errors == {"scsi0": "'import-from' requires special syntax - use "
                                                "<storage ID>:0,import-from=<source>"}
    with pytest.raises(ParameterError) as iso:
        create(vmid="120", scsi0="local-lvm:0,import-from=local:iso/x.img")
    assert iso.value.errors == {
        "scsi0": "local:iso/x.img has wrong type 'iso' - needs to be 'images' or 'import'"}
    with pytest.raises(ParameterError) as dir_target:
        create(vmid="120", scsi0=f"local:0,import-from={RAW_VOLID}")
    assert dir_target.value.errors == {"storage": "storage 'local' does not support vm images"}
    with pytest.raises(PveError) as path:
        create(vmid="120", scsi0="local-lvm:0,import-from=/var/lib/vz/import/" + RAW_NAME)
    assert error(path) == (500, ONLY_ROOT_PATHS, {})
    assert path.value.message.startswith("Only root can pass arbitrary filesystem paths.")
    with pytest.raises(PveError) as unknown_storage:
        create(vmid="120", scsi0="local-lvm:0,import-from=nas:import/x.raw")
    assert unknown_storage.value.message == "storage 'nas' does not exist"
    assert 120 not in importing.vms


def test_create_vm_failing_task_leaves_nothing(importing: ProxmoxModel) -> None:
    upid = importing.create_vm("pve", talos_vm(120, "local:import/missing.raw"), TOKEN_ID)
    assert exitstatus(importing, upid) == (
        "unable to create VM 120 - failed to stat '/var/lib/vz/import/missing.raw'")
    assert 120 not in importing.vms
    assert not [v for v in importing.storages["local-lvm"].volumes if "-120-" in v], \
        "the cloud-init disk made before the failure is freed"
    lvm = importing.create_vm("pve", talos_vm(121, "local-lvm:vm-999-disk-0"), TOKEN_ID)
    assert exitstatus(importing, lvm) == (
        "unable to create VM 121 - cannot import from 'local-lvm:vm-999-disk-0' - could not get "
        "size of local-lvm:vm-999-disk-0")


def test_create_vm_root_path_and_version_gates(importing: ProxmoxModel) -> None:
    importing.add_volume(RAW_VOLID, RAW_SIZE)
    by_path = importing.create_vm(
        "pve", talos_vm(130, f"/var/lib/vz/import/{RAW_NAME}"), "root@pam")
    assert exitstatus(importing, by_path) == "OK", "root@pam may pass a path"
    assert importing.vms[130].config["scsi0"].endswith("size=1248M")
    lost = importing.create_vm("pve", talos_vm(131, "/root/x.raw"), "root@pam")
    assert exitstatus(importing, lost) == "unable to create VM 131 - can't find file '/root/x.raw'"
    importing.version = "8.2.7"
    with pytest.raises(ParameterError) as vtype:
        importing.create_vm("pve", talos_vm(132), TOKEN_ID)
    assert vtype.value.errors == {"scsi0": f"{RAW_VOLID} has wrong type 'import' - not an image"}
    importing.version = "7.1-10"
    with pytest.raises(ParameterError) as old:
        importing.create_vm("pve", talos_vm(132), TOKEN_ID)
    assert old.value.errors == {
        "scsi0": "invalid format - invalid key in comma-separated list property: import-from"}


def test_create_vm_privileges(importing: ProxmoxModel) -> None:
    importing.add_volume(RAW_VOLID, RAW_SIZE)
    cases = [("VM.Allocate", "Permission check failed"),
             ("Datastore.AllocateSpace",
              "Permission check failed (/storage/local-lvm, Datastore.AllocateSpace)"),
             ("VM.Config.CPU", "Permission check failed (/vms/140, VM.Config.CPU)"),
             ("VM.Config.Network", "Permission check failed (/vms/140, VM.Config.Network)"),
             ("SDN.Use", "Permission check failed (/sdn/zones/localnetwork/vmbr0, SDN.Use)")]
    for priv, message in cases:
        importing.revoke(TOKEN_ID, priv)
        with pytest.raises(PermissionDenied) as e:
            importing.create_vm("pve", talos_vm(140), TOKEN_ID)
        assert error(e) == (403, message, {}), priv
        importing.grant(TOKEN_ID, priv)
    with pytest.raises(PveError) as args:
        importing.create_vm("pve", talos_vm(140, args="-cpu host"), TOKEN_ID)
    assert args.value.message == "only root can set 'args' config"
    assert 140 not in importing.vms


# ---- PUT .../resize ----------------------------------------------------------------------------
def test_resize(api: httpx.Client, importing: ProxmoxModel) -> None:
    importing.add_volume(RAW_VOLID, RAW_SIZE)
    importing.create_vm("pve", talos_vm(150), TOKEN_ID)
    grow = api.put("/nodes/pve/qemu/150/resize", data={"disk": "scsi0", "size": "+30G"})
    m = UPID.match(grow.json()["data"])
    assert m and m.groups() == ("resize", "150")
    assert task(api, grow.json()["data"])["exitstatus"] == "OK"
    cfg = api.get("/nodes/pve/qemu/150/config").json()["data"]
    assert cfg["scsi0"] == "local-lvm:vm-150-disk-0,iothread=1,size=31968M"
    assert importing.vms[150].maxdisk == 31968 * MIB

    def resize(disk: str, size: str) -> str:
        return str(task(api, api.put("/nodes/pve/qemu/150/resize",
                                     data={"disk": disk, "size": size}).json()["data"])[
            "exitstatus"])

    assert resize("scsi0", "20G") == "shrinking disks is not supported"
    assert resize("scsi0", "31968M") == "OK", "the same size changes nothing"
    assert resize("scsi5", "+1G") == "disk 'scsi5' does not exist"
    assert resize("ide2", "+1G") == "you can't resize a cdrom"
    bad = api.put("/nodes/pve/qemu/150/resize", data={"disk": "scsi0", "size": "30GB"})
    assert bad.json()["errors"] == {"size": "value does not match the regex pattern"}
    importing.version = "7.4-3"
    sync = api.put("/nodes/pve/qemu/150/resize", data={"disk": "scsi0", "size": "+2G"})
    assert sync.json() == {"data": None}, "before PVE 8.0 resize answers at once"
    shrink = api.put("/nodes/pve/qemu/150/resize", data={"disk": "scsi0", "size": "1G"})
    assert (shrink.status_code, shrink.json()["message"]) == (
        500, "shrinking disks is not supported\n")
    importing.revoke(TOKEN_ID, "VM.Config.Disk")
    denied = api.put("/nodes/pve/qemu/150/resize", data={"disk": "scsi0", "size": "+1G"})
    assert denied.json()["message"] == "Permission check failed (/vms/150, VM.Config.Disk)\n"


# ---- clone, template, protection, destroy ------------------------------------------------------
def test_clone_of_a_template_is_linked(api: httpx.Client, model: ProxmoxModel) -> None:
    model.vms[9000].config["smbios1"] = "uuid=11111111-2222-4333-a444-555555555555"
    upid = api.post("/nodes/pve/qemu/9000/clone", data={"newid": "302"}).json()["data"]
    assert UPID.match(upid).groups() == ("qmclone", "9000")  # type: ignore[union-attr]
    assert log_lines(api, upid) == [
        "creating a clone of VM 9000 with ID 302",
        "create linked clone of drive scsi0 (local-lvm:base-9000-disk-0)", "TASK OK"]
    src, cfg = model.vms[9000].config, model.vms[302].config
    assert model.vms[302].name == "Copy-of-VM-talos-v1.10.6"
    assert cfg["scsi0"] == "local-lvm:vm-302-disk-0,iothread=1,size=32G", \
        "LVM-thin volids do not name their base"
    assert model.storages["local-lvm"].volumes["local-lvm:vm-302-disk-0"].parent == (
        "local-lvm:base-9000-disk-0")
    assert cfg["ide2"] == "local-lvm:vm-302-cloudinit,media=cdrom"
    assert cfg["net0"] != src["net0"] and cfg["net0"].endswith(",bridge=vmbr0")
    assert cfg["smbios1"] != src["smbios1"] and not model.vms[302].template
    storage = api.post("/nodes/pve/qemu/9000/clone", data={"newid": "303", "storage": "local-lvm"})
    assert (storage.status_code, storage.json()["message"]) == (
        500, "parameter 'storage' not allowed for linked clones\n")
    fmt = api.post("/nodes/pve/qemu/9000/clone", data={"newid": "303", "format": "raw"})
    assert fmt.json()["message"] == "parameter 'format' not allowed for linked clones\n"
    full = api.post("/nodes/pve/qemu/9000/clone",
                    data={"newid": "303", "full": "1", "storage": "local-lvm"}).json()["data"]
    assert "create full clone of drive scsi0 (local-lvm:base-9000-disk-0)" in log_lines(api, full)
    assert model.storages["local-lvm"].volumes["local-lvm:vm-303-disk-0"].parent is None
    vm_clone = api.post("/nodes/pve/qemu/303/clone", data={"newid": "304"}).json()["data"]
    assert "create full clone of drive scsi0 (local-lvm:vm-303-disk-0)" in log_lines(
        api, vm_clone), "a VM (not a template) is fully cloned by default"
    model.add_node("pve2")
    far = api.post("/nodes/pve/qemu/9000/clone", data={"newid": "305", "target": "pve2"})
    assert far.json()["message"] == "can't clone VM to node 'pve2' (VM uses local storage)\n"
    model.revoke(TOKEN_ID, "VM.Clone")
    denied = api.post("/nodes/pve/qemu/9000/clone", data={"newid": "305"})
    assert denied.json()["message"] == "Permission check failed (/vms/9000, VM.Clone)\n"


def test_protection_blocks_destroy_and_is_cloned(api: httpx.Client, model: ProxmoxModel) -> None:
    api.put("/nodes/pve/qemu/9000/config", data={"protection": "1"})
    r = api.delete("/nodes/pve/qemu/9000")
    assert (r.status_code, r.json()["message"]) == (
        500, "can't remove VM 9000 - protection mode enabled\n")
    upid = api.post("/nodes/pve/qemu/9000/clone", data={"newid": "310"}).json()["data"]
    assert task(api, upid)["exitstatus"] == "OK"
    assert api.get("/nodes/pve/qemu/310/config").json()["data"]["protection"] == 1, \
        "clone_vm copies every other key, protection too"
    api.put("/nodes/pve/qemu/9000/config", data={"delete": "protection"})
    gone = api.delete("/nodes/pve/qemu/9000",
                      params={"purge": "1", "destroy-unreferenced-disks": "1"}).json()["data"]
    assert task(api, gone)["exitstatus"] == "OK", \
        "LVM-thin base volumes may go while linked clones exist (LvmThinPlugin.pm)"
    assert model.tasks[gone].params == {"purge": "1", "destroy-unreferenced-disks": "1"}
    assert log_lines(api, gone) == ["purging VM 9000 from related configurations..", "TASK OK"]
    assert 9000 not in model.vms
    assert not [v for v in model.storages["local-lvm"].volumes if "-9000-" in v]
    skip = api.delete("/nodes/pve/qemu/310", params={"skiplock": "1"})
    assert skip.json()["errors"] == {"skiplock": "Only root may use this option."}


def test_template_pinned_by_linked_clones_on_zfs(model: ProxmoxModel) -> None:
    model.add_storage("local-zfs", "zfspool", "images,rootdir", 500 * GIB)
    model.add_vm(9100, "talos-zfs", template=True, config={
        "scsi0": "local-zfs:base-9100-disk-0,iothread=1,size=2G"})
    model.clone("pve", 9100, {"newid": "320"}, TOKEN_ID)
    assert model.vms[320].config["scsi0"] == (
        "local-zfs:base-9100-disk-0/vm-320-disk-0,iothread=1,size=2G"), "ZFS volids name the base"
    upid = model.delete("pve", 9100, TOKEN_ID)
    assert exitstatus(model, upid) == (
        "base volume 'local-zfs:base-9100-disk-0' is still in use by linked cloned")
    assert 9100 in model.vms and "local-zfs:base-9100-disk-0" in model.storages[
        "local-zfs"].volumes
    model.grant(TOKEN_ID, "Datastore.Allocate")
    vol = model.delete_volume("pve", "local-zfs", "local-zfs:base-9100-disk-0", TOKEN_ID)
    assert vol is not None and exitstatus(model, vol) == (
        "base volume 'base-9100-disk-0' is still in use by linked clones")
    assert exitstatus(model, model.delete("pve", 320, TOKEN_ID)) == "OK"
    assert exitstatus(model, model.delete("pve", 9100, TOKEN_ID)) == "OK"
    assert model.storages["local-zfs"].volumes == {}


def test_template_conversion_renames_volumes(importing: ProxmoxModel) -> None:
    importing.add_volume(RAW_VOLID, RAW_SIZE)
    importing.create_vm("pve", talos_vm(160), TOKEN_ID)
    importing.make_template("pve", 160, TOKEN_ID)
    assert importing.vms[160].config["scsi0"] == "local-lvm:base-160-disk-0,iothread=1,size=1248M"
    assert importing.vms[160].config["ide2"] == "local-lvm:vm-160-cloudinit,media=cdrom"
    vols = [v["volid"] for v in importing.storage_content("pve", "local-lvm", TOKEN_ID,
                                                          {"vmid": "160"})]
    assert vols == ["local-lvm:base-160-disk-0", "local-lvm:vm-160-cloudinit"]
    importing.revoke(TOKEN_ID, "VM.Allocate")
    with pytest.raises(PermissionDenied) as e:
        importing.make_template("pve", 201, TOKEN_ID)
    assert e.value.message == "Permission check failed (/vms/201, VM.Allocate)"
    with pytest.raises(PermissionDenied):
        importing.delete("pve", 160, TOKEN_ID)


# ---- task logs ---------------------------------------------------------------------------------
def test_task_log_shape_paging_and_owner(api: httpx.Client, model: ProxmoxModel) -> None:
    model.task_polls = 1
    upid = api.post("/nodes/pve/qemu/9000/clone", data={"newid": "330"}).json()["data"]
    running = api.get(f"/nodes/pve/tasks/{upid}/log").json()
    assert running == {"data": [{"n": 1, "t": "creating a clone of VM 9000 with ID 330"},
                                {"n": 2, "t": "create linked clone of drive scsi0 "
                                              "(local-lvm:base-9000-disk-0)"}], "total": 2}
    api.get(f"/nodes/pve/tasks/{upid}/status")
    done = api.get(f"/nodes/pve/tasks/{upid}/log").json()
    assert done["total"] == 3 and done["data"][-1] == {"n": 3, "t": "TASK OK"}
    page = api.get(f"/nodes/pve/tasks/{upid}/log", params={"start": "1", "limit": "1"}).json()
    assert page == {"data": [{"n": 2, "t": "create linked clone of drive scsi0 "
                                           "(local-lvm:base-9000-disk-0)"}], "total": 3}
    start = api.post("/nodes/pve/qemu/201/status/start").json()["data"]
    api.get(f"/nodes/pve/tasks/{start}/status")
    assert log_lines(api, start) == ["TASK ERROR: VM 201 already running"]
    missing = "UPID:pve:00000001:00000002:00000003:qmstart:1:root@pam!harness:"
    assert api.get(f"/nodes/pve/tasks/{missing}/log").json() == {
        "data": [{"n": 1, "t": "unable to open file - No such file or directory"}], "total": 1}
    bad = api.get("/nodes/pve/tasks/UPID:nope/log")
    assert bad.json()["errors"] == {"upid": "unable to parse worker upid"}
    other = "UPID:pve:00000001:00000002:00000003:qmstart:1:admin@pve!ops:"
    denied = api.get(f"/nodes/pve/tasks/{other}/log")
    assert (denied.status_code, denied.json()["message"]) == (
        403, "Permission check failed (/nodes/pve, Sys.Audit)\n")
    limit = api.get(f"/nodes/pve/tasks/{upid}/log", params={"limit": "-1"})
    assert limit.json()["errors"] == {"limit": "value must have a minimum value of 0"}


# ---- GET /access/permissions -------------------------------------------------------------------
def test_permissions_of_the_token(api: httpx.Client, model: ProxmoxModel) -> None:
    data = api.get("/access/permissions").json()["data"]
    assert sorted(data) == ["/", "/access", "/access/groups", "/nodes", "/pool", "/sdn",
                            "/storage", "/vms"]
    assert data["/"] == dict.fromkeys(sorted(DEFAULT_TOKEN_PRIVS), 1)
    assert {"VM.Allocate", "VM.Clone", "VM.Config.Disk", "VM.Config.Cloudinit", "VM.PowerMgmt",
            "VM.Audit", "Datastore.AllocateSpace", "Datastore.AllocateTemplate",
            "Datastore.Audit", "SDN.Use", "Sys.AccessNetwork"} <= set(data["/vms"])
    model.revoke(TOKEN_ID, "Datastore.AllocateTemplate")
    model.grant(TOKEN_ID, "Datastore.Allocate", path="/storage/local")
    after = api.get("/access/permissions").json()["data"]
    assert "Datastore.AllocateTemplate" not in after["/storage"]
    assert after["/storage/local"] == {"Datastore.Allocate": 1}, "a deeper ACL replaces '/'"
    one = api.get("/access/permissions", params={"path": "/storage/local/x"}).json()["data"]
    assert one == {"/storage/local/x": {"Datastore.Allocate": 1}}
    other = api.get("/access/permissions", params={"userid": "admin@pve"})
    assert other.json()["message"] == "Permission check failed (/access, Sys.Audit)\n"


def test_lab_pve_settings_and_faults_are_validated(tmp_path: Path) -> None:
    """lab.pve_version / lab.pve_import in a profile, and the rebuild's fault kinds."""
    import yaml

    from emulator.errors import LabConfigError
    from emulator.faults import make_fault
    from emulator.spec import load_spec

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "clusters/lab.yaml").read_text())
    raw["lab"]["pve_version"] = "8.3.2"
    raw["lab"]["pve_import"] = False
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(raw))
    spec = load_spec(good)
    assert (spec.pve_version, spec.pve_import) == ("8.3.2", False)
    raw["lab"]["pve_version"] = "eight"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(LabConfigError, match="lab.pve_version: 'eight' is not like 8.4.1"):
        load_spec(bad)
    with pytest.raises(LabConfigError, match="fault template_vmid_taken: parameter 'vmid' is "
                                             "required"):
        make_fault("template_vmid_taken", None, {}, set())
    assert make_fault("image_download_fails", None, {}, set()).kind == "image_download_fails"
