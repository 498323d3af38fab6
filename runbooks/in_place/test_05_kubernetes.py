"""Phase 5, Kubernetes: talosctl upgrade-k8s against the primary, one minor per hop."""

from __future__ import annotations

import allure
import pytest

from drivers.errors import DriverError
from fixtures.procedures import Session, upgrade_kubernetes
from model.plan import KubeHop


def test_kubernetes_dry_run(session: Session, kube_hop: KubeHop) -> None:
    """upgrade-k8s dry run first: its plan attached"""
    try:
        done = session.talos.upgrade_k8s(kube_hop.node.address, str(kube_hop.to_version),
                                         dry_run=True, timeout=session.timeouts.kubernetes)
    except DriverError as e:
        raise AssertionError(f"upgrade-k8s --dry-run to {kube_hop.to_version} refused: {e}") from None
    allure.attach(done.stdout, "upgrade-k8s --dry-run output", allure.attachment_type.TEXT)


@pytest.mark.mutating
def test_upgrade_kubernetes(session: Session, kube_hop: KubeHop) -> None:
    """Upgrade Kubernetes; then API server, kubelets, kube-proxy on the target, pods ready"""
    upgrade_kubernetes(session, kube_hop, [])
