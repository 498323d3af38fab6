"""The Proxmox VE API over HTTP (httpx), as the template-based rebuild uses it.

Every answer is ``{"data": ...}``. Errors come back as the HTTP status, the message as reason
phrase, ``{"data": null, "message": "...\\n"}`` and, for 400, ``"errors": {param: msg}``
(reference §6, rebuild.md §2). Writes answer a task UPID at once; the task's own
``exitstatus`` says whether it worked (``OK``, else the error): `task_status` reads it,
`task_result` judges a stopped task (PveTaskFailed with the exitstatus and its log); waiting for
it to stop is the caller's (fixtures/procedures/pve_tasks.py, with the waiting primitive).

Authentication: an API token, ``Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`` (the
secret reference resolves to ``USER@REALM!TOKENID=SECRET``). The token never appears in an
error or in the evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import allure
import httpx

from drivers.errors import DriverError

API = "/api2/json"


class PveError(DriverError):
    """A call PVE refused or could not be made; names the call and PVE's message."""

    def __init__(self, call: str, status: int | None, message: str) -> None:
        self.call = call
        self.status = status
        self.message = message
        shown = f"HTTP {status}: {message}" if status is not None else message
        super().__init__(f"Proxmox VE {call}: {shown}")


class PveTaskFailed(DriverError):
    """A task that ended with an exitstatus other than OK (or did not end in time)."""

    def __init__(self, what: str, upid: str, exitstatus: str, log: list[str]) -> None:
        self.what = what
        self.upid = upid
        self.exitstatus = exitstatus
        self.log = log
        super().__init__(f"Proxmox VE task {what} ({upid}) failed: {exitstatus}")


@dataclass(frozen=True)
class PveVersion:
    """``GET /version``: e.g. version 8.4.1, release 8.4."""

    version: str
    release: str

    @property
    def numbers(self) -> tuple[int, ...]:
        """(8, 4, 1) from '8.4.1' ('7.4-3' gives (7, 4, 3))."""
        out = []
        for part in self.version.replace("-", ".").split("."):
            digits = "".join(c for c in part if c.isdigit())
            if not digits:
                break
            out.append(int(digits))
        return tuple(out)


class Pve:
    """One Proxmox VE cluster (the profile's proxmox.api) and the node the VMs live on."""

    def __init__(
        self,
        url: str,
        node: str,
        token: str,
        *,
        timeout: float = 30.0,
        verify: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.node = node
        self.http = httpx.Client(
            base_url=self.url + API,
            headers={"Authorization": f"PVEAPIToken={token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            verify=verify,  # False for PVE's own self-signed certificate (proxmox.verify_tls)
        )

    def close(self) -> None:
        self.http.close()

    # ---- HTTP ---------------------------------------------------------------------------------
    def call(self, method: str, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """One API call; its `data`, or PveError naming the call and PVE's message."""
        what = f"{method} {path}"
        data = {k: _form(v) for k, v in (params or {}).items()}
        with allure.step(f"PVE {what}"):
            try:
                if method in ("GET", "DELETE"):
                    resp = self.http.request(method, path, params=data)
                else:
                    resp = self.http.request(method, path, data=data)
            except httpx.HTTPError as e:
                raise PveError(what, None, f"unreachable ({self.url}): {e}") from None
        if resp.status_code >= 400:
            raise PveError(what, resp.status_code, _message(resp))
        try:
            return resp.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise PveError(what, resp.status_code, f"not a PVE answer: {resp.text[:200]}") from None

    def start(self, method: str, path: str, **params: Any) -> str:
        """A write that answers a task's UPID (the task runs on; see `task_status`)."""
        return str(self.call(method, path, params))

    def task_status(self, upid: str) -> dict[str, Any]:
        """The task's status: `status` running|stopped, and `exitstatus` once stopped."""
        return dict(self.call("GET", f"/nodes/{self.node}/tasks/{quote(upid, safe='')}/status"))

    def task_result(self, upid: str, what: str, status: dict[str, Any]) -> str:
        """A stopped task judged by its exitstatus (its log kept as evidence): the log's last
        line, or PveTaskFailed with the exitstatus and the log."""
        path = f"/nodes/{self.node}/tasks/{quote(upid, safe='')}/log"
        log = [str(e.get("t", "")) for e in self.call("GET", path) or []]
        exit_ = str(status.get("exitstatus", ""))
        allure.attach("\n".join(log), f"task {what}", allure.attachment_type.TEXT)
        if exit_ != "OK":
            raise PveTaskFailed(what, upid, exit_ or "no exitstatus", log)
        return log[-1] if log else "TASK OK"

    # ---- reads --------------------------------------------------------------------------------
    def version(self) -> PveVersion:
        d = self.call("GET", "/version")
        return PveVersion(str(d.get("version", "")), str(d.get("release", "")))

    def vms(self) -> list[dict[str, Any]]:
        """Every VM and template of the cluster (/cluster/resources?type=vm)."""
        return list(self.call("GET", "/cluster/resources", {"type": "vm"}) or [])

    def by_vmid(self) -> dict[int, dict[str, Any]]:
        """vms() by VMID."""
        return {int(v["vmid"]): v for v in self.vms()}

    def vm(self, vmid: int) -> dict[str, Any] | None:
        """The VM or template of that VMID as /cluster/resources lists it, None when none."""
        return self.by_vmid().get(vmid)

    def vmid_free(self, vmid: int) -> bool:
        """`/cluster/nextid?vmid=N` answers N when nobody has it (nothing is reserved)."""
        try:
            return int(self.call("GET", "/cluster/nextid", {"vmid": vmid})) == vmid
        except PveError as e:
            if e.status == 400:
                return False
            raise

    def permissions(self) -> dict[str, dict[str, int]]:
        """The token's privileges, by ACL path (/access/permissions)."""
        return dict(self.call("GET", "/access/permissions") or {})

    def storages(self) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/nodes/{self.node}/storage") or [])

    def content(self, storage: str, content: str | None = None) -> list[dict[str, Any]]:
        params = {"content": content} if content else None
        return list(self.call("GET", f"/nodes/{self.node}/storage/{storage}/content", params))

    def config(self, vmid: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/nodes/{self.node}/qemu/{vmid}/config") or {})

    def status(self, vmid: int) -> dict[str, Any]:
        return dict(self.call("GET", f"/nodes/{self.node}/qemu/{vmid}/status/current") or {})


def _form(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _message(resp: httpx.Response) -> str:
    """PVE's message: the JSON body's message and per-parameter errors, else the reason."""
    try:
        body = resp.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        msg = str(body.get("message") or "").strip()
        errors = body.get("errors") or {}
        if isinstance(errors, dict) and errors:
            msg = (msg + " " if msg else "") + "; ".join(f"{k}: {v}" for k, v in errors.items())
        if msg:
            return msg
    return resp.reason_phrase or f"HTTP {resp.status_code}"
