"""HTTP face of the emulated Image Factory (aiohttp), after `internal/frontend/http/*.go`.

Errors are plain text with a trailing newline as Go's `http.Error` writes them; an unparsable
version is 500 "internal server error". The OCI registry answers manifests itself (upstream
redirects to its backing registry) and reports errors in the OCI error format. Anything else is
501 "not emulated: <METHOD> <path>".
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from emulator.factory.errors import FactoryError, InvalidVersion
from emulator.factory.models import FactoryModel

MODEL: web.AppKey[FactoryModel] = web.AppKey("factory_model", FactoryModel)
_OCI_CODES = {400: "MANIFEST_INVALID", 404: "MANIFEST_UNKNOWN"}


def go_json(value: Any) -> bytes:
    """Return Go json.Encoder output: compact, HTML-escaped, with a trailing newline."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return (text + "\n").encode()


def text_error(status: int, message: str) -> web.Response:
    """Return Go's http.Error(w, message, status)."""
    return web.Response(status=status, body=(message + "\n").encode(),
                        headers={"Content-Type": "text/plain; charset=utf-8",
                                 "X-Content-Type-Options": "nosniff"})


def factory_error(e: FactoryError) -> web.Response:
    """Return the answer upstream's MatchError gives for this error."""
    if isinstance(e, InvalidVersion) or e.status == 500:
        return text_error(500, "internal server error")
    return text_error(e.status, e.message)


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=go_json(value),
                        headers={"Content-Type": "application/json"})


async def create_schematic(request: web.Request) -> web.Response:
    """POST /schematics: 201 {"id", "schematic"}."""
    try:
        schematic = request.app[MODEL].register_yaml(await request.read())
    except FactoryError as e:
        return factory_error(e)
    return _json({"id": schematic.id, "schematic": schematic.canonical_yaml()}, status=201)


async def get_schematic(request: web.Request) -> web.Response:
    """GET /schematics/{id}: the canonical YAML, or 404 "schematic not found"."""
    try:
        schematic = request.app[MODEL].get(request.match_info["schematic"])
    except FactoryError:
        return text_error(404, "schematic not found")
    return web.Response(body=schematic.canonical_yaml().encode(),
                        headers={"Content-Type": "application/yaml"})


async def versions(request: web.Request) -> web.Response:
    """GET /versions (?broken=true lists none)."""
    if request.query.get("broken") == "true":
        return _json([])
    return _json(request.app[MODEL].versions())


async def official_extensions(request: web.Request) -> web.Response:
    """GET /version/{version}/extensions/official."""
    version = request.match_info["version"]
    try:
        infos = request.app[MODEL].extensions(version)
    except FactoryError as e:
        return factory_error(e)
    return _json([i.to_json() for i in infos])


async def image(request: web.Request) -> web.StreamResponse:
    """GET|HEAD /image/{schematic}/{version}/{path}: the asset, served directly."""
    m = request.match_info
    try:
        asset = request.app[MODEL].image(m["schematic"], m["version"], m["path"],
                                         request.query.get("filename") or None)
    except FactoryError as e:
        return factory_error(e)
    headers = {"Content-Type": asset.content_type, "Content-Length": str(len(asset.body)),
               "Content-Disposition": f'attachment; filename="{asset.filename}"'}
    if request.method == "HEAD":
        return web.Response(headers=headers)
    return web.Response(body=asset.body, headers=headers)


async def registry_ping(request: web.Request) -> web.Response:
    """GET|HEAD /v2/: the registry answers."""
    return web.Response(body=b"{}", headers={"Content-Type": "application/json",
                                             "Docker-Distribution-API-Version": "registry/2.0"})


def _oci_error(e: FactoryError) -> web.Response:
    status = 500 if isinstance(e, InvalidVersion) else e.status
    code = _OCI_CODES.get(status, "UNKNOWN")
    body = {"errors": [{"code": code, "message": e.message, "detail": None}]}
    return web.Response(status=status, body=json.dumps(body).encode(),
                        headers={"Content-Type": "application/json"})


async def manifest(request: web.Request) -> web.Response:
    """GET|HEAD /v2/{image}/{schematic}/manifests/{tag}: the installer image index."""
    m = request.match_info
    try:
        index = request.app[MODEL].installer_manifest(m["image"], m["schematic"], m["tag"])
    except FactoryError as e:
        return _oci_error(e)
    headers = {"Content-Type": index.media_type, "Docker-Content-Digest": index.digest,
               "Content-Length": str(len(index.body))}
    if request.method == "HEAD":
        return web.Response(headers=headers)
    return web.Response(body=index.body, headers=headers)


async def healthz(request: web.Request) -> web.Response:
    """GET|HEAD /healthz: 200, empty body."""
    return web.Response()


async def not_emulated(request: web.Request) -> web.Response:
    """Anything else: 501, named."""
    return text_error(501, f"not emulated: {request.method} {request.path}")


def build_app(model: FactoryModel) -> web.Application:
    """Return the aiohttp application serving this factory model."""
    app = web.Application()
    app[MODEL] = model
    r = app.router
    r.add_post("/schematics", create_schematic)
    r.add_get("/schematics/{schematic}", get_schematic, allow_head=False)
    r.add_get("/versions", versions, allow_head=False)
    r.add_get("/version/{version}/extensions/official", official_extensions, allow_head=False)
    r.add_get("/image/{schematic}/{version}/{path}", image)  # also HEAD
    r.add_get("/v2/", registry_ping)
    r.add_get("/v2", registry_ping)
    r.add_get("/v2/{image}/{schematic}/manifests/{tag}", manifest)
    r.add_get("/healthz", healthz)
    r.add_route("*", "/{tail:.*}", not_emulated)
    return app
