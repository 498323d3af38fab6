"""HTTP surface of the emulated Kubernetes API (aiohttp): the routes over a :class:`KubeStore`.

Plain HTTP, no authentication. Serves ``/version``, health endpoints, legacy discovery, and
get/list/watch/create/update/patch/delete on every type of :mod:`.resources`, the ``status``
and ``pods/eviction`` subresources, label/field selectors, paging, and server-side Tables.
Errors are ``Status`` objects; anything the lab does not emulate answers 501 ``not emulated:``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from . import discovery, wire
from .errors import (
    BadRequest,
    Gone,
    InternalError,
    KubeApiError,
    MethodNotAllowed,
    NotEmulated,
    NotFound,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from .patch import PatchType
from .resources import ResourceType, lookup, not_emulated
from .store import KubeStore
from .tables import partial_metadata, table
from .watch import Watch

log = logging.getLogger(__name__)

STORE = web.AppKey("kube_store", KubeStore)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

NOT_EMULATED_SUBRESOURCES = frozenset({
    "log", "exec", "attach", "portforward", "proxy", "binding", "ephemeralcontainers",
    "resize", "scale", "finalize"})
HEALTH_CHECKS = ("ping", "log", "etcd", "informer-sync", "poststarthook/start-informers")
DEFAULT_WATCH_TIMEOUT = 1800.0


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-cache, private"})


def _error(err: KubeApiError) -> web.Response:
    return _json(err.status(), err.code)


def build_app(
    store: KubeStore, *, version_info: Callable[[], dict[str, Any]],
    available: Callable[[], bool] = lambda: True, idle_check_seconds: float = 1.0,
) -> web.Application:
    """Return the aiohttp application serving the Kubernetes API over ``store``.

    ``version_info()`` gives the ``/version`` body; while ``available()`` is False every
    request gets 503 and open watches end. Watches poll for a dead client or unavailability
    every ``idle_check_seconds`` while idle.
    """

    @web.middleware
    async def kube_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not available():
            return _error(ServiceUnavailable())
        try:
            return await handler(request)
        except KubeApiError as err:
            return _error(err)
        except web.HTTPException:
            raise
        except Exception as err:  # an emulator bug: say so as the API would
            log.exception("kube emulator: %s %s failed", request.method, request.path)
            return _error(InternalError(f"Internal error occurred: {err!r}"))

    app = web.Application(middlewares=[kube_errors])
    app[STORE] = store
    watches: set[Watch] = set()
    api = _Api(store, available, idle_check_seconds, watches)

    async def version(request: web.Request) -> web.StreamResponse:
        if request.method != "GET":
            raise MethodNotAllowed()
        return _json(version_info())

    async def health(request: web.Request) -> web.StreamResponse:
        name = request.path.strip("/").split("/")[0]
        if "verbose" not in request.query:
            return web.Response(text="ok", content_type="text/plain")
        lines = [f"[+]{c} ok" for c in HEALTH_CHECKS] + [f"{name} check passed"]
        return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")

    async def openapi(request: web.Request) -> web.StreamResponse:
        # text/plain: OpenAPI clients (kubectl validation, explain) print a text body verbatim
        # but cannot decode a JSON Status there.
        err = NotEmulated(f"{request.path} (OpenAPI documents; use --validate=false)")
        return web.Response(status=err.code, text=err.message, content_type="text/plain")

    async def unknown(request: web.Request) -> web.StreamResponse:
        raise NotFound.path()

    async def on_shutdown(app_: web.Application) -> None:
        for w in list(watches):  # end open watch streams so the runner can stop promptly
            store.stop_watch(w)

    app.on_shutdown.append(on_shutdown)
    r = app.router
    r.add_route("*", "/version", version)
    r.add_route("*", "/version/", version)  # the Python client's VersionApi asks this one
    for path in ("/healthz", "/livez", "/readyz"):
        r.add_route("GET", path, health)
        r.add_route("GET", path + "/{check:.+}", health)
    r.add_route("*", "/openapi/{tail:.*}", openapi)
    r.add_route("*", "/api", api.core_root)
    r.add_route("*", "/api/{tail:.+}", api.core)
    r.add_route("*", "/apis", api.groups_root)
    r.add_route("*", "/apis/{tail:.+}", api.groups)
    r.add_route("*", "/{tail:.*}", unknown)
    return app


class _Api:
    """Request parsing and dispatch for /api and /apis."""

    def __init__(self, store: KubeStore, available: Callable[[], bool], idle: float,
                 watches: set[Watch]) -> None:
        self.store, self.available, self.idle, self.watches = store, available, idle, watches

    # ---------------------------------------------------------------- discovery
    async def core_root(self, request: web.Request) -> web.StreamResponse:
        wire.only_get(request)
        return _json(discovery.api_versions(request.host))

    async def groups_root(self, request: web.Request) -> web.StreamResponse:
        wire.only_get(request)
        return _json(discovery.api_group_list())

    async def core(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        if not parts or parts[0] != "v1":
            raise NotFound.path()
        return await self._dispatch(request, "", "v1", parts[1:])

    async def groups(self, request: web.Request) -> web.StreamResponse:
        parts = [p for p in request.match_info["tail"].split("/") if p]
        if len(parts) == 1:
            wire.only_get(request)
            versions = discovery.api_group_list()["groups"]
            found = next((g for g in versions if g["name"] == parts[0]), None)
            if found is None and not_emulated(parts[0]):
                raise NotEmulated(f"API group {parts[0]}")
            if found is None:
                raise NotFound.path()
            return _json(discovery.api_group(parts[0], [v["version"] for v in found["versions"]]))
        return await self._dispatch(request, parts[0], parts[1], parts[2:])

    # ---------------------------------------------------------------- dispatch
    async def _dispatch(self, request: web.Request, group: str, version: str,
                        rest: list[str]) -> web.StreamResponse:
        if not rest:
            wire.only_get(request)
            doc = discovery.resource_list(group, version)
            if doc is None and not_emulated(group):
                raise NotEmulated(f"API group {group}")
            if doc is None:
                raise NotFound.path()
            return _json(doc)
        watch_path = rest[0] == "watch"
        if watch_path:
            rest = rest[1:]
        ns: str | None = None
        if len(rest) >= 3 and rest[0] == "namespaces" and rest[2] not in ("status", "finalize"):
            ns, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise NotFound.path()
        rt = lookup(group, version, rest[0])
        if rt is None and not_emulated(group, rest[0]):
            raise NotEmulated(f"{request.method} {f'{group}/' if group else ''}{version} "
                              f"{rest[0]}")
        if rt is None or (ns is not None and not rt.namespaced):
            raise NotFound.path()
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if name is not None and rt.namespaced and ns is None:
            raise NotFound.path()
        if watch_path or (request.method == "GET" and wire.truthy(request.query.get("watch"))):
            if request.method != "GET" or sub is not None:
                raise MethodNotAllowed()
            return await self._watch(request, rt, ns, name)
        if name is None:
            return await self._collection(request, rt, ns)
        if sub is None:
            return await self._item(request, rt, ns, name)
        return await self._subresource(request, rt, ns, name, sub)

    async def _collection(self, request: web.Request, rt: ResourceType,
                          ns: str | None) -> web.StreamResponse:
        q = request.query
        if request.method == "GET":
            items, rv = self.store.list(rt.key, ns, q.get("labelSelector"), q.get("fieldSelector"))
            items, cont, remaining = wire.page(items, rv, q.get("limit"), q.get("continue"))
            return self._render_list(request, rt, items, rv, cont, remaining)
        if request.method == "POST":
            if rt.namespaced and ns is None:
                raise MethodNotAllowed()
            created = self.store.create(rt.key, await wire.body(request), ns,
                                        dry_run=wire.dry(request))
            return _json(created, 201)
        if request.method == "DELETE":
            raise NotEmulated(f"deletecollection of {rt.key}")
        raise MethodNotAllowed()

    async def _item(self, request: web.Request, rt: ResourceType, ns: str | None,
                    name: str) -> web.StreamResponse:
        m = request.method
        if m == "GET":
            return self._render_one(request, rt, self.store.get(rt.key, name, ns))
        if m == "PUT":
            body = await wire.body(request)
            wire.check_name(body, name)
            return _json(self.store.replace(rt.key, body, ns, client=True,
                                            dry_run=wire.dry(request)))
        if m == "PATCH":
            return _json(await self._patch(request, rt, ns, name, None))
        if m == "DELETE":
            return await self._delete(request, rt, ns, name)
        raise MethodNotAllowed()

    async def _subresource(self, request: web.Request, rt: ResourceType, ns: str | None,
                           name: str, sub: str) -> web.StreamResponse:
        if not rt.has_subresource(sub):
            if sub in NOT_EMULATED_SUBRESOURCES:
                raise NotEmulated(f"{request.method} {rt.plural}/{sub}")
            raise NotFound.path()
        m = request.method
        if sub == "eviction":
            if m != "POST":
                raise MethodNotAllowed()
            return await self._evict(request, ns or "default", name)
        if m == "GET":
            return self._render_one(request, rt, self.store.get(rt.key, name, ns))
        if m == "PUT":
            body = await wire.body(request)
            wire.check_name(body, name)
            return _json(self.store.replace(rt.key, body, ns, subresource=sub, client=True,
                                            dry_run=wire.dry(request)))
        if m == "PATCH":
            return _json(await self._patch(request, rt, ns, name, sub))
        raise MethodNotAllowed()

    async def _patch(self, request: web.Request, rt: ResourceType, ns: str | None, name: str,
                     sub: str | None) -> dict[str, Any]:
        try:
            pt = PatchType.parse(request.content_type)
        except ValueError:
            accepted = "application/json-patch+json, application/merge-patch+json, " \
                       "application/apply-patch+yaml"
            if not rt.custom:
                accepted += ", application/strategic-merge-patch+json"
            raise UnsupportedMediaType("the body of the request was in an unknown format - "
                                       f"accepted media types include: {accepted}") from None
        if pt is PatchType.APPLY:
            raise NotEmulated("server-side apply (application/apply-patch+yaml)")
        body = wire.decode(await request.read())
        return self.store.patch(rt.key, name, body, pt, ns, subresource=sub, client=True,
                                dry_run=wire.dry(request))

    async def _delete(self, request: web.Request, rt: ResourceType, ns: str | None,
                      name: str) -> web.StreamResponse:
        raw = await request.read()
        opts = wire.decode(raw) if raw.strip() else {}
        dry_run = wire.dry(request) or "All" in (opts.get("dryRun") or [])
        gone = self.store.delete(rt.key, name, ns, preconditions=opts.get("preconditions"),
                                 dry_run=dry_run)
        meta = gone["metadata"]
        if rt.key == "pods" or meta.get("finalizers"):
            return _json(gone)
        details: dict[str, Any] = {"name": name}
        if rt.group:
            details["group"] = rt.group
        details.update({"kind": rt.plural, "uid": meta.get("uid", "")})
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Success", "details": details})

    async def _evict(self, request: web.Request, ns: str, name: str) -> web.StreamResponse:
        body = await wire.body(request)
        if body.get("kind") not in (None, "Eviction"):
            raise BadRequest(f"the body of the request was of kind {body.get('kind')}, "
                             "expected Eviction")
        if (body.get("metadata") or {}).get("name") not in (None, name):
            raise BadRequest(f"name in URL does not match name in Eviction object: {name} != "
                             f"{body['metadata']['name']}")
        opts = body.get("deleteOptions") or {}
        dry_run = wire.dry(request) or "All" in (opts.get("dryRun") or [])
        self.store.evict(ns, name, dry_run=dry_run)
        return _json({"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Success", "code": 201}, 201)

    # ---------------------------------------------------------------- rendering
    def _render_list(self, request: web.Request, rt: ResourceType, items: list[dict[str, Any]],
                     rv: str, cont: str, remaining: int | None) -> web.StreamResponse:
        fmt, version = wire.negotiate(request.headers.get("Accept", ""))
        if fmt == "table":
            body = table(rt, items, self.store.clock(), resource_version=rv, continue_token=cont,
                         include_object=request.query.get("includeObject", "Metadata"))
            body["apiVersion"] = f"meta.k8s.io/{version}"
            return _json(body)
        meta: dict[str, Any] = {"resourceVersion": rv}
        if cont:
            meta["continue"] = cont
            if remaining is not None:
                meta["remainingItemCount"] = remaining
        if fmt == "partial":
            return _json({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                          "metadata": meta, "items": [partial_metadata(o) for o in items]})
        return _json({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta,
                      "items": items})

    def _render_one(self, request: web.Request, rt: ResourceType,
                    obj: dict[str, Any]) -> web.StreamResponse:
        fmt, version = wire.negotiate(request.headers.get("Accept", ""))
        if fmt == "table":
            body = table(rt, [obj], self.store.clock(),
                         resource_version=obj["metadata"].get("resourceVersion", ""),
                         include_object=request.query.get("includeObject", "Metadata"))
            body["apiVersion"] = f"meta.k8s.io/{version}"
            return _json(body)
        if fmt == "partial":
            return _json(partial_metadata(obj))
        return _json(obj)

    async def _watch(self, request: web.Request, rt: ResourceType, ns: str | None,
                     name: str | None) -> web.StreamResponse:
        q = request.query
        fmt, version = wire.negotiate(request.headers.get("Accept", ""))
        fields = q.get("fieldSelector") or ""
        if name is not None:
            fields = ",".join(f for f in (fields, f"metadata.name={name}") if f)
        try:
            timeout = float(q.get("timeoutSeconds") or DEFAULT_WATCH_TIMEOUT)
        except ValueError:
            raise BadRequest(f"invalid timeoutSeconds: {q.get('timeoutSeconds')}") from None
        resp = web.StreamResponse(headers={"Content-Type": "application/json",
                                           "Cache-Control": "no-cache, private"})
        resp.enable_chunked_encoding()
        try:
            w = self.store.watch(rt.key, ns, q.get("resourceVersion"), q.get("labelSelector"),
                                 fields)
        except Gone as err:
            await resp.prepare(request)
            await resp.write(json.dumps({"type": "ERROR", "object": err.status()}).encode()
                             + b"\n")
            await resp.write_eof()
            return resp
        await resp.prepare(request)
        self.watches.add(w)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            while True:
                remaining = deadline - loop.time()
                transport = request.transport
                if remaining <= 0 or not self.available() or transport is None \
                        or transport.is_closing():
                    break
                try:
                    event = await w.next(min(remaining, self.idle))
                except StopAsyncIteration:
                    break
                if event is None:
                    continue
                obj = event["object"]
                if fmt == "table":
                    obj = table(rt, [obj], self.store.clock(),
                                resource_version=obj["metadata"].get("resourceVersion", ""),
                                include_object=q.get("includeObject", "Metadata"))
                    obj["apiVersion"] = f"meta.k8s.io/{version}"
                elif fmt == "partial":
                    obj = partial_metadata(obj)
                await resp.write(json.dumps({"type": event["type"], "object": obj}).encode()
                                 + b"\n")
        except (ConnectionResetError, ConnectionError):
            return resp
        finally:
            self.store.stop_watch(w)
            self.watches.discard(w)
        with contextlib.suppress(ConnectionError):
            await resp.write_eof()
        return resp


async def serve(store: KubeStore, host: str, port: int, **kw: Any) -> web.AppRunner:
    """Start the API on ``host:port`` (loopback only); return the runner (``cleanup()`` stops).

    ``kw`` goes to :func:`build_app`; ``version_info`` defaults to Kubernetes 1.32.0.
    Raises ValueError for a non-loopback host.
    """
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the lab only binds loopback addresses, not {host}")
    if "version_info" not in kw:
        from .objects import version_info

        kw["version_info"] = version_info
    runner = web.AppRunner(build_app(store, **kw), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner
