"""The lab's emulated PVE host over SSH (lab.ssh): a real sshd on the PVE loopback address,
reached with testinfra (the system ssh client, StrictHostKeyChecking=yes), whose `qm` and
`pvesm` act on the same PVE model the lab's API serves; downloads to `local` are real files.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import testinfra
import yaml

from emulator.api import Lab, _pid_alive
from emulator.proxmox.models import MIB, ProxmoxModel
from emulator.proxmox.shell import run
from emulator.proxmox.sshhost import SSH_PORT, kill_recorded
from tests.emulator.lab_helpers import lab_api, wait_until

SCHEMATIC = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"


def _ssh_conf(lab: Lab) -> dict[str, Any]:
    conf: dict[str, Any] = yaml.safe_load(lab.profile.read_text())["proxmox"]["ssh"]
    return conf


def _host(lab: Lab, backend: str = "ssh") -> Any:
    """testinfra on the lab's PVE host, as the harness reaches it (profile's proxmox.ssh)."""
    c = _ssh_conf(lab)
    return testinfra.get_host(
        f"{backend}://{c['user']}@{c['host']}:{c['port']}",
        ssh_identity_file=c["key"]["file"],
        ssh_extra_args=f"-o UserKnownHostsFile={c['known_hosts']} -o StrictHostKeyChecking=yes "
        "-o BatchMode=yes",
    )


def _task(api: httpx.Client, method: str, path: str, **data: Any) -> None:
    """Run a PVE API call that answers a UPID; wait until its task ends OK."""
    r = api.request(method, path, data=data)
    assert r.status_code == 200, r.text
    upid = r.json()["data"]

    def done() -> dict[str, Any] | None:
        s = api.get(f"/nodes/pve/tasks/{upid}/status").json()["data"]
        return s if s["status"] == "stopped" else None

    assert wait_until(done, 10, f"task {upid} stopped")["exitstatus"] == "OK"


def _listeners(port: int, table: str = "/proc/net/tcp") -> set[str]:
    """Addresses with a TCP socket listening on `port` (IPv4 dotted; tcp6: raw hex)."""
    out = set()
    for line in Path(table).read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hexport = local.split(":")
        if state == "0A" and int(hexport, 16) == port:
            out.add(
                ".".join(str(b) for b in reversed(bytes.fromhex(addr))) if len(addr) == 8 else addr
            )
    return out


@pytest.fixture(scope="module")
def lab(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab(lab={"ssh": True}, in_process=True)


def test_the_profile_names_the_ssh_host_and_its_files(lab: Lab) -> None:
    c = _ssh_conf(lab)
    pve = lab.state["proxmox"].split("://", 1)[1].rsplit(":", 1)[0]
    assert c == {
        "host": pve,
        "port": SSH_PORT,
        "user": "root",
        "key": {"file": str(lab.dir / "ssh" / "id_ed25519")},
        "known_hosts": str(lab.dir / "ssh" / "known_hosts"),
    }
    assert (
        (lab.dir / "ssh" / "known_hosts").read_text().startswith(f"[{pve}]:{SSH_PORT} ssh-ed25519 ")
    )
    # the lab's address only: never a wildcard or a non-loopback address (other labs running
    # at the same time listen on their own loopback addresses)
    assert pve in _listeners(SSH_PORT)
    assert all(a.startswith("127.") for a in _listeners(SSH_PORT))
    assert not _listeners(SSH_PORT, "/proc/net/tcp6")
    config = (lab.dir / "ssh" / "sshd_config").read_text()
    assert f"ListenAddress {pve}:{SSH_PORT}\n" in config
    assert "PasswordAuthentication no\n" in config


def test_testinfra_runs_qm_config_on_the_pve_model(lab: Lab) -> None:
    host = _host(lab)
    out = host.run("qm config 201")
    assert out.rc == 0, out.stderr
    api_cfg = lab_api(lab).get("/nodes/pve/qemu/201/config").json()["data"]
    lines = out.stdout.splitlines()
    assert f"net0: {api_cfg['net0']}" in lines
    assert lines == sorted(lines) and not any(ln.startswith("digest:") for ln in lines)
    # qm dies with exit code 255, which testinfra's ssh backend raises as RuntimeError (ssh
    # itself uses 255); its CommandResult is the exception's argument
    with pytest.raises(RuntimeError) as failed:
        host.run("qm config 999")
    missing = failed.value.args[0]
    assert (missing.rc, missing.stderr) == (
        255,
        "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist\n",
    )
    other = host.run("qm migrate 201 pve2")
    assert (other.rc, other.stderr) == (1, "not emulated: qm migrate 201 pve2\n")


def test_a_download_is_a_real_file_that_importdisk_attaches(lab: Lab) -> None:
    api, host = lab_api(lab), _host(lab)
    factory = lab.state["factory"]
    url = f"{factory}/image/{SCHEMATIC}/v1.9.2/nocloud-amd64.raw"
    _task(
        api,
        "POST",
        "/nodes/pve/storage/local/download-url",
        url=url,
        content="iso",
        filename="talos-ssh.img",
    )
    listed = api.get("/nodes/pve/storage/local/content", params={"content": "iso"}).json()
    size = next(v["size"] for v in listed["data"] if v["volid"] == "local:iso/talos-ssh.img")
    path = host.check_output("pvesm path local:iso/talos-ssh.img")
    assert path == str(lab.dir / "pve" / "local" / "template" / "iso" / "talos-ssh.img")
    assert host.file(path).exists and host.file(path).size == size > 0

    _task(
        api,
        "POST",
        "/nodes/pve/qemu",
        vmid="9100",
        name="imported",
        scsihw="virtio-scsi-single",
        net0="virtio,bridge=vmbr0",
    )
    imp = host.run(f"qm importdisk 9100 {path} local-lvm --format raw")
    assert imp.rc == 0, imp.stderr
    assert imp.stdout.splitlines() == [
        f"importing disk '{path}' to VM 9100 ...",
        f"transferred 0.0 B of {size:.1f} B (0.00%)",
        f"transferred {size:.1f} B of {size:.1f} B (100.00%)",
        "unused0: successfully imported disk 'local-lvm:vm-9100-disk-0'",
    ]
    assert host.check_output("qm config 9100 | grep ^unused") == "unused0: local-lvm:vm-9100-disk-0"
    attach = host.run(
        "qm set 9100 --scsi0 local-lvm:vm-9100-disk-0,iothread=1 "
        "--boot order=scsi0 --ide2 local-lvm:cloudinit --tags talos,new"
    )
    assert attach.rc == 0, attach.stderr
    assert attach.stdout.splitlines() == [
        "update VM 9100: -boot order=scsi0 -ide2 local-lvm:cloudinit "
        "-scsi0 local-lvm:vm-9100-disk-0,iothread=1 -tags talos,new",
        "ide2: successfully created disk 'local-lvm:vm-9100-cloudinit,media=cdrom'",
    ]
    cfg = api.get("/nodes/pve/qemu/9100/config").json()["data"]
    assert cfg["scsi0"] == "local-lvm:vm-9100-disk-0,iothread=1,size=4M"
    assert "unused0" not in cfg and cfg["boot"] == "order=scsi0" and cfg["tags"] == "new;talos"
    assert cfg["ide2"] == "local-lvm:vm-9100-cloudinit,media=cdrom"
    world = lab._server["server"].world  # an in-process lab
    assert world.pve.disk_origin(9100) == url, "the imported disk holds what was downloaded"

    world.pve.grant(world.pve_token[0], "Datastore.Allocate")  # the lab's token lacks it
    _task(api, "DELETE", "/nodes/pve/storage/local/content/local:iso/talos-ssh.img")
    assert not Path(path).exists()
    with pytest.raises(RuntimeError) as failed:
        host.run(f"qm importdisk 9100 {path} local-lvm")
    gone = failed.value.args[0]
    assert (gone.rc, gone.stdout, gone.stderr) == (
        255,
        "",
        f"{path}: non-existent or non-regular file\n",
    )


def test_pvesm_status_is_the_storage_table(lab: Lab) -> None:
    out = _host(lab).run("pvesm status")
    assert out.rc == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert header.split() == [
        "Name",
        "Type",
        "Status",
        "Total",
        "(KiB)",
        "Used",
        "(KiB)",
        "Available",
        "(KiB)",
        "%",
    ]
    table = {r.split()[0]: r.split()[1:] for r in rows}
    assert set(table) == {"local", "local-lvm"}
    kind, status, total, used, avail, pct = table["local"]
    assert (kind, status, int(total)) == ("dir", "active", 100 * 1024 * 1024)
    assert int(total) - int(used) == int(avail) and pct.endswith("%")
    one = _host(lab).run("pvesm status --storage local-lvm")
    assert [r.split()[0] for r in one.stdout.splitlines()[1:]] == ["local-lvm"]


def test_a_wrong_key_is_refused(lab: Lab, tmp_path: Path) -> None:
    key = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    c = _ssh_conf(lab)
    done = subprocess.run(
        [
            "ssh",
            "-i",
            str(key),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-o",
            f"UserKnownHostsFile={c['known_hosts']}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-p",
            str(c["port"]),
            f"root@{c['host']}",
            "qm config 201",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 255
    assert "Permission denied (publickey)" in done.stderr
    assert "net0" not in done.stdout


def test_sshd_stops_with_the_lab(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab(lab={"ssh": True})
    pid = int(lab.state["sshd_pid"])
    pve = _ssh_conf(lab)["host"]
    assert _pid_alive(pid) and pve in _listeners(SSH_PORT)
    assert int((lab.dir / "ssh" / "sshd.pid").read_text()) == pid
    lab.stop()
    assert not _pid_alive(pid)
    assert pve not in _listeners(SSH_PORT)


def test_the_sshd_of_a_lab_that_died_is_stopped_by_its_pid(make_lab: Callable[..., Lab]) -> None:
    """`stop_dir` (python -m emulator down) ends the sshd recorded in DIR/ssh/sshd.pid, only
    when that PID still runs sshd on this lab's config."""
    lab = make_lab(lab={"ssh": True})
    pid = int(lab.state["sshd_pid"])
    assert kill_recorded(lab.dir / "ssh") == pid
    # ended (a zombie until the lab process, its parent, reaps it: no command line left)
    cmdline = Path(f"/proc/{pid}/cmdline")
    assert not cmdline.exists() or cmdline.read_bytes() == b""
    assert _ssh_conf(lab)["host"] not in _listeners(SSH_PORT)
    assert kill_recorded(lab.dir / "ssh") is None, "nothing left to stop"


