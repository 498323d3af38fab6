"""Workers, one at a time, in profile order: the node's change, then its proofs and the whole
health gate before the next node. With batches (upgrade.workers.batch, --batch N; an upgrade
only), up to N workers reboot at once, each proven as alone, the gate after each batch
(fixtures/procedures/batches.py)."""

from __future__ import annotations

import pytest

from fixtures.procedures.batches import batching, gate_due, upgrade_in_batch
from fixtures.procedures.node_change import rollback_node, upgrade_node
from fixtures.procedures.proofs import (
    cluster_gate,
    prove_extensions,
    prove_version,
    wait_node_ready,
)
from fixtures.procedures.run import Run
from model.plan import NodeRef, TalosHop, UpgradePlan

# the proofs of every worker, whichever way it moves (`from ... import *`); each runbook imports
# its own change step by name: test_upgrade_worker or test_roll_back_worker
__all__ = [
    "test_worker_version",
    "test_worker_extensions",
    "test_worker_ready",
    "test_cluster_gate_after_worker",
]


@pytest.mark.mutating
def test_upgrade_worker(run: Run, plan: UpgradePlan, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """Upgrade a worker: talosctl upgrade, then it rebooted (new boot ID) and answers again"""
    hop, node = talos_step
    if batching(plan, node):  # the first of a batch starts every member's upgrade at once
        upgrade_in_batch(run, plan, hop, node)
    else:
        upgrade_node(run, hop, node)  # talosctl upgrade --image <hop's installer> -n <node>


@pytest.mark.mutating
def test_roll_back_worker(run: Run, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """Worker back: talosctl rollback (other A/B slot) or an explicit reinstall; it rebooted"""
    hop, node = talos_step
    rollback_node(run, hop, node)  # talosctl rollback -n <node>, or upgrade --image <older>


def test_worker_version(run: Run, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """The worker runs the hop's Talos version (an A/B fallback to the old image fails here)"""
    prove_version(run, *talos_step)  # talosctl version -n <node>: Tag == the hop's version


def test_worker_extensions(run: Run, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """The worker booted the schematic it should run (the profile's, or the target image's)"""
    prove_extensions(run, *talos_step)  # talosctl get extensions: every extension, schematic ID


def test_worker_ready(run: Run, talos_step: tuple[TalosHop, NodeRef]) -> None:
    """The worker is running and ready, its Kubernetes Node Ready and schedulable"""
    wait_node_ready(run, talos_step[1])  # machinestatus running+ready; Node Ready, schedulable


def test_cluster_gate_after_worker(
    run: Run, plan: UpgradePlan, talos_step: tuple[TalosHop, NodeRef]
) -> None:
    """The whole health gate before the next node, every node on the version it should run now"""
    if batching(plan, talos_step[1]) and not gate_due(run, talos_step[1]):
        return  # a batch's gate runs after its last member
    cluster_gate(run, plan, *talos_step)
