"""The lab's view of a lab profile (clusters/lab.yaml): what to build and how fast it moves.

Only the fields the lab needs are read here; the harness validates the whole profile with
model.profile. Errors name the file and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emulator.errors import LabConfigError

DEFAULT_TIMINGS: dict[str, float] = {
    "pull": 0.1,  # installer pull
    "drain": 0.2,  # cordon + evictions
    "install": 0.3,  # write the other A/B slot
    "reboot": 0.3,  # shutdown until the kernel starts again (apid down)
    "boot": 0.5,  # kernel start until machined reports running
    "kubelet_ready": 0.3,  # after boot, until the Node is Ready
    "static_pod": 0.2,  # upgrade-k8s: one static pod restart
    "kubelet_restart": 0.2,  # upgrade-k8s: one kubelet restart
    "backup": 0.5,  # Velero backup New -> Completed
    "drain_timeout": 3.0,  # how long a drain retries a refused eviction, then goes on
}
_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
_KVERSION = re.compile(r"^v?\d+\.\d+\.\d+$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class NodeSpec:
    name: str
    role: str  # "controlplane" | "worker"
    vmid: int
    primary: bool = False


@dataclass(frozen=True)
class LabSpec:
    """Everything the lab needs to build its world."""

    name: str
    source: Path
    talos_version: str
    kubernetes_version: str
    schematic: str
    extensions: tuple[str, ...]
    nodes: tuple[NodeSpec, ...]
    timings: dict[str, float] = field(default_factory=dict)
    proxmox_node: str = "pve"
    proxmox_tags: tuple[str, ...] = ("talos",)
    template_vmid: int = 9000
    velero_namespace: str = "velero"
    flux_enabled: bool = True
    address_block: tuple[int, int] | None = None  # lab.address_block: 127.A.B.x (else random)
    talosctl_version: str = "v1.9.6"  # lab.talosctl: the emulated client
    kube_proxy: bool = True  # lab.kube_proxy: false = replaced (Cilium): no DaemonSet
    # lab.schedulable_control_planes (allowSchedulingOnControlPlanes): workloads run on the
    # control planes too; default when the cluster has no workers
    schedulable_control_planes: bool = False
    # lab.track_disruption: sample, every 50 ms, each ReplicaSet's Ready replicas and each
    # PodDisruptionBudget's healthy pods, and keep the lowest (status `disruption`)
    track_disruption: bool = False
    # lab.pve_version: the emulated Proxmox VE release; lab.pve_import: whether storage `local`
    # has content `import` (off by default on a real 8.x install: the operator enables it with
    # `pvesm set local --content iso,vztmpl,backup,import`; on by default from PVE 9.0)
    pve_version: str = "8.4.1"
    pve_import: bool = True
    # lab.ssh: the emulated PVE host answers SSH (a real sshd on the PVE address, port 2222)
    # with `qm`/`pvesm` acting on the PVE model; downloads to `local` become real files
    ssh: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def control_planes(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.role == "controlplane")

    @property
    def workers(self) -> tuple[NodeSpec, ...]:
        return tuple(n for n in self.nodes if n.role == "worker")

    def timing(self, name: str) -> float:
        """Seconds for a lifecycle step, already scaled."""
        return self.timings[name]


def _need(d: dict[str, Any], key: str, where: str, src: Path) -> Any:
    if not isinstance(d, dict) or key not in d or d[key] in (None, ""):
        raise LabConfigError(f"{src}: {where}{key}: required field is missing")
    return d[key]


def load_spec(path: Path, *, extra_workers: int | None = None) -> LabSpec:
    """Read a lab profile; raise LabConfigError naming file and field when it is malformed."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise LabConfigError(f"{path}: lab profile not found") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise LabConfigError(f"{path}: not valid YAML{where}") from None
    if not isinstance(raw, dict):
        raise LabConfigError(f"{path}: a lab profile must be a YAML mapping")
    talos = _need(raw, "talos", "", path)
    version = str(_need(talos, "version", "talos.", path))
    if not _VERSION.match(version):
        raise LabConfigError(f"{path}: talos.version: {version!r} is not a Talos version "
                             "like v1.9.2")
    kube = str(_need(talos, "kubernetes", "talos.", path)).lstrip("v")
    if not _KVERSION.match(kube):
        raise LabConfigError(f"{path}: talos.kubernetes: {kube!r} is not a version like 1.32.0")
    factory = _need(talos, "factory", "talos.", path)
    schematic = str(_need(factory, "schematic", "talos.factory.", path))
    if not _HEX64.match(schematic):
        raise LabConfigError(f"{path}: talos.factory.schematic: must be 64 lower-case hex "
                             "characters")
    extensions = tuple(str(e) for e in factory.get("extensions") or ())
    nodes_raw = _need(raw, "nodes", "", path)
    nodes: list[NodeSpec] = []
    seen: set[str] = set()
    for group, role in (("control_plane", "controlplane"), ("workers", "worker")):
        entries = nodes_raw.get(group) or []
        if group == "control_plane" and not entries:
            raise LabConfigError(f"{path}: nodes.control_plane: at least one control plane "
                                 "is required")
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict) or not entry.get("name"):
                raise LabConfigError(f"{path}: nodes.{group}[{i}].name: required field is missing")
            name = str(entry["name"])
            if name in seen:
                raise LabConfigError(f"{path}: nodes: duplicate node name {name!r}")
            seen.add(name)
            vmid = int(entry.get("vmid") or (200 if role == "controlplane" else 300) + i + 1)
            nodes.append(NodeSpec(name, role, vmid, bool(entry.get("primary", False))))
    lab = raw.get("lab") or {}
    if not isinstance(lab, dict):
        raise LabConfigError(f"{path}: lab: must be a mapping")
    n_extra = extra_workers if extra_workers is not None else int(lab.get("extra_workers") or 0)
    base = len([n for n in nodes if n.role == "worker"])
    for k in range(n_extra):
        idx = base + k + 1
        nodes.append(NodeSpec(f"w{idx}", "worker", 300 + idx))
    cps = [n for n in nodes if n.role == "controlplane"]
    if not any(n.primary for n in cps):
        cps[0] = NodeSpec(cps[0].name, cps[0].role, cps[0].vmid, True)
        nodes = [cps[0] if n.name == cps[0].name else n for n in nodes]
    scale = float(lab.get("scale", 1.0))
    timings = dict(DEFAULT_TIMINGS)
    for key, value in (lab.get("timings") or {}).items():
        if key not in DEFAULT_TIMINGS:
            raise LabConfigError(
                f"{path}: lab.timings.{key}: unknown timing (known: {', '.join(DEFAULT_TIMINGS)})"
            )
        timings[key] = float(value)
    timings = {k: v * scale for k, v in timings.items()}
    block = _address_block(lab, path, len(nodes))
    client = _client_version(lab, path, version)
    kube_proxy = lab.get("kube_proxy", True)
    if not isinstance(kube_proxy, bool):
        raise LabConfigError(f"{path}: lab.kube_proxy: must be true or false")
    cp_sched = lab.get("schedulable_control_planes", not any(n.role == "worker" for n in nodes))
    if not isinstance(cp_sched, bool):
        raise LabConfigError(f"{path}: lab.schedulable_control_planes: must be true or false")
    track = lab.get("track_disruption", False)
    if not isinstance(track, bool):
        raise LabConfigError(f"{path}: lab.track_disruption: must be true or false")
    pve_version = str(lab.get("pve_version", "8.4.1"))
    if not re.fullmatch(r"\d+\.\d+(?:[.-]\d+)?", pve_version):
        raise LabConfigError(f"{path}: lab.pve_version: {pve_version!r} is not like 8.4.1")
    pve_import = lab.get("pve_import", True)
    if not isinstance(pve_import, bool):
        raise LabConfigError(f"{path}: lab.pve_import: must be true or false")
    ssh = lab.get("ssh", False)
    if not isinstance(ssh, bool):
        raise LabConfigError(f"{path}: lab.ssh: must be true or false")
    pve = raw.get("proxmox") or {}
    backups = raw.get("backups") or {}
    velero = backups.get("velero") or {}
    return LabSpec(
        name=str(raw.get("name") or path.stem),
        source=path,
        talos_version=version,
        kubernetes_version=kube,
        schematic=schematic,
        extensions=extensions,
        nodes=tuple(nodes),
        timings=timings,
        proxmox_node=str(pve.get("node", "pve")),
        proxmox_tags=tuple(str(t) for t in pve.get("tags") or ("talos",)),
        template_vmid=int(pve.get("template_vmid", 9000)),
        velero_namespace=str(velero.get("namespace", "velero")),
        flux_enabled=bool((raw.get("flux") or {}).get("enabled", True)),
        address_block=block,
        talosctl_version=client,
        kube_proxy=kube_proxy,
        schedulable_control_planes=cp_sched,
        track_disruption=track,
        pve_version=pve_version,
        pve_import=pve_import,
        ssh=ssh,
        raw=raw,
    )


