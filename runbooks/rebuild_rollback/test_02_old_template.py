"""Phase 2, the old template: protected, and proven to boot what the cluster ran (a throwaway
clone in maintenance mode answers the old version, schematic and extensions, then is
destroyed); the rebuild's backups and each VM's network named in this run's record; the
rebuild's record marked as being rolled back."""

from __future__ import annotations

from dataclasses import replace

import pytest

from drivers.proxmox import Pve
from fixtures.procedures.redeploy import attach
from fixtures.procedures.run import Run
from fixtures.procedures.template import prove_template_boots
from fixtures.rebuild import proxmox_of, target_image
from fixtures.rebuild_rollback import FORWARD
from model.rebuild import RebuildPlan
from model.run_record import Versions, now


@pytest.mark.mutating
def test_rebuild_record_marked(run: Run, pytestconfig: pytest.Config) -> None:
    """The rebuild's record names this rollback (it is no longer resumed), its snapshot and
    VMs are this run's"""
    forward_log = pytestconfig.stash[FORWARD]
    forward = forward_log.current
    assert forward.source is not None and forward.rebuild is not None
    to = Versions(forward.source.talos, forward.source.kubernetes)
    forward_log.apply(lambda r: r.with_rollback_started(to, now()))
    vms, backup = forward.rebuild.vms, forward.etcd
    assert vms, f"run {forward.run_id} recorded no VMs before its teardown"
    assert backup is not None
    run.record.apply(lambda r: r.with_etcd(backup).with_rebuild(lambda p: replace(p, vms=vms)))
    attach(f"{forward.run_id} is being rolled back by {run.record.current.run_id}", "record")


@pytest.mark.mutating
def test_old_template_boots_what_the_cluster_ran(
    run: Run, pve: Pve, rebuild_plan: RebuildPlan
) -> None:
    """A throwaway clone of the old template boots the old Talos with its extensions"""
    run.before_change()
    conf = proxmox_of(run.profile)
    if str(pve.config(rebuild_plan.template.vmid).get("protection", "0")) != "1":
        pve.call(
            "PUT", f"/nodes/{pve.node}/qemu/{rebuild_plan.template.vmid}/config", {"protection": 1}
        )
    proof = prove_template_boots(run, pve, rebuild_plan, conf, target_image(run, rebuild_plan))
    attach(proof, "boot proof")
    run.record.apply(lambda r: r.with_rebuild(lambda p: replace(p, template_proof=proof)))
