"""Helpers for the lab's fidelity tests: run the lab's real bin/talosctl, parse, wait."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx

from emulator.api import Lab

T = TypeVar("T")
REPO = Path(__file__).resolve().parents[2]
HEX16 = r"[0-9a-f]{16}"
SCHEMATIC = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"


def talosctl(lab: Lab, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
             timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run DIR/bin/talosctl as a user's shell would (the lab's env unless `env` is given)."""
    return subprocess.run([str(lab.dir / "bin" / "talosctl"), *args], capture_output=True,
                          text=True, env=env if env is not None else lab.env(), cwd=cwd,
                          timeout=timeout, check=False)


def emulator_cli(*args: str, env: dict[str, str] | None = None,
                 timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run `python -m emulator <args>` from the repository."""
    return subprocess.run([sys.executable, "-m", "emulator", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=timeout, check=False,
                          env=env if env is not None else dict(os.environ, PYTHONPATH=str(REPO)))


def objects(text: str) -> list[dict[str, Any]]:
    """Decode concatenated JSON objects (talosctl get -o json)."""
    decoder, out, pos = json.JSONDecoder(), [], 0
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos == len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        out.append(obj)
    return out


def table(text: str) -> list[dict[str, str]]:
    """Rows of a tabwriter table (3-space padding) by header name (the first of a repeated
    name wins; header names may contain single spaces)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:(?<=^)|(?<=   ))\S", header)]
    names = [header[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        row: dict[str, str] = {}
        for name, cell in zip(names, cells, strict=True):
            row.setdefault(name, cell)
        rows.append(row)
    return rows


def wait_until(probe: Callable[[], T | None], timeout: float, what: str,
               interval: float = 0.05) -> T:
    """Poll `probe` until it returns something truthy; fail with `what` at the deadline."""
    __tracebackhide__ = True
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)  # polling a condition with a deadline
    raise AssertionError(f"after {timeout:g} s still not: {what} (last: {last!r})")


def addresses(lab: Lab) -> dict[str, str]:
    """Node name -> loopback address."""
    return {n["name"]: n["address"] for n in lab.status()["nodes"]}


def node_status(lab: Lab, name: str) -> dict[str, Any]:
    """The node's entry of `status --json`."""
    return next(n for n in lab.status()["nodes"] if n["name"] == name)


def installer(lab: Lab, version: str, schematic: str = SCHEMATIC) -> str:
    """The lab factory's installer reference for a version."""
    host = lab.state["factory"].split("://", 1)[1]
    return f"{host}/installer/{schematic}:{version}"


def tracker_lines(stderr: str, node: str) -> list[str]:
    """The `"<node>": <message>` progress messages of one node, in order."""
    prefix = f'"{node}": '
    return [line[len(prefix):] for line in stderr.splitlines() if line.startswith(prefix)]


def idle(lab: Lab, name: str, timeout: float = 30.0) -> dict[str, Any]:
    """Wait until a node has finished whatever it was doing (booted, Ready); return it."""
    def probe() -> dict[str, Any] | None:
        n = node_status(lab, name)
        return n if n["busy"] is None and n["apid"] and n["stage"] == "running" else None

    return wait_until(probe, timeout, f"{name} idle and running")


def lab_api(lab: Lab) -> httpx.Client:
    """A client of the lab's Proxmox VE API with the lab's API token."""
    token = (lab.dir / "pve-token").read_text().strip()
    return httpx.Client(
        base_url=lab.state["proxmox"] + "/api2/json",
        timeout=10,
        headers={"Authorization": f"PVEAPIToken={token}"},
    )
