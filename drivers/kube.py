"""The Kubernetes driver: the official client, configured from the profile's kubeconfig.

Lists are cluster-wide (one request per kind, never one per node). Each call is an Allure step;
`requests` counts API calls for benchmarks. Errors become KubeError naming the call.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import allure
import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from drivers.errors import KubeError

FLUX = (("kustomize.toolkit.fluxcd.io", "v1", "kustomizations", "Kustomization"),
        ("helm.toolkit.fluxcd.io", "v2", "helmreleases", "HelmRelease"))
VELERO = ("velero.io", "v1", "backups")


class Kube:
    """API access for one cluster. `read_only` refuses writes (the health gate)."""

    def __init__(self, kubeconfig: Path, *, timeout: float = 15.0, read_only: bool = False) -> None:
        if not kubeconfig.exists():
            raise KubeError(f"kubeconfig {kubeconfig} does not exist")
        cfg = client.Configuration()
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=cfg)
        except Exception as e:
            raise KubeError(f"kubeconfig {kubeconfig}: {e}") from None
        cfg.retries = 0  # waiting is the caller's job (wait_until), not urllib3's
        self.api = client.ApiClient(cfg)
        self.core = client.CoreV1Api(self.api)
        self.apps = client.AppsV1Api(self.api)
        self.policy = client.PolicyV1Api(self.api)
        self.custom = client.CustomObjectsApi(self.api)
        self.coord = client.CoordinationV1Api(self.api)
        self.version_api = client.VersionApi(self.api)
        self.timeout = timeout
        self.read_only = read_only
        self.requests = 0
        self.server = cfg.host

    @contextmanager
    def _call(self, what: str) -> Iterator[None]:
        self.requests += 1
        with allure.step(f"kubernetes: {what}"):
            try:
                yield
            except ApiException as e:
                reason = e.reason or ""
                try:
                    import json

                    reason = json.loads(e.body or "{}").get("message", reason)
                except ValueError:
                    pass
                raise KubeError(f"kubernetes {what}: HTTP {e.status}: {reason}") from None
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise KubeError(f"kubernetes {what}: API server {self.server} unreachable: "
                                f"{type(e).__name__}") from None

    def _do(self, what: str, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        """fn(*args, **kw) with the request timeout, as an Allure step; raise KubeError."""
        with self._call(what):
            return fn(*args, _request_timeout=self.timeout, **kw)
        raise AssertionError("unreachable")  # pragma: no cover

    def _plain(self, obj: object) -> Any:
        """A client model as plain JSON-ready data (dicts, lists, strings)."""
        return self.api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]

    def _write(self, what: str) -> None:
        if self.read_only:
            from drivers.errors import ReadOnlyViolation

            raise ReadOnlyViolation(f"read-only run: refusing Kubernetes write `{what}`")

    # ---- reads (raw dicts: sanitized by the client, so checks see plain data) ----------------
    def _items(self, what: str, fn: Callable[..., Any], **kw: Any) -> list[dict[str, Any]]:
        result = self._do(what, fn, **kw)
        items: list[dict[str, Any]] = self._plain(result).get("items", [])
        return items

    def nodes(self) -> list[dict[str, Any]]:
        return self._items("list nodes", self.core.list_node)

    def pods(self) -> list[dict[str, Any]]:
        return self._items("list pods (all namespaces)", self.core.list_pod_for_all_namespaces)

    def daemonsets(self) -> list[dict[str, Any]]:
        return self._items("list daemonsets", self.apps.list_daemon_set_for_all_namespaces)

    def deployments(self) -> list[dict[str, Any]]:
        return self._items("list deployments", self.apps.list_deployment_for_all_namespaces)

    def pdbs(self) -> list[dict[str, Any]]:
        return self._items("list poddisruptionbudgets",
                           self.policy.list_pod_disruption_budget_for_all_namespaces)

    def flux(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for group, version, plural, kind in FLUX:
            result = self._do(f"list {plural}.{group}",
                              self.custom.list_cluster_custom_object, group, version, plural)
            for item in result.get("items", []):
                item.setdefault("kind", kind)
                out.append(item)
        return out

    def version(self) -> str:
        info = self._do("get /version", self.version_api.get_code)
        return str(info.git_version)

    # ---- Velero -----------------------------------------------------------------------------
    def create_backup(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._write("create backups.velero.io")
        group, version, plural = VELERO
        result: dict[str, Any] = self._do(
            f"create backup {namespace}/{body['metadata']['name']}",
            self.custom.create_namespaced_custom_object, group, version, namespace, plural, body)
        return result

    def get_backup(self, namespace: str, name: str) -> dict[str, Any]:
        group, version, plural = VELERO
        result: dict[str, Any] = self._do(f"get backup {namespace}/{name}",
                                          self.custom.get_namespaced_custom_object,
                                          group, version, namespace, plural, name)
        return result

    def find_backup(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The backup, or None if it does not exist."""
        try:
            return self.get_backup(namespace, name)
        except KubeError as e:
            if "HTTP 404" in str(e):
                return None
            raise

    # ---- Leases (the cluster lock) ---------------------------------------------------------
    def get_lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            result = self._do(f"get lease {namespace}/{name}",
                              self.coord.read_namespaced_lease, name, namespace)
        except KubeError as e:
            if "HTTP 404" in str(e):
                return None
            raise
        lease: dict[str, Any] = self._plain(result)
        return lease

    def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._write("create lease")
        result = self._do(f"create lease {namespace}/{body['metadata']['name']}",
                          self.coord.create_namespaced_lease, namespace, body)
        lease: dict[str, Any] = self._plain(result)
        return lease

    def replace_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        self._write("replace lease")
        name = body["metadata"]["name"]
        result = self._do(f"replace lease {namespace}/{name}",
                          self.coord.replace_namespaced_lease, name, namespace, body)
        lease: dict[str, Any] = self._plain(result)
        return lease

    def delete_lease(self, namespace: str, name: str) -> None:
        self._write("delete lease")
        self._do(f"delete lease {namespace}/{name}", self.coord.delete_namespaced_lease,
                 name, namespace)

    def events(self, limit: int = 50) -> list[dict[str, Any]]:
        items = self._items("list events", self.core.list_event_for_all_namespaces, limit=limit)
        return items

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]
