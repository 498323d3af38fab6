"""The Proxmox VE driver against PVE's documented answers (reference §6, rebuild.md §2): the
`{"data": ...}` envelope, 400 with per-parameter errors, a task's exitstatus and log, the
version numbers, /cluster/nextid for a taken VMID."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from drivers.proxmox import Pve, PveError, PveTaskFailed, PveVersion
from fixtures.procedures.pve_tasks import pve_task
from fixtures.waiting import WaitTimeout

UPID = "UPID:pve:0003D4F2:01B9A1C9:6752A5F0:download:talos.raw:root@pam!harness:"


def _pve(handler: Any) -> Pve:
    return Pve("https://pve.example:8006", "pve", "root@pam!harness=secret",
               transport=httpx.MockTransport(handler))


def _data(value: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"data": value})


def test_token_header_and_envelope() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _data({"version": "8.4.1", "release": "8.4", "repoid": "2a5fa54a8503f96d"})

    version = _pve(handler).version()
    assert version == PveVersion("8.4.1", "8.4") and version.numbers == (8, 4, 1)
    assert seen[0].url.path == "/api2/json/version"
    assert seen[0].headers["Authorization"] == "PVEAPIToken=root@pam!harness=secret"
    assert PveVersion("7.4-3", "7.4").numbers == (7, 4, 3)


def test_a_400_names_the_parameter_and_never_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"data": None, "message": "Parameter verification failed.\n",
                "errors": {"filename": "invalid filename or wrong extension"}}
        return httpx.Response(400, json=body)

    with pytest.raises(PveError) as info:
        _pve(handler).call("POST", "/nodes/pve/storage/local/download-url",
                           {"filename": "talos.raw.xz"})
    assert str(info.value) == (
        "Proxmox VE POST /nodes/pve/storage/local/download-url: HTTP 400: Parameter "
        "verification failed. filename: invalid filename or wrong extension")
    assert "secret" not in str(info.value)


def test_a_task_is_judged_by_its_exitstatus_and_its_log_kept() -> None:
    reads = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/download-url"):
            return _data(UPID)
        if path.endswith("/status"):
            reads["n"] += 1
            if reads["n"] == 1:
                return _data({"status": "running", "upid": UPID})
            return _data({"status": "stopped", "exitstatus": "refusing to override existing "
                          "file '/var/lib/vz/import/talos.raw'", "upid": UPID})
        if path.endswith("/log"):
            return _data([{"n": 1, "t": "starting download"},
                          {"n": 2, "t": "TASK ERROR: refusing to override existing file "
                                        "'/var/lib/vz/import/talos.raw'"}])
        return httpx.Response(501)

    with pytest.raises(PveTaskFailed) as info:
        pve_task(_pve(handler), "POST", "/nodes/pve/storage/local/download-url",
                 "download talos.raw", 5.0, url="http://f/x.raw", content="import",
                 filename="talos.raw")
    assert str(info.value) == (
        f"Proxmox VE task download talos.raw ({UPID}) failed: refusing to override existing "
        "file '/var/lib/vz/import/talos.raw'")
    assert info.value.log[-1].startswith("TASK ERROR:")
    assert reads["n"] == 2


def test_a_task_still_running_at_the_deadline_is_a_timeout() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/status"):
            return _data({"status": "running", "upid": UPID})
        return _data(UPID)

    with pytest.raises(WaitTimeout, match=r"Proxmox VE task download talos.raw: after 0.3 s "
                                          r"still: task UPID:pve:.* running"):
        pve_task(_pve(handler), "POST", "/nodes/pve/storage/local/download-url",
                 "download talos.raw", 0.3)


def test_nextid_answers_400_for_a_taken_vmid() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        vmid = request.url.params["vmid"]
        if vmid == "9000":
            return httpx.Response(400, content=json.dumps(
                {"data": None, "errors": {"vmid": "VM 9000 already exists"}}))
        return _data(vmid)

    pve = _pve(handler)
    assert pve.vmid_free(9100) is True
    assert pve.vmid_free(9000) is False


def test_unreachable_is_named() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(PveError, match=r"Proxmox VE GET /version: unreachable "
                                       r"\(https://pve.example:8006\): connection refused"):
        _pve(handler).version()
