"""Phase 3, workers: one at a time, in profile order; each proven before the next."""

from __future__ import annotations

import pytest

from fixtures.procedures import Session, cluster_gate, upgrade_node
from model.plan import NodeRef, TalosHop


@pytest.mark.mutating
def test_upgrade_worker(session: Session, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """Upgrade a worker, then prove: rebooted, target version, schematic, extensions, Ready"""
    hop, node = talos_step
    upgrade_node(session, hop, node)


def test_cluster_gate_after_worker(session: Session, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """Cluster-wide gate before the next node: all nodes Ready, workloads healthy"""
    hop, node = talos_step
    cluster_gate(session, f"cluster healthy after {node.name} moved to {hop.to_version}")
