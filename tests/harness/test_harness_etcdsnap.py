"""Verifying a saved etcd snapshot (drivers/etcdsnap.py) before anything is rebooted or torn
down: talosctl's two lines, the size and etcd's sha256 trailer over the content (the check
`etcdutl snapshot restore` makes, etcdutl/snapshot/v3_snapshot.go: size % 512 == 32 and the
last 32 bytes the sha256 of the rest)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from drivers.errors import DriverError
from drivers.etcdsnap import verify_snapshot
from drivers.process import Runner


def _file(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "db.snapshot"
    path.write_bytes(body + hashlib.sha256(body).digest())
    return path


def _out(path: Path) -> str:
    # the format strings of talosctl etcd snapshot (reference §2.4)
    return (f'etcd snapshot saved to "{path}" ({path.stat().st_size} bytes)\n'
            "snapshot info: hash c25fd181, revision 4193, total keys 1287, total size 3035136\n")


def test_a_flipped_byte_breaks_the_trailer(tmp_path: Path) -> None:
    path = _file(tmp_path, b"\x01" * 1024)
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DriverError, match="its sha256 trailer does not match its content"):
        verify_snapshot(path, _out(path), "cp1", Runner())


def test_no_trailer_is_refused_first(tmp_path: Path) -> None:
    path = tmp_path / "raw.db"
    path.write_bytes(b"\x00" * 2048)
    with pytest.raises(DriverError, match=r"no sha256 trailer \(size % 512 must be 32\)"):
        verify_snapshot(path, _out(path), "cp1", Runner())
