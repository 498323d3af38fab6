"""Workload and Flux checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from checks import flux, workloads
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, FluxObject, Pod
from tests.snapshot_builder import add, expectation, healthy_snapshot, with_pod

Mutation = Callable[[ClusterSnapshot], ClusterSnapshot]


def _drop_pod(name: str) -> Mutation:
    return lambda s: replace(s, pods=tuple(p for p in s.pods if p.name != name))


CASES: list[tuple[str, Callable[..., list[Finding]], Mutation, list[str]]] = [
    (
        "static-pod-not-ready",
        workloads.check_static_pods,
        lambda s: with_pod(s, "kube-scheduler-cp2", ready=False, waiting_reason="CrashLoopBackOff"),
        [
            "[control-plane-static-pods] kube-scheduler on cp2: expected a Running, ready static "
            "pod, observed Running, not ready (CrashLoopBackOff) — hint: 'talosctl -n "
            "127.0.10.2 service kubelet', 'talosctl -n 127.0.10.2 logs kubelet'; 'kubectl -n "
            "kube-system describe pod kube-scheduler-cp2'"
        ],
    ),
    (
        "static-pod-missing",
        workloads.check_static_pods,
        _drop_pod("kube-apiserver-cp3"),
        [
            "[control-plane-static-pods] kube-apiserver on cp3: expected a Running, ready static "
            "pod, observed missing — hint: 'talosctl -n 127.0.10.3 service kubelet', 'talosctl "
            "-n 127.0.10.3 logs kubelet'; 'kubectl -n kube-system describe pod "
            "kube-apiserver-cp3'"
        ],
    ),
    (
        "kube-proxy-not-ready",
        workloads.check_kube_proxy,
        lambda s: replace(s, daemonsets=(replace(s.daemonsets[0], ready=4),)),
        [
            "[kube-proxy-ready] daemonset kube-system/kube-proxy: expected 5 ready and updated, "
            "observed 4 ready, 5 updated of 5 desired — hint: 'kubectl -n kube-system get pods "
            "-l k8s-app=kube-proxy -o wide'"
        ],
    ),
    (
        "kube-proxy-rolling",
        workloads.check_kube_proxy,
        lambda s: replace(s, daemonsets=(replace(s.daemonsets[0], updated=2),)),
        [
            "[kube-proxy-ready] daemonset kube-system/kube-proxy: expected 5 ready and updated, "
            "observed 5 ready, 2 updated of 5 desired — hint: 'kubectl -n kube-system get pods "
            "-l k8s-app=kube-proxy -o wide'"
        ],
    ),
    (
        "kube-proxy-absent-is-skipped",
        workloads.check_kube_proxy,
        lambda s: replace(s, daemonsets=()),
        [],
    ),
    (
        "coredns-down",
        workloads.check_coredns,
        lambda s: replace(s, deployments=(replace(s.deployments[0], ready=0),)),
        [
            "[coredns-ready] deployment kube-system/coredns: expected 2 ready and updated, "
            "observed 0 ready, 2 updated of 2 desired — hint: 'kubectl -n kube-system get pods "
            "-l k8s-app=kube-dns -o wide'"
        ],
    ),
    (
        "coredns-scaled-to-zero",
        workloads.check_coredns,
        lambda s: replace(s, deployments=(replace(s.deployments[0], desired=0, ready=0),)),
        [
            "[coredns-ready] deployment kube-system/coredns: expected at least one pod, observed "
            "0 ready, 2 updated of 0 desired — hint: 'kubectl -n kube-system get pods -l "
            "k8s-app=kube-dns -o wide'"
        ],
    ),
    (
        "pods-not-running",
        workloads.check_pods_running,
        lambda s: add(
            s,
            "pods",
            Pod("default", "web-7d9f-abc", "Pending", waiting_reason="ImagePullBackOff"),
            Pod("monitoring", "flaky-exporter-1", "Failed"),
            Pod("apps", "api-1", "Failed", node="w1"),
        ),
        [
            "[pods-running] pod default/web-7d9f-abc: expected Running or Succeeded, observed "
            "Pending (ImagePullBackOff) — hint: 'kubectl -n default describe pod web-7d9f-abc'; "
            "allow known exceptions in the profile's health.pod_allowlist",
            "[pods-running] pod apps/api-1 on w1: expected Running or Succeeded, observed Failed "
            "— hint: 'kubectl -n apps describe pod api-1'; allow known exceptions in the "
            "profile's health.pod_allowlist",
        ],
    ),
    (
        "crashloop",
        workloads.check_no_crashloop,
        lambda s: add(
            s,
            "pods",
            Pod(
                "apps",
                "api-1",
                "Running",
                node="w1",
                restarts=12,
                waiting_reason="CrashLoopBackOff",
            ),
            Pod("monitoring", "flaky-exporter-1", "Running", waiting_reason="CrashLoopBackOff"),
        ),
        [
            "[no-crashloop] pod apps/api-1 on w1: expected no container in CrashLoopBackOff, "
            "observed CrashLoopBackOff after 12 restarts — hint: "
            "'kubectl -n apps logs api-1 --previous'"
        ],
    ),
    (
        "flux-not-ready",
        flux.check_flux_ready,
        lambda s: replace(
            s,
            flux=(
                FluxObject(
                    "Kustomization",
                    "flux-system",
                    "apps",
                    "False",
                    "BuildFailed",
                    "kustomize build failed:\n  accumulating resources",
                ),
                FluxObject("HelmRelease", "monitoring", "loki", "False", suspended=True),
                FluxObject("HelmRelease", "monitoring", "prometheus", "Unknown"),
            ),
        ),
        [
            "[flux-ready] Kustomization flux-system/apps: expected Ready=True, observed "
            "Ready=False (BuildFailed: kustomize build failed: accumulating resources) — hint: "
            "'flux get kustomizations -n flux-system'; "
            "'flux reconcile kustomization apps -n flux-system'",
            "[flux-ready] HelmRelease monitoring/prometheus: expected Ready=True, observed "
            "Ready=Unknown — hint: 'flux get helmreleases -n monitoring'; "
            "'flux reconcile helmrelease prometheus -n monitoring'",
        ],
    ),
    (
        "flux-nothing-found",
        flux.check_flux_ready,
        lambda s: replace(s, flux=()),
        [
            "[flux-ready] Flux objects: expected Kustomizations and HelmReleases, observed none "
            "found — hint: is Flux installed? 'flux check'; if the cluster has no Flux, set "
            "flux.enabled: false"
        ],
    ),
    (
        "flux-unreadable",
        flux.check_flux_ready,
        lambda s: replace(
            s,
            flux=(),
            flux_error="the server could not find the requested "
            "resource (kustomizations.kustomize.toolkit.fluxcd.io)",
        ),
        [
            "[flux-ready] Flux objects: expected readable Kustomizations and HelmReleases, "
            "observed unreadable: the server could not find the requested resource "
            "(kustomizations.kustomize.toolkit.fluxcd.io) — hint: is Flux installed? "
            "'flux check'; if the cluster has no Flux, set flux.enabled: false"
        ],
    ),
    (
        "flux-suspended",
        flux.check_flux_not_suspended,
        lambda s: replace(
            s, flux=(FluxObject("HelmRelease", "monitoring", "loki", "True", suspended=True),)
        ),
        [
            "[flux-not-suspended] HelmRelease monitoring/loki: expected not suspended, observed "
            "suspended (spec.suspend: true) — hint: resume it when the change is done: "
            "'flux resume helmrelease loki -n monitoring'"
        ],
    ),
]


@pytest.mark.parametrize(
    ("check", "mutate", "expected"),
    [pytest.param(c, m, e, id=i) for i, c, m, e in CASES],
)
def test_finding_text(
    check: Callable[..., list[Finding]], mutate: Mutation, expected: list[str]
) -> None:
    findings = check(mutate(healthy_snapshot()), expectation())
    assert [str(f) for f in findings] == expected


def test_flux_checks_do_nothing_when_flux_is_disabled() -> None:
    snap = replace(healthy_snapshot(), flux=(), flux_error="no Flux CRDs")
    exp = expectation(flux_enabled=False)
    assert flux.check_flux_ready(snap, exp) == []
    assert flux.check_flux_not_suspended(snap, exp) == []


@pytest.mark.parametrize(
    ("pattern", "key", "allowed"),
    [
        ("monitoring/flaky-", "monitoring/flaky-exporter-1", True),
        ("monitoring/flaky-", "monitoring/steady-1", False),
        ("monitoring/flaky-", "other/flaky-exporter-1", False),
        ("*/backup-job-", "velero/backup-job-123", True),
        ("apps/api-?", "apps/api-1-xyz", True),
        ("apps/api-?", "apps/api-", False),
    ],
)
def test_allowlist_entries_are_globs_matched_as_prefixes(
    pattern: str, key: str, allowed: bool
) -> None:
    ns, name = key.split("/")
    assert workloads.allowed(Pod(ns, name, "Failed"), (pattern,)) is allowed


def test_workload_findings_have_the_workloads_category() -> None:
    snap = with_pod(healthy_snapshot(), "kube-scheduler-cp1", phase="Pending", ready=False)
    findings = workloads.check_static_pods(snap, expectation()) + workloads.check_pods_running(
        snap, expectation()
    )
    assert [f.category for f in findings] == [Category.WORKLOADS] * 2
