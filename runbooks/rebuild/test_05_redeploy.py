"""Phase 5, redeploy (the seed's steps 8-9; rebuild.md §2.6-2.7, §3): the VMs cloned back
from the new template with their old MACs and cloud-init network, each proven to boot the
target in maintenance mode, the machine configs generated (new installer, kept secrets),
applied one node at a time, etcd bootstrapped on the primary (or recovered from the
pre-rebuild snapshot), the kubeconfig written, the cluster lock carried over, every node Ready
on the target. (The seed's step 7, the profile's new values, is written in the record phase,
once the rebuilt cluster is verified: until then the profile names the cluster the run started
from, which is how a rerun after a kill finds its record.)"""

from __future__ import annotations

import pytest

from drivers.proxmox import Pve
from fixtures.cluster_lock import take_lock
from fixtures.procedures import redeploy as rd
from fixtures.procedures.run import Run
from fixtures.rebuild import proxmox_of, target_image
from fixtures.upgrade import spec_of
from model.rebuild import RebuildPlan


@pytest.mark.mutating
def test_vms_cloned(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """Each VM cloned from the new template on its old VMID and name, with its old MAC and
    cloud-init network"""
    conf = proxmox_of(run.profile)
    done = [rd.clone_back(run, pve, rebuild_plan, conf, v) for v in rd.redeploy_order(run)]
    rd.attach("\n".join(done), "clones")


@pytest.mark.mutating
def test_clones_in_maintenance(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """Each clone started: in maintenance mode on its address, running the target Talos with
    the schematic's extensions"""
    conf = proxmox_of(run.profile)
    image = target_image(run, rebuild_plan)
    done = [
        rd.start_in_maintenance(run, pve, rebuild_plan, conf, v, image)
        for v in rd.redeploy_order(run)
    ]
    rd.attach("\n".join(done), "maintenance mode")


@pytest.mark.mutating
def test_machine_configs_generated(run: Run, rebuild_plan: RebuildPlan) -> None:
    """talosctl gen config with the new installer, the target Kubernetes and the secrets"""
    _, said = rd.generate_configs(run, rebuild_plan)
    rd.attach(said, "machine configs")


@pytest.mark.mutating
def test_configs_applied(run: Run) -> None:
    """Each node's config applied alone (apply-config --insecure, one node per call), each
    node out of maintenance mode before the next"""
    directory = rd.workdir(run)  # where test_machine_configs_generated wrote them
    rd.attach(rd.install_talosconfig(run, directory), "talosconfig")
    done = [rd.apply_config(run, v, directory) for v in rd.redeploy_order(run)]
    rd.attach("\n".join(done), "configs applied")


@pytest.mark.mutating
def test_etcd_bootstrapped(run: Run, rebuild_plan: RebuildPlan) -> None:
    """Once every control plane waits (etcd Preparing): bootstrap on the primary, or
    --recover-from the pre-rebuild snapshot; etcd's members are then the control planes"""
    rd.attach(rd.bootstrap(run, rebuild_plan), "etcd")


@pytest.mark.mutating
def test_kubeconfig_written(run: Run, pytestconfig: pytest.Config) -> None:
    """talosctl kubeconfig --force into the profile's kubeconfig (the old one kept); the
    cluster lock carried over to the rebuilt cluster (taken there on a resumed run)"""
    rd.attach(rd.write_kubeconfig(run), "kubeconfig")
    lock = run.guard.lock
    if lock is not None:
        rd.attach(lock.carry_over(), "cluster lock")
    else:
        take_lock(run, pytestconfig, spec_of(pytestconfig).name)
    run.guard.check()


def test_nodes_ready(run: Run, rebuild_plan: RebuildPlan) -> None:
    """Every node Ready on the target Talos, image and Kubernetes; etcd healthy"""
    rd.nodes_ready(run, rebuild_plan, target_image(run, rebuild_plan))
