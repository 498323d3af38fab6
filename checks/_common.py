"""Small helpers shared by the check modules (not part of the public API)."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from urllib.parse import urlsplit

from checks.expectation import Expectation, ExpectedNode
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, NodeObservation

Check = Callable[[ClusterSnapshot, Expectation], list[Finding]]


def clip(text: str, limit: int = 160) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    one = " ".join(text.split())
    return one if len(one) <= limit else one[: limit - 1] + "…"


def kube_unreadable(check: str, category: Category, snapshot: ClusterSnapshot) -> list[Finding]:
    """One finding when the Kubernetes API could not be read, else none."""
    if snapshot.kube_error is None:
        return []
    return [
        Finding(
            check,
            "Kubernetes API",
            "readable",
            f"unreadable: {clip(snapshot.kube_error)}",
            "check the kubeconfig and that the API server answers: 'kubectl get --raw /version'",
            category,
        )
    ]


def talos_side(
    check: str, category: Category, snapshot: ClusterSnapshot, node: ExpectedNode, expected: str
) -> tuple[NodeObservation | None, Finding | None]:
    """The node's Talos observation, or a finding saying why there is none to judge."""
    obs = snapshot.node(node.name)
    if obs is None:
        return None, Finding(
            check,
            f"node {node.name}",
            expected,
            "nothing observed (the snapshot has no entry for this node)",
            "a harness bug: the snapshot must cover every profile node",
            Category.HARNESS_ERROR,
        )
    if not obs.apid_ok:
        return None, Finding(
            check,
            f"node {node.name}",
            expected,
            f"unknown (Talos API not answering: {clip(obs.apid_error or 'no answer')})",
            f"is the machine up? 'talosctl -n {node.target} version'",
            category,
        )
    return obs, None


def host_of(url: str) -> str:
    """The host of a URL, normalised if it is an IP address (``https://[::1]:2380`` -> ``::1``)."""
    host = urlsplit(url).hostname or url
    return normal_host(host)


def normal_host(host: str) -> str:
    """`host` in canonical form if it is an IP address, else unchanged."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host
