"""The Kubernetes driver against the lab's API server: plain REST through the official client's
ApiClient (reads, errors, 404s) and the Node watch the readiness wait uses as its trigger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import KubeError
from drivers.kube import Kube
from emulator.api import Lab

pytestmark = pytest.mark.lab


@pytest.fixture
def kube(lab: Lab) -> Iterator[Kube]:
    k = Kube(lab.dir / "kubeconfig", timeout=10)
    yield k
    k.close()


def _ready(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True"
               for c in node["status"]["conditions"])


def test_reads_are_plain_json_of_the_cluster(kube: Kube) -> None:
    names = sorted(n["metadata"]["name"] for n in kube.nodes())
    assert names == ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
    assert kube.version() == "v1.32.0"
    assert any(p["metadata"]["namespace"] == "kube-system" for p in kube.pods())
    assert {d["metadata"]["name"] for d in kube.daemonsets()} >= {"kube-proxy"}
    assert kube.requests == 4


def test_a_missing_object_is_none_and_a_bad_request_names_the_call(kube: Kube) -> None:
    assert kube.get_lease("kube-system", "no-such-lease") is None
    with pytest.raises(KubeError, match=r"^kubernetes get backup velero/nope: HTTP 404: "):
        kube.get_backup("velero", "nope")


def test_watch_returns_at_once_when_the_node_already_qualifies(kube: Kube) -> None:
    assert kube.wait_node("w1", _ready, timeout=30) is True


def test_watch_ends_false_when_the_condition_never_holds(kube: Kube) -> None:
    """The server ends the watch at timeoutSeconds; nothing is raised."""
    assert kube.wait_node("w1", lambda n: not _ready(n), timeout=1) is False


def test_watch_is_false_not_an_error_when_the_api_is_away(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}))
    k = Kube(kubeconfig, timeout=5)
    try:
        assert k.wait_node("w1", _ready, timeout=5) is False
        with pytest.raises(KubeError, match=r"^kubernetes list nodes: API server "
                                            r"http://127\.0\.0\.1:9 unreachable: "):
            k.nodes()
    finally:
        k.close()


@pytest.mark.parametrize(("method", "path", "query", "title"), [
    ("GET", "/api/v1/nodes", None, "kubectl get nodes"),
    ("GET", "/api/v1/pods", None, "kubectl get pods -A"),
    ("GET", "/apis/apps/v1/daemonsets", None, "kubectl get daemonsets -A"),
    ("GET", "/apis/policy/v1/poddisruptionbudgets", None, "kubectl get pdb -A"),
    ("GET", "/version", None, "kubectl version"),
    ("GET", "/api/v1/events", {"limit": 30}, "kubectl get events -A --chunk-size=30"),
    ("GET", "/apis/velero.io/v1/namespaces/velero/backups/b1", None,
     "kubectl -n velero get backups.velero.io b1"),
    ("POST", "/apis/velero.io/v1/namespaces/velero/backups", None,
     "kubectl -n velero create backups.velero.io"),
    ("PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/talos-runbooks-lock",
     None, "kubectl -n kube-system replace lease talos-runbooks-lock"),
    ("DELETE", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/x", None,
     "kubectl -n kube-system delete lease x"),
])
def test_each_request_is_titled_as_kubectl_would_say_it(
        method: str, path: str, query: dict[str, int] | None, title: str) -> None:
    from drivers.kube import kubectl_like

    assert kubectl_like(method, path, query) == title
