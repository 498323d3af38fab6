"""Snapshots with the real etcdctl: `snapshot save` from one member, the sha256-trailer check
talosctl makes (size % 512 == 32), and `snapshot status -w json` for hash/revision/keys/size."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from emulator.etcd import process as px
from emulator.etcd.errors import EtcdError, EtcdTimeout
from emulator.etcd.types import SnapshotInfo

MISSING_ETCDCTL = "etcdctl binary not found: install etcd-client (apt-get install etcd-client)"


def run_etcdctl(etcdctl_bin: str, args: list[str], timeout: float) -> str:
    """Run etcdctl (API v3) and return its stdout; raise EtcdError with its last stderr line,
    EtcdTimeout if it runs past `timeout`."""
    try:
        done = subprocess.run([etcdctl_bin, *args], capture_output=True, text=True,
                              timeout=timeout, env=px.child_env(), check=False)
    except FileNotFoundError:
        raise EtcdError(MISSING_ETCDCTL) from None
    except subprocess.TimeoutExpired:
        raise EtcdTimeout(f"etcdctl {' '.join(args)} did not finish in {timeout:g}s") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        raise EtcdError(f"etcdctl {' '.join(args)} failed: {last}")
    return done.stdout


def check_trailer(path: Path) -> int:
    """Return the file's size; raise EtcdError `sha256 checksum not found (size N)` (talosctl's
    text) unless size % 512 == 32."""
    size = path.stat().st_size
    if size % 512 != 32:
        raise EtcdError(f"sha256 checksum not found (size {size})")
    return size


def snapshot_status(etcdctl_bin: str, path: Path, timeout: float = 30.0) -> SnapshotInfo:
    """Return `etcdctl snapshot status -w json` of a snapshot file (after the trailer check)."""
    size = check_trailer(path)
    info = json.loads(run_etcdctl(etcdctl_bin, ["snapshot", "status", "-w", "json", str(path)],
                                  timeout))
    return SnapshotInfo(path=str(path), size_bytes=size, hash=int(info["hash"]),
                        revision=int(info["revision"]), total_keys=int(info["totalKey"]),
                        total_size=int(info["totalSize"]))


def save_snapshot(etcdctl_bin: str, endpoint: str, dest: Path, timeout: float = 60.0
                  ) -> SnapshotInfo:
    """Save a snapshot from `endpoint` (http://addr:2379) to `dest` (parents created; etcdctl
    writes `dest.part` and renames it) and return its status."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_etcdctl(etcdctl_bin, ["--endpoints", endpoint, "snapshot", "save", str(dest)], timeout)
    return snapshot_status(etcdctl_bin, dest, timeout)
