"""Phase 4, control planes: secondaries first, the primary last, etcd guarded around each."""

from __future__ import annotations

import pytest

from fixtures.procedures import Session, etcd_caught_up, move_leadership, quorum_guard, upgrade_node
from model.plan import NodeRef, TalosHop


def test_etcd_quorum_guard(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """etcd can lose this member and keep quorum: members started, no learners, lists agree"""
    hop, node = cp_step
    if _done(session, hop, node):
        return
    quorum_guard(session, node)


@pytest.mark.mutating
def test_move_etcd_leadership(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Move etcd leadership away from the node before it reboots"""
    hop, node = cp_step
    if _done(session, hop, node):
        return
    move_leadership(session, node)


@pytest.mark.mutating
def test_upgrade_control_plane(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Upgrade a control plane, then prove it as a worker, plus etcd"""
    hop, node = cp_step
    upgrade_node(session, hop, node)


def test_etcd_caught_up_after(session: Session, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Its etcd member is back, caught up with the leader, no alarms, lists consistent"""
    hop, node = cp_step
    etcd_caught_up(session, node)


def _done(session: Session, hop: TalosHop, node: NodeRef) -> bool:
    obs = session.observe().node(node.name)
    return obs is not None and obs.talos_version is not None and obs.talos_version >= hop.to_version
