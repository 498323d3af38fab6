"""Phase 4, control planes: secondaries first, the primary last, etcd guarded around each."""

from __future__ import annotations

import pytest

from fixtures.procedures import (
    Session,
    already_done,
    cluster_gate,
    etcd_caught_up,
    move_leadership,
    node_done,
    prove_extensions,
    prove_version,
    quorum_guard,
    upgrade_node,
    wait_node_ready,
)
from model.plan import NodeRef, TalosHop, UpgradePlan


def test_etcd_quorum_guard(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """etcd can lose this member and keep quorum: members started, no learners, lists agree"""
    hop, node = cp_step
    if node_done(session, hop, node):
        already_done(f"{node.name} already runs {hop.to_version}: it will not go down")
        return
    quorum_guard(session, node)


@pytest.mark.mutating
def test_move_etcd_leadership(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Move etcd leadership away from the node before it reboots"""
    hop, node = cp_step
    if node_done(session, hop, node):
        already_done(f"{node.name} already runs {hop.to_version}: it will not go down")
        return
    move_leadership(session, node)


@pytest.mark.mutating
def test_upgrade_control_plane(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Upgrade a control plane: talosctl upgrade, then it rebooted and answers again"""
    hop, node = cp_step
    upgrade_node(session, hop, node)


def test_control_plane_version(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """The control plane runs the hop's Talos version (no A/B fallback)"""
    hop, node = cp_step
    prove_version(session, hop, node)


def test_control_plane_extensions(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """The control plane booted the profile's schematic with all its extensions"""
    _, node = cp_step
    prove_extensions(session, node)


def test_control_plane_ready(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """The control plane is running and ready, its Kubernetes Node Ready and schedulable"""
    _, node = cp_step
    wait_node_ready(session, node)


def test_etcd_caught_up_after(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Its etcd member is back, caught up with the leader, no alarms, lists consistent"""
    _, node = cp_step
    etcd_caught_up(session, node)


def test_cluster_gate_after_control_plane(
    session: Session, plan: UpgradePlan, cp_step: tuple[TalosHop, NodeRef]
) -> None:
    """The whole health gate before the next node, every node on the version it should run now"""
    hop, node = cp_step
    cluster_gate(session, plan, hop, node, strict=not session.record.resumed)
