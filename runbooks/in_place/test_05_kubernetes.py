"""Phase 5, Kubernetes: talosctl upgrade-k8s against the primary, one minor per hop."""

from __future__ import annotations

import pytest

from fixtures.procedures import Session, kubernetes_dry_run, upgrade_kubernetes
from model.plan import KubeHop


def test_kubernetes_dry_run(session: Session, kube_hop: KubeHop) -> None:
    """upgrade-k8s dry run first: its plan attached"""
    kubernetes_dry_run(session, kube_hop)


@pytest.mark.mutating
def test_upgrade_kubernetes(session: Session, kube_hop: KubeHop) -> None:
    """Upgrade Kubernetes; then API server, kubelets, kube-proxy on the target, pods ready"""
    upgrade_kubernetes(session, kube_hop)
