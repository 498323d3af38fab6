"""Phase 1, preflight (read-only, except the lock): the change, the plan; the way back exists
(the pre-rebuild snapshot on disk with its recorded sha256, the secrets bundle of the cluster's
identity, the old template); the VMIDs are the nodes' (or free: a VM the failed rebuild never
cloned); talosctl is not older than the old Talos; the lock when the rebuilt cluster's API
answers (else it is taken once the old cluster is back). No health gate: the cluster being
rolled back may be half built."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.bundle import sha256_of
from drivers.errors import DriverError
from drivers.proxmox import Pve
from drivers.talosctl import Talosctl
from fixtures.cluster_lock import take_lock
from fixtures.procedures.proofs import client_not_older
from fixtures.procedures.redeploy import attach
from fixtures.procedures.run import Run, not_applicable
from fixtures.rebuild import proxmox_of
from fixtures.rebuild_rollback import FORWARD
from model.plan import UpgradePlan
from model.rebuild import RebuildPlan
from model.versions import TalosVersion
from runbooks.phases.preflight import test_change_is_approved, test_plan_is_valid  # noqa: F401


def test_the_way_back_exists(
    run: Run, pve: Pve, rebuild_plan: RebuildPlan, pytestconfig: pytest.Config
) -> None:
    """The pre-rebuild snapshot (recorded sha256), the cluster's secrets bundle, the old
    template, and each node's VMID holding that node's VM or nothing"""
    forward = pytestconfig.stash[FORWARD].current
    problems = []
    backup = forward.etcd
    if backup is None:
        problems.append(f"run {forward.run_id} recorded no pre-rebuild etcd snapshot")
    elif not Path(backup.path).is_file():
        problems.append(f"the pre-rebuild etcd snapshot {backup.path} is gone")
    elif sha256_of(Path(backup.path)) != backup.sha256:
        problems.append(f"the pre-rebuild etcd snapshot {backup.path} is not what was recorded")
    secrets = run.profile.rebuild.secrets
    if secrets is None or not secrets.is_file():
        problems.append(
            "rebuild.secrets (the old cluster's secrets bundle) is not there: the snapshot is "
            "unreadable without the cluster's secretbox key and CAs"
        )
    vms = pve.by_vmid()
    old = vms.get(rebuild_plan.template.vmid)
    if old is None or not old.get("template"):
        problems.append(f"the old template {rebuild_plan.template.vmid} is not a template on PVE")
    for vm in rebuild_plan.vms:
        have = vms.get(vm.vmid)
        if have is not None and (have.get("template") or have.get("name") != vm.name):
            problems.append(f"{vm.name}: VMID {vm.vmid} is '{have.get('name')}', not the node's VM")
    assert not problems, "[way-back] no way back:\n  " + "\n  ".join(problems)
    attach(f"undoing {forward.run_id}; snapshot {backup.path if backup else '-'}", "way back")


def test_talosctl_not_older_than_target(
    talos: Talosctl, plan: UpgradePlan, talosctl_client: TalosVersion | None
) -> None:
    """The talosctl client is not older than the Talos the cluster goes back to"""
    client_not_older(talos, plan.target_talos, talosctl_client)


def test_take_cluster_lock(run: Run, pytestconfig: pytest.Config) -> None:
    """The cluster lock, when the rebuilt cluster's API answers (else taken once the old
    cluster is back)"""
    try:
        run.kube.version()
    except DriverError as e:
        not_applicable(
            f"the rebuilt cluster's API does not answer ({e}): the lock is taken "
            "once the old cluster is back"
        )
        return
    take_lock(run, pytestconfig, "rebuild_rollback")


def test_probe_is_configured(run: Run) -> None:
    """proxmox.probe is set: the old template's boot proof needs it"""
    assert proxmox_of(run.profile).probe is not None, "proxmox.probe is not set"
