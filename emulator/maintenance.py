"""Machines in Talos maintenance mode: what a fresh clone of a Talos template is until it gets a
machine config (rebuild.md §3.2).

A VM the lab's PVE starts that is not one of the lab's nodes boots what its disk holds: the
Factory image its scsi0 was imported from (`ProxmoxModel.disk_origin`, carried from the download
to the template and its clones), on the address its cloud-init `ipconfig0=ip=<addr>/<prefix>`
gives it (nocloud: Talos takes the network config and enters maintenance mode; it ignores the
`#cloud-config` user-data, rebuild.md §2.7). Only a loopback address of the lab's block is ever
answered on. Stopping or destroying the VM takes the machine away.

What answers (talos `internal/app/maintenance`, `internal/app/resources/access.go`, v1.11):
`talosctl get <non-sensitive resource> --insecure` (versions, extensions, machinestatus with
stage `maintenance`); `talosctl version --insecure` fails `API is not implemented in
maintenance mode` (up to v1.12); a call with the talosconfig (TLS with the cluster's CA) fails
the handshake: the machine has no certificate from that CA (talos#8442).
"""

from __future__ import annotations

import ipaddress
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from emulator.world import Slot

if TYPE_CHECKING:
    from emulator.proxmox.models import Vm
    from emulator.world import EmulatedCluster

READABLE = frozenset({
    "Versions.runtime.talos.dev",
    "ExtensionStatuses.runtime.talos.dev",
    "MachineStatuses.runtime.talos.dev",
})
TLS_UNKNOWN_AUTHORITY = (
    'rpc error: code = Unavailable desc = connection error: desc = "transport: authentication '
    'handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown '
    'authority"'
)
NOT_IN_MAINTENANCE = "API is not implemented in maintenance mode"
_IP = re.compile(r"(?:^|,)ip=([0-9.]+)(?:/\d+)?(?:,|$)")


@dataclass
class MaintenanceMachine:
    """A booted clone with no machine config; quacks like a NodeState for the resource builders."""

    vmid: int
    name: str
    address: str
    slot: Slot
    booted_at: float = field(default_factory=time.time)
    stage: str = "maintenance"
    machine_ready: bool = False
    boot_count: int = 1
    is_control_plane: bool = False
    apid_up: bool = True

    @property
    def talos_version(self) -> str:
        return self.slot.version

    @property
    def hostname(self) -> str:
        return self.name


def image_of(url: str | None) -> tuple[str, str] | None:
    """(schematic, version) of a Factory disk image URL .../image/<schematic>/<version>/<file>."""
    if not url:
        return None
    parts = urlsplit(url).path.strip("/").split("/")
    if len(parts) == 4 and parts[0] == "image":
        return parts[1], parts[2]
    return None


def address_of(ipconfig: str, world: EmulatedCluster) -> str | None:
    """The static address of `ipconfig0`, when it is a loopback address of the lab's block that
    no node uses (the lab never answers anywhere else)."""
    m = _IP.search(ipconfig)
    if not m:
        return None
    addr = m.group(1)
    try:
        if not ipaddress.ip_address(addr).is_loopback:
            return None
    except ValueError:
        return None
    a, b = world.plan.a, world.plan.b
    octets = addr.split(".")
    if int(octets[1]) != a or int(octets[2]) not in (b, b + 1):
        return None
    node = world.by_address.get(addr)
    if node is not None and not node.destroyed:  # a destroyed node's address is free again
        return None
    return addr


def on_pve_event(world: EmulatedCluster, event: str, vm: Vm) -> None:
    """The PVE listener. A lab node's own VM (same VMID, node not destroyed): shutdown/stop
    power the node off, delete destroys it (emulator/lifecycle.py vm_stopped/vm_destroyed).
    Any other VM (a clone, possibly on a destroyed node's VMID and address): boot it into
    maintenance mode on start, drop it on stop/delete."""
    node = next((n for n in world.nodes.values() if n.vmid == vm.vmid and not n.destroyed),
                None)
    if node is not None:
        from emulator.lifecycle import vm_destroyed, vm_stopped

        if event in ("stop", "shutdown"):
            vm_stopped(world, node)
        elif event == "delete":
            vm_destroyed(world, node)
        return
    if event in ("stop", "shutdown", "delete"):
        for addr, machine in list(world.maintenance.items()):
            if machine.vmid == vm.vmid:
                del world.maintenance[addr]
                world.set_maintenance_listener(addr, False)
        return
    if event not in ("start", "reboot"):
        return
    image = image_of(world.pve.disk_origin(vm.vmid))
    address = address_of(str(vm.config.get("ipconfig0", "")), world)
    if image is None or address is None:
        return  # nothing bootable, or nowhere the lab may answer: silence, as on a real network
    schematic, version = image
    world.maintenance[address] = MaintenanceMachine(vm.vmid, vm.name, address,
                                                    Slot(version, schematic))
    world.set_maintenance_listener(address, True)
