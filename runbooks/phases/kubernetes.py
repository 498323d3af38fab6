"""Kubernetes: talosctl upgrade-k8s, one minor per step, a dry run first."""

from __future__ import annotations

import pytest

from fixtures.procedures.kubernetes import kubernetes_dry_run, upgrade_kubernetes
from fixtures.procedures.run import Run
from model.plan import KubeHop


def test_kubernetes_dry_run(run: Run, kube_hop: KubeHop) -> None:
    """upgrade-k8s dry run first: its plan attached"""
    kubernetes_dry_run(run, kube_hop)  # talosctl upgrade-k8s --to <version> --dry-run


@pytest.mark.mutating
def test_upgrade_kubernetes(run: Run, kube_hop: KubeHop) -> None:
    """Upgrade Kubernetes; then API server, kubelets, kube-proxy on the target, pods ready"""
    upgrade_kubernetes(run, kube_hop, "upgrade")  # talosctl upgrade-k8s --to <version>


@pytest.mark.mutating
def test_kubernetes_back(run: Run, kube_hop: KubeHop) -> None:
    """Kubernetes back; then API server, kubelets, kube-proxy on that version, pods ready"""
    upgrade_kubernetes(run, kube_hop, "rollback")  # talosctl upgrade-k8s --to <older version>
