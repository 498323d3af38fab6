"""The template-based rebuild, planned: what is built (the image, the template), which VMs go
and come back, and the Proxmox VE capabilities each step needs. Pure.

Facts: ../shared/reference/rebuild.md. The template is what boots (not ``--install-image``):
the nocloud disk image of the target schematic and version, imported into a VM that is then
converted to a template named ``talos-<version>`` and tagged ``template;talos`` (the seed's
step 3). A rebuild may jump Talos minors (it is a fresh install); it may not go down (that is
the rollback), and the target Kubernetes must be supported by the target Talos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from model.catalog import Catalog
from model.plan import NodeOrder, PlanError, UpgradePlan, installer_image
from model.restore_rules import restore_refusals
from model.roles import Role
from model.schematic import ImageChoice
from model.versions import KubeVersion, TalosVersion

# PVE capabilities and the release that brought each (rebuild.md §2.1)
Capability = Literal["download-url", "import-from", "import-raw"]
SINCE: dict[Capability, tuple[tuple[int, int], str]] = {
    "download-url": ((7, 0), "pve-storage 7.0-4, commit 837b194"),
    "import-from": ((7, 2), "qemu-server 7.1-5, commit e6ac9fed"),
    "import-raw": ((8, 4), "pve-storage 8.3.6, commit 76f695f: content 'import' for .raw"),
}
IMPORT_CONTENT = "import"
ImportVia = Literal["api", "ssh"]
TEMPLATE_TAGS = ("talos", "template")  # PVE stores tags lower-cased and sorted: template;talos
IMAGE_PATH = "nocloud-amd64.raw"  # the nocloud disk; PVE cannot decompress .xz (rebuild.md §0)


@dataclass(frozen=True)
class RebuildVm:
    """One VM the rebuild tears down and clones back: same name, VMID and address."""

    name: str
    vmid: int
    role: Role
    address: str


@dataclass(frozen=True)
class TemplatePlan:
    """The new template: where its disk comes from and how the VM is created."""

    vmid: int
    name: str  # talos-<version>
    image_url: str  # <factory>/image/<schematic>/<version>/nocloud-amd64.raw
    filename: str  # talos-<version>-<schematic 8>.raw, the import volume's name
    import_storage: str
    disk_storage: str
    bridge: str
    via: ImportVia = "api"  # api: import-from (PVE 8.4+); ssh: an .img in iso, qm importdisk

    @property
    def content(self) -> str:
        """The content type the disk is downloaded as: import (API path), iso (SSH path: a raw
        disk named .img is an iso volume to PVE, from 7.0)."""
        return IMPORT_CONTENT if self.via == "api" else "iso"

    @property
    def volid(self) -> str:
        """The downloaded disk as PVE names it: <storage>:import/<file> or <storage>:iso/<file>."""
        return f"{self.import_storage}:{self.content}/{self.filename}"

    @property
    def needs(self) -> list[Capability]:
        """The PVE capabilities this path calls (SINCE)."""
        if self.via == "api":
            return ["download-url", "import-from", "import-raw"]
        return ["download-url"]

    def create_params(
        self, cores: int, memory_mib: int, extensions: Sequence[str]
    ) -> dict[str, Any]:
        """POST /nodes/{node}/qemu: a VM Talos can boot (x86-64-v2 CPU, virtio-scsi-single,
        boot from scsi0, cloud-init drive), its disk imported from the downloaded volume; the
        guest agent on only with the qemu-guest-agent extension (rebuild.md §2.4). Never
        `template=1` here: the VM is converted afterwards (linked clones need that)."""
        return {
            "vmid": self.vmid,
            "name": self.name,
            "cores": cores,
            "memory": memory_mib,
            "cpu": "x86-64-v2-AES",
            "ostype": "l26",
            "scsihw": "virtio-scsi-single",
            "boot": "order=scsi0",
            **(
                {"scsi0": f"{self.disk_storage}:0,import-from={self.volid}"}
                if self.via == "api"
                else {}
            ),
            "ide2": f"{self.disk_storage}:cloudinit",
            "net0": f"virtio,bridge={self.bridge}",
            "agent": 1 if "siderolabs/qemu-guest-agent" in extensions else 0,
            "tags": ";".join(TEMPLATE_TAGS),
        }


@dataclass(frozen=True)
class RebuildPlan:
    """Everything the rebuild will do, decided before anything runs."""

    current_talos: TalosVersion
    current_kubernetes: KubeVersion
    target_talos: TalosVersion
    target_kubernetes: KubeVersion
    current_schematic: str
    schematic: str
    extensions: tuple[str, ...] | None  # None: an explicit schematic (the Factory has the list)
    installer: str  # the installer image machine configs name (install.image)
    template: TemplatePlan
    old_template_vmid: int | None
    vms: tuple[RebuildVm, ...]
    restore_etcd: bool
    current_extensions: tuple[str, ...] = ()  # the image the cluster runs now (the way back's)

    @property
    def vmids(self) -> tuple[int, ...]:
        return tuple(v.vmid for v in self.vms)

    def as_upgrade_plan(self, nodes: NodeOrder) -> UpgradePlan:
        """The UpgradePlan the shared steps see: versions and image, no hops (the nodes are
        recreated, not upgraded)."""
        return UpgradePlan(
            self.current_talos,
            self.current_kubernetes,
            self.target_talos,
            self.target_kubernetes,
            nodes,
            (),
            self.current_schematic,
            self.schematic,
        )

    def describe(self) -> str:
        """The plan as --plan prints it."""
        t = self.template
        exts = ", ".join(self.extensions) if self.extensions is not None else "(from the Factory)"
        lines = [
            f"Rebuild plan: Talos {self.current_talos} -> {self.target_talos}, Kubernetes "
            f"{self.current_kubernetes} -> {self.target_kubernetes}, schematic "
            f"{self.current_schematic[:12]} -> {self.schematic[:12]}",
            f"Extensions: {exts}",
            f"Image: {t.image_url} -> {t.volid}"
            + (" (then qm importdisk over SSH)" if t.via == "ssh" else ""),
            f"Template: VM {t.vmid} '{t.name}' tagged {';'.join(TEMPLATE_TAGS)} (the old "
            + (
                f"template {self.old_template_vmid} is kept)" if self.old_template_vmid else "none)"
            ),
            f"Installer for the machine configs: {self.installer}",
            "VMs torn down and cloned back (same names, VMIDs, MAC and addresses): "
            + ", ".join(f"{v.name} ({v.vmid}, {v.address})" for v in self.vms),
            "etcd: "
            + (
                "recovered from the pre-rebuild snapshot (talosctl bootstrap --recover-from)"
                if self.restore_etcd
                else "bootstrapped empty (Flux brings the workloads back)"
            ),
        ]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        t = self.template
        return {
            "current": {
                "talos": str(self.current_talos),
                "kubernetes": str(self.current_kubernetes),
            },
            "target": {"talos": str(self.target_talos), "kubernetes": str(self.target_kubernetes)},
            "image": {"from": self.current_schematic, "to": self.schematic},
            "extensions": list(self.extensions) if self.extensions is not None else None,
            "installer": self.installer,
            "template": {
                "vmid": t.vmid,
                "name": t.name,
                "image_url": t.image_url,
                "volid": t.volid,
            },
            "old_template": self.old_template_vmid,
            "vms": [
                {"name": v.name, "vmid": v.vmid, "address": v.address, "role": v.role.value}
                for v in self.vms
            ],
            "restore_etcd": self.restore_etcd,
            "current_extensions": list(self.current_extensions),
        }


def plan_rebuild(
    *,
    current: tuple[TalosVersion, KubeVersion],
    target: tuple[TalosVersion | None, KubeVersion | None],
    current_schematic: str,
    image: ImageChoice | None,
    factory_url: str,
    template_vmid: int,
    old_template_vmid: int | None,
    vms: Sequence[RebuildVm],
    storages: tuple[str, str, str],  # import storage, disk storage, bridge
    restore_etcd: bool,
    catalog: Catalog,
    current_extensions: Sequence[str] = (),
    via: ImportVia = "api",
) -> RebuildPlan:
    """The rebuild plan; PlanError naming the reason when the target or the VMIDs cannot be."""
    cur_t, cur_k = current
    tgt_t = target[0] or cur_t
    tgt_k = target[1] or cur_k
    if not catalog.is_known_talos(tgt_t):
        raise PlanError(catalog.unknown_talos_message(tgt_t))
    if tgt_t < cur_t:
        raise PlanError(
            f"Talos {cur_t} -> {tgt_t} goes down: a rebuild builds a newer cluster; use the "
            "rollback runbook to go back"
        )
    if tgt_k < cur_k:
        raise PlanError(
            f"Kubernetes {cur_k} -> {tgt_k} goes down: keep {cur_k} or newer as the target"
        )
    if not catalog.supports(tgt_t, tgt_k):
        raise PlanError(
            f"Kubernetes {tgt_k} is not supported by Talos {tgt_t} (supports "
            f"{catalog.k8s_support(tgt_t)})"
        )
    if restore_etcd:
        refused = restore_refusals((cur_t, cur_k), (tgt_t, tgt_k))
        if refused:
            raise PlanError(
                "rebuild.restore_etcd: the pre-rebuild etcd snapshot cannot be recovered into "
                "this target: " + "; ".join(refused)
            )
    schematic = image.schematic if image is not None else current_schematic
    extensions = image.extensions if image is not None else None
    taken = {v.vmid: v.name for v in vms}
    if old_template_vmid is not None:
        taken[old_template_vmid] = "the current template"
    if template_vmid in taken:
        raise PlanError(
            f"template VMID {template_vmid} is {taken[template_vmid]}'s: give the new template "
            "a VMID of its own (--template-vmid, or proxmox.template_vmid_range)"
        )
    if tgt_t == cur_t and schematic == current_schematic:
        raise PlanError(
            f"the cluster already runs Talos {cur_t} from schematic {schematic[:12]}: a rebuild "
            "would recreate the same image (give a newer --talos-version or other --extensions)"
        )
    base = factory_url.rstrip("/")
    import_storage, disk_storage, bridge = storages
    template = TemplatePlan(
        vmid=template_vmid,
        name=f"talos-{tgt_t}",
        image_url=f"{base}/image/{schematic}/{tgt_t}/{IMAGE_PATH}",
        filename=f"talos-{tgt_t}-{schematic[:8]}.{'raw' if via == 'api' else 'img'}",
        import_storage=import_storage,
        disk_storage=disk_storage,
        bridge=bridge,
        via=via,
    )
    return RebuildPlan(
        cur_t,
        cur_k,
        tgt_t,
        tgt_k,
        current_schematic,
        schematic,
        extensions,
        installer_image(factory_url, schematic, tgt_t),
        template,
        old_template_vmid,
        tuple(vms),
        restore_etcd,
        tuple(current_extensions),
    )


def plan_way_back(forward: Mapping[str, Any], factory_url: str, where: str) -> RebuildPlan:
    """The rebuild's rollback, from the forward plan as its record wrote it (`to_dict`): the
    old template (kept, protected), the versions and image the cluster ran, the same VMs, etcd
    recovered from the pre-rebuild snapshot (the same versions that wrote it: always allowed).
    PlanError naming `where` and the field when the record lacks it."""
    try:
        cur, tgt = forward["target"], forward["current"]
        old = forward["old_template"]
        if old is None:
            raise PlanError(f"{where}: the rebuild had no old template to go back to")
        talos = TalosVersion.parse(str(tgt["talos"]))
        schematic = str(forward["image"]["from"])
        vms = tuple(
            RebuildVm(str(v["name"]), int(v["vmid"]), Role(str(v["role"])), str(v["address"]))
            for v in forward["vms"]
        )
        template = TemplatePlan(
            vmid=int(old),
            name=f"talos-{talos}",
            image_url="",
            filename="",
            import_storage="",
            disk_storage="",
            bridge="",
        )
        return RebuildPlan(
            TalosVersion.parse(str(cur["talos"])),
            KubeVersion.parse(str(cur["kubernetes"])),
            talos,
            KubeVersion.parse(str(tgt["kubernetes"])),
            str(forward["image"]["to"]),
            schematic,
            tuple(str(e) for e in forward["current_extensions"]),
            installer_image(factory_url, schematic, talos),
            template,
            int(forward["template"]["vmid"]),
            vms,
            True,
            tuple(str(e) for e in forward["current_extensions"]),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise PlanError(f"{where}: the record's rebuild plan lacks or mangles {e}") from None


def pve_refusals(version: tuple[int, ...], needs: Sequence[Capability]) -> list[str]:
    """What this PVE version cannot do of `needs`, each naming the release that brought it."""
    out = []
    for cap in needs:
        (major, minor), source = SINCE[cap]
        if version[:2] < (major, minor):
            shown = ".".join(map(str, version)) or "unknown"
            out.append(f"{cap} needs PVE {major}.{minor} or newer ({source}); this is {shown}")
    return out
