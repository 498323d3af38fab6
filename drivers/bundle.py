"""The evidence bundle of a runbook session: one directory (and one .tar.gz of it) holding
what the change record needs, with a manifest of every file's sha256 and the run's identity.

    manifest.json = {"format": 1, "run": {...}, "files": {"<relative path>": "<sha256>", ...}}

`verify(directory)` says what differs from the manifest: each changed, missing or extra file
(the manifest and its signature are the files it does not list). With a signing key the
manifest is signed (Ed25519, the `cryptography` library): `manifest.json.sig` holds the
algorithm, the public key and the signature of manifest.json's bytes; a signed bundle verifies
only if the signature holds, and `verify(..., key=)` also requires that signer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import shutil
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

MANIFEST = "manifest.json"
SIGNATURE = "manifest.json.sig"
FORMAT = 1


class SigningError(ValueError):
    """A signing or public key that cannot be used (the message says why, never the key)."""


def sha256_of(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (an etcd snapshot may be gigabytes)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file() and p.relative_to(directory).as_posix() not in (MANIFEST, SIGNATURE)
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


def _private_key(text: str) -> Ed25519PrivateKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode(), password=None)
        else:
            key = Ed25519PrivateKey.from_private_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error) as e:
        raise SigningError(f"not an Ed25519 private key: {type(e).__name__}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"not an Ed25519 private key: a {type(key).__name__}")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    """The raw 32-byte public key in base64 (how the signature file and --key name a key)."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def sign(directory: Path, private_key: str) -> str:
    """Sign manifest.json with the Ed25519 key (PEM, or raw base64); return the public key."""
    key = _private_key(private_key)
    signature = key.sign((directory / MANIFEST).read_bytes())
    public = public_key_text(key.public_key())
    body = {
        "algorithm": "ed25519",
        "public_key": public,
        "signature": base64.b64encode(signature).decode(),
    }
    (directory / SIGNATURE).write_text(json.dumps(body, indent=2))
    return public


def _signature_problems(directory: Path, key: str | None) -> list[str]:
    path = directory / SIGNATURE
    if not path.exists():
        return [f"not signed: no {SIGNATURE} (a signer was required)"] if key else []
    try:
        body = json.loads(path.read_text())
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(body["public_key"]))
        signature = base64.b64decode(body["signature"])
    except (OSError, ValueError, KeyError, TypeError, binascii.Error) as e:
        return [f"unreadable signature: {SIGNATURE}: {type(e).__name__}"]
    try:
        public.verify(signature, (directory / MANIFEST).read_bytes())
    except InvalidSignature:
        return [f"bad signature: {MANIFEST} was changed after it was signed"]
    if key is not None and body["public_key"] != key.strip():
        return [f"signed by another key: {body['public_key']}"]
    return []


def verify(directory: Path, key: str | None = None) -> list[str]:
    """What differs from the manifest, one line each (`changed: x`, `missing: y`,
    `extra: z`, a signature problem); empty when the bundle is intact. A missing or
    unreadable manifest is one line too. `key` (raw public key, base64): the signer the
    bundle must have."""
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
        listed: dict[str, str] = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        return [f"no readable manifest: {path}: {e}"]
    problems = _signature_problems(directory, key)
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
