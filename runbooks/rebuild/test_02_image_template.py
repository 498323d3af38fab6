"""Phase 2, image and template: the target's nocloud disk downloaded into the import storage
(PVE 8.4+: content 'import'), a VM created from it (`<st>:0,import-from=`), its disk grown,
converted to a template named talos-<version>, tagged template;talos, protected, listed in
/cluster/resources. Each step finds what a killed session made and goes on.

Then the proof that the template boots the target: a throwaway full clone on the probe address,
in maintenance mode, answers the target version and the schematic's extensions, and is
destroyed (the template itself is never booted)."""

from __future__ import annotations

from dataclasses import replace

import allure
import pytest

from drivers.proxmox import Pve
from drivers.pve_host import PveHost
from fixtures.procedures.run import Run
from fixtures.procedures.template import (
    convert_to_template,
    create_template_vm,
    download_image,
    prove_template_boots,
    template_listed,
)
from fixtures.rebuild import RebuildState, proxmox_of, target_image
from model.rebuild import RebuildPlan


@pytest.mark.mutating
def test_image_downloaded(
    run: Run,
    pve: Pve,
    rebuild_plan: RebuildPlan,
    rebuild_state: RebuildState,
    pve_host: PveHost | None,
) -> None:
    """The target's disk image is on the import storage with the size the Factory announced
    (over SSH: room on the storage before, the file's size on the host after)"""
    run.before_change()
    done = download_image(
        pve, rebuild_plan, rebuild_state.size(), proxmox_of(run.profile).task_timeout, pve_host
    )
    allure.attach(done, "volume", allure.attachment_type.TEXT)


@pytest.mark.mutating
def test_template_vm_created(
    run: Run, pve: Pve, rebuild_plan: RebuildPlan, pve_host: PveHost | None
) -> None:
    """A VM created from the downloaded disk (never with template=1; over SSH: qm importdisk,
    qm set --scsi0, no lock left), its disk grown"""
    run.before_change()
    conf = proxmox_of(run.profile)
    extensions = target_image(run, rebuild_plan).extensions
    disk = create_template_vm(pve, rebuild_plan, conf, extensions, conf.task_timeout, pve_host)
    allure.attach(disk, "scsi0", allure.attachment_type.TEXT)


@pytest.mark.mutating
def test_converted_to_template(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """The VM converted to a template and protected (it is the way back for the next rebuild)"""
    run.before_change()
    convert_to_template(pve, rebuild_plan, proxmox_of(run.profile).task_timeout)


def test_template_listed(pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """The template is listed: stopped, talos-<version>, tags template;talos, protected, a base
    disk"""
    vm = template_listed(pve, rebuild_plan)
    allure.attach(str(vm), "cluster/resources", allure.attachment_type.TEXT)


@pytest.mark.mutating
def test_template_boots_the_target(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """A throwaway clone of the template boots the target Talos with the schematic's extensions
    (talosctl get version|extensions --insecure in maintenance mode), then is destroyed"""
    run.before_change()
    image = target_image(run, rebuild_plan)
    proof = prove_template_boots(run, pve, rebuild_plan, proxmox_of(run.profile), image)
    allure.attach(proof, "boot proof", allure.attachment_type.TEXT)
    run.record.apply(lambda r: r.with_rebuild(lambda p: replace(p, template_proof=proof)))
