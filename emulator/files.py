"""What a running lab leaves in its directory for users and for the harness.

DIR/talosconfig, DIR/kubeconfig, DIR/bin/talosctl and DIR/bin/flux (wrappers: never installed
on the user's PATH), DIR/env (shell exports), DIR/cluster.yaml (a concrete profile of this lab,
with comments, loadable by the harness like any real cluster's; committed in DIR, a git
repository, when git is on PATH), DIR/secrets.yaml (the lab cluster's secrets bundle, the shape
of `talosctl gen secrets`), DIR/pve-token, DIR/change-token (the change desk's secret),
DIR/lab.json (pid, addresses, state). With lab.ssh: DIR/ssh/ (sshd's config and keys, the
client key and known_hosts), DIR/bin/pve-host-shell (sshd's ForceCommand), DIR/pve-bin/qm and
DIR/pve-bin/pvesm (shims that run the command in the lab's PVE model), DIR/pve/local (the
`local` storage's files).
"""

from __future__ import annotations

import copy
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from emulator.addresses import CHANGE_PORT, CONTROL_PORT, KUBE_PORT, PVE_PORT
from emulator.proxmox.sshhost import SSH_PORT

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
    _KUBECONFIGS[str(d)] = yaml.safe_dump(kubeconfig, sort_keys=False)
    _atomic(d / "kubeconfig", _KUBECONFIGS[str(d)], 0o600)
    wrapper = (
        "#!/bin/sh\n"
        "# The lab's emulated talosctl (see emulator/talos/cli.py). Not a real talosctl.\n"
        f"TALOSCTL_LAB_CONTROL={world.plan.control} export TALOSCTL_LAB_CONTROL\n"
        f'exec "{sys.executable}" -s "{REPO / "emulator" / "talos" / "cli.py"}" "$@"\n'
    )
    _atomic(d / "bin" / "talosctl", wrapper, 0o755)
    flux = (
        "#!/bin/sh\n"
        "# The lab's emulated flux (see emulator/flux.py). Not a real flux.\n"
        f"FLUX_LAB_CONTROL={world.plan.control}:{CONTROL_PORT} export FLUX_LAB_CONTROL\n"
        f'exec "{sys.executable}" -s "{REPO / "emulator" / "flux.py"}" "$@"\n'
    )
    _atomic(d / "bin" / "flux", flux, 0o755)
    env = (f'export PATH="{d / "bin"}:$PATH"\n'
           f'export TALOSCONFIG="{d / "talosconfig"}"\n'
           f'export KUBECONFIG="{d / "kubeconfig"}"\n')
    _atomic(d / "env", env)
    token_id, secret = world.pve_token
    _atomic(d / "pve-token", f"{token_id}={secret}\n", 0o600)
    _atomic(d / "change-token", world.change.secret + "\n", 0o600)
    if not (d / "secrets.yaml").exists():  # kept across restarts of the same lab dir
        from emulator.talos.gen import dump, lab_bundle

        _atomic(d / "secrets.yaml", dump(lab_bundle(world)), 0o600)
    _atomic(d / "cluster.yaml", _profile_text(world, d))
    _git_commit(d)
    state = {
        "pid": pid, "dir": str(d), "state": "ready", "started_at": time.time(),
        "control": f"http://{world.plan.control}:{CONTROL_PORT}",
        "kubernetes": server, "factory": world.factory_url,
        "proxmox": f"http://{world.plan.pve}:{PVE_PORT}",
        "change": f"http://{world.plan.change}:{CHANGE_PORT}",
        "etcd_pids": world.etcd.pids() if hasattr(world.etcd, "pids") else {},
    }
    if world.spec.ssh:
        state["ssh"] = f"ssh://root@{world.plan.pve}:{SSH_PORT}"
        state["sshd_pid"] = getattr(world, "sshd_pid", None)
    _atomic(d / STATE, json.dumps(state, indent=2))


_SHIM = """#!{python} -I
# The lab's emulated `{name}` (emulator/proxmox/shell.py), for its SSH host. Not the real tool.
import json, os, sys, urllib.request

URL = "{url}"


def main():
    body = json.dumps({{"argv": [os.path.basename(sys.argv[0]), *sys.argv[1:]],
                       "cwd": os.getcwd()}}).encode()
    req = urllib.request.Request(URL, data=body, headers={{"Content-Type": "application/json"}})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({{}}))
    try:
        with opener.open(req, timeout=300) as resp:
            out = json.loads(resp.read())
    except OSError as e:
        sys.stderr.write(f"{name}: the lab does not answer at {{URL}}: {{e}}\\n")
        return 1
    sys.stdout.write(out["stdout"])
    sys.stderr.write(out["stderr"])
    return int(out["code"])


sys.exit(main())
"""


