"""Which Proxmox VE privileges the rebuild's calls need, and whether a token has them. Pure.

Privileges per call: rebuild.md §2.2 (download-url), §2.4 (create), §2.6 (clone), §2.9 (the
token ACLs). ``GET /access/permissions`` answers ``{path: {privilege: 1}}`` for the paths the
token has ACLs on; a privilege on a path holds for the paths under it (PVE ACLs propagate by
default), so a privilege is held on ``/vms/9100`` when ``/vms/9100``, ``/vms`` or ``/`` has it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Need:
    """One call's need: every privilege of `all_of` on `path`, or one alternative set."""

    call: str
    path: str
    all_of: tuple[str, ...]
    alternative: tuple[str, tuple[str, ...]] | None = None  # (path, privileges)


def has(perms: Mapping[str, Mapping[str, object]], path: str, priv: str) -> bool:
    """The token holds `priv` on `path` (directly or from a parent path)."""
    parts = [p for p in path.split("/") if p]
    for i in range(len(parts), -1, -1):
        held = perms.get("/" + "/".join(parts[:i]))
        if held and held.get(priv):
            return True
    return False


def missing(perms: Mapping[str, Mapping[str, object]], needs: Sequence[Need]) -> list[str]:
    """'<call>: <priv> on <path>' for each need the token does not meet."""
    out = []
    for need in needs:
        lacking = [p for p in need.all_of if not has(perms, need.path, p)]
        if not lacking:
            continue
        if need.alternative is not None:
            alt_path, alt = need.alternative
            if all(has(perms, alt_path, p) for p in alt):
                continue
            out.append(
                f"{need.call}: {', '.join(lacking)} on {need.path} "
                f"(or {', '.join(alt)} on {alt_path})"
            )
        else:
            out.append(f"{need.call}: {', '.join(lacking)} on {need.path}")
    return out


def template_needs(
    node: str, import_storage: str, disk_storage: str, bridge: str, template_vmid: int
) -> list[Need]:
    """What building the template needs: download the disk, create the VM (each config key's
    privilege, qemu-server check_vm_modify_config_perm; SDN.Use on the bridge's zone, PVE 8),
    resize, convert, protect, and audit it."""
    vm = f"/vms/{template_vmid}"
    return [
        Need(
            "download-url",
            f"/storage/{import_storage}",
            ("Datastore.AllocateTemplate",),
        ),
        Need(
            "download-url",
            "/",
            ("Sys.Audit", "Sys.Modify"),
            (f"/nodes/{node}", ("Sys.AccessNetwork",)),
        ),
        Need(
            "create the template VM",
            vm,
            (
                "VM.Allocate",
                "VM.Config.Disk",
                "VM.Config.CPU",
                "VM.Config.Memory",
                "VM.Config.Network",
                "VM.Config.HWType",
                "VM.Config.Options",
                "VM.Config.Cloudinit",
            ),
        ),
        Need("create the template VM", f"/storage/{disk_storage}", ("Datastore.AllocateSpace",)),
        Need("create the template VM", f"/sdn/zones/localnetwork/{bridge}", ("SDN.Use",)),
        Need("read the storages", f"/storage/{import_storage}", ("Datastore.Audit",)),
        Need("read the VMs", vm, ("VM.Audit",)),
    ]
