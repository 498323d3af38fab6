"""Phase 3, teardown of the rebuilt VMs: behind the same gate as the rebuild's (the snapshot
with its recorded sha256 and the state beside it, the old template's boot proof recorded);
every VM at a node's VMID shut down gracefully before any is destroyed, then each destroyed
with purge and proven gone (a VM the failed rebuild never cloned is simply not there)."""

from __future__ import annotations

import pytest

from drivers.proxmox import Pve
from fixtures.procedures.redeploy import attach
from fixtures.procedures.run import Run
from fixtures.procedures.teardown import Teardown, addresses_silent, gate_problems
from fixtures.rebuild import proxmox_of
from model.rebuild import RebuildPlan


def test_teardown_gate(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """The snapshot, the state and the old template's boot proof are there"""
    problems = gate_problems(run, pve, rebuild_plan, way_back=True)
    assert not problems, "[teardown-gate] not tearing anything down:\n  " + "\n  ".join(problems)


@pytest.mark.mutating
def test_rebuilt_vms_shut_down(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """Every VM at a node's VMID shut down gracefully before any is destroyed"""
    run.before_change()
    if run.guard.lock is not None:
        run.guard.lock.pause("the rebuilt cluster is torn down for the rollback")
    teardown = Teardown(run, pve, rebuild_plan, proxmox_of(run.profile), missing_ok=True)
    attach("\n".join(teardown.shut_down_all()), "shut down")


@pytest.mark.mutating
def test_rebuilt_vms_destroyed(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """Every VM at a node's VMID destroyed with purge and proven gone"""
    teardown = Teardown(run, pve, rebuild_plan, proxmox_of(run.profile), missing_ok=True)
    attach("\n".join(teardown.destroy_all()), "destroyed")


def test_node_addresses_silent(rebuild_plan: RebuildPlan) -> None:
    """Nothing answers on the node addresses any more: each clone will be alone on its own"""
    problems = addresses_silent(rebuild_plan)
    assert not problems, "[teardown] " + "; ".join(problems)
