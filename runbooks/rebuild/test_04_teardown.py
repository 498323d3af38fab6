"""Phase 4, teardown (the seed's step 6, rebuild.md §2.8, §6): nothing is touched before the
gate holds (the pre-rebuild snapshot on disk with its recorded sha256 and the state beside it,
the new template listed and its boot proof recorded, the old template still there). Then the
old template is protected (it is the way back), every old VM is shut down gracefully (workers
first, the primary last; never forced) before any is destroyed, and each is destroyed with
purge and proven gone. Only the profile's VMs: its VMIDs, names and tags, never a template.
The cluster lock's renewals pause here: its Lease goes with the cluster, and is carried over
to the rebuilt one (phase 5)."""

from __future__ import annotations

from dataclasses import replace

import allure
import pytest

from drivers.proxmox import Pve
from fixtures.procedures.run import Run
from fixtures.procedures.teardown import (
    Teardown,
    addresses_silent,
    gate_problems,
    keep_vms,
    protect_old_template,
)
from fixtures.rebuild import proxmox_of
from model.rebuild import RebuildPlan


def test_teardown_gate(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """The backups and the new template are proven (else nothing is torn down); each VM's MAC
    and cloud-init network are recorded for its clone"""
    problems = gate_problems(run, pve, rebuild_plan)
    assert not problems, "[teardown-gate] not tearing anything down:\n  " + "\n  ".join(problems)
    progress = run.record.current.rebuild
    if progress is not None and progress.vms:
        kept = progress.vms  # a rerun: the VMs may already be gone
    else:
        kept, wrong = keep_vms(pve, rebuild_plan)
        assert not wrong, "[teardown-gate] not tearing anything down:\n  " + "\n  ".join(wrong)
        run.record.apply(lambda r: r.with_rebuild(lambda p: replace(p, vms=kept)))
    allure.attach(
        "\n".join(f"{v.name} ({v.vmid}): {dict(v.config)}" for v in kept),
        "VMs kept for their clones",
        allure.attachment_type.TEXT,
    )


@pytest.mark.mutating
def test_old_template_protected(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """The old template is protected while it is the way back (rebuild.keep_old_template)"""
    run.before_change()
    said = protect_old_template(pve, rebuild_plan, run.profile.rebuild.keep_old_template)
    allure.attach(said, "old template", allure.attachment_type.TEXT)


@pytest.mark.mutating
def test_old_vms_shut_down(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """Every old VM shut down gracefully (workers first, the primary last), none destroyed
    before all are stopped"""
    run.before_change()
    if run.guard.lock is not None:
        run.guard.lock.pause("the cluster is torn down for the rebuild")
    done = Teardown(run, pve, rebuild_plan, proxmox_of(run.profile)).shut_down_all()
    allure.attach("\n".join(done), "shut down", allure.attachment_type.TEXT)


@pytest.mark.mutating
def test_old_vms_destroyed(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """Every old VM destroyed with purge and proven gone"""
    done = Teardown(run, pve, rebuild_plan, proxmox_of(run.profile)).destroy_all()
    allure.attach("\n".join(done), "destroyed", allure.attachment_type.TEXT)


def test_node_addresses_silent(rebuild_plan: RebuildPlan) -> None:
    """Nothing answers on the node addresses any more: each clone will be alone on its own"""
    problems = addresses_silent(rebuild_plan)
    assert not problems, "[teardown] " + "; ".join(problems)
