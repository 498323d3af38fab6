"""Workload checks: control-plane static pods, kube-proxy, CoreDNS, and every pod's phase."""

from __future__ import annotations

from fnmatch import fnmatchcase

from checks._common import kube_unreadable
from checks.expectation import Expectation
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, Pod

STATIC_PODS = "control-plane-static-pods"
KUBE_PROXY = "kube-proxy-ready"
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
    check: str, kind: str, key: str, desired: int, ready: int, updated: int, hint: str
) -> list[Finding]:
    if desired > 0 and ready >= desired and updated >= desired:
        return []
    expected = f"{desired} ready and updated" if desired > 0 else "at least one pod"
    return [
        Finding(
            check,
            f"{kind} {key}",
            expected,
            f"{ready} ready, {updated} updated of {desired} desired",
            hint,
            _CAT,
        )
    ]


def check_kube_proxy(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """The kube-proxy DaemonSet is fully ready and updated (no DaemonSet: nothing to check,
    as with ``talosctl health``: kube-proxy may be replaced by the CNI)."""
    findings = kube_unreadable(KUBE_PROXY, _CAT, snapshot)
    if findings:
        return findings
    for ds in snapshot.daemonsets:
        if ds.namespace == "kube-system" and (
            ds.labels.get("k8s-app") == "kube-proxy" or ds.name == "kube-proxy"
        ):
            findings += _rollout_finding(
                KUBE_PROXY,
                "daemonset",
                ds.key,
                ds.desired,
                ds.ready,
                ds.updated,
                "'kubectl -n kube-system get pods -l k8s-app=kube-proxy -o wide'",
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
