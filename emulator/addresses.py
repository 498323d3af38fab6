"""Loopback address plan of one lab: a random 127.A.B.0/23-ish block, unique per lab.

Slot 1 is the lab's control API, 2 the Image Factory, 3 Proxmox VE, 4 the change desk, 8 the
address a throwaway clone gets (proxmox.probe), 9 a stale etcd member's; nodes start at slot 10.
Nothing here ever produces an address outside 127.0.0.0/8.
"""

from __future__ import annotations

import ipaddress
import random
import socket
from dataclasses import dataclass

from emulator.errors import PortTaken

CONTROL_PORT = 7777
FACTORY_PORT = 8080
PVE_PORT = 8006
CHANGE_PORT = 8090
APID_PORT = 50000
KUBE_PORT = 6443
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
_PER_OCTET = 250
_FIRST_NODE_SLOT = 10


@dataclass(frozen=True)
class AddressPlan:
    a: int
    b: int

    def slot(self, index: int) -> str:
        """The loopback address of a slot (1-based)."""
        hi, lo = divmod(index, _PER_OCTET)
        addr = f"127.{self.a}.{self.b + hi}.{lo + 1}"
        assert ipaddress.ip_address(addr).is_loopback
        return addr

    @property
    def control(self) -> str:
        return self.slot(1)

    @property
    def factory(self) -> str:
        return self.slot(2)

    @property
    def pve(self) -> str:
        return self.slot(3)

    @property
    def change(self) -> str:
        return self.slot(4)

    @property
    def probe(self) -> str:
        """Where a throwaway clone of a template may answer (proxmox.probe of the profile)."""
        return self.slot(8)

    def node(self, i: int) -> str:
        """Address of the i-th node (0-based, profile order)."""
        return self.slot(_FIRST_NODE_SLOT + i)


def _free(addr: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True


def allocate(n_nodes: int, *, fixed: tuple[int, int] | None = None, tries: int = 20) -> AddressPlan:
    """Pick a block whose control and first node ports are free; raise PortTaken if none."""
    rng = random.SystemRandom()
    span = (n_nodes + _FIRST_NODE_SLOT) // _PER_OCTET + 1
    last: tuple[str, int] = ("", 0)
    for _ in range(1 if fixed else tries):
        a, b = fixed if fixed else (rng.randint(20, 250), rng.randrange(0, 254 - span))
        plan = AddressPlan(a, b)
        probes = [(plan.control, CONTROL_PORT), (plan.factory, FACTORY_PORT), (plan.pve, PVE_PORT),
                  (plan.change, CHANGE_PORT)]
        probes += [(plan.node(0), APID_PORT), (plan.node(0), ETCD_CLIENT_PORT)]
        busy = [(h, p) for h, p in probes if not _free(h, p)]
        if not busy:
            return plan
        last = busy[0]
    raise PortTaken(f"{last[0]}:{last[1]} is already in use; cannot start the lab there")
