"""The emulated Proxmox VE: nodes, QEMU VMs, API tokens and tasks (state and rules, no HTTP).

Shapes follow qemu-server `vmstatus`, pve-manager `Cluster.pm resources` / `API2Tools
extract_vm_stats` and `Tasks.pm`; UPIDs follow pve-common `UPID.pm` (with the trailing colon).
Tasks finish at once, or after `task_polls` status reads that still say "running".
Time comes from an injectable clock, so uptimes and task start times are deterministic in tests.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from emulator.proxmox.errors import (
    NodeNotFound,
    ParameterError,
    PveError,
    Unauthorized,
    VmNotFound,
    VmStateError,
)

GIB = 1024**3
_TOKEN_HEADER = re.compile(r"(?:^|\s)PVEAPIToken(?:=| )([^;]*)")
_TOKENID = re.compile(r"^[^\s!@:]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$")
_UPID = re.compile(r"^UPID:([^:]+):([0-9A-F]{8}):([0-9A-F]{8,9}):([0-9A-F]{8}):([^:]+):([^:]*):"
                   r"([^:]+):$")
INT_CONFIG = frozenset({"cores", "sockets", "template", "vcpus", "onboot", "protection"})
Listener = Callable[[str, "Vm"], None]


def normalize_tags(tags: Iterable[str] | str) -> tuple[str, ...]:
    """Return tags as PVE stores them: split on , ; and space, lower-cased, unique, sorted."""
    items = re.split(r"[;, ]+", tags) if isinstance(tags, str) else list(tags)
    return tuple(sorted({t.lower() for t in items if t}))


@dataclass
class Vm:
    """One QEMU guest; `config` holds the keys GET .../config returns besides the derived ones."""

    vmid: int
    name: str
    node: str
    tags: tuple[str, ...] = ()
    status: str = "stopped"
    template: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    started_at: float | None = None
    lock: str | None = None

    @property
    def maxcpu(self) -> int:
        """Return cores x sockets from the config."""
        return int(self.config.get("cores", 1)) * int(self.config.get("sockets", 1))

    @property
    def maxmem(self) -> int:
        """Return the configured memory in bytes."""
        return int(str(self.config.get("memory", "2048")).split(",")[0].split("=")[-1]) * 1024**2

    @property
    def maxdisk(self) -> int:
        """Return the boot disk size in bytes (from `size=` of scsi0)."""
        m = re.search(r"size=(\d+)([KMGT]?)", str(self.config.get("scsi0", "")))
        if not m:
            return 0
        scale: int = 1024 ** " KMGT".index(m.group(2) or " ")
        return int(m.group(1)) * scale


@dataclass
class Task:
    """A worker task; `polls_left` status reads say "running" before it is "stopped"."""

    upid: str
    node: str
    pid: int
    pstart: int
    starttime: int
    type: str
    id: str
    user: str
    exitstatus: str = "OK"
    polls_left: int = 0


class ProxmoxModel:
    """A one-cluster PVE: add VMs and tokens, change VM status, answer the API's reads."""

    def __init__(self, node: str = "pve", *, tokens: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time, task_polls: int = 0) -> None:
        self.default_node = node
        self.nodes: dict[str, float] = {node: clock()}  # name -> boot time
        self.tokens: dict[str, str] = dict(tokens or {})
        self.vms: dict[int, Vm] = {}
        self.tasks: dict[str, Task] = {}
        self.clock = clock
        self.task_polls = task_polls
        self.listeners: list[Listener] = []
        self._pid = 0x3D4F1

    # ---- set-up (the lab) ------------------------------------------------------------------
    def add_node(self, name: str) -> None:
        """Add a cluster node."""
        self.nodes.setdefault(name, self.clock())

    def add_token(self, tokenid: str, secret: str) -> None:
        """Accept `PVEAPIToken=<tokenid>=<secret>` (tokenid is USER@REALM!TOKENID)."""
        if not _TOKENID.match(tokenid):
            raise ValueError(f"{tokenid!r} is not a token ID like root@pam!harness")
        self.tokens[tokenid] = secret

    def add_vm(self, vmid: int, name: str, node: str | None = None,
               tags: Iterable[str] | str = (), status: str = "stopped", template: bool = False,
               config: Mapping[str, Any] | None = None) -> Vm:
        """Add a VM (the node is added if new); return it. Raise ValueError for a taken vmid."""
        if vmid in self.vms:
            raise ValueError(f"VM {vmid} already exists")
        if status not in ("running", "stopped"):
            raise ValueError(f"status must be running or stopped, not {status!r}")
        node = node or self.default_node
        self.add_node(node)
        disk = "base" if template else "vm"
        cfg: dict[str, Any] = {
            "name": name, "cores": 2, "sockets": 1, "memory": "2048", "ostype": "l26",
            "scsihw": "virtio-scsi-single", "boot": "order=scsi0", "agent": "1",
            "net0": f"virtio={_mac(vmid)},bridge=vmbr0",
            "scsi0": f"local-lvm:{disk}-{vmid}-disk-0,iothread=1,size=32G",
            "ide2": f"local-lvm:vm-{vmid}-cloudinit,media=cdrom",
        }
        cfg.update(config or {})
        vm = Vm(vmid, name, node, normalize_tags(tags), status, template, cfg)
        if status == "running":
            vm.started_at = self.clock()
        self.vms[vmid] = vm
        return vm

    def set_status(self, vmid: int, status: str) -> None:
        """Set a VM running or stopped (the lab's node reboots); uptime restarts on running."""
        if status not in ("running", "stopped"):
            raise ValueError(f"status must be running or stopped, not {status!r}")
        vm = self.vm(vmid)
        if status == "running" and vm.status != "running":
            vm.started_at = self.clock()
        vm.status = status
        if status == "stopped":
            vm.started_at = None

    def restart(self, vmid: int) -> None:
        """Mark a running VM as freshly booted (uptime back to 0)."""
        vm = self.vm(vmid)
        vm.status, vm.started_at = "running", self.clock()

    def vm(self, vmid: int) -> Vm:
        """Return a VM by id; raise VmNotFound."""
        try:
            return self.vms[vmid]
        except KeyError:
            raise VmNotFound(self.default_node, vmid) from None

    # ---- auth --------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None, cookie: str | None = None) -> str:
        """Return the token ID of a valid `Authorization` header; raise Unauthorized."""
        m = _TOKEN_HEADER.search(authorization or "")
        if not m:
            raise Unauthorized("Authentication failed!" if cookie else "No ticket")
        tokenid, sep, secret = unquote(m.group(1)).rpartition("=")
        if not sep or self.tokens.get(tokenid) != secret:
            raise Unauthorized("Authentication failed!")
        return tokenid

    # ---- reads ---------------------------------------------------------------------------------
    def find(self, node: str, vmid: int) -> Vm:
        """Return the VM on that node; raise NodeNotFound or VmNotFound as PVE does."""
        self.check_node(node)
        vm = self.vms.get(vmid)
        if vm is None or vm.node != node:
            raise VmNotFound(node, vmid)
        return vm

    def check_node(self, node: str) -> None:
        """Raise NodeNotFound for a node the cluster does not have."""
        if node not in self.nodes:
            raise NodeNotFound(node)

    def _usage(self, vm: Vm) -> dict[str, Any]:
        running = vm.status == "running"
        uptime = int(self.clock() - vm.started_at) if running and vm.started_at else 0
        return {"uptime": uptime, "cpu": 0.0123 if running else 0, "maxcpu": vm.maxcpu,
                "mem": vm.maxmem // 2 if running else 0, "maxmem": vm.maxmem, "disk": 0,
                "maxdisk": vm.maxdisk, "netin": 4096 if running else 0,
                "netout": 2048 if running else 0, "diskread": 0, "diskwrite": 0,
                "memhost": vm.maxmem // 2 if running else 0}

    def cluster_resources(self, kind: str | None = None) -> list[dict[str, Any]]:
        """GET /cluster/resources[?type=vm|node]: VM entries (sorted by vmid as text), nodes."""
        out: list[dict[str, Any]] = []
        if kind in (None, "vm"):
            for key in sorted(str(v) for v in self.vms):
                vm = self.vms[int(key)]
                entry: dict[str, Any] = {"id": f"qemu/{vm.vmid}", "vmid": vm.vmid, "node": vm.node,
                                         "type": "qemu", "status": vm.status, "name": vm.name,
                                         "template": 1 if vm.template else 0}
                entry.update(self._usage(vm))
                if vm.lock:
                    entry["lock"] = vm.lock
                if vm.tags:
                    entry["tags"] = ";".join(vm.tags)
                out.append(entry)
        if kind in (None, "node"):
            out.extend(dict(self._node_entry(n), type="node", id=f"node/{n}") for n in
                       sorted(self.nodes))
        return out

    def _node_entry(self, name: str) -> dict[str, Any]:
        return {"node": name, "status": "online", "cpu": 0.0421, "maxcpu": 16,
                "mem": 24 * GIB, "maxmem": 64 * GIB, "disk": 12 * GIB, "maxdisk": 100 * GIB,
                "uptime": int(self.clock() - self.nodes[name]), "level": "",
                "ssl_fingerprint": _fingerprint(name)}

    def nodes_list(self) -> list[dict[str, Any]]:
        """GET /nodes."""
        return [dict(self._node_entry(n), type="node", id=f"node/{n}") for n in sorted(self.nodes)]

    def _vmstatus(self, vm: Vm) -> dict[str, Any]:
        u = self._usage(vm)
        d: dict[str, Any] = {"vmid": vm.vmid, "status": vm.status, "name": vm.name,
                             "cpus": vm.maxcpu, "maxmem": vm.maxmem, "maxdisk": vm.maxdisk,
                             "disk": 0, "uptime": u["uptime"], "cpu": u["cpu"], "mem": u["mem"],
                             "memhost": u["memhost"], "netin": u["netin"], "netout": u["netout"]}
        if vm.status == "running":
            d["pid"] = 10000 + vm.vmid
        if vm.template:
            d["template"] = 1
        if vm.lock:
            d["lock"] = vm.lock
        if vm.tags:
            d["tags"] = ";".join(vm.tags)
        return d

    def qemu_list(self, node: str) -> list[dict[str, Any]]:
        """GET /nodes/{node}/qemu: the VMs of that node."""
        self.check_node(node)
        return [self._vmstatus(vm) for vm in sorted(self.vms.values(), key=lambda v: v.vmid)
                if vm.node == node]

    def status_current(self, node: str, vmid: int) -> dict[str, Any]:
        """GET /nodes/{node}/qemu/{vmid}/status/current."""
        vm = self.find(node, vmid)
        d = self._vmstatus(vm)
        d.update(diskread=0, diskwrite=0, qmpstatus=vm.status, ha={"managed": 0})
        if vm.status == "running":
            d.update({"running-machine": "pc-i440fx-9.2+pve1", "running-qemu": "9.2.0",
                      "balloon": vm.maxmem, "freemem": vm.maxmem // 2})
        if str(vm.config.get("agent", "0")).split(",")[0] in ("1", "enabled=1"):
            d["agent"] = 1
        return d

    def config(self, node: str, vmid: int) -> dict[str, Any]:
        """GET /nodes/{node}/qemu/{vmid}/config: the config plus its digest."""
        vm = self.find(node, vmid)
        cfg = dict(vm.config, name=vm.name)
        if vm.tags:
            cfg["tags"] = ";".join(vm.tags)
        if vm.template:
            cfg["template"] = 1
        if vm.lock:
            cfg["lock"] = vm.lock
        cfg = {k: cfg[k] for k in sorted(cfg)}
        cfg["digest"] = _digest(cfg)
        return cfg

    def task_status(self, node: str, upid: str) -> dict[str, Any]:
        """GET /nodes/{node}/tasks/{upid}/status; raise ParameterError for an unknown UPID."""
        self.check_node(node)
        if not _UPID.match(upid):
            raise ParameterError(upid="unable to parse worker upid")
        task = self.tasks.get(upid)
        if task is None or task.node != node:
            raise ParameterError(upid="no such task")
        user, _, tokenid = task.user.partition("!")
        d: dict[str, Any] = {"upid": upid, "node": task.node, "pid": task.pid,
                             "pstart": task.pstart, "starttime": task.starttime,
                             "type": task.type, "id": task.id, "user": user}
        if tokenid:
            d["tokenid"] = tokenid
        if task.polls_left > 0:
            task.polls_left -= 1
            d["status"] = "running"
        else:
            d["status"] = "stopped"
            d["exitstatus"] = task.exitstatus
        return d

    # ---- writes (each returns a UPID) ----------------------------------------------------------
    def _task(self, node: str, kind: str, ident: int | str, user: str,
              exitstatus: str = "OK") -> str:
        self._pid += 1
        pstart = 0x1B9A1C2 + self._pid * 7
        start = int(self.clock())
        upid = f"UPID:{node}:{self._pid:08X}:{pstart:08X}:{start:08X}:{kind}:{ident}:{user}:"
        self.tasks[upid] = Task(upid, node, self._pid, pstart, start, kind, str(ident), user,
                                exitstatus, self.task_polls)
        return upid

    def _notify(self, event: str, vm: Vm) -> None:
        for listener in list(self.listeners):
            listener(event, vm)

    def power(self, node: str, vmid: int, action: str, user: str) -> str:
        """POST .../status/{start|stop|shutdown|reboot}; return the UPID (errors end the task)."""
        vm = self.find(node, vmid)
        running = vm.status == "running"
        if action == "reboot" and not running:
            raise VmStateError(f"VM {vmid} not running")
        exitstatus = "OK"
        if action == "start":
            if vm.template:
                exitstatus = "you can't start a vm if it's a template"
            elif running:
                exitstatus = f"VM {vmid} already running"
            else:
                self.set_status(vmid, "running")
        elif action in ("stop", "shutdown"):
            self.set_status(vmid, "stopped")
        elif action == "reboot":
            self.restart(vmid)
        else:
            raise ParameterError(action=f"unknown action {action!r}")
        upid = self._task(node, "qm" + action, vmid, user, exitstatus)
        if exitstatus == "OK":
            self._notify(action, vm)
        return upid

    def set_config(self, node: str, vmid: int, params: Mapping[str, str], user: str,
                   sync: bool = False) -> str | None:
        """PUT (sync, returns None) or POST (returns a qmconfig UPID) .../config."""
        vm = self.find(node, vmid)
        values = dict(params)
        digest = values.pop("digest", None)
        if digest and digest != self.config(node, vmid)["digest"]:
            raise PveError("detected modified configuration - file changed by other user? "
                           "Try again.")
        for key in filter(None, re.split(r"[,; ]+", values.pop("delete", ""))):
            vm.config.pop(key, None)
            if key == "tags":
                vm.tags = ()
        for key, value in values.items():
            if key == "tags":
                vm.tags = normalize_tags(value)
            elif key == "name":
                vm.name = value
            elif key == "template":
                vm.template = value in ("1", "true")
            else:
                vm.config[key] = int(value) if key in INT_CONFIG and value.isdigit() else value
        self._notify("config", vm)
        return None if sync else self._task(node, "qmconfig", vmid, user)

    def clone(self, node: str, vmid: int, params: Mapping[str, str], user: str) -> str:
        """POST .../clone (newid required); the task id is the source vmid."""
        src = self.find(node, vmid)
        if "newid" not in params:
            raise ParameterError(newid="property is missing and it is not optional")
        newid = _vmid(params["newid"], "newid")
        if newid in self.vms:
            raise VmStateError(f"unable to create VM {newid}: config file already exists")
        target = params.get("target") or node
        self.check_node(target)
        name = params.get("name") or f"Copy-of-VM-{src.name}"
        config = {k: v for k, v in src.config.items() if k not in ("name",)}
        config["scsi0"] = f"local-lvm:vm-{newid}-disk-0,iothread=1,size=32G"
        config["ide2"] = f"local-lvm:vm-{newid}-cloudinit,media=cdrom"
        config["net0"] = f"virtio={_mac(newid)},bridge=vmbr0"
        clone = self.add_vm(newid, name, target, src.tags, "stopped", config=config)
        upid = self._task(node, "qmclone", vmid, user)
        self._notify("clone", clone)
        return upid

    def make_template(self, node: str, vmid: int, user: str) -> str:
        """POST .../template; refused for a template or a running VM."""
        vm = self.find(node, vmid)
        if vm.template:
            raise VmStateError("you can't convert a template to a template")
        if vm.status == "running":
            raise VmStateError("you can't convert a VM to template if VM is running")
        vm.template = True
        vm.config["scsi0"] = str(vm.config.get("scsi0", "")).replace(f"vm-{vmid}-", f"base-{vmid}-")
        upid = self._task(node, "qmtemplate", vmid, user)
        self._notify("template", vm)
        return upid

    def delete(self, node: str, vmid: int, user: str) -> str:
        """DELETE /nodes/{node}/qemu/{vmid}; refused while the VM runs."""
        vm = self.find(node, vmid)
        if vm.status == "running":
            raise VmStateError(f"VM {vmid} is running - destroy failed")
        del self.vms[vmid]
        upid = self._task(node, "qmdestroy", vmid, user)
        self._notify("delete", vm)
        return upid


def _vmid(text: str, name: str = "vmid") -> int:
    """Parse a VM id parameter; raise ParameterError with PVE's wording."""
    if not re.fullmatch(r"[+-]?\d+", text.strip()):
        raise ParameterError(**{name: f"type check ('integer') failed - got '{text}'"})
    value = int(text)
    if value < 100:
        raise ParameterError(**{name: "value must have a minimum value of 100"})
    if value > 999_999_999:
        raise ParameterError(**{name: "value must have a maximum value of 999999999"})
    return value


parse_vmid = _vmid


def _mac(vmid: int) -> str:
    h = hashlib.sha256(str(vmid).encode()).hexdigest()
    return "BC:24:11:" + ":".join(h[i:i + 2].upper() for i in (0, 2, 4))


def _fingerprint(node: str) -> str:
    h = hashlib.sha256(node.encode()).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, 64, 2))


def _digest(cfg: Mapping[str, Any]) -> str:
    text = "".join(f"{k}: {v}\n" for k, v in cfg.items())
    return hashlib.sha1(text.encode()).hexdigest()
