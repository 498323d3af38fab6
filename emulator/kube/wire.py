"""Wire details of the HTTP API: request bodies, query flags, content negotiation, paging."""

from __future__ import annotations

import base64
import json
from typing import Any

from aiohttp import web

from .errors import BadRequest, MethodNotAllowed, NotEmulated


def only_get(request: web.Request) -> None:
    """Raise MethodNotAllowed unless the request is a GET."""
    if request.method != "GET":
        raise MethodNotAllowed()


def truthy(value: str | None) -> bool:
    """Return True for the query values ``1``/``true`` (any case)."""
    return (value or "").lower() in ("1", "true")


def dry(request: web.Request) -> bool:
    """Return True if ``dryRun=All`` is in the query."""
    return "All" in request.query.getall("dryRun", [])


def check_name(body: dict[str, Any], name: str) -> None:
    """Raise BadRequest unless the body's ``metadata.name`` is the URL's ``name``."""
    got = (body.get("metadata") or {}).get("name")
    if got != name:
        raise BadRequest(f"the name of the object ({got}) does not match the name on the URL "
                         f"({name})")


def decode(raw: bytes) -> Any:
    """Return the JSON value of ``raw``; raise BadRequest if it is not JSON."""
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as err:
        raise BadRequest(f"the body of the request could not be decoded as JSON: {err}") from None


async def body(request: web.Request) -> dict[str, Any]:
    """Return the JSON object body; NotEmulated for YAML/protobuf, BadRequest otherwise."""
    ctype = request.content_type
    if ctype not in ("application/json", "application/octet-stream", "", "*/*"):
        raise NotEmulated(f"request body media type {ctype}")
    body = decode(await request.read())
    if not isinstance(body, dict):
        raise BadRequest("the body of the request must be a JSON object")
    return body


def negotiate(accept: str) -> tuple[str, str]:
    """Return (format, version): ``json``, ``table`` (meta.k8s.io v1/v1beta1) or ``partial``."""
    if not accept.strip():
        return "json", "v1"
    for media in accept.split(","):
        kind, *raw = [p.strip() for p in media.split(";")]
        params = dict(p.split("=", 1) for p in raw if "=" in p)
        if kind not in ("application/json", "*/*", "application/*"):
            continue
        as_ = params.get("as")
        if as_ is None:
            return "json", "v1"
        if params.get("g") != "meta.k8s.io":
            continue
        if as_ == "Table" and params.get("v") in ("v1", "v1beta1"):
            return "table", params["v"]
        if as_ in ("PartialObjectMetadata", "PartialObjectMetadataList") and \
                params.get("v") == "v1":
            return "partial", "v1"
    raise NotEmulated(f"response media type {accept!r} (only application/json is served)")


def page(items: list[dict[str, Any]], rv: str, limit: str | None, token: str | None
          ) -> tuple[list[dict[str, Any]], str, int | None]:
    """Return (page, continue token or "", remaining count) for ``limit``/``continue``."""
    if token:
        try:
            state = json.loads(base64.urlsafe_b64decode(token.encode()))
            start = tuple(state["start"])
        except (ValueError, KeyError, TypeError):
            raise BadRequest(f"continue key is not valid: {token}") from None
        items = [o for o in items
                 if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start]
    try:
        n = int(limit) if limit else 0
    except ValueError:
        raise BadRequest(f"invalid limit: {limit}") from None
    if n <= 0 or len(items) <= n:
        return items, "", None
    page, last = items[:n], items[n - 1]["metadata"]
    state = {"rv": rv, "start": [last.get("namespace", ""), last["name"]]}
    cont = base64.urlsafe_b64encode(json.dumps(state).encode()).decode()
    return page, cont, len(items) - n


