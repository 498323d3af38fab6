"""The emulated Proxmox VE: nodes, QEMU VMs, API tokens and tasks (state and rules, no HTTP).

Shapes follow qemu-server `vmstatus`, pve-manager `Cluster.pm resources` / `API2Tools
extract_vm_stats` and `Tasks.pm`; UPIDs follow pve-common `UPID.pm` (with the trailing colon).
Tasks finish at once, or after `task_polls` status reads that still say "running".
Time comes from an injectable clock, so uptimes and task start times are deterministic in tests.

The template-rebuild calls (`rebuild.md` §1-§2 of the shared reference) follow the upstream code
they cite: pve-manager `API2.pm version`, `Cluster.pm nextid`, `Tasks.pm read_task_log`,
`HTTPServer.pm rest_handler` (permission checks come before parameter validation); pve-storage
`Status.pm index|download_url`, `Content.pm index|delete`, `Storage.pm`, `Plugin.pm`,
`LvmThinPlugin.pm`; qemu-server `API2/Qemu.pm create_vm|clone_vm|resize_vm|template|destroy_vm`,
`QemuServer.pm destroy_vm`; pve-access-control `RPCEnvironment.pm`, `API2/AccessControl.pm
permissions`; pve-common `Tools.pm download_file_from_url`, `JSONSchema.pm format_size`.
Version gates compare the PVE release (`major.minor` of `version`) with the `*_SINCE` constants.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from emulator.proxmox.errors import (
    DownloadFailed,
    NodeNotFound,
    NotEmulated,
    ParameterError,
    PermissionDenied,
    PveError,
    Unauthorized,
    VmNotFound,
    VmStateError,
    wget_unresolved,
)

__all__ = ["DownloadFailed", "ProxmoxModel", "Storage", "Task", "Vm", "Volume", "parse_vmid"]

GIB = 1024**3
_TOKEN_HEADER = re.compile(r"(?:^|\s)PVEAPIToken(?:=| )([^;]*)")
_TOKENID = re.compile(r"^[^\s!@:]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$")
_UPID = re.compile(r"^UPID:([^:]+):([0-9A-F]{8}):([0-9A-F]{8,9}):([0-9A-F]{8}):([^:]+):([^:]*):"
                   r"([^:]+):$")
INT_CONFIG = frozenset({"cores", "sockets", "template", "vcpus", "onboot", "protection"})
Listener = Callable[[str, "Vm"], None]
MIB = 1024**2
Fetch = Callable[[str], "int | bytes"]

# ---- version gates: (major, minor) of the PVE release that first has the behaviour --------------
DOWNLOAD_URL_SINCE = (7, 0)  # pve-storage 837b194 (7.0-4)
COMPRESSION_SINCE = (8, 0)  # pve-storage 2197ff9 (8.0.3): `compression`, iso only
# pve-storage 17e0b01 (8.1.0, 2024-03-06) landed during the 8.1 point releases; 8.2 (2024-04) is
# the first release that certainly ships it (derived). Before: Sys.Audit+Sys.Modify on / only.
ACCESS_NETWORK_SINCE = (8, 2)
IMPORT_FROM_SINCE = (7, 2)  # qemu-server e6ac9fed (7.1-5)
IMPORT_OVA_SINCE = (8, 3)  # pve-storage 40df25d (8.2.8): content=import, `.ova` only
IMPORT_VTYPE_SINCE = (8, 3)  # qemu-server 0d41c7f5 (8.2.7): import-from accepts vtype import
IMPORT_IMAGES_SINCE = (8, 4)  # pve-storage 76f695f (8.3.6): `.raw/.qcow2/.vmdk` too
RESIZE_TASK_SINCE = (8, 0)  # qemu-server 606d9d76 (2023-05-30): resize runs as a `resize` task
# pve-installer ec1d5ee (9.0.7, 2025-08-04) writes `content iso,vztmpl,backup,import` for `local`;
# earlier installers wrote `iso,vztmpl,backup` (import is off on an 8.x install).
IMPORT_CONTENT_DEFAULT_SINCE = (9, 0)

# ---- privileges (pve-access-control AccessControl.pm $privgroups) -------------------------------
VM_CONFIG_PRIVS = ("VM.Config.Disk", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Network",
                   "VM.Config.HWType", "VM.Config.Options", "VM.Config.CDROM",
                   "VM.Config.Cloudinit")
# rebuild.md §2.9 "Token ACLs needed" (VM.Config.* expanded). Note: no Datastore.Allocate, which
# DELETE .../storage/{s}/content/{volume} needs, and no Sys.Audit (other users' task logs).
DEFAULT_TOKEN_PRIVS = frozenset({
    "VM.Allocate", "VM.Clone", *VM_CONFIG_PRIVS, "VM.PowerMgmt", "VM.Audit",
    "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit",
    "SDN.Use", "Sys.AccessNetwork",
})
ALL_PRIVS = DEFAULT_TOKEN_PRIVS | frozenset({
    "VM.Migrate", "VM.Replicate", "VM.Snapshot", "VM.Snapshot.Rollback", "VM.Console",
    "VM.Backup", "VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted", "Sys.PowerMgmt",
    "Sys.Modify", "Sys.Incoming", "Sys.Console", "Sys.Syslog", "Sys.Audit",
    "Datastore.Allocate", "SDN.Allocate", "SDN.Audit", "Realm.Allocate", "User.Modify",
    "Group.Allocate", "Realm.AllocateUser", "Pool.Allocate", "Pool.Audit", "Mapping.Modify",
    "Mapping.Use", "Mapping.Audit", "Permissions.Modify",
})
# GET /access/permissions lists these paths plus every ACL path (get_effective_permissions)
_PERMISSION_PATHS = ("/", "/access", "/access/groups", "/nodes", "/pool", "/sdn", "/storage",
                     "/vms")

# ---- config keys -> privilege (qemu-server API2/Qemu.pm check_vm_modify_config_perm) ----------
_CONFIG_PRIV = {
    **dict.fromkeys(("cores", "cpu", "runningcpu", "cpulimit", "cpuunits", "numa", "smp",
                     "sockets", "vcpus"), "VM.Config.CPU"),
    **dict.fromkeys(("memory", "balloon", "shares", "allow-ksm"), "VM.Config.Memory"),
    **dict.fromkeys(("acpi", "hotplug", "kvm", "machine", "runningmachine", "scsihw", "smbios1",
                     "tablet", "vga", "watchdog", "audio0", "rng0"), "VM.Config.HWType"),
    **dict.fromkeys(("agent", "autostart", "bios", "description", "keyboard", "localtime",
                     "migrate_downtime", "migrate_speed", "name", "onboot", "ostype",
                     "protection", "reboot", "startdate", "startup", "tdf", "template"),
                    "VM.Config.Options"),
    "freeze": "VM.PowerMgmt",
    **dict.fromkeys(("boot", "bootdisk", "vmstatestorage"), "VM.Config.Disk"),
}
_CLOUDINIT_KEYS = frozenset({"cicustom", "cipassword", "citype", "ciuser", "ciupgrade",
                             "nameserver", "searchdomain", "sshkeys"})
# create_vm parameters that are not config keys
_CREATE_ONLY = frozenset({"vmid", "node", "storage", "pool", "start", "archive", "force",
                          "unique", "live-restore", "bwlimit", "ha-managed",
                          "import-working-storage"})

_DRIVE_KEY = re.compile(r"^(?:ide[0-3]|sata[0-5]|scsi(?:[0-9]|[12][0-9]|30)|"
                        r"virtio(?:[0-9]|1[0-5])|efidisk0|tpmstate0)$")
_NEW_DISK = re.compile(r"^(?:([^/:\s]+):)?(\d+(?:\.\d+)?)$")  # Drive.pm NEW_DISK_RE
_VOLID = re.compile(r"^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$", re.I)  # pve-storage-id ":" volname
_ISO_EXT = re.compile(r"[^/]+\.(?:iso|img)$", re.I)  # Storage.pm ISO_EXT_RE_0
_VZTMPL_EXT = re.compile(r"[^/]+\.(?:tar|tar\.(?:gz|xz|zst|bz2))$", re.I)  # VZTMPL_EXT_RE_1
_CONTENT_TYPES = ("rootdir", "images", "vztmpl", "iso", "backup", "snippets", "import")
_NET_MODELS = frozenset({"e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e",
                         "i82551", "i82557b", "i82559er", "ne2k_isa", "ne2k_pci", "pcnet",
                         "rtl8139", "virtio", "vmxnet3"})
_UNICAST_MAC = re.compile(r"^[a-f0-9][02468ace](?::[a-f0-9]{2}){5}$", re.I)  # pve_verify_mac_addr
CLOUDINIT_SIZE = 4 * MIB  # QemuServer/Cloudinit.pm CLOUDINIT_DISK_SIZE
LVM_EXTENT = 4 * MIB  # default VG extent size: LVs (thin ones too) are whole extents (derived)
# Storage.pm check_volume_access dies without a newline, so Perl appends where it died
# (pve-storage 0c56bad; the line differs between releases)
ONLY_ROOT_PATHS = ("Only root can pass arbitrary filesystem paths. at "
                   "/usr/share/perl5/PVE/Storage.pm line 651.")


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
class Volume:
    """One storage volume: an iso/import file, a template, or a VM disk (`images`)."""

    volid: str
    content: str
    format: str
    size: int
    ctime: int
    vmid: int | None = None
    parent: str | None = None  # the base volume a linked clone was made from
    digests: dict[str, str] | None = None  # known when the download hook returned bytes
    # what the bytes are (the lab's bookkeeping, not PVE's): the URL a download came from,
    # carried to a disk imported from it, to a template's base volume and to its clones
    origin: str | None = None

    @property
    def volname(self) -> str:
        """Return the part after `<storage>:`."""
        return self.volid.split(":", 1)[1]


@dataclass
class Storage:
    """One storage of storage.cfg with its volumes.

    `content=None` means what the PVE installer writes for this release (`local`: iso, vztmpl,
    backup, and import from 9.0). `base_used` is space the model does not list (the OS on `local`).
    """

    storage: str
    type: str  # dir | lvmthin | zfspool
    content: tuple[str, ...] | None
    total: int
    path: str | None = None
    shared: bool = False
    enabled: bool = True
    base_used: int = 0
    volumes: dict[str, Volume] = field(default_factory=dict)

    @property
    def used(self) -> int:
        """Return the bytes in use (listed volumes plus `base_used`)."""
        return self.base_used + sum(v.size for v in self.volumes.values())

    @property
    def tracks_clone_base(self) -> bool:
        """Whether a linked clone's volid names its base volume.

        LVM-thin does not (`LvmThinPlugin.pm` NOTE, since 2015): its base volumes can be removed
        while linked clones exist, so destroying a template there never fails on them.
        """
        return self.type != "lvmthin"


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
    log: list[str] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)


class _TaskFailed(Exception):
    """A worker's `die`: the text becomes the task's exitstatus."""


class ProxmoxModel:
    """A one-cluster PVE: add VMs and tokens, change VM status, answer the API's reads."""

    def __init__(self, node: str = "pve", *, tokens: Mapping[str, str] | None = None,
                 clock: Callable[[], float] = time.time, task_polls: int = 0,
                 version: str = "8.4.1", fetch: Fetch | None = None) -> None:
        self.default_node = node
        self.nodes: dict[str, float] = {node: clock()}  # name -> boot time
        self.tokens: dict[str, str] = dict(tokens or {})
        self.vms: dict[int, Vm] = {}
        self.tasks: dict[str, Task] = {}
        self.clock = clock
        self.task_polls = task_polls
        self.listeners: list[Listener] = []
        self._pid = 0x3D4F1
        # pve-manager version ("8.4.1", "8.3.2", "7.4-3"); `release` and the gates follow it
        self.version = version
        self.console: str | None = None  # datacenter.cfg `console`; /version shows it if set
        # url -> size in bytes, or the bytes themselves; raise DownloadFailed(text) to fail
        self.fetch: Fetch = fetch or _no_network
        # when set, every download task ends with this exitstatus at its network step
        self.fail_downloads: str | None = None
        # VMs whose guest ignores shutdown requests (ACPI and agent): fault vm_wont_stop
        self.wont_stop: set[int] = set()
        # (clones that still succeed, message or None for the storage's own text): clone_fails
        self.clone_failure: tuple[int, str | None] | None = None
        self.next_id_range = (100, 1_000_000)  # datacenter.cfg next-id lower/upper
        # the lab's SSH host (lab.ssh): downloads to dir storages are real (sparse) files at
        # their path, removed with their volume, so `pvesm path` names a file that exists
        self.real_files = False
        # token id -> ACL path -> privileges (propagating); root@pam has every privilege
        self.acls: dict[str, dict[str, set[str]]] = {t: {"/": set(DEFAULT_TOKEN_PRIVS)}
                                                     for t in self.tokens}
        self.storages: dict[str, Storage] = {
            "local": Storage("local", "dir", None, 100 * GIB, path="/var/lib/vz",
                             base_used=12 * GIB),
            "local-lvm": Storage("local-lvm", "lvmthin", ("images", "rootdir"), 1024 * GIB),
        }

    # ---- set-up (the lab) ------------------------------------------------------------------
    def add_node(self, name: str) -> None:
        """Add a cluster node."""
        self.nodes.setdefault(name, self.clock())

    def add_token(self, tokenid: str, secret: str,
                  privileges: Iterable[str] = DEFAULT_TOKEN_PRIVS) -> None:
        """Accept `PVEAPIToken=<tokenid>=<secret>` (tokenid is USER@REALM!TOKENID).

        The token gets `privileges` on `/` (propagating), rebuild.md's token ACL list by default.
        """
        if not _TOKENID.match(tokenid):
            raise ValueError(f"{tokenid!r} is not a token ID like root@pam!harness")
        self.tokens[tokenid] = secret
        self.acls[tokenid] = {"/": set(privileges)}

    def grant(self, tokenid: str, *privileges: str, path: str = "/") -> None:
        """Add privileges to the token's ACL on `path` (created if new)."""
        unknown = set(privileges) - ALL_PRIVS
        if unknown:
            raise ValueError(f"unknown privileges: {sorted(unknown)}")
        self.acls.setdefault(tokenid, {}).setdefault(path, set()).update(privileges)

    def revoke(self, tokenid: str, *privileges: str, path: str = "/") -> None:
        """Remove privileges from the token's ACL on `path` (a lab fault or a test)."""
        self.acls.get(tokenid, {}).get(path, set()).difference_update(privileges)

    def privileges(self, user: str, path: str) -> frozenset[str]:
        """Return the privileges `user` has on `path`.

        root@pam has all. A token has those of its deepest ACL path covering `path` (a more
        specific ACL replaces the inherited one, as in pve-access-control).
        """
        if user == "root@pam":
            return ALL_PRIVS
        acl = self.acls.get(user, {})
        best = max((p for p in acl if _covers(p, path)), key=len, default=None)
        return frozenset(acl[best]) if best is not None else frozenset()

    def has_perm(self, user: str, path: str, privs: Iterable[str], any_: bool = False) -> bool:
        """Return whether `user` has all (or, with any_, one) of `privs` on `path`."""
        have = self.privileges(user, path)
        wanted = list(privs)
        return any(p in have for p in wanted) if any_ else all(p in have for p in wanted)

    def check_perm(self, user: str, path: str, privs: Iterable[str], any_: bool = False) -> None:
        """Raise PermissionDenied worded as RPCEnvironment `check` / `check_any`."""
        wanted = list(privs)
        have = self.privileges(user, path)
        if any_:
            if not any(p in have for p in wanted):
                raise PermissionDenied(f"{path}, " + "|".join(wanted))
            return
        for priv in wanted:
            if priv not in have:
                raise PermissionDenied(f"{path}, {priv}")

    def add_storage(self, storage: str, kind: str, content: Iterable[str] | str, total: int,
                    path: str | None = None, shared: bool = False) -> Storage:
        """Add (or replace) a storage of type `kind`; `content` is a list or "a,b" string."""
        if kind not in ("dir", "lvmthin", "zfspool"):
            raise ValueError(f"storage type must be dir, lvmthin or zfspool, not {kind!r}")
        if kind == "dir" and not path:
            raise ValueError("a dir storage needs a path")
        st = Storage(storage, kind, _content_list(content), total, path=path, shared=shared)
        self.storages[storage] = st
        return st

    def set_storage_content(self, storage: str, content: Iterable[str] | str | None) -> None:
        """Set a storage's content types (`pvesm set <s> --content ...`); None = the default."""
        self.storages[storage].content = None if content is None else _content_list(content)

    def add_volume(self, volid: str, size: int, ctime: int | None = None) -> Volume:
        """Put a volume on a storage (an iso/import file, or a VM disk); return it."""
        sid, volname = _split_volid(volid)
        st = self._storage(sid)
        vtype, owner, fmt, _ = _parse_volname(st, volname)
        vol = Volume(volid, vtype, fmt, size, int(self.clock()) if ctime is None else ctime,
                     owner)
        st.volumes[volid] = vol
        return vol

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
        self._register_disks(vm)
        return vm

    def add_talos_vm(self, vmid: int, name: str, node: str | None = None,
                     tags: Iterable[str] | str = (), status: str = "stopped", *,
                     cores: int = 2, memory: int = 2048, agent: bool = True,
                     ipconfig0: str | None = None, template: bool = False,
                     base: str | None = None) -> Vm:
        """Add a Talos VM configured as rebuild.md §2.4/§2.7 describe (and `model/rebuild.py
        create_params` creates): x86-64-v2-AES CPU, virtio-scsi-single, boot from scsi0 on
        local-lvm, a cloud-init drive, `agent` 1/0, a fixed MAC with the PVE web UI's default
        `mac_prefix` BC:24:11 (pve-manager `www/manager6/dc/OptionView.js`). With `base` (the
        template's base volid) the disk is recorded as a linked clone of it, as a clone of the
        template plus `qm set ipconfig0=...` would leave it.
        """
        cfg: dict[str, Any] = {
            "cores": cores, "sockets": 1, "memory": str(memory), "cpu": "x86-64-v2-AES",
            "agent": "1" if agent else "0",
            "smbios1": f"uuid={_uuid(f'smbios1:{vmid}')}",
            "vmgenid": _uuid(f"vmgenid:{vmid}"),
        }
        if ipconfig0 is not None:
            cfg["ipconfig0"] = ipconfig0
        vm = self.add_vm(vmid, name, node, tags, status, template, cfg)
        if base is not None:
            disk = self.storages["local-lvm"].volumes.get(
                _parse_drive(str(vm.config["scsi0"]))[0])
            if disk is not None:
                disk.parent = base
        return vm

    def _register_disks(self, vm: Vm) -> None:
        """Put the VM's disks on their storages (those the model has) if not there yet."""
        for key, value in vm.config.items():
            if not _DRIVE_KEY.match(key):
                continue
            file, opts = _parse_drive(str(value))
            m = _VOLID.match(file)
            st = self.storages.get(m.group(1)) if m else None
            if st is None or file in st.volumes:
                continue
            if opts.get("media") == "cdrom" and not _is_cloudinit(file):
                continue
            try:
                vtype, owner, fmt, base = _parse_volname(st, file.split(":", 1)[1])
            except PveError:
                continue
            size = CLOUDINIT_SIZE if _is_cloudinit(file) else _parse_size(opts.get("size", "0"))
            st.volumes[file] = Volume(file, vtype, fmt, size, int(self.clock()), owner,
                                      f"{st.storage}:{base}" if base else None)

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
                                         "type": "qemu", "status": vm.status,
                                         "name": vm.name or f"VM {vm.vmid}",
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
        d: dict[str, Any] = {"vmid": vm.vmid, "status": vm.status,
                             "name": vm.name or f"VM {vm.vmid}",
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
        cfg = dict(vm.config)
        if vm.name:
            cfg["name"] = vm.name
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

    # ---- version, ids, storages, task logs, permissions ----------------------------------------
    @property
    def release(self) -> str:
        """Return the point release `x.y` of `version` ("8.4.1" -> "8.4", "7.4-3" -> "7.4")."""
        major, minor = self.release_tuple
        return f"{major}.{minor}"

    @property
    def release_tuple(self) -> tuple[int, int]:
        """Return (major, minor) of `version`, what the version gates compare."""
        m = re.match(r"(\d+)\.(\d+)", self.version)
        if not m:
            raise ValueError(f"version {self.version!r} is not like 8.4.1 or 7.4-3")
        return int(m.group(1)), int(m.group(2))

    def version_info(self) -> dict[str, Any]:
        """GET /version (pve-manager API2.pm): version, release, repoid, console if configured.

        `console` comes from datacenter.cfg and is only there when set (it is optional in the
        return schema), so it is left out while `console` is None. repoid is a made-up hex id
        (8 digits before 8.0, 16 after, as the schema comment says).
        """
        digits = 16 if self.release_tuple >= (8, 0) else 8
        d: dict[str, Any] = {"version": self.version, "release": self.release,
                             "repoid": hashlib.sha1(self.version.encode()).hexdigest()[:digits]}
        if self.console:
            d["console"] = self.console
        return d

    def next_id(self, vmid: str | None = None) -> str:
        """GET /cluster/nextid[?vmid=N] (pve-manager Cluster.pm nextid); nothing is reserved.

        The id comes back as a JSON string. Evidence: the code returns the `vmid` parameter
        as given (a string), and the loop's `$i` is used as a hash key (`$idlist->{$i}`) before
        it is returned, which gives the scalar a string form that JSON::XS encodes as a string;
        clients decode it into strings (e.g. CRASH-Tech/proxmox-operator `NextId string`) or
        accept both (bpg `CustomInt`). The schema says integer, which PVE does not enforce on
        output. rebuild.md §2.9 marks this UNCONFIRMED.
        """
        ids = set(self.vms)
        if vmid is not None:
            n = _vmid(vmid)
            if n in ids:
                raise ParameterError(vmid=f"VM {n} already exists")
            return str(n)
        lower, upper = self.next_id_range
        for i in range(lower, upper):
            if i not in ids:
                return str(i)
        raise PveError(f"unable to get any free VMID in range [{lower}, {upper}]")

    def storage_content_types(self, storage: str) -> tuple[str, ...]:
        """Return the storage's content types (the installer default when not set)."""
        st = self._storage(storage)
        if st.content is not None:
            return st.content
        base = ("iso", "vztmpl", "backup")
        return base + ("import",) if self.release_tuple >= IMPORT_CONTENT_DEFAULT_SINCE else base

    def storage_index(self, node: str, user: str,
                      params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """GET /nodes/{node}/storage[?content=&storage=&enabled=] (pve-storage Status.pm index).

        Storages the user has neither Datastore.Audit nor Datastore.AllocateSpace on are left
        out. `content` is comma-joined in storage.cfg order (PVE joins a hash: any order).
        """
        self.check_node(node)
        params = params or {}
        wanted = [c for c in re.split(r"[,;\s]+", params.get("content", "")) if c]
        name = params.get("storage")
        if name and name not in self.storages:
            raise ParameterError(storage="No such storage.")
        only_enabled = _bool(params.get("enabled", "0"), "enabled")
        out: list[dict[str, Any]] = []
        for sid in sorted(self.storages):
            st = self.storages[sid]
            content = self.storage_content_types(sid)
            if wanted and (not st.enabled or not set(wanted) & set(content)):
                continue
            if not self.has_perm(user, f"/storage/{sid}",
                                 ("Datastore.Audit", "Datastore.AllocateSpace"), any_=True):
                continue
            if (name and name != sid) or (only_enabled and not st.enabled):
                continue
            d: dict[str, Any] = {"storage": sid, "type": st.type, "content": ",".join(content),
                                 "shared": 1 if st.shared else 0, "enabled": 1 if st.enabled
                                 else 0, "active": 0, "total": 0, "used": 0, "avail": 0}
            if st.enabled:
                d.update(active=1, total=st.total, used=st.used,
                         avail=max(st.total - st.used, 0), used_fraction=st.used / st.total)
            out.append(d)
        return out

    def storage_content(self, node: str, storage: str, user: str,
                        params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """GET /nodes/{node}/storage/{storage}/content[?content=X&vmid=N] (Content.pm index).

        Items are `{volid, format, size, ctime, content}` (+`vmid` for VM disks), sorted by
        volid case-insensitively; a content type the storage is not configured for lists nothing.
        """
        self.check_perm(user, f"/storage/{storage}", ("Datastore.Audit",
                                                      "Datastore.AllocateSpace"), any_=True)
        self.check_node(node)
        params = params or {}
        ctype = params.get("content")
        if ctype is not None and ctype not in _CONTENT_TYPES:
            raise ParameterError(content=f"invalid format - invalid content type '{ctype}'")
        vmid = _vmid(params["vmid"]) if "vmid" in params else None
        st = self._storage(storage)
        types = [c for c in ([ctype] if ctype else _CONTENT_TYPES)
                 if c in self.storage_content_types(storage)]
        out = []
        for vol in st.volumes.values():
            kind = "images" if vol.content in ("images", "rootdir") else vol.content
            if kind not in types:
                continue
            if vmid is not None and kind in ("images", "iso", "vztmpl") and vol.vmid != vmid:
                continue
            d: dict[str, Any] = {"volid": vol.volid, "format": vol.format, "size": vol.size,
                                 "ctime": vol.ctime, "content": kind}
            if vol.vmid is not None:
                d["vmid"] = vol.vmid
            out.append(d)
        return sorted(out, key=lambda d: d["volid"].lower())

    def task_log(self, node: str, upid: str, user: str, start: int = 0,
                 limit: int = 50) -> tuple[int, list[dict[str, Any]]]:
        """GET /nodes/{node}/tasks/{upid}/log: (total, [{n, t}]) as pve-common dump_logfile.

        A finished task's last line is `TASK OK`, `TASK WARNINGS: N` or `TASK ERROR: <text>`.
        Reading another user's task needs Sys.Audit on /nodes/{node}.
        """
        self.check_node(node)
        if not _UPID.match(upid):
            raise ParameterError(upid="unable to parse worker upid")
        owner = upid.split(":")[7]
        if owner != user and owner.split("!", 1)[0] != user:
            self.check_perm(user, f"/nodes/{node}", ("Sys.Audit",))
        task = self.tasks.get(upid)
        if task is None or task.node != node:
            # the log file is missing: dump_logfile answers with one line
            return 1, [{"n": 1, "t": "unable to open file - No such file or directory"}]
        lines = list(task.log)
        if task.polls_left <= 0:
            if task.exitstatus == "OK":
                lines.append("TASK OK")
            elif re.fullmatch(r"WARNINGS: \d+", task.exitstatus):
                lines.append("TASK " + task.exitstatus)
            else:
                lines.append(f"TASK ERROR: {task.exitstatus}")
        if not lines:
            return 1, [{"n": 1, "t": "no content"}]
        chosen = lines[start:] if limit == 0 else lines[start:start + limit]
        return len(lines), [{"n": start + i + 1, "t": t} for i, t in enumerate(chosen)]

    def effective_permissions(self, user: str, params: Mapping[str, str] | None = None
                              ) -> dict[str, dict[str, int]]:
        """GET /access/permissions[?path=P&userid=U]: {path: {privilege: 1}} (propagating ACLs).

        Without `path`: the top-level paths of RPCEnvironment get_effective_permissions plus the
        token's ACL paths, leaving out paths without any privilege. Another user's or token's
        permissions need Sys.Audit on /access.
        """
        params = params or {}
        userid = params.get("userid", user)
        if userid != user and userid.split("!", 1)[0] != user:
            self.check_perm(user, "/access", ("Sys.Audit",))
        if "path" in params:
            path = params["path"]
            return {path: dict.fromkeys(sorted(self.privileges(userid, path)), 1)}
        out: dict[str, dict[str, int]] = {}
        for path in sorted(set(_PERMISSION_PATHS) | set(self.acls.get(userid, {}))):
            privs = self.privileges(userid, path)
            if privs:
                out[path] = dict.fromkeys(sorted(privs), 1)
        return out

    # ---- writes (each returns a UPID) ----------------------------------------------------------
    def _task(self, node: str, kind: str, ident: int | str, user: str,
              exitstatus: str = "OK", log: Iterable[str] = (),
              params: Mapping[str, str] | None = None) -> str:
        self._pid += 1
        pstart = 0x1B9A1C2 + self._pid * 7
        start = int(self.clock())
        upid = f"UPID:{node}:{self._pid:08X}:{pstart:08X}:{start:08X}:{kind}:{ident}:{user}:"
        self.tasks[upid] = Task(upid, node, self._pid, pstart, start, kind, str(ident), user,
                                exitstatus, self.task_polls, list(log), dict(params or {}))
        return upid

    def _notify(self, event: str, vm: Vm) -> None:
        for listener in list(self.listeners):
            listener(event, vm)

    def power(self, node: str, vmid: int, action: str, user: str,
              params: Mapping[str, str] | None = None) -> str:
        """POST .../status/{start|stop|shutdown|reboot}; return the UPID (errors end the task).

        stop/shutdown follow qemu-server `API2/Qemu.pm vm_stop|vm_shutdown` and `QemuServer.pm
        _do_vm_stop`: a VM that is not running ends OK at once; a lock ends the task `VM is
        locked (<lock>)`. A shutdown (ACPI, or the agent's guest-shutdown with `agent: 1`) waits
        `timeout` seconds (default 60); the lab's guests power off at once, except those in
        `wont_stop`: then the task ends `VM quit/powerdown failed - got timeout` and the VM keeps
        running, unless `forceStop=1`, which logs `VM still running - terminating now with
        SIGTERM` and stops it (plain `warn`, so the task still ends OK). `timeout=0` times out at
        once (`$count >= $timeout`), although the guest got the request and powers off.
        stop (QMP `quit`) always stops. Listeners hear the action only when its task ends OK
        (and, for the timeout=0 shutdown, because the VM did stop).
        """
        p = {k: v for k, v in (params or {}).items() if k not in ("node", "vmid")}
        allowed = {"start": {"skiplock", "stateuri", "migratedfrom", "migration_type",
                             "migration_network", "machine", "targetstorage", "timeout",
                             "force-cpu", "nets-host-mtu", "with-conntrack-state"},
                   "stop": {"skiplock", "migratedfrom", "timeout", "keepActive",
                            "overrule-shutdown"},
                   "shutdown": {"skiplock", "timeout", "forceStop", "keepActive"},
                   "reboot": {"timeout"}}.get(action)
        if allowed is None:
            raise ParameterError(action=f"unknown action {action!r}")
        self.check_perm(user, f"/vms/{vmid}", ("VM.PowerMgmt",))
        errors = _unknown_params(p, allowed)
        timeout: int | None = None
        if "timeout" in p:
            if not re.fullmatch(r"[+-]?\d+", p["timeout"].strip()):
                errors["timeout"] = f"type check ('integer') failed - got '{p['timeout']}'"
            elif int(p["timeout"]) < 0:
                errors["timeout"] = "value must have a minimum value of 0"
            else:
                timeout = int(p["timeout"])
        for key in ("forceStop", "keepActive", "overrule-shutdown", "skiplock"):
            if key in p and _bool_or_none(p[key]) is None:
                errors[key] = f"type check ('boolean') failed - got '{p[key]}'"
        if errors:
            raise ParameterError(**errors)
        for key in ("skiplock", "keepActive", "migratedfrom"):
            if _truthy(p.get(key)) and user != "root@pam":
                raise ParameterError(**{key: "Only root may use this option."})
        vm = self.find(node, vmid)
        running = vm.status == "running"
        if action == "reboot" and not running:
            raise VmStateError(f"VM {vmid} not running")
        exitstatus = "OK"
        log: list[str] = []
        went_down = False  # a failed shutdown whose guest still powered off (timeout=0)
        locked = vm.lock is not None and not _truthy(p.get("skiplock"))
        if action == "start":
            if vm.template:
                exitstatus = "you can't start a vm if it's a template"
            elif running:
                exitstatus = f"VM {vmid} already running"
            else:
                self.set_status(vmid, "running")
        elif action in ("stop", "shutdown") and not running:
            pass  # check_running: nothing to do, the task ends OK
        elif action in ("stop", "shutdown") and locked:
            exitstatus = f"VM is locked ({vm.lock})"
        elif action == "stop":
            self.set_status(vmid, "stopped")
        elif action == "shutdown":
            if vmid in self.wont_stop or timeout == 0:
                if _truthy(p.get("forceStop")):
                    log.append("VM still running - terminating now with SIGTERM")
                    self.set_status(vmid, "stopped")
                else:
                    exitstatus = "VM quit/powerdown failed - got timeout"
                    if vmid not in self.wont_stop:  # timeout=0: the guest got the request
                        self.set_status(vmid, "stopped")
                        went_down = True
            else:
                self.set_status(vmid, "stopped")
        elif vmid in self.wont_stop:  # reboot: _do_vm_stop with shutdown, no force
            exitstatus = "VM quit/powerdown failed - got timeout"
        else:
            self.restart(vmid)
        upid = self._task(node, "qm" + action, vmid, user, exitstatus, log, p)
        if exitstatus == "OK" or went_down:
            self._notify(action, vm)
        return upid

    def set_config(self, node: str, vmid: int, params: Mapping[str, str], user: str,
                   sync: bool = False) -> str | None:
        """PUT (sync, returns None) or POST (returns a qmconfig UPID) .../config.

        netN values are checked as pve-common `JSONSchema.pm pve_verify_mac_addr` does (a
        unicast MAC: I/G bit clear), keep a given MAC (case too) and get one when none is given
        (qemu-server `update_vm_api`: parse_net + print_net: `model=MAC`, then the options).
        """
        values = dict(params)
        errors: dict[str, str] = {}
        for key in sorted(k for k in values if re.fullmatch(r"net\d+", k)):
            model, mac, _ = _parse_net(values[key])
            if not model:
                continue  # not a NIC value the model understands: stored as given
            if mac is not None and not _UNICAST_MAC.match(mac):
                # check_format of the property string: the nested error, stringified (derived)
                errors[key] = (f"invalid format - format error\n{key}.macaddr: invalid format - "
                               "value does not look like a valid unicast MAC address")
            elif mac is None:
                values[key] = _with_mac(values[key], _mac(f"{vmid}-{key}-set"))
            else:
                values[key] = _with_mac(values[key], mac)
        if errors:
            raise ParameterError(**errors)
        vm = self.find(node, vmid)
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
        # QemuServer.pm write_vm_config: "remove 'unusedX' settings if we re-add a volume"
        used = {_parse_drive(str(v))[0] for k, v in vm.config.items() if _DRIVE_KEY.match(k)}
        for key in [k for k in vm.config if re.fullmatch(r"unused\d+", k)]:
            if vm.config[key] in used:
                del vm.config[key]
        self._notify("config", vm)
        return None if sync else self._task(node, "qmconfig", vmid, user)

    # ---- storages: download-url, volume delete ------------------------------------------------
    def _storage(self, storage: str) -> Storage:
        """Return a storage; raise PVE's `storage 'x' does not exist` (500)."""
        st = self.storages.get(storage)
        if st is None:
            raise PveError(f"storage '{storage}' does not exist")
        return st

    def download_url(self, node: str, storage: str, params: Mapping[str, str],
                     user: str) -> str:
        """POST /nodes/{node}/storage/{storage}/download-url (pve-storage Status.pm).

        Permissions, then the parameter schema (400s), then the storage and file-name rules
        (500/400), then a `download` task whose id is the normalized file name. The task ends
        with the wget-like text of `fetch` (or `fail_downloads`), or adds the volume.
        """
        ver = self.release_tuple
        if ver < DOWNLOAD_URL_SINCE:
            raise PveError(f"Method 'POST /nodes/{node}/storage/{storage}/download-url' not "
                           "implemented", status=501)
        self.check_perm(user, f"/storage/{storage}", ("Datastore.AllocateTemplate",))
        if ver >= ACCESS_NETWORK_SINCE:
            if not (self.has_perm(user, "/", ("Sys.Audit", "Sys.Modify"))
                    or self.has_perm(user, f"/nodes/{node}", ("Sys.AccessNetwork",))):
                raise PermissionDenied()  # the failed `or` has no path (exec_api2_perm_check)
        else:
            self.check_perm(user, "/", ("Sys.Audit", "Sys.Modify"))
        self.check_node(node)
        p = {k: v for k, v in params.items() if k not in ("node", "storage")}
        contents = ("iso", "vztmpl", "import") if ver >= IMPORT_OVA_SINCE else ("iso", "vztmpl")
        allowed = {"url", "content", "filename", "checksum", "checksum-algorithm",
                   "verify-certificates"} | ({"compression"} if ver >= COMPRESSION_SINCE else set())
        errors = _unknown_params(p, allowed)
        for key in ("url", "content", "filename"):
            if key not in p:
                errors[key] = "property is missing and it is not optional"
        if "url" in p and not re.fullmatch(r"https?://.*", p["url"]):
            errors["url"] = "value does not match the regex pattern"
        if "content" in p and p["content"] not in contents:
            errors["content"] = _enum_error(p["content"], contents)
        if len(p.get("filename", "")) > 255:
            errors["filename"] = "value may only be 255 characters long"
        for a, b in (("checksum", "checksum-algorithm"), ("checksum-algorithm", "checksum")):
            if a in p and b not in p:
                errors[b] = f"missing property required by '{a}'"
        if p.get("checksum-algorithm", "sha256") not in _CHECKSUM_ALGS:
            errors["checksum-algorithm"] = _enum_error(p["checksum-algorithm"], _CHECKSUM_ALGS)
        # `compression`'s enum names an undefined Perl scalar, so any value passes the schema
        # (rebuild.md §2.2, derived); the worker then says "no decompression method found".
        if "verify-certificates" in p and _bool_or_none(p["verify-certificates"]) is None:
            errors["verify-certificates"] = (
                f"type check ('boolean') failed - got '{p['verify-certificates']}'")
        if errors:
            raise ParameterError(**errors)
        st = self._storage(storage)
        if not st.enabled:
            raise PveError(f"storage '{storage}' is disabled")
        if st.path is None:
            raise PveError(f"can't upload to storage type '{st.type}', not a file based storage!")
        content, url = p["content"], p["url"]
        if content not in self.storage_content_types(storage):
            raise PveError(f"storage '{storage}' is not configured for content-type '{content}'")
        name = normalize_filename(p["filename"])
        fmt = "iso"
        if content == "iso":
            if not _ISO_EXT.search(name):
                raise ParameterError(filename="wrong file extension")
            subdir, vdir = "template/iso", "iso"
        elif content == "vztmpl":
            m = _VZTMPL_EXT.search(name)
            if not m:
                raise ParameterError(filename="wrong file extension")
            fmt = "tar" if name.lower().endswith(".tar") else "t" + name.rsplit(".", 1)[1]
            subdir, vdir = "template/cache", "vztmpl"
        else:
            exts = "ova|qcow2|raw|vmdk" if ver >= IMPORT_IMAGES_SINCE else "ova"
            m = re.search(rf"[a-zA-Z0-9\-.+=_]+\.({exts})$", name)
            if not m:
                raise ParameterError(filename="invalid filename or wrong extension")
            fmt, subdir, vdir = m.group(1), "import", "import"
        dest = f"{st.path}/{subdir}/{name}"
        volid = f"{storage}:{vdir}/{name}"
        log: list[str] = []
        exitstatus = self._download(st, volid, dest, content, fmt, url, p, log)
        return self._task(node, "download", name, user, exitstatus, log, p)

    def _download(self, st: Storage, volid: str, dest: str, content: str, fmt: str, url: str,
                  p: Mapping[str, str], log: list[str]) -> str:
        """The download worker (Status.pm $worker + pve-common download_file_from_url)."""
        pid = self._pid + 1  # the task's pid (used in wget's temporary file name)
        checksum, alg = p.get("checksum"), p.get("checksum-algorithm", "")
        try:
            compression = p.get("compression")
            if compression:
                if content != "iso":
                    raise _TaskFailed(f"decompression not supported for {content}")
                if compression not in ("gz", "lzo", "zst", "bz2"):
                    raise _TaskFailed("no decompression method found")
            log.append(f"downloading {url} to {dest}")
            existing = st.volumes.get(volid)
            if existing is not None:
                if not checksum:
                    raise _TaskFailed(f"refusing to override existing file '{dest}'")
                got = (existing.digests or {}).get(alg)
                if got is None:
                    raise _TaskFailed(_NO_DIGEST)
                if got.lower() == checksum.lower():
                    log.append("calculating checksum of existing file...OK, got correct file "
                               "already, no need to download")
                    return "OK"
                log.append("calculating checksum of existing file...")
                raise _TaskFailed(f"checksum mismatch: got '{got}' != expect '{checksum}', "
                                  "aborting")
            if self.fail_downloads is not None:
                raise _TaskFailed(self.fail_downloads)
            try:
                answer = self.fetch(url)
            except DownloadFailed as e:
                raise _TaskFailed(e.message) from None
            data = answer if isinstance(answer, bytes) else None
            size = len(answer) if isinstance(answer, bytes) else int(answer)
            tmp = f"{dest}.tmp_dwnl.{pid}"
            if size > st.total - st.used:
                # wget's text for a full disk; UNCONFIRMED (not seen in a PVE task log)
                raise _TaskFailed(f"download failed: Cannot write to '{tmp}' "
                                  "(No space left on device).")
            digests = None if data is None else {
                a: hashlib.new(a, data).hexdigest() for a in _CHECKSUM_ALGS}
            if checksum:
                if digests is None:
                    raise _TaskFailed(_NO_DIGEST)
                if digests[alg] != checksum.lower():
                    log.append("calculating checksum...")
                    raise _TaskFailed(f"checksum mismatch: got '{digests[alg]}' != expect "
                                      f"'{checksum}'")
                log.append("calculating checksum...OK, checksum verified")
            if compression:
                # the emulator does not decompress: the volume keeps the fetched size
                log.append(f"decompressing {tmp} to {dest}.tmp_dcom.{pid}")
            st.volumes[volid] = Volume(volid, content, fmt, size, int(self.clock()),
                                       digests=digests, origin=url)
            self._write_file(st, volid, size)
            log.append(f"download of '{url}' to '{dest}' finished")
            return "OK"
        except _TaskFailed as e:
            return str(e)

    def delete_volume(self, node: str, storage: str, volume: str, user: str,
                      params: Mapping[str, str] | None = None) -> str | None:
        """DELETE /nodes/{node}/storage/{storage}/content/{volume} (Content.pm delete).

        Needs Datastore.Allocate on the storage. The `imgdel` task's id is `<owner vmid>@<st>`
        or `<st>`. With `delay` the answer is null once the task is done (or its error, 500).
        """
        self.check_node(node)
        params = params or {}
        if ":" in volume:
            m = _VOLID.match(volume)
            if not m:
                raise ParameterError(volume=f"unable to parse volume ID '{volume}'")
            if storage and m.group(1) != storage:
                raise ParameterError(volume=f"storage ID mismatch ({m.group(1)} != {storage})")
            volid, sid = volume, m.group(1)
        else:
            volid, sid = f"{storage}:{volume}", storage
        st = self._storage(sid)
        volname = volid.split(":", 1)[1]
        vtype, owner, _, _ = _parse_volname(st, volname)
        if vtype == "backup" and owner is not None:
            self.check_perm(user, f"/storage/{sid}", ("Datastore.AllocateSpace",))
            self.check_perm(user, f"/vms/{owner}", ("VM.Backup",))
        else:
            self.check_perm(user, f"/storage/{sid}", ("Datastore.Allocate",))
        log: list[str] = []
        try:
            if st.tracks_clone_base and any(v.parent == volid for v in st.volumes.values()):
                raise _TaskFailed(f"base volume '{volname}' is still in use by linked clones")
            if st.volumes.pop(volid, None) is not None:
                self._remove_file(st, volid)
            elif st.path is None:
                # LvmThinPlugin free_image: lvremove with errmsg; UNCONFIRMED wording
                raise _TaskFailed(f"lvremove 'pve/{volname}' error:   Failed to find logical "
                                  f"volume \"pve/{volname}\"")
            else:
                # Plugin free_image only warns (plain warn: the task still ends OK)
                log.append(f"disk image '{_volume_path(st, volname)}' does not exist")
            log.append(f"Removed volume '{volid}'")
            exitstatus = "OK"
        except _TaskFailed as e:
            exitstatus = str(e)
        ident = f"{owner}@{sid}" if owner is not None else sid
        upid = self._task(node, "imgdel", ident, user, exitstatus, log, params)
        if params.get("delay") and self.task_polls == 0:
            if exitstatus == "OK":
                return None
            raise PveError(exitstatus)
        return upid

    # ---- VM create, resize, clone, template, destroy -------------------------------------------
    def create_vm(self, node: str, params: Mapping[str, str], user: str) -> str:
        """POST /nodes/{node}/qemu (qemu-server create_vm): a `qmcreate` task for the vmid.

        Synchronous: node, schema (vmid, import-from before 7.2), privileges (storage, VM.Allocate
        (bare `Permission check failed`), disks, config keys, bridges), drive syntax, then the
        vmid reservation. In the task: disks (cloud-init, new, import-from); a failure ends it
        `unable to create VM <id> - <err>` and leaves no VM.
        """
        self.check_node(node)
        p = {k: v for k, v in params.items() if k != "node"}
        if "vmid" not in p:
            raise ParameterError(vmid="property is missing and it is not optional")
        vmid = _vmid(p.pop("vmid"))
        ver = self.release_tuple
        drives = {k: v for k, v in p.items() if _DRIVE_KEY.match(k)}
        for key in sorted(drives):
            if "import-from" in _parse_drive(drives[key])[1] and ver < IMPORT_FROM_SINCE:
                # the drive format has no import-from key before qemu-server 7.1-5 (derived)
                raise ParameterError(**{key: "invalid format - invalid key in comma-separated "
                                             "list property: import-from"})
        if "archive" in p:
            raise NotEmulated(f"not emulated: POST /nodes/{node}/qemu with 'archive' (restore)")
        storage, pool = p.pop("storage", None), p.pop("pool", None)
        start = _bool(p.pop("start", "0"), "start")
        template = _bool(p.get("template", "0"), "template")  # stored as given (rebuild.md §2.4)
        for key in _CREATE_ONLY & set(p):
            p.pop(key)
        if storage is not None:
            self.check_perm(user, f"/storage/{storage}", ("Datastore.AllocateSpace",))
        if start:
            self.check_perm(user, f"/vms/{vmid}", ("VM.PowerMgmt",))
        if not (self.has_perm(user, f"/vms/{vmid}", ("VM.Allocate",))
                or (pool and self.has_perm(user, f"/pool/{pool}", ("VM.Allocate",)))):
            raise PermissionDenied()
        for key in sorted(drives):
            self._check_drive_access(user, vmid, key, drives[key], storage)
        self._check_config_perms(user, vmid, p)
        self._check_bridges(user, p)
        for key in sorted(drives):
            file, opts = _parse_drive(drives[key])
            m = _NEW_DISK.match(file)
            if "import-from" in opts and not (m and float(m.group(2)) == 0):
                raise ParameterError(**{key: "'import-from' requires special syntax - use "
                                             "<storage ID>:0,import-from=<source>"})
        for key in sorted(k for k in p if re.fullmatch(r"net\d+", k)):
            if _parse_net(p[key])[1] is None:  # add_random_macs (fixed per vmid here)
                p[key] = _with_mac(p[key], _mac(vmid) if key == "net0" else _mac(f"{vmid}-{key}"))
        if vmid in self.vms:
            raise VmStateError(f"unable to create VM {vmid} - VM {vmid} already exists on node "
                               f"'{self.vms[vmid].node}'")
        log: list[str] = []
        created: list[tuple[Storage, str]] = []
        config: dict[str, Any] = {}
        try:
            for key in sorted(drives):
                config[key] = self._create_disk(vmid, key, drives[key], storage, user, log,
                                                created)
        except (_TaskFailed, PveError) as e:  # the worker's die; its volumes are freed
            for st, volid in created:
                st.volumes.pop(volid, None)
            return self._task(node, "qmcreate", vmid, user, f"unable to create VM {vmid} - {e}",
                              log, params)
        for key, value in p.items():
            if key in ("name", "tags", "template") or key in drives:
                continue
            config[key] = int(value) if key in INT_CONFIG and value.isdigit() else value
        config.setdefault("smbios1", f"uuid={_uuid(f'smbios1:{vmid}')}")
        config.setdefault("vmgenid", _uuid(f"vmgenid:{vmid}"))
        config["meta"] = f"creation-qemu=9.2.0,ctime={int(self.clock())}"
        vm = Vm(vmid, p.get("name", ""), node, normalize_tags(p.get("tags", "")), "stopped",
                template, config)
        self.vms[vmid] = vm
        if start and not vm.template:
            self.set_status(vmid, "running")
        upid = self._task(node, "qmcreate", vmid, user, "OK", log, params)
        self._notify("create", vm)
        return upid

    def _check_drive_access(self, user: str, vmid: int, key: str, value: str,
                            default_storage: str | None) -> None:
        """qemu-server $check_storage_access for one drive (synchronous)."""
        file, opts = _parse_drive(value)
        m = _NEW_DISK.match(file)
        if m and opts.get("media") != "cdrom":
            sid = m.group(1) or default_storage
            if not sid:
                raise PveError("no storage ID specified (and no default storage)")
            self.check_perm(user, f"/storage/{sid}", ("Datastore.AllocateSpace",))
            if "images" not in self.storage_content_types(sid):
                raise ParameterError(storage=f"storage '{sid}' does not support vm images")
        src = opts.get("import-from")
        if not src:
            return
        sm = _VOLID.match(src)
        if not sm:
            if user != "root@pam":
                raise PveError(ONLY_ROOT_PATHS)
            return
        st = self._storage(sm.group(1))
        vtype, owner, fmt, _ = _parse_volname(st, sm.group(2))
        if self.release_tuple >= IMPORT_VTYPE_SINCE:
            if vtype not in ("images", "import"):
                raise ParameterError(**{key: f"{src} has wrong type '{vtype}' - needs to be "
                                             "'images' or 'import'"})
        elif vtype != "images":
            raise ParameterError(**{key: f"{src} has wrong type '{vtype}' - not an image"})
        if fmt == "ova" or fmt.startswith("ova+"):
            raise NotEmulated("not emulated: import-from an OVA (disk extraction)")
        if owner is not None:
            self.check_perm(user, f"/vms/{owner}", ("VM.Clone",))
        elif not self.has_perm(user, f"/storage/{st.storage}", ("Datastore.Allocate",)):
            self.check_perm(user, f"/storage/{st.storage}",
                            ("Datastore.AllocateSpace", "Datastore.Audit"), any_=True)

    def _check_config_perms(self, user: str, vmid: int, params: Mapping[str, str]) -> None:
        """qemu-server $check_vm_modify_config_perm: the privilege each config key needs."""
        if user == "root@pam":
            return
        for key in params:
            if (_DRIVE_KEY.match(key) or key == "cdrom" or key == "tags"
                    or re.fullmatch(r"(?:unused|serial|usb|hostpci|virtiofs)\d+", key)):
                continue
            path = f"/vms/{vmid}"
            if re.fullmatch(r"numa\d+", key):
                self.check_perm(user, path, ("VM.Config.CPU",))
            elif key in _CONFIG_PRIV:
                self.check_perm(user, path, (_CONFIG_PRIV[key],))
            elif re.fullmatch(r"net\d+", key) or key == "running-nets-host-mtu":
                self.check_perm(user, path, ("VM.Config.Network",))
            elif key in _CLOUDINIT_KEYS or re.fullmatch(r"ipconfig\d+", key):
                self.check_perm(user, path, ("VM.Config.Cloudinit", "VM.Config.Network"),
                                any_=True)
            elif key == "vmstate":
                self.check_perm(user, path, ("VM.Config.Disk", "VM.PowerMgmt"))
            else:
                raise PveError(f"only root can set '{key}' config")

    def _check_bridges(self, user: str, config: Mapping[str, Any]) -> None:
        """check_bridge_access: SDN.Use on /sdn/zones/localnetwork/<bridge> (no SDN vnets)."""
        if user == "root@pam":
            return
        for key in sorted(k for k in config if re.fullmatch(r"net\d+", k)):
            bridge = _parse_net(str(config[key]))[2].get("bridge")
            if bridge:
                self.check_perm(user, f"/sdn/zones/localnetwork/{bridge}", ("SDN.Use",),
                                any_=True)

    def _create_disk(self, vmid: int, key: str, value: str, default_storage: str | None,
                     user: str, log: list[str], created: list[tuple[Storage, str]]) -> str:
        """qemu-server create_disks for one drive; return the drive as the config shows it."""
        file, opts = _parse_drive(value)
        if re.fullmatch(r"[^:]+:cloudinit", file):
            st = self._storage(file.split(":", 1)[0])
            vol = self._alloc(st, vmid, CLOUDINIT_SIZE, cloudinit=True)
            created.append((st, vol.volid))
            opts.pop("format", None)
            res = _print_drive(vol.volid, dict(opts, media="cdrom"))
            log.append(f"{key}: successfully created disk '{res}'")
            return res
        m = _NEW_DISK.match(file)
        if not m or opts.get("media") == "cdrom":
            return value
        st = self._storage(m.group(1) or default_storage or "")
        src = opts.pop("import-from", None)
        size = self._import_size(src) if src else int(float(m.group(2)) * GIB)
        vol = self._alloc(st, vmid, size)
        if src:
            vol.origin = self._origin_of(src)
        created.append((st, vol.volid))
        opts.pop("format", None)
        opts["size"] = format_size(vol.size)
        res = _print_drive(vol.volid, opts)
        log.append(f"{key}: successfully created disk '{res}'")
        return res

    # ---- the lab's SSH host: real files, `pvesm path`, `qm importdisk` -----------------------
    def volume_path(self, volid: str) -> str:
        """`pvesm path <volid>` (Storage.pm path): a dir storage's file, an LVM-thin LV's device
        (`/dev/<vg>/<lv>`, the installer's VG `pve`), a zfspool zvol (`/dev/zvol/rpool/data/..`)."""
        sid, volname = _split_volid(volid)
        st = self._storage(sid)
        _parse_volname(st, volname)
        if st.type == "lvmthin":
            return f"/dev/pve/{volname}"
        if st.type == "zfspool":
            return f"/dev/zvol/rpool/data/{volname.rsplit('/', 1)[-1]}"
        return _volume_path(st, volname)

    def _write_file(self, st: Storage, volid: str, size: int) -> None:
        """A sparse file of the volume's size at its path (only with `real_files`)."""
        if not self.real_files or st.path is None:
            return
        path = _volume_path(st, volid.split(":", 1)[1])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb"):
            pass
        os.truncate(path, size)

    def _remove_file(self, st: Storage, volid: str) -> None:
        if self.real_files and st.path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(_volume_path(st, volid.split(":", 1)[1]))

    def origin_of_path(self, path: str) -> str | None:
        """What a host file holds: the origin of the dir-storage volume at that path."""
        real = os.path.realpath(path)
        for st in self.storages.values():
            if st.path is None:
                continue
            for vol in st.volumes.values():
                if os.path.realpath(_volume_path(st, vol.volname)) == real:
                    return vol.origin
        return None

    def import_disk(self, vmid: int, source: str, storage: str, fmt: str | None = None
                    ) -> tuple[str, str, int, list[str]]:
        """`qm importdisk` (qemu-server qm.pm importdisk, QemuServer/ImportDisk.pm do_import):
        return (unusedN, volid, source size, warnings). Raise PveError with qm's texts."""
        vm = self.vm(vmid)
        if vm.lock:
            raise PveError(f"VM is locked ({vm.lock})")  # AbstractConfig check_lock
        if not os.path.isfile(source):
            raise PveError(f"{source}: non-existent or non-regular file")
        st = self._storage(storage)
        if not st.enabled:
            raise PveError(f"storage '{storage}' is disabled")
        if "images" not in self.storage_content_types(storage):
            raise PveError(f"storage {storage} does not support vm images")
        size = os.stat(source).st_size  # file_size_info: a raw image's virtual size
        warnings = []
        dst = "qcow2" if st.type == "dir" else "raw"  # resolve_dst_disk_format (default)
        if fmt and st.type == "dir":
            dst = fmt
        elif fmt and fmt != dst:
            warnings.append(f"format '{fmt}' is not supported by the target storage - using "
                            f"'{dst}' instead")
        vol = self._alloc(st, vmid, size)
        if st.type == "dir" and dst != vol.format:
            del st.volumes[vol.volid]
            vol.volid = vol.volid.rsplit(".", 1)[0] + "." + dst
            vol.format = dst
            st.volumes[vol.volid] = vol
        vol.origin = self.origin_of_path(source)
        n = next(i for i in range(256) if f"unused{i}" not in vm.config)
        vm.config[f"unused{n}"] = vol.volid  # AbstractConfig add_unused_volume
        self._notify("config", vm)
        return f"unused{n}", vol.volid, size, warnings

    def _origin_of(self, volid: str) -> str | None:
        sm = _VOLID.match(volid)
        found = self.storages[sm.group(1)].volumes.get(volid) if sm and sm.group(1) in \
            self.storages else None
        return found.origin if found is not None else None

    def disk_origin(self, vmid: int, key: str = "scsi0") -> str | None:
        """What a VM's disk holds (the lab's bookkeeping): the URL its bytes came from."""
        vm = self.vms.get(vmid)
        if vm is None or key not in vm.config:
            return None
        return self._origin_of(_parse_drive(str(vm.config[key]))[0])

    def _import_size(self, src: str) -> int:
        """The size of an import-from source, or the worker's error for a missing one."""
        sm = _VOLID.match(src)
        if not sm:  # an absolute path (root@pam only): known if it is a file-storage volume
            for st in self.storages.values():
                for vol in st.volumes.values():
                    if st.path and _volume_path(st, vol.volname) == src:
                        return vol.size
            raise _TaskFailed(f"can't find file '{src}'")
        st = self._storage(sm.group(1))
        found = st.volumes.get(src)
        if found is not None:
            return found.size
        vtype = _parse_volname(st, sm.group(2))[0]
        if vtype == "import":  # file_size_info($path, ..., untrusted): stat fails
            raise _TaskFailed(f"failed to stat '{_volume_path(st, sm.group(2))}'")
        # $import_from_volid: volume_size_info gives nothing (derived; UNCONFIRMED wording
        # for LVM, where `lvs` itself may fail first)
        raise _TaskFailed(f"cannot import from '{src}' - could not get size of {src}")

    def _alloc(self, st: Storage, vmid: int, size: int, *, cloudinit: bool = False,
               base: Volume | None = None) -> Volume:
        """vdisk_alloc / clone_image: a new `images` volume owned by vmid (next free disk-N).

        LVM-thin sizes are whole 4 MiB extents (1246 MiB becomes 1248M; derived from LVM's
        rounding), others whole KiB. `base` makes a linked clone: dir and zfspool volids name
        their base, LVM-thin volids do not (the link is kept in `parent` only).
        """
        fmt = "qcow2" if st.type == "dir" else "raw"
        unit = LVM_EXTENT if st.type == "lvmthin" else 1024
        size = -(-size // unit) * unit
        if cloudinit:
            name = f"vm-{vmid}-cloudinit"
        else:
            taken = {v.volname.rsplit("/", 1)[-1].split(".")[0] for v in st.volumes.values()}
            n = next(i for i in range(10_000) if f"vm-{vmid}-disk-{i}" not in taken
                     and f"base-{vmid}-disk-{i}" not in taken)
            name = f"vm-{vmid}-disk-{n}"
        if st.type == "dir":
            volname = f"{vmid}/{name}.{fmt}"
            if base is not None:
                volname = f"{base.volname}/{volname}"
        elif st.type == "zfspool" and base is not None:
            volname = f"{base.volname}/{name}"
        else:
            volname = name
        volid = f"{st.storage}:{volname}"
        vol = Volume(volid, "images", fmt, size, int(self.clock()), vmid,
                     base.volid if base is not None else None)
        st.volumes[volid] = vol
        return vol

    def resize(self, node: str, vmid: int, params: Mapping[str, str], user: str) -> str | None:
        """PUT /nodes/{node}/qemu/{vmid}/resize (qemu-server resize_vm).

        A `resize` task from PVE 8.0 (before: synchronous, null, errors as 500s). The config's
        `size=` is the requested size; the LVM volume itself is whole extents.
        """
        self.check_perm(user, f"/vms/{vmid}", ("VM.Config.Disk",))
        self.check_node(node)
        errors = _unknown_params(params, {"disk", "size", "digest", "skiplock", "node", "vmid"})
        for key in ("disk", "size"):
            if key not in params:
                errors[key] = "property is missing and it is not optional"
        size_text = params.get("size", "")
        if "size" in params and not re.fullmatch(r"\+?\d+(?:\.\d+)?[KMGT]?", size_text):
            errors["size"] = "value does not match the regex pattern"
        if errors:
            raise ParameterError(**errors)
        if params.get("skiplock") and user != "root@pam":
            raise ParameterError(skiplock="Only root may use this option.")
        vm = self.find(node, vmid)
        disk = params["disk"]
        sync = self.release_tuple < RESIZE_TASK_SINCE
        try:
            digest = params.get("digest")
            if digest and digest != self.config(node, vmid)["digest"]:
                raise _TaskFailed("checksum mismatch (file change by other user?)")
            if vm.lock and not params.get("skiplock"):
                raise _TaskFailed(f"VM is locked ({vm.lock})")
            if disk not in vm.config:
                raise _TaskFailed(f"disk '{disk}' does not exist")
            file, opts = _parse_drive(str(vm.config[disk]))
            if opts.get("media") == "cdrom":
                raise _TaskFailed("you can't resize a cdrom")
            sm = _VOLID.match(file)
            st = self._storage(sm.group(1)) if sm else None
            if st is not None:
                try:
                    self.check_perm(user, f"/storage/{st.storage}", ("Datastore.AllocateSpace",))
                except PermissionDenied as e:
                    raise _TaskFailed(e.message) from None
            vol = st.volumes.get(file) if st is not None else None
            current = vol.size if vol is not None else _parse_size(opts.get("size", "0"))
            m = re.fullmatch(r"(\+)?(\d+(?:\.\d+)?)([KMGT])?", size_text)
            assert m is not None
            new = float(m.group(2)) * 1024 ** " KMGT".index(m.group(3) or " ")
            new = int(new + current if m.group(1) else new)
            if new < current:
                raise _TaskFailed("shrinking disks is not supported")
            if new != current:
                opts["size"] = format_size(new)
                vm.config[disk] = _print_drive(file, opts)
                if vol is not None:
                    unit = LVM_EXTENT if st is not None and st.type == "lvmthin" else 1
                    vol.size = -(-new // unit) * unit
                self._notify("resize", vm)
            exitstatus = "OK"
        except _TaskFailed as e:
            if sync:
                raise PveError(str(e)) from None
            exitstatus = str(e)
        if sync:
            return None
        return self._task(node, "resize", vmid, user, exitstatus, (), params)

    def clone(self, node: str, vmid: int, params: Mapping[str, str], user: str) -> str:
        """POST .../clone (qemu-server clone_vm); the task id is the source vmid.

        `full` defaults to "not a template", so clones of templates are linked; a linked clone
        needs base volumes and refuses `storage`/`format`. Every netN gets a new MAC (fixed per
        newid here; random in PVE), smbios1 a new uuid; `template` is dropped, everything else
        (protection too) is copied. Cloud-init disks are always copied.
        """
        newid_text = params.get("newid")
        self.check_perm(user, f"/vms/{vmid}", ("VM.Clone",))
        pool = params.get("pool")
        if not (self.has_perm(user, f"/vms/{newid_text or '-'}", ("VM.Allocate",))
                or (pool and self.has_perm(user, f"/pool/{pool}", ("VM.Allocate",)))):
            raise PermissionDenied()
        self.check_node(node)
        if newid_text is None:
            raise ParameterError(newid="property is missing and it is not optional")
        newid = _vmid(newid_text, "newid")
        if pool is not None:
            raise PermissionDenied(f"pool '{pool}' does not exist")  # pools are not modelled
        target = params.get("target") or node
        self.check_node(target)
        storage, fmt = params.get("storage"), params.get("format")
        if storage is not None:
            st = self._storage(storage)
            if not st.enabled:
                raise PveError(f"storage '{storage}' is disabled")
            if "images" not in self.storage_content_types(storage):
                raise ParameterError(storage=f"storage '{storage}' does not support vm images")
            if target != node and not st.shared:
                raise PveError(f"can't clone to non-shared storage '{storage}'")
        src = self.find(node, vmid)
        if src.lock:
            raise VmStateError(f"VM is locked ({src.lock})")
        if params.get("snapname"):
            raise VmStateError(f"snapshot '{params['snapname']}' does not exist")
        full = _bool(params["full"], "full") if "full" in params else not src.template
        if storage is not None and not full:
            raise VmStateError("parameter 'storage' not allowed for linked clones")
        if fmt is not None and not full:
            raise VmStateError("parameter 'format' not allowed for linked clones")
        shared = True
        plan: list[tuple[str, str, dict[str, str], Volume | None, Storage, bool]] = []
        for key in sorted(k for k in src.config if _DRIVE_KEY.match(k)):
            file, opts = _parse_drive(str(src.config[key]))
            if file in ("none", "cdrom"):
                continue
            sm = _VOLID.match(file)
            if sm is None:  # a path (root@pam's business)
                continue
            st = self._storage(sm.group(1))
            if not st.shared:
                shared = False
            if opts.get("media") == "cdrom" and not _is_cloudinit(file):
                continue
            self.check_perm(user, f"/storage/{storage or st.storage}",
                            ("Datastore.AllocateSpace",))
            cloudinit = _is_cloudinit(file)
            if not (full or cloudinit) and not _is_base(file):
                raise VmStateError(f"Linked clone feature is not supported for '{file}' ({key})")
            plan.append((key, file, opts, st.volumes.get(file), st, full or cloudinit))
        self._check_bridges(user, src.config)
        if target != node and not shared:
            raise VmStateError(f"can't clone VM to node '{target}' (VM uses local storage)")
        if newid in self.vms:
            # upstream checks the local node's config file only; a newid on another node
            # would fail later in pmxcfs (UNCONFIRMED wording), here it fails the same way
            raise VmStateError(f"unable to create VM {newid}: config file already exists")
        log = [f"creating a clone of VM {vmid} with ID {newid}"]
        config: dict[str, Any] = {}
        for key, value in src.config.items():
            if key in ("name", "template", "lock", "smbios1", "vmgenid") \
                    or re.fullmatch(r"unused\d+", key) or _DRIVE_KEY.match(key):
                continue
            if re.fullmatch(r"net\d+", key):
                old_mac = _parse_net(str(value))[1]
                mac = _mac(newid) if key == "net0" else _mac(f"{newid}-{key}")
                if mac == old_mac:
                    mac = _mac(f"{newid}-{key}-again")
                value = _with_mac(str(value), mac)
            config[key] = value
        for key, value in src.config.items():
            if _DRIVE_KEY.match(key) and key not in {k for k, *_ in plan}:
                config[key] = value  # cdroms, none
        failed = self._clone_fault(newid, plan, log)
        if failed is not None:
            # clone_vm's error path: new volumes freed, the temporary config unlinked
            return self._task(node, "qmclone", vmid, user, f"clone failed: {failed}", log,
                              params)
        for key, file, opts, vol, st, copy in plan:
            dest = self._storage(storage) if storage else st  # storage only with full clones
            size = vol.size if vol is not None else _parse_size(opts.get("size", "0"))
            if _is_cloudinit(file):
                new = self._alloc(dest, newid, CLOUDINIT_SIZE, cloudinit=True)
                config[key] = _print_drive(new.volid, opts)
                continue
            log.append(f"create {'full' if copy else 'linked'} clone of drive {key} ({file})")
            base = None
            if not copy:
                base = vol if vol is not None else Volume(file, "images", "raw", size, 0)
            new = self._alloc(dest, newid, size, base=base)
            new.origin = vol.origin if vol is not None else None
            config[key] = _print_drive(new.volid, dict(opts, size=format_size(new.size)))
        uuid_src = str(src.config.get("smbios1", ""))
        other = [part for part in uuid_src.split(",") if part and not part.startswith("uuid=")]
        config["smbios1"] = ",".join([f"uuid={_uuid(f'smbios1:{newid}')}", *other])
        if "vmgenid" in src.config:
            config["vmgenid"] = _uuid(f"vmgenid:{newid}")
        name = params.get("name") or f"Copy-of-VM-{src.name or vmid}"
        clone = Vm(newid, name, target, src.tags, "stopped", False, config)
        self.vms[newid] = clone
        upid = self._task(node, "qmclone", vmid, user, "OK", log, params)
        self._notify("clone", clone)
        return upid

    def fail_clone(self, after: int = 0, message: str | None = None) -> None:
        """Make the clone after the next `after` successful ones fail (fault clone_fails)."""
        if after < 0:
            raise ValueError("after must be 0 or more")
        self.clone_failure = (after, message)

    def _clone_fault(self, newid: int, plan: list[tuple[str, str, dict[str, str], Volume | None,
                                                          Storage, bool]],
                     log: list[str]) -> str | None:
        """Return the error of a clone that `fail_clone` makes fail (logging its first drive).

        Without a message: what LVM-thin gives when the thin pool is at its threshold, at the
        first drive clone_vm copies (drives in key order, so the cloud-init `ide2` comes before
        `scsi0`): vdisk_alloc -> LvmThinPlugin alloc_image `lvcreate '<vg>/<name>' error: ...`,
        or for a linked clone clone_image `clone image '<vg>/<base>' error: ...`; the text after
        `error:` is lvcreate's last stderr line (pve-common Cmd.pm run_command, two-space LVM
        indent kept). The VG `pve`, thin pool `data` are the installer's names.
        """
        if self.clone_failure is None:
            return None
        after, message = self.clone_failure
        if after > 0:
            self.clone_failure = (after - 1, message)
            return None
        self.clone_failure = None
        lvm = ("  Cannot create new thin volume, free space in thin pool pve/data reached "
               "threshold.")
        if not plan:
            return message or f"lvcreate 'pve/vm-{newid}-disk-0' error: {lvm}"
        key, file, _, _, _, copy = plan[0]
        cloudinit = _is_cloudinit(file)
        log.append(f"create {'full' if copy else 'linked'} clone of drive {key} ({file})")
        if message is not None:
            return message
        if cloudinit:
            return f"lvcreate 'pve/vm-{newid}-cloudinit' error: {lvm}"
        if not copy:
            return f"clone image 'pve/{file.split(':', 1)[1]}' error: {lvm}"
        return f"lvcreate 'pve/vm-{newid}-disk-0' error: {lvm}"

    def make_template(self, node: str, vmid: int, user: str) -> str:
        """POST .../template; refused for a template or a running VM (500).

        Every non-cdrom disk becomes `base-<id>-disk-N` (template_create). Snapshots are not
        modelled, so `unable to create template, because VM contains snapshots` never happens.
        """
        self.check_perm(user, f"/vms/{vmid}", ("VM.Allocate",))
        vm = self.find(node, vmid)
        if vm.lock:
            raise VmStateError(f"VM is locked ({vm.lock})")
        if vm.template:
            raise VmStateError("you can't convert a template to a template")
        if vm.status == "running":
            raise VmStateError("you can't convert a VM to template if VM is running")
        vm.template = True
        for key in sorted(k for k in vm.config if _DRIVE_KEY.match(k)):
            file, opts = _parse_drive(str(vm.config[key]))
            if opts.get("media") == "cdrom" or f"vm-{vmid}-" not in file:
                continue
            head, _, tail = file.rpartition(f"vm-{vmid}-")
            new = f"{head}base-{vmid}-{tail}"
            vm.config[key] = _print_drive(new, opts)
            sm = _VOLID.match(file)
            st = self.storages.get(sm.group(1)) if sm else None
            if st is not None and file in st.volumes:
                vol = st.volumes.pop(file)
                vol.volid = new
                st.volumes[new] = vol
        upid = self._task(node, "qmtemplate", vmid, user)
        self._notify("template", vm)
        return upid

    def delete(self, node: str, vmid: int, user: str,
               params: Mapping[str, str] | None = None) -> str:
        """DELETE /nodes/{node}/qemu/{vmid} (qemu-server destroy_vm); `qmdestroy` task.

        Synchronous 500s: protection, running. In the task: a lock, or a template whose base
        volume a linked clone still uses (on storages whose volids record it), ends it without
        removing anything. `purge` and `destroy-unreferenced-disks` are kept in the task's
        params; the latter also frees this vmid's disks that no config key names.
        """
        params = dict(params or {})
        self.check_perm(user, f"/vms/{vmid}", ("VM.Allocate",))
        if params.get("skiplock") and user != "root@pam":
            raise ParameterError(skiplock="Only root may use this option.")
        vm = self.find(node, vmid)
        if _truthy(vm.config.get("protection")):
            raise VmStateError(f"can't remove VM {vmid} - protection mode enabled")
        if vm.status == "running":
            raise VmStateError(f"VM {vmid} is running - destroy failed")
        log: list[str] = []
        try:
            self._destroy(vm, params, log)
            exitstatus = "OK"
        except _TaskFailed as e:
            exitstatus = str(e)
        upid = self._task(node, "qmdestroy", vmid, user, exitstatus, log, params)
        if exitstatus == "OK":
            self._notify("delete", vm)
        return upid

    def _destroy(self, vm: Vm, params: Mapping[str, str], log: list[str]) -> None:
        if vm.lock and not params.get("skiplock"):
            raise _TaskFailed(f"VM is locked ({vm.lock})")
        drives = [_parse_drive(str(v)) for k, v in vm.config.items()
                  if _DRIVE_KEY.match(k) or re.fullmatch(r"unused\d+", k)]
        if vm.template:
            for file, opts in drives:
                if opts.get("media") == "cdrom" or file.startswith("/"):
                    continue
                sm = _VOLID.match(file)
                st = self.storages.get(sm.group(1)) if sm else None
                if st is not None and st.tracks_clone_base and any(
                        v.parent == file for v in st.volumes.values()):
                    raise _TaskFailed(f"base volume '{file}' is still in use by linked cloned")
        for file, opts in drives:
            sm = _VOLID.match(file)
            st = self.storages.get(sm.group(1)) if sm else None
            vol = st.volumes.get(file) if st is not None else None
            if st is None or vol is None or vol.vmid != vm.vmid:
                continue
            if opts.get("media") == "cdrom" and not _is_cloudinit(file):
                continue
            del st.volumes[file]
        if _truthy(params.get("destroy-unreferenced-disks")):
            for st in self.storages.values():
                for volid in [v.volid for v in st.volumes.values()
                              if v.content == "images" and v.vmid == vm.vmid]:
                    del st.volumes[volid]
                    log.append(f"Removed volume '{volid}'")
        if _truthy(params.get("purge")):
            log.append(f"purging VM {vm.vmid} from related configurations..")
        del self.vms[vm.vmid]

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


def _mac(seed: int | str) -> str:
    """A fixed MAC per seed with Proxmox's BC:24:11 prefix (PVE picks a random one)."""
    h = hashlib.sha256(str(seed).encode()).hexdigest()
    return "BC:24:11:" + ":".join(h[i:i + 2].upper() for i in (0, 2, 4))


def _uuid(seed: str) -> str:
    h = hashlib.sha256(seed.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _no_network(url: str) -> int:
    """The default `fetch`: the host cannot be resolved (the emulator has no network)."""
    host = re.sub(r"^[a-z]+://", "", url).split("/", 1)[0].split(":", 1)[0]
    raise wget_unresolved(host)


_CHECKSUM_ALGS = ("md5", "sha1", "sha224", "sha256", "sha384", "sha512")
_NO_DIGEST = ("not emulated: a checksum needs the download's bytes (the fetch hook gave a size "
              "only)")


def _covers(acl_path: str, path: str) -> bool:
    return acl_path == "/" or path == acl_path or path.startswith(acl_path.rstrip("/") + "/")


def _content_list(content: Iterable[str] | str) -> tuple[str, ...]:
    items = re.split(r"[,;\s]+", content) if isinstance(content, str) else list(content)
    bad = [c for c in items if c and c not in _CONTENT_TYPES]
    if bad:
        raise ValueError(f"invalid content type {bad[0]!r}")
    return tuple(c for c in items if c)


def _split_volid(volid: str) -> tuple[str, str]:
    m = _VOLID.match(volid)
    if not m:
        raise PveError(f"unable to parse volume ID '{volid}'")
    return m.group(1), m.group(2)


def _parse_volname(st: Storage, volname: str) -> tuple[str, int | None, str, str | None]:
    """Return (vtype, owner vmid, format, base volname) as the storage plugin's parse_volname."""
    if st.type == "lvmthin":
        m = re.fullmatch(r"(?:vm|base)-(\d+)-\S+", volname)
        if not m:
            raise PveError(f"unable to parse lvm volume name '{volname}'")
        return "images", int(m.group(1)), "raw", None
    if st.type == "zfspool":
        m = re.fullmatch(r"(?:((?:base|basevol)-\d+-\S+)/)?(?:base|vm|subvol|basevol)-(\d+)-\S+",
                         volname)
        if not m:
            raise PveError(f"unable to parse zfs volume name '{volname}'")
        return "images", int(m.group(2)), "raw", m.group(1)
    m = re.fullmatch(r"(\d+)/(\S+)/(\d+)/(\S+)", volname)
    if m:
        return "images", int(m.group(3)), m.group(4).rsplit(".", 1)[-1], f"{m[1]}/{m[2]}"
    m = re.fullmatch(r"(\d+)/(\S+)", volname)
    if m:
        return "images", int(m.group(1)), m.group(2).rsplit(".", 1)[-1], None
    if re.fullmatch(r"iso/" + _ISO_EXT.pattern, volname, re.I):
        return "iso", None, "iso", None
    if re.fullmatch(r"vztmpl/" + _VZTMPL_EXT.pattern, volname, re.I):
        return "vztmpl", None, "tgz", None
    m = re.fullmatch(r"backup/(vzdump-(?:openvz|lxc|qemu)-(\d+)-.+)", volname)
    if m or volname.startswith("backup/"):
        return "backup", int(m.group(2)) if m else None, "raw", None
    if re.fullmatch(r"snippets/[^/]+", volname):
        return "snippets", None, "snippet", None
    m = re.fullmatch(r"import/[ a-zA-Z0-9\-.+=_]+\.ova/[ a-zA-Z0-9\-.+=_]+\.(qcow2|raw|vmdk)",
                     volname)
    if m:
        return "import", None, f"ova+{m.group(1)}", None
    m = re.fullmatch(r"import/[ a-zA-Z0-9\-.+=_]+\.(ova|ovf|qcow2|raw|vmdk)", volname)
    if m:
        return "import", None, m.group(1), None
    raise PveError(f"unable to parse directory volume name '{volname}'")


def _volume_path(st: Storage, volname: str) -> str:
    """The file of a volume on a dir storage (Plugin.pm filesystem_path)."""
    sub = volname.split("/", 1)
    dirs = {"iso": "template/iso", "vztmpl": "template/cache", "import": "import",
            "backup": "dump", "snippets": "snippets"}
    if sub[0] in dirs and len(sub) == 2:
        return f"{st.path}/{dirs[sub[0]]}/{sub[1]}"
    return f"{st.path}/images/{volname}"


def normalize_filename(filename: str) -> str:
    """Storage.pm normalize_content_filename: basename, then [^a-zA-Z0-9_.-] becomes _."""
    name = re.sub(r"^.*[/\\]", "", filename.rstrip("\n"))
    return re.sub(r"[^a-zA-Z0-9_.-]", "_", name)


def format_size(size: int) -> str:
    """pve-common JSONSchema format_size: the largest unit that divides exactly (1248M, 32G)."""
    size = int(size)
    kb, mb = size // 1024, size // 1024**2
    gb, tb = size // 1024**3, size // 1024**4
    if kb * 1024 != size:
        return str(size)
    if mb * 1024 != kb:
        return f"{kb}K"
    if gb * 1024 != mb:
        return f"{mb}M"
    if tb * 1024 != gb:
        return f"{gb}G"
    return f"{tb}T"


def _parse_size(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)", str(text))
    if not m:
        return 0
    return int(float(m.group(1)) * 1024 ** " KMGT".index(m.group(2) or " "))


def _parse_drive(value: str) -> tuple[str, dict[str, str]]:
    """Split `file[,key=value...]` (the file may also be given as `file=...`)."""
    parts = [x for x in str(value).split(",") if x]
    file, opts = "", {}
    for i, part in enumerate(parts):
        key, sep, val = part.partition("=")
        if i == 0 and (not sep or key == "file"):
            file = val if key == "file" else part
        else:
            opts[key] = val
    return file, opts


def _print_drive(file: str, opts: Mapping[str, str]) -> str:
    """print_drive: the volume, then the options sorted by key."""
    return ",".join([file, *(f"{k}={opts[k]}" for k in sorted(opts))])


def _is_cloudinit(file: str) -> bool:
    return bool(re.search(r"[:/](?:vm-\d+-)?cloudinit(?:\.(?:raw|qcow2|vmdk))?$", file))


def _is_base(file: str) -> bool:
    return file.split(":", 1)[-1].rsplit("/", 1)[-1].startswith("base-")


def _parse_net(value: str) -> tuple[str, str | None, dict[str, str]]:
    """Return (model, mac, other options) of a netN value (`virtio=MAC,bridge=vmbr0`)."""
    model, mac, opts = "", None, {}
    for part in [x for x in value.split(",") if x]:
        key, sep, val = part.partition("=")
        if key in _NET_MODELS and not model:
            model, mac = key, (val or None)
        elif key == "model":
            model = val
        elif key == "macaddr":
            mac = val
        else:
            opts[key] = val
    return model, mac, opts


def _with_mac(value: str, mac: str) -> str:
    """print_net with this MAC: `model=MAC`, then the other options sorted."""
    model, _, opts = _parse_net(value)
    return ",".join([f"{model}={mac}", *(f"{k}={opts[k]}" for k in sorted(opts))])


def _bool_or_none(text: str) -> bool | None:
    if re.fullmatch(r"1|on|yes|true", text, re.I):
        return True
    if re.fullmatch(r"0|off|no|false", text, re.I):
        return False
    return None


def _bool(text: str, name: str) -> bool:
    """Parse a boolean parameter; raise ParameterError with PVE's type-check wording."""
    value = _bool_or_none(str(text))
    if value is None:
        raise ParameterError(**{name: f"type check ('boolean') failed - got '{text}'"})
    return value


def _truthy(value: Any) -> bool:
    return value is not None and _bool_or_none(str(value)) is True


def _unknown_params(params: Mapping[str, str], allowed: Iterable[str]) -> dict[str, str]:
    known = set(allowed)
    return {k: "property is not defined in schema and the schema does not allow additional "
               "properties" for k in params if k not in known}


def _enum_error(value: str, allowed: Iterable[str]) -> str:
    return f"value '{value}' does not have a value in the enumeration '{', '.join(allowed)}'"


def _fingerprint(node: str) -> str:
    h = hashlib.sha256(node.encode()).hexdigest().upper()
    return ":".join(h[i:i + 2] for i in range(0, 64, 2))


def _digest(cfg: Mapping[str, Any]) -> str:
    text = "".join(f"{k}: {v}\n" for k, v in cfg.items())
    return hashlib.sha1(text.encode()).hexdigest()