def _client_version(lab: dict[str, Any], path: Path, cluster: str) -> str:
    """lab.talosctl (lab.talosctl_version, its older name): the talosctl the lab's bin/talosctl
    emulates; default the newest release of the cluster's minor (a pre-release when the line
    has no release yet). Refused when the lab does not emulate that client."""
    from emulator.talos.client import OLDEST
    from emulator.talos.gotext import semver_key
    from model.catalog import Catalog, CatalogError
    from model.versions import TalosVersion

    key = "talosctl" if "talosctl" in lab else "talosctl_version"
    catalog = Catalog.load()
    if lab.get(key) is None:
        line = TalosVersion.parse(cluster).minor_line
        try:
            return str(catalog.latest_patch(line))
        except CatalogError:
            return str(max(v for v in catalog.talos_releases(True) if v.minor_line == line))
    client = str(lab[key])
    known = {str(v) for v in catalog.talos_releases(True)}
    if client not in known:
        raise LabConfigError(f"{path}: lab.{key}: {client!r} is not a talosctl release "
                             "(e.g. v1.11.6, v1.14.0-rc.1)")
    if semver_key(client) < semver_key(OLDEST):
        raise LabConfigError(f"{path}: lab.{key}: talosctl {client} is not emulated (the lab "
                             f"emulates talosctl {OLDEST} and newer)")
    return client


def _address_block(lab: dict[str, Any], path: Path, n_nodes: int) -> tuple[int, int] | None:
    """lab.address_block: [A, B] pins the lab to 127.A.B.x (B+1... for large labs)."""
    raw = lab.get("address_block")
    if raw is None:
        return None
    span = (n_nodes + 10) // 250 + 1
    if (not isinstance(raw, list) or len(raw) != 2
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in raw)
            or not 0 <= raw[0] <= 255 or not 0 <= raw[1] <= 255 - span):
        raise LabConfigError(f"{path}: lab.address_block: {raw!r} must be [A, B] with "
                             f"0 <= A <= 255 and 0 <= B <= {255 - span} (the lab uses 127.A.B.x)")
    return int(raw[0]), int(raw[1])