def write_pve_host_files(world: EmulatedCluster) -> Path:
    """The SSH host's command side: DIR/pve-bin/{qm,pvesm} and DIR/bin/pve-host-shell (sshd's
    ForceCommand: the client's command under `sh -c`, PATH starting with DIR/pve-bin).
    Return the shell's path."""
    d = world.dir.resolve()
    (d / "bin").mkdir(parents=True, exist_ok=True)
    (d / "pve-bin").mkdir(parents=True, exist_ok=True)
    url = f"http://{world.plan.control}:{CONTROL_PORT}/pve-shell"
    for name in ("qm", "pvesm"):
        _atomic(d / "pve-bin" / name, _SHIM.format(python=sys.executable, name=name, url=url),
                0o755)
    shell = (
        "#!/bin/sh\n"
        "# The lab's PVE host shell (sshd ForceCommand, emulator/proxmox/sshhost.py): runs the\n"
        "# client's command with the lab's qm and pvesm first on PATH.\n"
        f'PATH="{d / "pve-bin"}:/usr/bin:/bin"\n'
        "export PATH\n"
        'if [ -z "$SSH_ORIGINAL_COMMAND" ]; then\n'
        '    echo "not emulated: an interactive shell on the lab\'s PVE host" >&2\n'
        "    exit 1\n"
        "fi\n"
        'exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n'
    )
    _atomic(d / "bin" / "pve-host-shell", shell, 0o755)
    return d / "bin" / "pve-host-shell"


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
        if world.spec.ssh:
            raw["proxmox"]["ssh"] = {"host": world.plan.pve, "port": SSH_PORT, "user": "root",
                                     "key": {"file": str(d / "ssh" / "id_ed25519")},
                                     "known_hosts": str(d / "ssh" / "known_hosts")}
    if isinstance(raw.get("change"), dict):
        raw["change"]["url"] = f"http://{world.plan.change}:{CHANGE_PORT}"
        raw["change"]["credentials"] = {"file": str(d / "change-token")}
    if isinstance(raw.get("flux"), dict):
        raw["flux"]["cli"] = str(d / "bin" / "flux")
    if not isinstance(raw.get("rebuild"), dict):
        raw["rebuild"] = {"secrets": str(d / "secrets.yaml")}
    header = ("# Generated by the lab for its current run: a concrete profile of this lab.\n"
              f"# Source: {world.spec.source}\n"
              "# The lab directory is a git repository: commit a change to this file there.\n")
    out = [header]
    for key, value in raw.items():
        note = _SECTION_NOTES.get(key)
        if note:
            out.append(f"\n# {note}\n")
        out.append(yaml.safe_dump({key: value}, sort_keys=False))
    return "".join(out)


_SECTION_NOTES = {
    "name": "The cluster's name (the talosconfig context is named after it).",
    "talos": "Talos: versions, the lab's talosctl, talosconfig, kubeconfig and Image Factory.",
    "nodes": "Nodes: the lab's loopback addresses and Proxmox VM ids.",
    "upgrade": "The upgrade to run: targets and timeouts.",
    "backups": "Backups: Velero and the directory for etcd snapshots.",
    "flux": "Flux (GitOps) objects the lab seeds.",
    "proxmox": ("Proxmox VE: the lab's emulated PVE API, its token file, the probe slot and "
                "(lab.ssh) its SSH host."),
    "change": "Change management: the lab's change desk and its credentials.",
    "rebuild": "The template-based rebuild: the secrets bundle keeps the cluster's identity.",
}
_KUBECONFIGS: dict[str, str] = {}
_GIT_IGNORE = "# only the lab's profile is tracked here\n*\n!.gitignore\n!cluster.yaml\n"


def admin_kubeconfig(world: EmulatedCluster) -> str:
    """The cluster's admin kubeconfig, as the lab wrote it to DIR/kubeconfig."""
    d = world.dir.resolve()
    text = _KUBECONFIGS.get(str(d))
    return text if text is not None else (d / "kubeconfig").read_text()


def _git_commit(d: Path) -> None:
    """Make DIR a git repository holding cluster.yaml (and its .gitignore), committed with a
    repo-local identity; nothing happens without git on PATH."""
    git = shutil.which("git")
    if git is None:
        return
    _atomic(d / ".gitignore", _GIT_IGNORE)
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([git, "-C", str(d), *args], env=env, capture_output=True,
                              text=True, check=False, timeout=30)

    if not (d / ".git").exists():
        run("init", "-q", "-b", "main")
        run("config", "user.name", "lab")
        run("config", "user.email", "lab@lab.invalid")
        run("config", "commit.gpgsign", "false")
    run("add", ".gitignore", "cluster.yaml")
    if run("diff", "--cached", "--quiet").returncode != 0:
        run("commit", "-q", "-m", "lab: cluster.yaml for this run")


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
