"""The evidence bundle of a runbook session: one directory (and one .tar.gz of it) holding
what the change record needs, with a manifest of every file's sha256 and the run's identity.

    manifest.json = {"format": 1, "run": {...}, "files": {"<relative path>": "<sha256>", ...}}

`verify(directory)` says what differs from the manifest: each changed, missing or extra file
(the manifest itself is the only file it does not list). Signing is not done yet.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
FORMAT = 1


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.relative_to(directory).as_posix() != MANIFEST
    )


def write_manifest(directory: Path, run: Mapping[str, Any]) -> Path:
    """Hash every file of the bundle into manifest.json (with the run's identity)."""
    files = {p.relative_to(directory).as_posix(): sha256_of(p) for p in _files(directory)}
    path = directory / MANIFEST
    path.write_text(json.dumps({"format": FORMAT, "run": dict(run), "files": files}, indent=2))
    return path


def archive(directory: Path) -> Path:
    """`<directory>.tar.gz` of the whole bundle, the manifest included."""
    out = directory.with_name(directory.name + ".tar.gz")
    with tarfile.open(out, "w:gz") as tar:
        tar.add(directory, arcname=directory.name)
    return out


def verify(directory: Path) -> list[str]:
    """What differs from the manifest, one line each (`changed: x`, `missing: y`,
    `extra: z`); empty when the bundle is intact. A missing or unreadable manifest is one
    line too."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        listed: dict[str, str] = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f"no readable manifest: {path}: {e}"]
    problems = []
    present = {p.relative_to(directory).as_posix(): p for p in _files(directory)}
    for name, digest in sorted(listed.items()):
        if name not in present:
            problems.append(f"missing: {name}")
        elif sha256_of(present[name]) != digest:
            problems.append(f"changed: {name}")
    problems += [f"extra: {name}" for name in sorted(set(present) - set(listed))]
    return problems


def copy_in(directory: Path, source: Path, name: str | None = None) -> None:
    """Copy a file or a directory into the bundle (under `name`, else its own name)."""
    dest = directory / (name or source.name)
    if source.is_dir():
        shutil.copytree(source, dest, dirs_exist_ok=True)
    elif source.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, dest)
