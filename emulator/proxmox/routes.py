"""HTTP face of the emulated Proxmox VE API under /api2/json (aiohttp, plain HTTP on loopback).

Every answer is `{"data": ...}` with `application/json;charset=UTF-8`. Requests need an API token
(`Authorization: PVEAPIToken=USER@REALM!TOKENID=SECRET`); without one the answer is 401 at once
(real PVE waits 3 s). Bodies may be form-encoded or JSON. Unknown paths are 501 "not emulated".
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from emulator.proxmox.errors import NotEmulated, ParameterError, PveError, Unauthorized
from emulator.proxmox.models import ProxmoxModel, parse_vmid

MODEL: web.AppKey[ProxmoxModel] = web.AppKey("pve_model", ProxmoxModel)
USER: web.RequestKey[str] = web.RequestKey("pve_user", str)
API = "/api2/json"
CONTENT_TYPE = "application/json;charset=UTF-8"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def ok(data: Any, **extra: Any) -> web.Response:
    """Return PVE's success envelope (`extra`: result attributes such as a log's `total`)."""
    return web.Response(body=json.dumps({"data": data, **extra}).encode(),
                        headers={"Content-Type": CONTENT_TYPE})


def pve_error(e: PveError) -> web.Response:
    """Return PVE's error answer: reason phrase = message, JSON body (empty for 401)."""
    reason = e.message.splitlines()[0][:200] if e.message else None
    if isinstance(e, Unauthorized):
        return web.Response(status=e.status, reason=reason)
    body: dict[str, Any] = {"data": None, "message": e.message + "\n"}
    if e.errors:
        body["errors"] = e.errors
    return web.Response(status=e.status, reason=reason, body=json.dumps(body).encode(),
                        headers={"Content-Type": CONTENT_TYPE})


@web.middleware
async def auth_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Check the API token, then map PveError to PVE's answer."""
    try:
        if request.path.startswith(API + "/"):
            request[USER] = request.app[MODEL].authenticate(
                request.headers.get("Authorization"), request.cookies.get("PVEAuthCookie"))
        return await handler(request)
    except PveError as e:
        return pve_error(e)


