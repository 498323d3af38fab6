"""Postconditions: a check takes a snapshot and an expectation and returns findings (empty = pass).

`ALL_CHECKS` is the registry, in the order ``talosctl health`` runs its own checks, then the
checks it lacks; the health runbook parametrizes one test per entry.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from checks import etcd, extensions, flux, nodes, support, versions, workloads
from checks._common import Check
from checks.expectation import Expectation, ExpectedNode, Supports
from model.findings import Category, Finding
from model.profile import UnknownName
from model.snapshot import ClusterSnapshot

__all__ = [
    "ALL_CHECKS",
    "CheckSpec",
    "Expectation",
    "ExpectedNode",
    "Supports",
    "get_check",
    "run_checks",
]


@dataclass(frozen=True)
class CheckSpec:
    """A named check. ``advisory``: its findings are worth reporting but need not fail a gate."""

    name: str
    title: str
    category: Category
    func: Check
    advisory: bool = False

    def __call__(self, snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
        return self.func(snapshot, expectation)


_E, _N, _V = Category.ETCD, Category.NODE_READINESS, Category.VERSION_MISMATCH
_W, _X, _F = Category.WORKLOADS, Category.EXTENSIONS, Category.FLUX

ALL_CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(etcd.STATUS, "etcd to be healthy", _E, etcd.check_status_ok),
    CheckSpec(
        etcd.CONSISTENT,
        "etcd members to be consistent across nodes",
        _E,
        etcd.check_members_consistent,
    ),
    CheckSpec(
        etcd.CONTROL_PLANES,
        "etcd members to be control plane nodes",
        _E,
        etcd.check_members_are_control_planes,
    ),
    CheckSpec(etcd.MEMBER_COUNT, "one etcd member per control plane", _E, etcd.check_member_count),
    CheckSpec(etcd.STARTED, "all etcd members started", _E, etcd.check_members_started),
    CheckSpec(etcd.LEARNERS, "no etcd learners", _E, etcd.check_no_learners),
    CheckSpec(etcd.LEADER, "one etcd leader agreed by all", _E, etcd.check_one_leader),
    CheckSpec(etcd.RAFT, "etcd raft indexes caught up", _E, etcd.check_raft_caught_up),
    CheckSpec(etcd.ALARMS, "no etcd alarms", _E, etcd.check_no_alarms),
    CheckSpec(nodes.APID, "apid to be ready", _N, nodes.check_apid_ready),
    CheckSpec(
        nodes.MACHINE_READY, "all nodes to finish boot sequence", _N, nodes.check_machine_ready
    ),
    CheckSpec(nodes.REGISTERED, "all k8s nodes to report", _N, nodes.check_nodes_registered),
    CheckSpec(
        workloads.STATIC_PODS,
        "all control plane static pods to be running and ready",
        _W,
        workloads.check_static_pods,
    ),
    CheckSpec(nodes.READY, "all k8s nodes to report ready", _N, nodes.check_nodes_ready),
    CheckSpec(workloads.KUBE_PROXY, "kube-proxy to report ready", _W, workloads.check_kube_proxy),
    CheckSpec(workloads.COREDNS, "coredns to report ready", _W, workloads.check_coredns),
    CheckSpec(
        nodes.SCHEDULABLE, "all k8s nodes to report schedulable", _N, nodes.check_nodes_schedulable
    ),
    CheckSpec(
        versions.TALOS_VERSION,
        "every node runs its expected Talos",
        _V,
        versions.check_talos_version,
    ),
    CheckSpec(
        versions.KUBELET_VERSION,
        "every kubelet runs the expected Kubernetes",
        _V,
        versions.check_kubelet_version,
    ),
    CheckSpec(
        versions.API_SERVER_VERSION,
        "the API server runs the expected Kubernetes",
        _V,
        versions.check_api_server_version,
    ),
    CheckSpec(
        support.SUPPORTED,
        "the running Talos supports the running Kubernetes",
        _V,
        support.check_talos_supports_kubernetes,
    ),
    CheckSpec(
        extensions.EXTENSIONS,
        "every node has the profile's extensions",
        _X,
        extensions.check_extensions,
    ),
    CheckSpec(
        extensions.SCHEMATIC,
        "every node runs the profile's schematic",
        _X,
        extensions.check_schematic,
    ),
    CheckSpec(
        workloads.PODS_RUNNING, "every pod Running or Succeeded", _W, workloads.check_pods_running
    ),
    CheckSpec(
        workloads.NO_CRASHLOOP, "no pod in CrashLoopBackOff", _W, workloads.check_no_crashloop
    ),
    CheckSpec(flux.READY, "Flux Kustomizations and HelmReleases ready", _F, flux.check_flux_ready),
    CheckSpec(
        flux.SUSPENDED, "no Flux object suspended", _F, flux.check_flux_not_suspended, advisory=True
    ),
)


def get_check(name: str) -> CheckSpec:
    """The registered check called `name`; raise KeyError listing the known names."""
    for spec in ALL_CHECKS:
        if spec.name == name:
            return spec
    raise UnknownName(f"no check {name!r} (known: {', '.join(s.name for s in ALL_CHECKS)})")


def run_checks(
    snapshot: ClusterSnapshot,
    expectation: Expectation,
    specs: Iterable[CheckSpec] = ALL_CHECKS,
) -> dict[str, list[Finding]]:
    """Run `specs` in order; return findings by check name. A check that raises yields one
    harness_error finding instead of stopping the others."""
    results: dict[str, list[Finding]] = {}
    for spec in specs:
        try:
            results[spec.name] = spec(snapshot, expectation)
        except Exception as exc:  # noqa: BLE001 - a harness bug must not hide other checks
            results[spec.name] = [
                Finding(
                    spec.name,
                    "the check itself",
                    "to run",
                    f"{type(exc).__name__}: {exc}",
                    "a harness bug: report it with this line",
                    Category.HARNESS_ERROR,
                )
            ]
    return results
