"""Support-matrix check: the running Kubernetes is supported by the running Talos everywhere."""

from __future__ import annotations

from checks.expectation import Expectation, ExpectedNode
from model.catalog import CatalogError
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot
from model.versions import KubeVersion, TalosVersion

SUPPORTED = "talos-supports-kubernetes"

_CAT = Category.VERSION_MISMATCH


def _kubernetes_on(snapshot: ClusterSnapshot, node: ExpectedNode) -> list[tuple[str, KubeVersion]]:
    """The Kubernetes versions running on `node`: its kubelet and, on control planes, the API."""
    if snapshot.kube_error is not None:
        return []
    running: list[tuple[str, KubeVersion]] = []
    k8s = snapshot.k8s_node(node.name)
    if k8s is not None and k8s.kubelet_version is not None:
        running.append(("kubelet", k8s.kubelet_version))
    api = snapshot.api_server_version
    if node.is_control_plane and api is not None and api not in [v for _, v in running]:
        running.append(("API server", api))
    return running


def check_talos_supports_kubernetes(
    snapshot: ClusterSnapshot, expectation: Expectation
) -> list[Finding]:
    """On every node, the Talos it runs supports the Kubernetes it runs (kubelet, API server)."""
    findings = []
    for node in expectation.nodes:
        obs = snapshot.node(node.name)
        talos: TalosVersion | None = obs.talos_version if obs is not None else None
        running = _kubernetes_on(snapshot, node)
        subject = f"node {node.name}"
        if talos is None or not running:
            missing = "its Talos version" if talos is None else "its Kubernetes version"
            findings.append(
                Finding(
                    SUPPORTED,
                    subject,
                    "a Talos release that supports the running Kubernetes",
                    f"unknown ({missing} was not observed)",
                    "see the apid-ready and kubelet-version checks for why",
                    _CAT,
                )
            )
            continue
        for source, kube in running:
            try:
                ok = expectation.supports(talos, kube)
            except CatalogError:  # the catalog's type for a release it does not know
                findings.append(
                    Finding(
                        SUPPORTED,
                        subject,
                        f"Talos {talos} in the release catalog",
                        f"no support-matrix entry for Talos {talos.minor_str}",
                        "refresh the release catalog, or fix the version in the profile",
                        Category.HARNESS_ERROR,
                    )
                )
                break
            if not ok:
                findings.append(
                    Finding(
                        SUPPORTED,
                        subject,
                        f"Kubernetes supported by Talos {talos}",
                        f"{source} {kube}, outside Talos {talos.minor_str}'s support matrix",
                        "upgrade Talos and Kubernetes in steps so that every node's Talos "
                        "supports the running Kubernetes (see the support matrix)",
                        _CAT,
                    )
                )
    return findings
