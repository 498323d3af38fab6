"""Version checks: Talos per node (two sources), kubelet per node, the API server."""

from __future__ import annotations

from checks._common import clip, kube_unreadable
from checks.expectation import Expectation
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot

TALOS_VERSION = "talos-version"
KUBELET_VERSION = "kubelet-version"
API_SERVER_VERSION = "api-server-version"

_CAT = Category.VERSION_MISMATCH


def check_talos_version(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Each node runs its expected Talos, per the Talos API and per the Node's osImage."""
    findings = []
    for node in expectation.nodes:
        want = node.talos_version
        obs = snapshot.node(node.name)
        k8s = None if snapshot.kube_error else snapshot.k8s_node(node.name)
        wrong: list[str] = []
        seen = False
        if obs is not None and obs.apid_ok:
            seen = True
            if obs.talos_version is None:
                wrong.append("unknown (Talos API gave no version)")
            elif obs.talos_version != want:
                wrong.append(f"{obs.talos_version} (Talos API)")
        if k8s is not None:
            seen = True
            from_os = k8s.os_talos_version
            if from_os is None:
                wrong.append(f"osImage {clip(k8s.os_image, 60)!r} (not 'Talos (vX.Y.Z)')")
            elif from_os != want:
                wrong.append(f"{from_os} (Kubernetes osImage)")
        hint = (
            f"if {node.name} was just upgraded it may have booted its previous image "
            f"(A/B fallback): check 'talosctl -n {node.target} dmesg'; otherwise upgrade "
            f"it with {expectation.installer_image(node)}"
        )
        running = obs.talos_version if obs is not None and obs.apid_ok else None
        if running is not None and running > want:
            hint = (
                f"{node.name} runs a newer Talos than expected at this point: was it changed "
                "outside this run (another session, by hand)? Find out before going on"
            )
        if not seen:
            wrong.append("unknown (Talos API not answering and no Kubernetes Node)")
            hint = f"is the machine up? 'talosctl -n {node.target} version'"
        if wrong:
            findings.append(
                Finding(
                    TALOS_VERSION,
                    f"node {node.name}",
                    str(want),
                    "; ".join(wrong),
                    hint,
                    _CAT,
                )
            )
    return findings


def check_kubelet_version(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Each node's kubelet reports the expected Kubernetes version."""
    findings = kube_unreadable(KUBELET_VERSION, _CAT, snapshot)
    if findings:
        return findings
    want = expectation.kubernetes
    for node in expectation.nodes:
        k8s = snapshot.k8s_node(node.name)
        if k8s is None:
            observed = "no Kubernetes Node of that name"
        elif k8s.kubelet_version is None:
            observed = "unknown (no kubeletVersion reported)"
        elif k8s.kubelet_version != want:
            observed = str(k8s.kubelet_version)
        else:
            continue
        findings.append(
            Finding(
                KUBELET_VERSION,
                f"node {node.name}",
                f"kubelet {want}",
                observed,
                f"'talosctl -n {expectation.control_planes[0].target} upgrade-k8s --to {want}' "
                "upgrades the kubelets after the control plane",
                _CAT,
            )
        )
    return findings


def check_api_server_version(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """The API server (GET /version) runs the expected Kubernetes version."""
    findings = kube_unreadable(API_SERVER_VERSION, _CAT, snapshot)
    if findings:
        return findings
    want = expectation.kubernetes
    got = snapshot.api_server_version
    if got == want:
        return []
    return [
        Finding(
            API_SERVER_VERSION,
            "Kubernetes API server",
            str(want),
            str(got) if got is not None else "unknown (no version reported)",
            f"'talosctl -n {expectation.control_planes[0].target} upgrade-k8s --to {want}'",
            _CAT,
        )
    ]