def test_a_lab_without_ssh_has_no_ssh_host(make_lab: Callable[..., Lab]) -> None:
    lab = make_lab()
    assert "ssh" not in yaml.safe_load(lab.profile.read_text())["proxmox"]
    assert not (lab.dir / "ssh").exists() and "sshd_pid" not in lab.state


# ---- the commands on a bare model (no SSH) --------------------------------------------------
def _model(tmp_path: Path, version: str = "8.4.1") -> ProxmoxModel:
    m = ProxmoxModel("pve", version=version)
    m.storages["local"].path = str(tmp_path / "local")
    m.real_files = True
    m.add_vm(120, "t", "pve", [], "stopped", config={"scsi0": "local-lvm:vm-120-disk-0,size=1G"})
    return m


def _image(tmp_path: Path, size: int) -> str:
    path = tmp_path / "img.raw"
    with open(path, "wb"):
        pass
    os.truncate(path, size)
    return str(path)


def test_importdisk_texts_and_refusals(tmp_path: Path) -> None:
    m = _model(tmp_path)
    src = _image(tmp_path, 1246 * MIB)
    res = run(m, ["qm", "importdisk", "120", src, "local-lvm", "--format", "qcow2"])
    assert (res.code, "".join(res.stderr)) == (
        0,
        "format 'qcow2' is not supported by the target storage - using 'raw' instead\n",
    )
    assert "".join(res.stdout).splitlines() == [
        f"importing disk '{src}' to VM 120 ...",
        "transferred 0.0 B of 1.2 GiB (0.00%)",
        "transferred 1.2 GiB of 1.2 GiB (100.00%)",
        "unused0: successfully imported disk 'local-lvm:vm-120-disk-1'",
    ]
    assert m.storages["local-lvm"].volumes["local-lvm:vm-120-disk-1"].size == 1248 * MIB
    old = _model(tmp_path, "8.2.4")
    res = run(old, ["qm", "disk", "import", "120", src, "local-lvm"])
    assert res.stdout[-1] == "Successfully imported disk as 'unused0:local-lvm:vm-120-disk-1'\n"
    m.vms[120].lock = "backup"
    res = run(m, ["qm", "importdisk", "120", src, "local-lvm"])
    assert (res.code, res.stderr) == (255, ["VM is locked (backup)\n"])
    m.vms[120].lock = None
    res = run(m, ["qm", "importdisk", "120", src, "local"])
    assert res.stderr == ["storage local does not support vm images\n"]
    res = run(m, ["qm", "importdisk", "120", src])
    assert (res.code, res.stderr) == (
        255,
        ["400 not enough arguments\n", "qm importdisk <vmid> <source> <storage> [OPTIONS]\n"],
    )


