"""Phase 1, preflight (read-only, except the lock): the steps every upgrade-shaped runbook
starts with (runbooks/phases/preflight.py: the change, the plan, the target image in the Image
Factory, the lock, the health gate), then the rebuild's own: the cluster is the profile's,
talosctl is new enough, the Factory builds the template's disk image, Proxmox VE can build the
template (version, storages, token), the VMIDs are as planned, the secrets bundle is there.
Whether an etcd snapshot may be recovered into the target was decided with the plan
(model/restore_rules.py): an impossible recovery never gets this far."""

from __future__ import annotations

import allure
import yaml

from drivers.proxmox import Pve
from drivers.pve_host import PveHost, PveHostError
from drivers.talosctl import Talosctl
from fixtures.procedures.proofs import client_not_older, cluster_matches_profile
from fixtures.procedures.run import Run, not_applicable
from fixtures.procedures.template import factory_image_size, pve_can_build, vmids_as_planned
from fixtures.rebuild import RebuildState, proxmox_of
from model.plan import UpgradePlan
from model.rebuild import RebuildPlan
from model.versions import TalosVersion
from runbooks.phases.preflight import *  # noqa: F403


def test_cluster_matches_profile(run: Run, plan: UpgradePlan) -> None:
    """The live cluster is the one the profile describes: nodes, versions"""
    cluster_matches_profile(run, plan)


def test_talosctl_not_older_than_target(
    talos: Talosctl, plan: UpgradePlan, talosctl_client: TalosVersion | None
) -> None:
    """The talosctl client is not older than the target Talos"""
    client_not_older(talos, plan.target_talos, talosctl_client)


def test_factory_builds_the_disk_image(
    rebuild_plan: RebuildPlan, rebuild_state: RebuildState
) -> None:
    """The Image Factory builds the template's disk image (HEAD: schematic x version x
    extensions) and says its size"""
    rebuild_state.image_size = factory_image_size(rebuild_plan)


def test_pve_can_build_the_template(
    run: Run, pve: Pve, rebuild_plan: RebuildPlan, rebuild_state: RebuildState
) -> None:
    """Proxmox VE can build the template: its version has every call, the import storage takes
    the disk and has room, the token holds every privilege"""
    pve_can_build(pve, rebuild_plan, proxmox_of(run.profile), rebuild_state.size())


def test_pve_host_answers_ssh(run: Run, pve_host: PveHost | None) -> None:
    """With proxmox.ssh: the SSH login works (the host key checked) and the host has qm and
    pvesm (the disk is imported with qm importdisk)"""
    if pve_host is None:
        not_applicable("no proxmox.ssh: the disk is imported through the API (import-from)")
        return
    try:
        lacking = pve_host.missing_commands()
    except PveHostError as e:
        raise AssertionError(f"proxmox.ssh in {run.profile.path}: {e}") from None
    assert not lacking, (
        f"proxmox.ssh: {pve_host.where} has no {', '.join(lacking)}: is it the Proxmox VE host?"
    )


def test_vmids_are_as_planned(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """The new template's VMID is free, the current template exists, every node's VM is there
    with its name and tags, the probe's VMID and address are free"""
    vmids_as_planned(pve, rebuild_plan, proxmox_of(run.profile))


def test_secrets_bundle_present(run: Run, rebuild_plan: RebuildPlan) -> None:
    """The secrets bundle that keeps the cluster's identity is there (needed to recover etcd)"""
    path = run.profile.rebuild.secrets
    if path is None:
        assert not rebuild_plan.restore_etcd, (
            f"rebuild.restore_etcd needs rebuild.secrets in {run.profile.path}: a recovered etcd "
            "is unreadable without the cluster's secretbox key (talosctl gen secrets "
            "--from-controlplane-config)"
        )
        not_applicable("no rebuild.secrets: the rebuilt cluster gets new secrets")
        return
    assert path.is_file(), f"rebuild.secrets: {path} does not exist"
    try:
        doc = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise AssertionError(f"rebuild.secrets: {path} is not YAML: {e}") from None
    keys = ("cluster", "secrets", "trustdinfo", "certs")
    lacking = [k for k in keys if not isinstance(doc, dict) or k not in doc]
    assert not lacking, (
        f"rebuild.secrets: {path} is not a talosctl secrets bundle (no {', '.join(lacking)})"
    )
    allure.attach(
        f"{path}: cluster id {doc['cluster'].get('id')}",
        "secrets bundle",
        allure.attachment_type.TEXT,
    )


def test_config_patches_present(run: Run) -> None:
    """Every machine config patch of rebuild.config_patches is there and is YAML (found out
    before the teardown, not after)"""
    patches = run.profile.rebuild.config_patches
    if not patches:
        not_applicable("no rebuild.config_patches: the rebuilt nodes get gen config's defaults")
        return
    problems = []
    for patch in patches:
        try:
            yaml.safe_load_all(patch.read_text()).__next__()
        except OSError as e:
            problems.append(f"{patch}: {e.strerror}")
        except (yaml.YAMLError, StopIteration) as e:
            problems.append(f"{patch}: not a YAML patch ({e})")
    assert not problems, "rebuild.config_patches:\n  " + "\n  ".join(problems)
    allure.attach("\n".join(str(p) for p in patches), "config patches", allure.attachment_type.TEXT)
