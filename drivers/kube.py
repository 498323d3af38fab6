"""The Kubernetes driver: the official client, configured from the profile's kubeconfig.

The client's ApiClient does configuration, authentication (certificates, tokens, exec plugins)
and transport; requests name their REST path and get plain JSON back. The generated typed API
classes are not used: building them costs ~0.4 s of start-up per session (kubernetes 37 builds
some 300 pydantic models), and every read was turned back into plain dicts anyway.
Lists are cluster-wide (one request per kind, never one per node). Each call is an Allure step;
`requests` counts API calls for benchmarks. Errors become KubeError naming the call.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import allure
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from drivers.errors import KubeError

FLUX = (
    ("source.toolkit.fluxcd.io", "v1", "gitrepositories", "GitRepository"),
    ("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization"),
    ("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease"),
)
VELERO = ("velero.io", "v1", "backups")


class Kube:
    """API access for one cluster. `read_only` refuses writes (the health gate)."""

    def __init__(self, kubeconfig: Path, *, timeout: float = 15.0, read_only: bool = False) -> None:
        self.kubeconfig = kubeconfig
        self.timeout = timeout
        self.read_only = read_only
        self.requests = 0
        self._load(kubeconfig)

    def reload(self) -> None:
        """Read the kubeconfig again (a rebuilt cluster's credentials)."""
        old = self.api
        self._load(self.kubeconfig)
        old.close()  # type: ignore[no-untyped-call]

    def _load(self, kubeconfig: Path) -> None:
        if not kubeconfig.exists():
            raise KubeError(f"kubeconfig {kubeconfig} does not exist")
        cfg = client.Configuration()
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=cfg
            )
        except Exception as e:
            raise KubeError(f"kubeconfig {kubeconfig}: {e}") from None
        cfg.retries = 0  # waiting is the caller's job (wait_until), not urllib3's
        self.api = client.ApiClient(cfg)
        self.server = cfg.host

    # ---- plumbing -----------------------------------------------------------------------------
    @contextmanager
    def _call(self, what: str, asks: str) -> Iterator[None]:
        """One request as an Allure step titled by what it asks, as kubectl would say it; its
        errors name `what` and the API server."""
        self.requests += 1
        with allure.step(asks):
            try:
                yield
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise KubeError(
                    f"kubernetes {what}: API server {self.server} unreachable: {type(e).__name__}"
                ) from None
            except ApiException as e:  # the client's REST layer reports TLS failures so
                raise KubeError(f"kubernetes {what}: {e.reason}") from None

    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None,
        body: Any,
        timeout: float | tuple[float, float],
    ) -> Any:
        """One request through the client's ApiClient (auth, TLS); its raw response."""
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        return self.api.call_api(*request, _request_timeout=timeout)

    @staticmethod
    def _failure(what: str, status: int, data: bytes) -> KubeError:
        try:
            reason = json.loads(data or b"{}").get("message") or ""
        except ValueError:
            reason = data.decode(errors="replace")[:200]
        return KubeError(f"kubernetes {what}: HTTP {status}: {reason}")

    def _do(
        self,
        what: str,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        """One request as an Allure step: the decoded JSON answer; KubeError otherwise."""
        with self._call(what, kubectl_like(method, path, query)):
            resp = self._send(method, path, query, body, self.timeout)
            data = resp.read()
            if not 200 <= resp.status <= 299:
                raise self._failure(what, resp.status, data)
            return json.loads(data) if data else {}
        raise AssertionError("unreachable")  # pragma: no cover

    def _write(self, what: str) -> None:
        if self.read_only:
            from drivers.errors import ReadOnlyViolation

            raise ReadOnlyViolation(f"read-only run: refusing Kubernetes write `{what}`")

    def _get_or_none(self, what: str, path: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = self._do(what, "GET", path)
        except KubeError as e:
            if "HTTP 404" in str(e):
                return None
            raise
        return found

    # ---- reads (plain JSON data, as the API server sends it) --------------------------------
    def _items(self, what: str, path: str, **query: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (
            self._do(what, "GET", path, query=query or None).get("items") or []
        )
        return items

    def nodes(self) -> list[dict[str, Any]]:
        return self._items("list nodes", "/api/v1/nodes")

    def pods(self) -> list[dict[str, Any]]:
        return self._items("list pods (all namespaces)", "/api/v1/pods")

    def daemonsets(self) -> list[dict[str, Any]]:
        return self._items("list daemonsets", "/apis/apps/v1/daemonsets")

    def deployments(self) -> list[dict[str, Any]]:
        return self._items("list deployments", "/apis/apps/v1/deployments")

    def pdbs(self) -> list[dict[str, Any]]:
        return self._items("list poddisruptionbudgets", "/apis/policy/v1/poddisruptionbudgets")

    def flux(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for group, version, plural, kind in FLUX:
            for item in self._items(f"list {plural}.{group}", f"/apis/{group}/{version}/{plural}"):
                item.setdefault("kind", kind)
                out.append(item)
        return out

    def version(self) -> str:
        return str(self._do("get /version", "GET", "/version").get("gitVersion"))

    def wait_node(self, name: str, done: Callable[[dict[str, Any]], bool], timeout: float) -> bool:
        """Watch one Node until done(node) holds: True as soon as it does, False when the
        watch ends first (timeout, API unavailable, stream closed). A hint for a caller that
        then judges a full observation; never raises for the API being away."""
        deadline = time.monotonic() + timeout
        what = f"watch node {name}"
        try:
            with self._call(what, f"kubectl get node {name} --watch"):
                resp = self._send(
                    "GET",
                    "/api/v1/nodes",
                    {
                        "watch": "true",
                        "fieldSelector": f"metadata.name={name}",
                        "timeoutSeconds": max(1, int(timeout)),
                    },
                    None,
                    (self.timeout, max(1.0, timeout)),
                )
                try:
                    if resp.status != 200:
                        return False
                    for line in resp.response:
                        event = json.loads(line) if line.strip() else {}
                        if event.get("type") in ("ADDED", "MODIFIED") and done(event["object"]):
                            return True
                        if time.monotonic() >= deadline:
                            return False
                finally:
                    resp.response.close()  # an unfinished stream is not reusable
        except (KubeError, ValueError):
            return False
        return False

    # ---- Velero -----------------------------------------------------------------------------
    def create_backup(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._write("create backups.velero.io")
        group, version, plural = VELERO
        result: dict[str, Any] = self._do(
            f"create backup {namespace}/{body['metadata']['name']}",
            "POST",
            f"/apis/{group}/{version}/namespaces/{namespace}/{plural}",
            body=body,
        )
        return result

    def get_backup(self, namespace: str, name: str) -> dict[str, Any]:
        group, version, plural = VELERO
        result: dict[str, Any] = self._do(
            f"get backup {namespace}/{name}",
            "GET",
            f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}",
        )
        return result

    def find_backup(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The backup, or None if it does not exist."""
        group, version, plural = VELERO
        return self._get_or_none(
            f"get backup {namespace}/{name}",
            f"/apis/{group}/{version}/namespaces/{namespace}/{plural}/{name}",
        )

    # ---- ConfigMaps (the rebuild's proof that etcd was recovered) ----------------------------
    def get_configmap(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(
            f"get configmap {namespace}/{name}",
            f"/api/v1/namespaces/{namespace}/configmaps/{name}",
        )

    def create_configmap(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._write("create configmap")
        result: dict[str, Any] = self._do(
            f"create configmap {namespace}/{body['metadata']['name']}",
            "POST",
            f"/api/v1/namespaces/{namespace}/configmaps",
            body=body,
        )
        return result

    # ---- Leases (the cluster lock) ---------------------------------------------------------
    @staticmethod
    def _leases(namespace: str) -> str:
        return f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"

    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_or_none(
            f"get lease {namespace}/{name}", f"{self._leases(namespace)}/{name}"
        )

    def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._write("create lease")
        lease: dict[str, Any] = self._do(
            f"create lease {namespace}/{body['metadata']['name']}",
            "POST",
            self._leases(namespace),
            body=body,
        )
        return lease

    def replace_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._write("replace lease")
        name = body["metadata"]["name"]
        lease: dict[str, Any] = self._do(
            f"replace lease {namespace}/{name}",
            "PUT",
            f"{self._leases(namespace)}/{name}",
            body=body,
        )
        return lease

    def delete_lease(self, namespace: str, name: str) -> None:
        self._write("delete lease")
        self._do(f"delete lease {namespace}/{name}", "DELETE", f"{self._leases(namespace)}/{name}")

    def events(self, limit: int = 50) -> list[dict[str, Any]]:
        return self._items("list events", "/api/v1/events", limit=limit)

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]


_VERBS = {"GET": "get", "POST": "create", "PUT": "replace", "PATCH": "patch", "DELETE": "delete"}
_SHORT = {"poddisruptionbudgets.policy": "pdb", "leases.coordination.k8s.io": "lease"}


def kubectl_like(method: str, path: str, query: dict[str, Any] | None = None) -> str:
    """What a request asks, the way kubectl would say it: `GET /api/v1/pods` is
    `kubectl get pods -A`, `GET /apis/velero.io/v1/namespaces/velero/backups/b1` is
    `kubectl -n velero get backups.velero.io b1`."""
    parts = [p for p in path.split("/") if p]
    if parts in (["version"],):
        return "kubectl version"
    group = "" if parts[:1] == ["api"] else parts[1] if len(parts) > 1 else ""
    rest = parts[2:] if parts[:1] == ["api"] else parts[3:]
    namespace = ""
    if rest[:1] == ["namespaces"] and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return f"kubectl {method.lower()} --raw {path}"
    resource = rest[0] + (f".{group}" if group and group not in ("apps",) else "")
    resource = _SHORT.get(resource, resource)
    words = ["kubectl"] + (["-n", namespace] if namespace else [])
    words += [_VERBS.get(method, method.lower()), resource] + rest[1:2]
    if not namespace and len(rest) == 1 and resource not in ("nodes",) and method == "GET":
        words.append("-A")
    if query and query.get("limit"):
        words.append(f"--chunk-size={query['limit']}")
    return " ".join(words)
