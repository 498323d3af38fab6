#!/usr/bin/env python3
"""Verify an evidence bundle:

    python scripts/verify_bundle.py <bundle directory or .tar.gz> [--key PUBLIC_KEY]

Exit 0 when every file matches the bundle's manifest.json (and a signature, when there is one,
holds); 1 naming each changed, missing or extra file or the signature's problem; 2 when the
bundle cannot be read at all. --key (the signer's raw Ed25519 public key, base64, as the
session printed it) requires that signer."""

from __future__ import annotations

import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from drivers.bundle import verify  # noqa: E402


def main(argv: list[str]) -> int:
    key = None
    if len(argv) == 3 and argv[1] == "--key":
        argv, key = argv[:1], argv[2]
    if len(argv) != 1:
        print(
            "usage: verify_bundle.py <bundle directory or .tar.gz> [--key PUBLIC_KEY]",
            file=sys.stderr,
        )
        return 2
    target = Path(argv[0])
    if target.is_file() and target.name.endswith(".tar.gz"):
        with tempfile.TemporaryDirectory() as tmp:
            with tarfile.open(target) as tar:
                tar.extractall(tmp, filter="data")
            (inner,) = [p for p in Path(tmp).iterdir() if p.is_dir()] or [Path(tmp)]
            return _report(target, verify(inner, key))
    if not target.is_dir():
        print(f"{target}: not a bundle directory or .tar.gz", file=sys.stderr)
        return 2
    return _report(target, verify(target, key))


def _report(target: Path, problems: list[str]) -> int:
    if not problems:
        print(f"{target}: intact")
        return 0
    for line in problems:
        print(f"{target}: {line}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
