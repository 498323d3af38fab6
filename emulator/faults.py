"""Faults by name: parsed from a YAML list (`--faults FILE`) or from `emulator fault` at run time.

A fault is validated against the world (known kind, known node, required parameters) before
anything changes. Immediate faults act at once; the others arm themselves for the node's next
matching event (see emulator/COVERAGE.md for each kind's trigger).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emulator.errors import LabConfigError, UnknownFault, UnknownNode

# kind -> (immediate?, required params, optional params, node required?)
KINDS: dict[str, tuple[bool, tuple[str, ...], tuple[str, ...], bool]] = {
    "boot_failure": (False, (), (), False),
    "never_ready": (False, (), (), False),
    "extension_missing": (False, ("extension",), (), False),
    "image_pull_failure": (False, (), (), False),
    "stale_etcd_member": (True, (), (), False),
    "etcd_member_down": (True, (), (), False),
    "slow_etcd_catchup": (False, (), ("seconds",), False),
    "drain_blocked": (True, (), (), False),
    "crashloop_pod": (True, (), ("namespace",), False),
    "flux_not_ready": (True, (), ("name",), False),
    "velero_backup_fails": (False, (), (), False),
    "api_unreachable": (False, (), ("seconds",), False),
    "cordoned": (True, (), (), False),
    "node_down": (True, (), (), False),
    "slow_etcd_member": (True, (), ("seconds",), False),
    "change_not_approved": (True, (), ("ref",), False),
    "change_outside_window": (True, (), ("ref",), False),
    "change_attachment_fails": (True, (), (), False),
    "image_download_fails": (True, (), ("message",), False),
    "template_vmid_taken": (True, ("vmid",), ("name",), False),
    "vm_wont_stop": (True, (), ("vmid",), False),  # node or vmid (faultapply.prepare)
    "clone_fails": (True, (), ("after", "message"), False),
    "snapshot_hash_mismatch": (False, (), (), False),
    "maintenance_stuck": (False, (), (), False),  # next apply-config --insecure (provision.py)
    "bootstrap_fails": (False, (), (), False),  # next talosctl bootstrap (provision.py)
}


@dataclass
class Fault:
    kind: str
    node: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fired: bool = False  # an armed fault that has acted

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "node": self.node, **self.params, "fired": self.fired}


def make_fault(
    kind: str, node: str | None, params: dict[str, Any], nodes: set[str], where: str = ""
) -> Fault:
    """Return a validated Fault; raise UnknownFault/UnknownNode/LabConfigError naming the
    problem."""
    prefix = f"{where}: " if where else ""
    if kind not in KINDS:
        raise UnknownFault(f"{prefix}unknown fault {kind!r} (known: {', '.join(sorted(KINDS))})")
    _, required, optional, _ = KINDS[kind]
    if node is not None and node not in nodes:
        raise UnknownNode(f"{prefix}fault {kind}: unknown node {node!r} (lab nodes: "
                          f"{', '.join(sorted(nodes))})")
    for p in required:
        if params.get(p) in (None, ""):
            raise LabConfigError(f"{prefix}fault {kind}: parameter {p!r} is required")
    for p in params:
        if p not in required + optional:
            raise LabConfigError(f"{prefix}fault {kind}: unknown parameter {p!r}")
    if "seconds" in params:
        try:
            params["seconds"] = float(params["seconds"])
        except (TypeError, ValueError):
            raise LabConfigError(f"{prefix}fault {kind}: seconds must be a number") from None
    if "vmid" in params:
        try:
            params["vmid"] = int(params["vmid"])
        except (TypeError, ValueError):
            raise LabConfigError(f"{prefix}fault {kind}: vmid must be a number") from None
    if "after" in params:
        try:
            params["after"] = int(params["after"])
            if params["after"] < 0:
                raise ValueError
        except (TypeError, ValueError):
            raise LabConfigError(f"{prefix}fault {kind}: after must be a number (0 or more)"
                                 ) from None
    return Fault(kind, node, dict(params))


def load_faults(path: Path, nodes: set[str]) -> list[Fault]:
    """Parse a faults file: a YAML list of {kind, node?, ...params}."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise LabConfigError(f"{path}: faults file not found") from None
    except yaml.YAMLError:
        raise LabConfigError(f"{path}: not valid YAML") from None
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise LabConfigError(f"{path}: a faults file must be a YAML list of "
                             "{kind: ..., node: ...}")
    out = []
    for i, item in enumerate(raw):
        if not isinstance(item, dict) or "kind" not in item:
            raise LabConfigError(f"{path}: [{i}]: each fault needs a 'kind'")
        params = {k: v for k, v in item.items() if k not in ("kind", "node")}
        node = item.get("node")
        out.append(make_fault(str(item["kind"]), None if node is None else str(node), params,
                              nodes, where=f"{path}: [{i}]"))
    return out
