"""EmulatedCluster: the one owner of a lab's state (nodes, Kubernetes objects, etcd, factory, PVE).

State and rules only: no HTTP here. Lifecycle sequences (upgrade, reboot, upgrade-k8s) live in
emulator/lifecycle.py and act on this world; the talosctl commands read it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.addresses import APID_PORT, ETCD_PEER_PORT, AddressPlan
from emulator.errors import UnknownNode
from emulator.faults import Fault
from emulator.spec import LabSpec
from emulator.views import WorldViews


@dataclass
class Slot:
    version: str
    schematic: str
    missing_extensions: tuple[str, ...] = ()  # extension_missing fault: absent after this install

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"version": self.version, "schematic": self.schematic}
        if self.missing_extensions:
            d["missing_extensions"] = list(self.missing_extensions)
        return d


@dataclass
class NodeState:
    name: str
    address: str
    role: str
    primary: bool
    vmid: int
    slots: dict[str, Slot | None]
    active: str = "A"
    boot_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    boot_count: int = 1
    upgrade_count: int = 0
    stage: str = "running"  # MachineStatus stage
    machine_ready: bool = True
    apid_up: bool = True
    kubelet_version: str = ""
    k8s_ready: bool = True  # kubelet posts Ready
    kubelet_running: bool = True  # the kubelet service (stopped for an upgrade)
    k8s_status_known: bool = True  # False while rebooting (NodeStatusUnknown)
    never_ready: bool = False
    etcd_delay: float = 0.0  # seconds its etcd APIs take to answer (slow_etcd_member)
    powered_off: bool = False  # node_down: the machine is off until the lab stops
    # its VM was destroyed (PVE delete): not resolvable, its address free for a new machine;
    # a machine configured there later takes this record over (emulator/talos/provision.py)
    destroyed: bool = False
    cri_up: bool = True  # the CRI service is up (Bootstrap's IsBootstrapAllowed)
    config: dict[str, Any] | None = None  # the machine config applied in maintenance mode
    upgrade_installed: bool = False  # LifecycleService.Upgrade wrote the slot the next boot uses
    busy: str | None = None  # name of a running sequence (upgrade mutex)
    pending_slot: str | None = None  # slot to boot next (set by install or rollback)
    staged: tuple[str, str] | None = None  # (schematic, version) of `upgrade --stage`
    # machined events (boot_id, actor ID, text, flag): flag is "ready" (MachineStatus
    # RUNNING+ready), "stopall" (stopAllServices started) or "error" (sequence error)
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    dmesg: list[str] = field(default_factory=list)
    booted_at: float = field(default_factory=time.time)
    changed: asyncio.Event | None = None

    @property
    def is_control_plane(self) -> bool:
        return self.role == "controlplane"

    @property
    def slot(self) -> Slot:
        s = self.slots[self.active]
        assert s is not None
        return s

    @property
    def other(self) -> str:
        return "B" if self.active == "A" else "A"

    @property
    def talos_version(self) -> str:
        return self.slot.version

    @property
    def hostname(self) -> str:
        return self.name

    def log(self, message: str, facility: str = "kern", priority: str = "info") -> None:
        """Append to the node's kernel log as machined's Dmesg API renders a kmsg record."""
        now = time.time()
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + \
            f".{int(now % 1 * 1e9):09d}".rstrip("0").rstrip(".") + "Z"
        self.dmesg.append(f"{facility}: {priority:>7}: [{stamp}]: {message}")
        del self.dmesg[:-500]

    def boot_log(self) -> None:
        """The first kernel lines of a boot (the node's dmesg starts over)."""
        self.log(f"Linux version 6.12.6-talos (@buildkitsandbox) (gcc (GCC) 14.2.0) #1 SMP; "
                 f"Talos {self.talos_version} (slot {self.active})")
        self.log("Command line: talos.platform=nocloud console=ttyS0 init_on_alloc=1 "
                 "slab_nomerge pti=on")

    def emit(self, message: str, actor: str = "", flag: str = "") -> None:
        """Publish a machined event (what `upgrade --wait` / `reboot --wait` print)."""
        self.events.append((self.boot_id, actor, message, flag))
        self.touch()

    def touch(self) -> None:
        """Wake whoever waits on this node's changes (trackers, health)."""
        if self.changed is not None:
            self.changed.set()


class EmulatedCluster(WorldViews):
    """All state of one lab. Built by emulator.server from a LabSpec and an AddressPlan."""

    def __init__(self, spec: LabSpec, plan: AddressPlan, lab_dir: Path) -> None:
        self.spec = spec
        self.plan = plan
        self.dir = lab_dir
        self.nodes: dict[str, NodeState] = {}
        self.by_address: dict[str, NodeState] = {}
        for i, n in enumerate(spec.nodes):
            addr = plan.node(i)
            state = NodeState(
                name=n.name, address=addr, role=n.role, primary=n.primary, vmid=n.vmid,
                slots={"A": Slot(spec.talos_version, spec.schematic), "B": None},
                kubelet_version=f"v{spec.kubernetes_version}",
            )
            state.boot_log()
            state.log("boot sequence: done", "user")
            self.nodes[n.name] = state
            self.by_address[addr] = state
        self.faults: list[Fault] = []
        # Kubernetes control plane versions: per CP per component, kube-proxy image version
        self.static_versions: dict[str, dict[str, str]] = {
            n.name: {c: spec.kubernetes_version for c in COMPONENTS}
            for n in self.nodes.values() if n.is_control_plane
        }
        self.static_config_version: dict[str, dict[str, int]] = {
            n.name: {c: 1 for c in COMPONENTS} for n in self.nodes.values() if n.is_control_plane
        }
        self.proxy_version = spec.kubernetes_version
        self.api_down_until = 0.0
        self.api_listener_up = True
        self.api_gone = False  # the cluster's control plane is gone (VMs destroyed)
        self.recovery: dict[str, Path] = {}  # node -> snapshot uploaded by EtcdRecover
        # set by the server
        self.kube: Any = None
        self.etcd: Any = None
        self.factory: Any = None
        self.pve: Any = None
        self.maintenance: dict[str, Any] = {}  # address -> MaintenanceMachine (a booted clone)
        self.change: Any = None  # the change desk (emulator/change)
        self.pve_token: tuple[str, str] = ("root@pam!harness", "")
        self.catalog: Any = None
        self.k8s: Any = None
        self.factory_url = f"http://{plan.factory}:8080"
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, name: str) -> asyncio.Lock:
        """A lock of the lab's own sequences, by name (e.g. one VM event at a time)."""
        return self._locks.setdefault(name, asyncio.Lock())

    # ---- hooks the lab server replaces ---------------------------------------------------
    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run a coroutine in the background (the server tracks and reports its tasks)."""
        return asyncio.get_running_loop().create_task(coro)

    def set_api_listener(self, up: bool) -> None:
        """Close or reopen the Kubernetes API listener (the server does it for real)."""
        self.api_listener_up = up

    # ---- lookup -------------------------------------------------------------------------
    @property
    def primary(self) -> NodeState:
        return next(n for n in self.nodes.values() if n.primary)

    @property
    def control_planes(self) -> list[NodeState]:
        return [n for n in self.nodes.values() if n.is_control_plane]

    @property
    def workers(self) -> list[NodeState]:
        return [n for n in self.nodes.values() if not n.is_control_plane]

    def node(self, name: str) -> NodeState:
        """The node by name; raise UnknownNode listing the known ones."""
        try:
            return self.nodes[name]
        except KeyError:
            raise UnknownNode(f"unknown node {name!r} (lab nodes: "
                              f"{', '.join(self.nodes)})") from None

    def resolve(self, target: str) -> NodeState | None:
        """A node by the string given to talosctl -n: address or hostname (a destroyed node's
        VM is gone: nothing answers there)."""
        node = self.by_address.get(target) or self.nodes.get(target)
        return None if node is None or node.destroyed else node

    @property
    def factory_host(self) -> str:
        return self.factory_url.split("://", 1)[1]

    def installer_ref(self, schematic: str, version: str) -> str:
        return f"{self.factory_host}/installer/{schematic}:{version}"

    def peer_url(self, node: NodeState) -> str:
        return f"http://{node.address}:{ETCD_PEER_PORT}"

    def apid_endpoint(self, node: NodeState) -> str:
        return f"{node.address}:{APID_PORT}"

    # ---- faults ----------------------------------------------------------------------------
    def take_fault(self, kind: str, node: NodeState) -> Fault | None:
        """Consume the first armed fault of this kind for this node (or for any node)."""
        for f in self.faults:
            if f.kind == kind and not f.fired and f.node in (None, node.name):
                f.fired = True
                return f
        return None

    # ---- Kubernetes version view -----------------------------------------------------------
    @property
    def api_server_version(self) -> str:
        """What GET /version reports: the kube-apiserver on the primary (it serves the API)."""
        return self.static_versions[self.primary.name]["kube-apiserver"]

    def api_available(self) -> bool:
        # a powered-off primary (node_down): the endpoint moved to another control plane
        if self.api_gone:  # no control plane left, or a new cluster not bootstrapped yet
            return False
        up = self.primary.apid_up or self.primary.powered_off
        return up and time.time() >= self.api_down_until

    # ---- status ------------------------------------------------------------------------
    def set_maintenance_listener(self, address: str, up: bool) -> None:
        """Open or close the apid listener of a machine in maintenance mode (set by the
        server)."""

    def fetch_for_pve(self, url: str) -> int:
        """The lab PVE's download-url: the size of an asset of the lab's factory (wget's
        failure text for another host or an asset the factory refuses)."""
        from datetime import UTC, datetime
        from urllib.parse import urlsplit

        from emulator.factory.errors import FactoryError
        from emulator.proxmox.errors import wget_http_error, wget_unresolved

        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.factory_url:
            raise wget_unresolved(parts.hostname or parts.netloc)
        segments = parts.path.strip("/").split("/")
        when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        if len(segments) != 4 or segments[0] != "image":
            raise wget_http_error(404, "Not Found", when)
        try:
            return len(self.factory.image(segments[1], segments[2], segments[3]).body)
        except FactoryError as e:
            reasons = {400: "Bad Request", 404: "Not Found", 500: "Internal Server Error"}
            raise wget_http_error(e.status, reasons.get(e.status, "Error"), when) from None

    def extension_names(self, node: NodeState) -> list[str]:
        """The official extensions the node runs (its schematic's, minus missing ones)."""
        official = self.factory.get(node.slot.schematic).customization.official_extensions
        return [e for e in official if e not in node.slot.missing_extensions]

    def extension_full_name(self, name: str) -> str | None:
        """The lab extension `name` refers to (`iscsi-tools` or `siderolabs/iscsi-tools`)."""
        for e in self.spec.extensions:
            if name in (e, e.rsplit("/", 1)[-1]):
                return e
        return None


COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")

