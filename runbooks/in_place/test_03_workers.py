"""Phase 3, workers: one at a time, in profile order; each proven before the next."""

from __future__ import annotations

import pytest

from fixtures.procedures import (
    Session,
    cluster_gate,
    prove_extensions,
    prove_version,
    upgrade_node,
    wait_node_ready,
)
from model.plan import NodeRef, TalosHop, UpgradePlan


@pytest.mark.mutating
def test_upgrade_worker(session: Session, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """Upgrade a worker: talosctl upgrade, then it rebooted (new boot ID) and answers again"""
    hop, node = talos_step
    upgrade_node(session, hop, node)


def test_worker_version(session: Session, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """The worker runs the hop's Talos version (an A/B fallback to the old image fails here)"""
    hop, node = talos_step
    prove_version(session, hop, node)


def test_worker_extensions(session: Session, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """The worker booted the profile's schematic with all its extensions"""
    _, node = talos_step
    prove_extensions(session, node)


def test_worker_ready(session: Session, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """The worker is running and ready, its Kubernetes Node Ready and schedulable"""
    _, node = talos_step
    wait_node_ready(session, node)


def test_cluster_gate_after_worker(
    session: Session, plan: UpgradePlan, talos_step: tuple[TalosHop, NodeRef]
) -> None:
    """The whole health gate before the next node, every node on the version it should run now"""
    hop, node = talos_step
    cluster_gate(session, plan, hop, node, strict=not session.record.resumed)
