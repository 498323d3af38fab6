"""Test helpers: run the health gate as an operator would (a pytest subprocess) and read it.

`run_gate(...)` runs `python -m pytest runbooks/health ...` from the repo root with a private
TMPDIR (a session's own lab directory lands there) and a JUnit file, and returns a `GateRun`:
exit code, the terminal text, and each check's outcome and message from the JUnit XML.
`real_profile(...)` writes a profile for a "real" cluster on TEST-NET addresses (192.0.2.x:
nothing may ever connect to them) with a fake talosctl that records every call.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
SCHEMATIC = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"
TEST_NET = "192.0.2"  # RFC 5737: documentation only; never routed, never contacted here


@dataclass
class Verdict:
    """One check's result in the JUnit file: passed, failed, error or skipped, and the text."""

    outcome: str
    message: str = ""


@dataclass
class GateRun:
    rc: int
    out: str  # stdout + stderr, what the operator sees
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # by check name
    tmpdir: Path = Path()

    def failed(self) -> list[str]:
        return [name for name, v in self.verdicts.items() if v.outcome == "failed"]

    def text(self, check: str) -> str:
        """The failure text of one check (its findings, one per line)."""
        return self.verdicts[check].message

    def traceback_free(self) -> bool:
        """No Python traceback in what the operator sees (no `file.py:123` frames either)."""
        return "Traceback" not in self.out and re.search(r"\.py:\d+", self.out) is None

    def __str__(self) -> str:  # shown by pytest when an assertion on a GateRun fails
        return f"exit {self.rc}\n{self.out[-4000:]}"


def run_gate(tmp_path: Path, *args: str, target: str = "runbooks/health",
             timeout: float = 180, env: dict[str, str] | None = None) -> GateRun:
    """Run the health gate (or `target`) in a subprocess; return what the operator would see."""
    tmpdir = tmp_path / "session-tmp"
    tmpdir.mkdir(exist_ok=True)
    junit = tmp_path / "junit.xml"
    junit.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "pytest", target,
            f"--junitxml={junit}", *args]
    full_env = {**os.environ, "TMPDIR": str(tmpdir), **(env or {})}
    full_env.pop("PYTEST_ADDOPTS", None)
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=full_env, stdin=subprocess.DEVNULL, check=False)
    run = GateRun(proc.returncode, proc.stdout + proc.stderr, tmpdir=tmpdir)
    if junit.exists():
        run.verdicts = read_junit(junit)
    return run


def read_junit(path: Path) -> dict[str, Verdict]:
    """Check name (the test id's parameter) -> its verdict, from a JUnit XML file."""
    out: dict[str, Verdict] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        key = name[name.find("[") + 1:-1] if "[" in name else name
        verdict = Verdict("passed")
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                verdict = Verdict("failed" if tag == "failure" else tag,
                                  el.text or el.get("message") or "")
        out[key] = verdict
    return out


# ---- profiles --------------------------------------------------------------------------------
RECORDING_TALOSCTL = """#!/bin/sh
# A stand-in for talosctl: records its argv, answers `version --client`, and nothing else.
echo "$*" >> "{log}"
case "$*" in
  *"version --client"*) printf 'Client:\\nTalos v1.9.4\\n'; exit 0 ;;
esac
echo "fake talosctl: refusing to contact anything" >&2
exit 1
"""


def fake_talosctl(path: Path, body: str) -> Path:
    """Write an executable shell script standing in for talosctl; return its path."""
    path.write_text(body)
    path.chmod(0o755)
    return path


def real_profile(tmp_path: Path, name: str = "profile.yaml", **changes: Any) -> Path:
    """A valid profile of a 3-node 'real' cluster on TEST-NET addresses, with `changes` applied
    (dotted keys: {"talos.version": "1.9"}; value None deletes the key). Its talosctl is a
    recording fake; talosconfig and kubeconfig are empty files (nothing could connect)."""
    (tmp_path / "talosconfig").touch()
    (tmp_path / "kubeconfig").touch()
    talosctl = fake_talosctl(tmp_path / "talosctl",
                             RECORDING_TALOSCTL.format(log=tmp_path / "talosctl.calls"))
    raw: dict[str, Any] = {
        "name": "office",
        "talos": {"version": "v1.9.2", "kubernetes": "1.32.0", "talosctl": str(talosctl),
                  "talosconfig": "talosconfig", "kubeconfig": "kubeconfig",
                  "factory": {"schematic": SCHEMATIC,
                              "extensions": ["siderolabs/iscsi-tools"]}},
        "nodes": {"control_plane": [{"name": "cp1", "address": f"{TEST_NET}.10"}],
                  "workers": [{"name": "w1", "address": f"{TEST_NET}.20"},
                              {"name": "w2", "address": f"{TEST_NET}.21"}]},
    }
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        target = raw
        for key in parents:
            target = target.setdefault(key, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def talosctl_calls(tmp_path: Path) -> list[str]:
    """The argv lines the recording fake talosctl of real_profile() was called with."""
    log = tmp_path / "talosctl.calls"
    return log.read_text().splitlines() if log.exists() else []


def lab_dirs(run: GateRun) -> list[Path]:
    """Labs a gate session started in its TMPDIR (`--cluster=lab` without --lab-dir)."""
    return sorted(run.tmpdir.glob("talos-lab-*"))
