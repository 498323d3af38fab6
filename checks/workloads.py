"""Workload checks: control-plane static pods, kube-proxy, CoreDNS, and every pod's phase."""

from __future__ import annotations

from fnmatch import fnmatchcase

from checks._common import kube_unreadable
from checks.expectation import Expectation
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, DaemonSet, Pod

STATIC_PODS = "control-plane-static-pods"
KUBE_PROXY = "kube-proxy-ready"
KUBE_PROXY_VERSION = "kube-proxy-version"
COREDNS = "coredns-ready"
PODS_RUNNING = "pods-running"
NO_CRASHLOOP = "no-crashloop"

_CAT = Category.WORKLOADS
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
_OK_PHASES = ("Running", "Succeeded")


def allowed(pod: Pod, allowlist: tuple[str, ...]) -> bool:
    """Whether ``namespace/name`` matches an allow-list entry (a glob matched as a prefix)."""
    return any(fnmatchcase(pod.key, pattern + "*") for pattern in allowlist)


def _state(pod: Pod) -> str:
    state = f"{pod.phase}, {'ready' if pod.ready else 'not ready'}"
    return f"{state} ({pod.waiting_reason})" if pod.waiting_reason else state


def check_static_pods(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """kube-apiserver, kube-controller-manager and kube-scheduler run, ready, on every CP."""
    findings = kube_unreadable(STATIC_PODS, _CAT, snapshot)
    if findings:
        return findings
    for cp in expectation.control_planes:
        for component in COMPONENTS:
            pods = [
                p
                for p in snapshot.pods
                if p.namespace == "kube-system"
                and p.node == cp.name
                and (p.labels.get("k8s-app") == component or p.name == f"{component}-{cp.name}")
            ]
            if any(p.phase == "Running" and p.ready for p in pods):
                continue
            findings.append(
                Finding(
                    STATIC_PODS,
                    f"{component} on {cp.name}",
                    "a Running, ready static pod",
                    "; ".join(_state(p) for p in pods) if pods else "missing",
                    f"'talosctl -n {cp.target} service kubelet', 'talosctl -n {cp.target} logs "
                    f"kubelet'; 'kubectl -n kube-system describe pod {component}-{cp.name}'",
                    _CAT,
                )
            )
    return findings


def _rollout_finding(
    check: str,
    kind: str,
    key: str,
    desired: int,
    ready: int,
    updated: int,
    hint: str,
    unready_on: tuple[str, ...] = (),
) -> list[Finding]:
    if desired > 0 and ready >= desired and updated >= desired:
        return []
    expected = f"{desired} ready and updated" if desired > 0 else "at least one pod"
    where = f" (not ready on {', '.join(unready_on)})" if unready_on else ""
    return [
        Finding(
            check,
            f"{kind} {key}",
            expected,
            f"{ready} ready, {updated} updated of {desired} desired{where}",
            hint,
            _CAT,
        )
    ]


def _unready_nodes(snapshot: ClusterSnapshot, namespace: str, app: str) -> tuple[str, ...]:
    """The nodes running a not-ready pod labelled k8s-app=<app> (so a finding names them)."""
    return tuple(
        sorted(
            {
                p.node
                for p in snapshot.pods
                if p.namespace == namespace
                and p.labels.get("k8s-app") == app
                and not p.ready
                and p.node
            }
        )
    )


def check_kube_proxy(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """The kube-proxy DaemonSet is fully ready and updated (no DaemonSet: nothing to check,
    as with ``talosctl health``: kube-proxy may be replaced by the CNI)."""
    findings = kube_unreadable(KUBE_PROXY, _CAT, snapshot)
    if findings:
        return findings
    for ds in kube_proxy_daemonsets(snapshot):
        findings += _rollout_finding(
            KUBE_PROXY,
            "daemonset",
            ds.key,
            ds.desired,
            ds.ready,
            ds.updated,
            "'kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide'",
            _unready_nodes(snapshot, "kube-system", "kube-proxy"),
        )
    return findings


def kube_proxy_daemonsets(snapshot: ClusterSnapshot) -> list[DaemonSet]:
    """The kube-proxy DaemonSets (none: kube-proxy is replaced, e.g. Cilium without it)."""
    return [
        ds
        for ds in snapshot.daemonsets
        if ds.namespace == "kube-system"
        and (ds.labels.get("k8s-app") == "kube-proxy" or ds.name == "kube-proxy")
    ]


def check_kube_proxy_version(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """The kube-proxy DaemonSet's image is the expected Kubernetes version. No DaemonSet is a
    cluster shape (kube-proxy replaced), not a failure: nothing to check."""
    findings = kube_unreadable(KUBE_PROXY_VERSION, Category.VERSION_MISMATCH, snapshot)
    if findings:
        return findings
    want = expectation.kubernetes.tag
    for ds in kube_proxy_daemonsets(snapshot):
        tags = sorted({img.rsplit(":", 1)[-1] for img in ds.images})
        if tags != [want]:
            findings.append(
                Finding(
                    KUBE_PROXY_VERSION,
                    f"daemonset {ds.key}",
                    f"image tag {want}",
                    ", ".join(tags) or "no image",
                    "'kubectl -n kube-system get ds kube-proxy -o wide'; upgrade-k8s changes "
                    "it in its manifests step",
                    Category.VERSION_MISMATCH,
                )
            )
    return findings


def check_coredns(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """The CoreDNS Deployment (``k8s-app=kube-dns``) is fully ready (absent: nothing to check)."""
    findings = kube_unreadable(COREDNS, _CAT, snapshot)
    if findings:
        return findings
    for dep in snapshot.deployments:
        if dep.namespace == "kube-system" and (
            dep.labels.get("k8s-app") == "kube-dns" or dep.name == "coredns"
        ):
            findings += _rollout_finding(
                COREDNS,
                "deployment",
                dep.key,
                dep.desired,
                dep.ready,
                dep.updated,
                "'kubectl -n kube-system get pods -l k8s-app=kube-dns -o wide'",
                _unready_nodes(snapshot, "kube-system", "kube-dns"),
            )
    return findings


def _pod_subject(pod: Pod) -> str:
    return f"pod {pod.key}" + (f" on {pod.node}" if pod.node else "")


def check_pods_running(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every pod not on the allow-list is Running or Succeeded."""
    findings = kube_unreadable(PODS_RUNNING, _CAT, snapshot)
    if findings:
        return findings
    for pod in snapshot.pods:
        if pod.phase in _OK_PHASES or allowed(pod, expectation.pod_allowlist):
            continue
        observed = pod.phase + (f" ({pod.waiting_reason})" if pod.waiting_reason else "")
        findings.append(
            Finding(
                PODS_RUNNING,
                _pod_subject(pod),
                "Running or Succeeded",
                observed,
                f"'kubectl -n {pod.namespace} describe pod {pod.name}'; allow known exceptions "
                "in the profile's health.pod_allowlist",
                _CAT,
            )
        )
    return findings


def check_no_crashloop(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """No pod not on the allow-list has a container in CrashLoopBackOff."""
    findings = kube_unreadable(NO_CRASHLOOP, _CAT, snapshot)
    if findings:
        return findings
    for pod in snapshot.pods:
        if pod.waiting_reason != "CrashLoopBackOff" or allowed(pod, expectation.pod_allowlist):
            continue
        findings.append(
            Finding(
                NO_CRASHLOOP,
                _pod_subject(pod),
                "no container in CrashLoopBackOff",
                f"CrashLoopBackOff after {pod.restarts} restarts",
                f"'kubectl -n {pod.namespace} logs {pod.name} --previous'",
                _CAT,
            )
        )
    return findings
