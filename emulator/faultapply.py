"""Immediate faults: what each one changes in the world the moment it is injected.

Armed faults (boot_failure, never_ready, extension_missing, image_pull_failure,
slow_etcd_catchup, velero_backup_fails, api_unreachable with a node, maintenance_stuck,
bootstrap_fails) are consumed by the lifecycle, the Velero controller and the rebuild commands
(emulator/talos/provision.py) at the node's next matching event (world.take_fault).
"""

from __future__ import annotations

import time

from emulator.addresses import ETCD_PEER_PORT
from emulator.faults import Fault
from emulator.world import EmulatedCluster, NodeState

STALE_SLOT = 9  # an address of the lab's block that no node uses


def _default_worker(world: EmulatedCluster) -> NodeState:
    return world.workers[0] if world.workers else world.control_planes[-1]


def _default_secondary(world: EmulatedCluster) -> NodeState:
    secondaries = [n for n in world.control_planes if not n.primary]
    return secondaries[-1] if secondaries else world.primary


def prepare(world: EmulatedCluster, fault: Fault) -> None:
    """Check a fault against this lab (what `make_fault` cannot know); raise LabConfigError."""
    from emulator.errors import LabConfigError

    if fault.kind == "extension_missing":
        name = str(fault.params["extension"])
        full = world.extension_full_name(name)
        if full is None:
            raise LabConfigError(f"fault extension_missing: extension {name!r} is not in the "
                                 f"lab's schematic ({', '.join(world.spec.extensions) or 'none'})")
        fault.params["extension"] = full
    if fault.kind == "vm_wont_stop":
        if fault.node is None and "vmid" not in fault.params:
            raise LabConfigError("fault vm_wont_stop: give a node or a vmid")
        if fault.node is not None and "vmid" in fault.params \
                and world.node(fault.node).vmid != fault.params["vmid"]:
            raise LabConfigError(f"fault vm_wont_stop: VM {fault.params['vmid']} is not node "
                                 f"{fault.node!r}'s VM ({world.node(fault.node).vmid})")
        vmid = world.node(fault.node).vmid if fault.node else int(fault.params["vmid"])
        if vmid not in world.pve.vms:
            raise LabConfigError(f"fault vm_wont_stop: there is no VM {vmid}")
    if fault.kind in ("etcd_member_down", "slow_etcd_catchup", "slow_etcd_member") \
            and fault.node:
        node = world.node(fault.node)
        if not node.is_control_plane:
            raise LabConfigError(f"fault {fault.kind}: node {node.name!r} is not a control plane")


async def apply_immediate(world: EmulatedCluster, fault: Fault) -> None:
    """Apply an immediate fault; record which node it landed on."""
    kind = fault.kind
    if kind == "stale_etcd_member":
        addr = world.plan.slot(STALE_SLOT)
        await world.etcd.add_stale_member("stale", f"http://{addr}:{ETCD_PEER_PORT}")
    elif kind == "etcd_member_down":
        node = world.node(fault.node) if fault.node else _default_secondary(world)
        if not node.is_control_plane:
            raise_not_cp(node)
        fault.node = node.name
        world.etcd.kill_member(node.name)
        await world.etcd.wait_leader()  # the fault is a member down, not an election under way
    elif kind == "drain_blocked":
        node = world.node(fault.node) if fault.node else _default_worker(world)
        fault.node = node.name
        world.k8s.block_drain(node)
    elif kind == "crashloop_pod":
        node = world.node(fault.node) if fault.node else _default_worker(world)
        fault.node = node.name
        world.k8s.crashloop_pod(node, str(fault.params.get("namespace", "default")))
    elif kind == "flux_not_ready":
        world.k8s.flux_not_ready(fault.params.get("name"))
    elif kind == "cordoned":
        node = world.node(fault.node) if fault.node else _default_worker(world)
        fault.node = node.name
        world.k8s.cordon(node, True)
    elif kind == "api_unreachable":
        world.api_down_until = time.time() + float(fault.params.get("seconds", 5.0))
    elif kind == "node_down":
        from emulator.lifecycle import power_off

        node = world.node(fault.node) if fault.node else _default_worker(world)
        fault.node = node.name
        await power_off(world, node)
    elif kind == "slow_etcd_member":
        node = world.node(fault.node) if fault.node else _default_secondary(world)
        fault.node = node.name
        node.etcd_delay = float(fault.params.get("seconds", 0.8))
    elif kind in ("change_not_approved", "change_outside_window"):
        ref = fault.params.get("ref")
        hit = (world.change.not_approved if kind == "change_not_approved"
               else world.change.outside_window)(None if ref is None else str(ref))
        if not hit:
            from emulator.errors import LabConfigError

            raise LabConfigError(f"fault {kind}: no change {ref!r} it can act on")
    elif kind == "change_attachment_fails":
        world.change.attachments_fail = True
    elif kind == "image_download_fails":
        # wget's text for a factory that answers 502 (pve-common download_file_from_url)
        world.pve.fail_downloads = str(fault.params.get(
            "message", "download failed: ERROR 502: Bad Gateway."))
    elif kind == "template_vmid_taken":
        vmid = int(fault.params["vmid"])
        if vmid in world.pve.vms:
            from emulator.errors import LabConfigError

            raise LabConfigError(f"fault template_vmid_taken: VMID {vmid} is already taken")
        world.pve.add_vm(vmid, str(fault.params.get("name", "someone-elses-vm")),
                         world.spec.proxmox_node, ["other"], "stopped")
    elif kind == "vm_wont_stop":
        # the guest ignores ACPI and the agent: shutdowns time out (qemu-server _do_vm_stop)
        vmid = world.node(fault.node).vmid if fault.node else int(fault.params["vmid"])
        fault.params["vmid"] = vmid
        fault.node = fault.node or next((n.name for n in world.nodes.values() if n.vmid == vmid),
                                        None)
        world.pve.wont_stop.add(vmid)
    elif kind == "clone_fails":
        message = fault.params.get("message")
        world.pve.fail_clone(int(fault.params.get("after", 0)),
                             None if message is None else str(message))


def raise_not_cp(node: NodeState) -> None:
    from emulator.errors import LabConfigError

    raise LabConfigError(f"fault etcd_member_down: node {node.name!r} is not a control plane")