def test_pvesm_status_layout_and_path(tmp_path: Path) -> None:
    m = _model(tmp_path)
    out = "".join(run(m, ["pvesm", "status"]).stdout).splitlines()
    assert out[0] == (
        "Name             Type     Status     Total (KiB)      Used (KiB) Available (KiB)        %"
    )
    assert out[1] == (
        "local             dir     active       104857600        12582912        92274688   12.00%"
    )
    assert run(m, ["pvesm", "path", "local:import/x.raw"]).stdout == [
        f"{tmp_path}/local/import/x.raw\n"
    ]
    assert run(m, ["pvesm", "path", "local-lvm:vm-120-disk-0"]).stdout == [
        "/dev/pve/vm-120-disk-0\n"
    ]
    assert run(m, ["pvesm", "list", "local"]).stderr == ["not emulated: pvesm list local\n"]


def test_safe_ssh_returns_qm_exit_code_255(lab: Lab) -> None:
    """testinfra's safe-ssh backend wraps the command (mktemp, base64 on the host): a qm
    failure comes back as a result, not a RuntimeError."""
    out = _host(lab, "safe-ssh").run("qm config 999")
    assert (out.rc, out.stdout) == (255, "")
    assert out.stderr == "Configuration file 'nodes/pve/qemu-server/999.conf' does not exist\n"
    assert _host(lab, "safe-ssh").run("qm config 201").rc == 0


def test_a_taken_ssh_port_fails_the_lab_start(make_lab: Callable[..., Lab]) -> None:
    import socket

    from emulator.errors import LabError

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.201.77.4", SSH_PORT))  # the PVE address of block [201, 77]
        taken.listen()
        with pytest.raises(LabError) as failed:
            make_lab(lab={"ssh": True, "address_block": [201, 77]})
    assert str(failed.value) == (
        f"cannot start the lab's SSH host: 127.201.77.4:{SSH_PORT} is already in use "
        "(Address already in use)"
    )
