"""Phase 3, Kubernetes first: talosctl upgrade-k8s --to the older version, one minor per step."""

from __future__ import annotations

import pytest

from fixtures.procedures import Session, kubernetes_dry_run, upgrade_kubernetes
from model.plan import KubeHop


def test_kubernetes_back_dry_run(session: Session, kube_hop: KubeHop) -> None:
    """upgrade-k8s --dry-run to the older version: its plan attached"""
    kubernetes_dry_run(session, kube_hop)


@pytest.mark.mutating
def test_kubernetes_back(session: Session, kube_hop: KubeHop) -> None:
    """Kubernetes back; then API server, kubelets, kube-proxy on that version, pods ready"""
    upgrade_kubernetes(session, kube_hop, action="rollback")
