"""Verifying an etcd snapshot file saved by `talosctl etcd snapshot`.

Checks: the size is plausible and carries etcd's sha256 trailer (size % 512 == 32) that
matches the content (what `etcdutl snapshot restore` and `talosctl bootstrap --recover-from`
verify: etcdutl/snapshot/v3_snapshot.go), the
`snapshot info: hash H, revision R, ...` line talosctl printed, and `etcdctl snapshot status`
of the file agreeing with that line. Returns the backup's record
(model.run_record.EtcdBackup) with the file's sha256.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

from drivers.errors import DriverError, ToolNotFound
from drivers.process import Runner
from model.run_record import EtcdBackup

_SAVED = re.compile(r'^etcd snapshot saved to "(?P<path>.+)" \((?P<size>\d+) bytes\)$', re.M)
_INFO = re.compile(
    r"^snapshot info: hash (?P<hash>[0-9a-f]{8}), revision (?P<rev>\d+), "
    r"total keys (?P<keys>\d+), total size (?P<tsize>\d+)$",
    re.M,
)


def verify_snapshot(
    path: Path, talosctl_stdout: str, node: str, runner: Runner, etcdctl: str = "etcdctl"
) -> EtcdBackup:
    """Return the verified record; raise DriverError saying which verification failed."""
    saved = _SAVED.search(talosctl_stdout)
    info = _INFO.search(talosctl_stdout)
    if not saved or not info:
        raise DriverError(
            "etcd snapshot: talosctl did not print the 'saved to' and "
            f"'snapshot info' lines; got: {talosctl_stdout.strip()[:200]!r}"
        )
    if not path.exists():
        raise DriverError(f"etcd snapshot: {path} does not exist after talosctl reported success")
    size = path.stat().st_size
    if size != int(saved["size"]):
        raise DriverError(
            f"etcd snapshot: {path} has {size} bytes, talosctl reported {saved['size']}"
        )
    if size < 512 or size % 512 != 32:
        raise DriverError(
            f"etcd snapshot: {path} has {size} bytes: no sha256 trailer (size % 512 must be 32)"
        )
    data = path.read_bytes()
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        raise DriverError(
            f"etcd snapshot: {path}: its sha256 trailer does not match its content (the file "
            "is not what etcd sent; a recovery from it would fail its hash check)"
        )
    if shutil.which(etcdctl) is None:
        raise ToolNotFound(
            f"{etcdctl}: not found; it is needed to verify the etcd snapshot "
            "(apt-get install etcd-client)"
        )
    done = runner.run(
        [etcdctl, "snapshot", "status", str(path), "-w", "json"],
        timeout=60,
        env={"ETCDCTL_API": "3"},
        title=f"verify snapshot: etcdctl snapshot status {path.name}",
    )
    try:
        status = json.loads(done.stdout)
    except ValueError:
        raise DriverError(
            f"etcd snapshot: etcdctl snapshot status gave no JSON: {done.stdout[:200]!r}"
        ) from None
    if f"{int(status['hash']):08x}" != info["hash"] or int(status["revision"]) != int(info["rev"]):
        raise DriverError(
            f"etcd snapshot: file says hash {int(status['hash']):08x} revision "
            f"{status['revision']}, talosctl said hash {info['hash']} revision "
            f"{info['rev']}"
        )
    digest = hashlib.sha256(data).hexdigest()
    return EtcdBackup(
        str(path), size, digest, info["hash"], int(info["rev"]), int(info["keys"]), node
    )