async def params(request: web.Request) -> dict[str, str]:
    """Return query + body parameters (form-encoded or JSON); raise ParameterError."""
    out = dict(request.query)
    raw = await request.read()
    if not raw:
        return out
    try:
        if request.content_type == "application/json":
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError
            out.update({k: _text(v) for k, v in data.items()})
        else:
            out.update(parse_qsl(raw.decode(), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError):
        raise ParameterError(body="malformed request body") from None
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _vm(request: web.Request) -> tuple[ProxmoxModel, str, int]:
    m = request.match_info
    return request.app[MODEL], m["node"], parse_vmid(m["vmid"])


async def cluster_resources(request: web.Request) -> web.Response:
    """GET /cluster/resources[?type=vm|node|storage|sdn]."""
    kind = request.query.get("type")
    if kind not in (None, "vm", "node", "storage", "sdn"):
        raise ParameterError(type=f"value '{kind}' does not have a value in the enumeration "
                                  "'vm, storage, node, sdn'")
    if kind in ("storage", "sdn"):
        return ok([])
    return ok(request.app[MODEL].cluster_resources(kind))


async def nodes(request: web.Request) -> web.Response:
    """GET /nodes."""
    return ok(request.app[MODEL].nodes_list())


async def qemu_list(request: web.Request) -> web.Response:
    """GET /nodes/{node}/qemu."""
    return ok(request.app[MODEL].qemu_list(request.match_info["node"]))


async def status_current(request: web.Request) -> web.Response:
    """GET /nodes/{node}/qemu/{vmid}/status/current."""
    model, node, vmid = _vm(request)
    return ok(model.status_current(node, vmid))


async def config_get(request: web.Request) -> web.Response:
    """GET /nodes/{node}/qemu/{vmid}/config."""
    model, node, vmid = _vm(request)
    return ok(model.config(node, vmid))


async def config_set(request: web.Request) -> web.Response:
    """POST (async, UPID) or PUT (sync, null) /nodes/{node}/qemu/{vmid}/config."""
    model, node, vmid = _vm(request)
    return ok(model.set_config(node, vmid, await params(request), request[USER],
                               sync=request.method == "PUT"))


async def power(request: web.Request) -> web.Response:
    """POST /nodes/{node}/qemu/{vmid}/status/{start|stop|shutdown|reboot}."""
    model, node, vmid = _vm(request)
    action = request.match_info["action"]
    if action not in ("start", "stop", "shutdown", "reboot"):
        raise NotEmulated(f"not emulated: POST {request.path}")
    return ok(model.power(node, vmid, action, request[USER], await params(request)))


async def clone(request: web.Request) -> web.Response:
    """POST /nodes/{node}/qemu/{vmid}/clone."""
    model, node, vmid = _vm(request)
    return ok(model.clone(node, vmid, await params(request), request[USER]))


async def template(request: web.Request) -> web.Response:
    """POST /nodes/{node}/qemu/{vmid}/template."""
    model, node, vmid = _vm(request)
    await params(request)
    return ok(model.make_template(node, vmid, request[USER]))


async def destroy(request: web.Request) -> web.Response:
    """DELETE /nodes/{node}/qemu/{vmid}[?purge=1&destroy-unreferenced-disks=1]."""
    model, node, vmid = _vm(request)
    return ok(model.delete(node, vmid, request[USER], await params(request)))


async def task_status(request: web.Request) -> web.Response:
    """GET /nodes/{node}/tasks/{upid}/status."""
    m = request.match_info
    return ok(request.app[MODEL].task_status(m["node"], m["upid"]))


async def task_log(request: web.Request) -> web.Response:
    """GET /nodes/{node}/tasks/{upid}/log[?start=&limit=]: [{n, t}] plus `total`."""
    m = request.match_info
    q = request.query
    start, limit = _uint(q.get("start", "0"), "start"), _uint(q.get("limit", "50"), "limit")
    total, lines = request.app[MODEL].task_log(m["node"], m["upid"], request[USER], start, limit)
    return ok(lines, total=total)


def _uint(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ParameterError(**{name: f"type check ('integer') failed - got '{text}'"}) from None
    if value < 0:
        raise ParameterError(**{name: "value must have a minimum value of 0"})
    return value


async def version(request: web.Request) -> web.Response:
    """GET /version."""
    return ok(request.app[MODEL].version_info())


async def next_id(request: web.Request) -> web.Response:
    """GET /cluster/nextid[?vmid=N]: the id as a string (see ProxmoxModel.next_id)."""
    return ok(request.app[MODEL].next_id(request.query.get("vmid")))


async def permissions(request: web.Request) -> web.Response:
    """GET /access/permissions[?path=&userid=]: {path: {privilege: 1}}."""
    return ok(request.app[MODEL].effective_permissions(request[USER], dict(request.query)))


async def storage_index(request: web.Request) -> web.Response:
    """GET /nodes/{node}/storage[?content=&storage=&enabled=]."""
    return ok(request.app[MODEL].storage_index(request.match_info["node"], request[USER],
                                               dict(request.query)))


async def storage_content(request: web.Request) -> web.Response:
    """GET /nodes/{node}/storage/{storage}/content[?content=&vmid=]."""
    m = request.match_info
    return ok(request.app[MODEL].storage_content(m["node"], m["storage"], request[USER],
                                                 dict(request.query)))


async def volume_delete(request: web.Request) -> web.Response:
    """DELETE /nodes/{node}/storage/{storage}/content/{volume} (volume may hold : and /)."""
    m = request.match_info
    return ok(request.app[MODEL].delete_volume(m["node"], m["storage"], m["volume"],
                                               request[USER], await params(request)))


async def download_url(request: web.Request) -> web.Response:
    """POST /nodes/{node}/storage/{storage}/download-url."""
    m = request.match_info
    return ok(request.app[MODEL].download_url(m["node"], m["storage"], await params(request),
                                              request[USER]))


async def create_vm(request: web.Request) -> web.Response:
    """POST /nodes/{node}/qemu."""
    return ok(request.app[MODEL].create_vm(request.match_info["node"], await params(request),
                                           request[USER]))


async def resize(request: web.Request) -> web.Response:
    """PUT /nodes/{node}/qemu/{vmid}/resize."""
    model, node, vmid = _vm(request)
    return ok(model.resize(node, vmid, await params(request), request[USER]))


async def not_emulated(request: web.Request) -> web.Response:
    """Anything else: 501, named."""
    raise NotEmulated(f"not emulated: {request.method} {request.path}")


def build_app(model: ProxmoxModel) -> web.Application:
    """Return the aiohttp application serving this PVE model under /api2/json."""
    app = web.Application(middlewares=[auth_and_errors])
    app[MODEL] = model
    r = app.router
    vm = API + "/nodes/{node}/qemu/{vmid}"
    storage = API + "/nodes/{node}/storage"
    r.add_get(API + "/version", version, allow_head=False)
    r.add_get(API + "/cluster/nextid", next_id, allow_head=False)
    r.add_get(API + "/access/permissions", permissions, allow_head=False)
    r.add_get(API + "/cluster/resources", cluster_resources, allow_head=False)
    r.add_get(API + "/nodes", nodes, allow_head=False)
    r.add_get(storage, storage_index, allow_head=False)
    r.add_get(storage + "/{storage}/content", storage_content, allow_head=False)
    r.add_delete(storage + "/{storage}/content/{volume:.+}", volume_delete)
    r.add_post(storage + "/{storage}/download-url", download_url)
    r.add_get(API + "/nodes/{node}/qemu", qemu_list, allow_head=False)
    r.add_post(API + "/nodes/{node}/qemu", create_vm)
    r.add_get(vm + "/status/current", status_current, allow_head=False)
    r.add_post(vm + "/status/{action}", power)
    r.add_get(vm + "/config", config_get, allow_head=False)
    r.add_post(vm + "/config", config_set)
    r.add_put(vm + "/config", config_set)
    r.add_post(vm + "/clone", clone)
    r.add_post(vm + "/template", template)
    r.add_put(vm + "/resize", resize)
    r.add_delete(vm, destroy)
    r.add_get(API + "/nodes/{node}/tasks/{upid}/status", task_status, allow_head=False)
    r.add_get(API + "/nodes/{node}/tasks/{upid}/log", task_log, allow_head=False)
    r.add_route("*", "/{tail:.*}", not_emulated)
    return app
