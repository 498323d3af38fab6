"""What a running lab leaves in its directory for users and for the harness.

DIR/talosconfig, DIR/kubeconfig, DIR/bin/talosctl (a wrapper: never installed on the user's
PATH), DIR/env (shell exports), DIR/cluster.yaml (a concrete profile of this lab, loadable by
the harness like any real cluster's), DIR/pve-token, DIR/change-token (the change desk's
secret), DIR/lab.json (pid, addresses, state).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from emulator.addresses import CHANGE_PORT, CONTROL_PORT, KUBE_PORT, PVE_PORT

if TYPE_CHECKING:
    from emulator.world import EmulatedCluster

REPO = Path(__file__).resolve().parent.parent
STATE = "lab.json"
_DUMMY_PEM = "LS0tLS1CRUdJTiBMQUIgRFVNTVktLS0tLQo="  # "-----BEGIN LAB DUMMY-----": no real keys


def _atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(mode)
    tmp.replace(path)


def write_lab_files(world: EmulatedCluster, pid: int) -> None:
    """Write every file a user or the harness needs to reach this lab."""
    d = world.dir.resolve()
    (d / "bin").mkdir(parents=True, exist_ok=True)
    cps = [n.address for n in world.control_planes]
    talosconfig = {
        "context": world.spec.name,
        "contexts": {world.spec.name: {"endpoints": cps, "ca": _DUMMY_PEM, "crt": _DUMMY_PEM,
                                       "key": _DUMMY_PEM}},
    }
    _atomic(d / "talosconfig", yaml.safe_dump(talosconfig, sort_keys=False), 0o600)
    server = f"http://{world.primary.address}:{KUBE_PORT}"
    kubeconfig = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": world.spec.name, "cluster": {"server": server}}],
        # a dummy (the lab checks no token), unique per lab so a test can prove it never leaks
        "users": [{"name": f"admin@{world.spec.name}",
                   "user": {"token": f"lab-dummy-token-{secrets.token_hex(16)}"}}],
        "contexts": [{"name": f"admin@{world.spec.name}",
                      "context": {"cluster": world.spec.name, "user": f"admin@{world.spec.name}",
                                  "namespace": "default"}}],
        "current-context": f"admin@{world.spec.name}",
    }
    _atomic(d / "kubeconfig", yaml.safe_dump(kubeconfig, sort_keys=False), 0o600)
    wrapper = (
        "#!/bin/sh\n"
        "# The lab's emulated talosctl (see emulator/talos/cli.py). Not a real talosctl.\n"
        f"TALOSCTL_LAB_CONTROL={world.plan.control} export TALOSCTL_LAB_CONTROL\n"
        f'exec "{sys.executable}" -s "{REPO / "emulator" / "talos" / "cli.py"}" "$@"\n'
    )
    _atomic(d / "bin" / "talosctl", wrapper, 0o755)
    env = (f'export PATH="{d / "bin"}:$PATH"\n'
           f'export TALOSCONFIG="{d / "talosconfig"}"\n'
           f'export KUBECONFIG="{d / "kubeconfig"}"\n')
    _atomic(d / "env", env)
    token_id, secret = world.pve_token
    _atomic(d / "pve-token", f"{token_id}={secret}\n", 0o600)
    _atomic(d / "change-token", world.change.secret + "\n", 0o600)
    _atomic(d / "cluster.yaml", _profile_text(world, d))
    state = {
        "pid": pid, "dir": str(d), "state": "ready", "started_at": time.time(),
        "control": f"http://{world.plan.control}:{CONTROL_PORT}",
        "kubernetes": server, "factory": world.factory_url,
        "proxmox": f"http://{world.plan.pve}:{PVE_PORT}",
        "change": f"http://{world.plan.change}:{CHANGE_PORT}",
        "etcd_pids": world.etcd.pids() if hasattr(world.etcd, "pids") else {},
    }
    _atomic(d / STATE, json.dumps(state, indent=2))


def _profile_text(world: EmulatedCluster, d: Path) -> str:
    raw: dict[str, Any] = copy.deepcopy(world.spec.raw)
    raw.pop("lab", None)
    raw["name"] = world.spec.name
    talos = raw.setdefault("talos", {})
    talos["talosctl"] = str(d / "bin" / "talosctl")
    talos["talosconfig"] = str(d / "talosconfig")
    talos["kubeconfig"] = str(d / "kubeconfig")
    talos.setdefault("factory", {})["url"] = world.factory_url
    cps = [{"name": n.name, "address": n.address, "vmid": n.vmid, **({"primary": True}
            if n.primary else {})} for n in world.control_planes]
    workers = [{"name": n.name, "address": n.address, "vmid": n.vmid} for n in world.workers]
    raw["nodes"] = {"control_plane": cps, "workers": workers}
    backups = raw.setdefault("backups", {})
    backups["etcd_snapshot_dir"] = str(d / "backups")
    if "proxmox" in raw:
        raw["proxmox"]["api"] = f"http://{world.plan.pve}:{PVE_PORT}"
        raw["proxmox"]["token"] = {"file": str(d / "pve-token")}
        raw["proxmox"]["probe"] = {"vmid": 9199, "address": world.plan.probe, "prefix": 8}
    if isinstance(raw.get("change"), dict):
        raw["change"]["url"] = f"http://{world.plan.change}:{CHANGE_PORT}"
        raw["change"]["credentials"] = {"file": str(d / "change-token")}
    header = ("# Generated by the lab for its current run: a concrete profile of this lab.\n"
              f"# Source: {world.spec.source}\n")
    return header + yaml.safe_dump(raw, sort_keys=False)


def read_state(lab_dir: Path) -> dict[str, Any] | None:
    """The lab's lab.json, or None if there is none."""
    try:
        data = json.loads((lab_dir / STATE).read_text())
        return data if isinstance(data, dict) else None
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def write_failure(lab_dir: Path, message: str) -> None:
    lab_dir.mkdir(parents=True, exist_ok=True)
    _atomic(lab_dir / STATE, json.dumps({"state": "failed", "error": message, "pid": os.getpid()}))


def mark_stopped(lab_dir: Path) -> None:
    state = read_state(lab_dir)
    if state is not None and state.get("state") != "failed":
        state["state"] = "stopped"
        _atomic(lab_dir / STATE, json.dumps(state, indent=2))
