"""Control planes, secondaries first, the primary last: etcd guarded before the node goes down
(quorum, leadership moved off it), the node's change and proofs, its etcd member caught up, and
the whole health gate before the next node."""

from __future__ import annotations

import pytest

from fixtures.procedures.etcd import etcd_caught_up, move_leadership, quorum_guard
from fixtures.procedures.node_change import reached, rollback_node, settled_node, upgrade_node
from fixtures.procedures.proofs import (
    cluster_gate,
    prove_extensions,
    prove_version,
    wait_node_ready,
)
from fixtures.procedures.run import Run, already_done
from model.plan import NodeRef, TalosHop, UpgradePlan

# the steps of every control plane, whichever way it moves (`from ... import *`); each runbook
# imports its own change step by name: test_upgrade_control_plane or test_roll_back_control_plane
__all__ = [
    "test_etcd_quorum_guard",
    "test_move_etcd_leadership",
    "test_control_plane_version",
    "test_control_plane_extensions",
    "test_control_plane_ready",
    "test_etcd_caught_up_after",
    "test_cluster_gate_after_control_plane",
]


def _stays_up(run: Run, hop: TalosHop, node: NodeRef) -> bool:
    """The node already runs the hop's version: it will not go down ("already done")."""
    if reached(hop, settled_node(run, node)):
        already_done(f"{node.name} already runs {hop.to_version}: it will not go down")
        return True
    return False


def test_etcd_quorum_guard(run: Run, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """etcd can lose this member and keep quorum: members started, no learners, lists agree"""
    if not _stays_up(run, *cp_step):
        quorum_guard(run, cp_step[1])  # talosctl etcd members / status on every control plane


@pytest.mark.mutating
def test_move_etcd_leadership(run: Run, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Move etcd leadership away from the node before it reboots"""
    if not _stays_up(run, *cp_step):
        move_leadership(run, cp_step[1])  # talosctl etcd forfeit-leadership -n <node>


@pytest.mark.mutating
def test_upgrade_control_plane(run: Run, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Upgrade a control plane: talosctl upgrade, then it rebooted and answers again"""
    upgrade_node(run, *cp_step)  # talosctl upgrade --image <hop's installer> -n <node>


@pytest.mark.mutating
def test_roll_back_control_plane(run: Run, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Control plane back: talosctl rollback or an explicit reinstall; it rebooted"""
    rollback_node(run, *cp_step)  # talosctl rollback -n <node>, or upgrade --image <older>


def test_control_plane_version(run: Run, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """The control plane runs the hop's Talos version (no A/B fallback)"""
    prove_version(run, *cp_step)  # talosctl version -n <node>: Tag == the hop's version


def test_control_plane_extensions(run: Run, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """The control plane booted the schematic it should run (the profile's, or the target's)"""
    prove_extensions(run, *cp_step)  # talosctl get extensions: every extension, schematic ID


def test_control_plane_ready(run: Run, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """The control plane is running and ready, its Kubernetes Node Ready and schedulable"""
    wait_node_ready(run, cp_step[1])  # machinestatus running+ready; Node Ready, schedulable


def test_etcd_caught_up_after(run: Run, cp_step: tuple[TalosHop, NodeRef]) -> None:
    """Its etcd member is back, caught up with the leader, no alarms, lists consistent"""
    etcd_caught_up(run, cp_step[1])  # talosctl etcd status: raft index close to the leader's


def test_cluster_gate_after_control_plane(
    run: Run, plan: UpgradePlan, cp_step: tuple[TalosHop, NodeRef]
) -> None:
    """The whole health gate before the next node, every node on the version it should run now"""
    cluster_gate(run, plan, *cp_step)
