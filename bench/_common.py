"""Shared plumbing of the benchmarks: labs, timing, /proc memory sampling, the result table.

A benchmark reports, it does not gate: it prints a table (measured vs target, PASS/FAIL),
writes reports/bench/<name>.json and exits 0 unless it crashed. Labs are started and stopped
through the lab's own command line (`python -m emulator up/down`), exactly as a user does.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
PY = str(REPO / ".venv" / "bin" / "python")
REPORTS = REPO / "reports" / "bench"
NOISE_NOTE = ("shared 2-core machine; other jobs may run at the same time, so numbers can be "
              "pessimistic")


# ---- results --------------------------------------------------------------------------------
@dataclass
class Target:
    """One measured quantity against its target (`limit`, met when measured <= or >= it)."""

    name: str
    measured: float | None
    limit: float
    unit: str
    at_least: bool = False  # True: the target is a minimum (measured >= limit)
    note: str = ""

    @property
    def passed(self) -> bool:
        if self.measured is None:
            return False
        return self.measured >= self.limit if self.at_least else self.measured <= self.limit


@dataclass
class Results:
    """What a benchmark writes to reports/bench/<name>.json."""

    name: str
    targets: list[Target] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, target: Target) -> Target:
        self.targets.append(target)
        return target

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.name,
            "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                        "loadavg_at_end": list(os.getloadavg()), "note": NOISE_NOTE},
            "targets": [dict(asdict(t), passed=t.passed) for t in self.targets],
            "all_passed": all(t.passed for t in self.targets),
            "details": self.details,
        }

    def write(self, suffix: str = "") -> Path:
        """Write the JSON report (reports/bench/<name><suffix>.json); return its path."""
        REPORTS.mkdir(parents=True, exist_ok=True)
        path = REPORTS / f"{self.name}{suffix}.json"
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")
        return path

    def table(self) -> str:
        """The human table: one row per target."""
        rows = [["measure", "measured", "target", "verdict"]]
        for t in self.targets:
            shown = "n/a" if t.measured is None else _fmt(t.measured, t.unit)
            limit = ("≥ " if t.at_least else "< " if t.unit in ("s", "ms", "MiB") else "≤ ") \
                + _fmt(t.limit, t.unit)
            rows.append([t.name, shown, limit, "PASS" if t.passed else "FAIL"])
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                 for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def finish(self, extra_lines: Sequence[str] = (), suffix: str = "") -> int:
        """Print the table (and notes), write the JSON; return the exit code (always 0)."""
        print()
        print(f"== {self.name} ==")
        print(self.table())
        for t in self.targets:
            if t.note:
                print(f"  * {t.name}: {t.note}")
        for line in extra_lines:
            print(line)
        print(f"note: {NOISE_NOTE}")
        print(f"results: {self.write(suffix)}")
        return 0


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.0f} ms"
    if unit == "MiB":
        return f"{value:.0f} MiB"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g}{(' ' + unit) if unit else ''}"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def say(text: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(text, file=sys.stderr, flush=True)


# ---- labs -------------------------------------------------------------------------------------
@dataclass
class LabRun:
    """A lab started for a benchmark: its directory, how long `up` took, its concrete profile."""

    dir: Path
    up_seconds: float

    @property
    def talosctl(self) -> Path:
        return self.dir / "bin" / "talosctl"

    @property
    def profile(self) -> Path:
        return self.dir / "cluster.yaml"

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.dir / "lab.json").read_text())
        return data

    def env(self) -> dict[str, str]:
        return dict(os.environ, PATH=f"{self.dir / 'bin'}:{os.environ.get('PATH', '')}",
                    TALOSCONFIG=str(self.dir / "talosconfig"),
                    KUBECONFIG=str(self.dir / "kubeconfig"))

    def status(self) -> dict[str, Any]:
        out = subprocess.run([PY, "-m", "emulator", "status", "--dir", str(self.dir), "--json"],
                             cwd=REPO, capture_output=True, text=True, check=True, timeout=60)
        data: dict[str, Any] = json.loads(out.stdout)
        return data


def lab_up(lab_dir: Path, *, extra_workers: int | None = None, timeout: float = 180.0,
           profile: Path | None = None, faults: Path | None = None) -> LabRun:
    """`python -m emulator up --dir lab_dir`; return once it is ready (raise on failure)."""
    cmd = [PY, "-m", "emulator", "up", "--dir", str(lab_dir), "--timeout", str(int(timeout))]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    if faults is not None:
        cmd += ["--faults", str(faults)]
    if extra_workers:
        cmd += ["--extra-workers", str(extra_workers)]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout + 30)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"lab up failed ({proc.returncode}): {proc.stderr.strip()}")
    return LabRun(lab_dir.resolve(), took)


def lab_down(lab_dir: Path) -> None:
    """`python -m emulator down --dir lab_dir` (stops the lab and its etcd members)."""
    subprocess.run([PY, "-m", "emulator", "down", "--dir", str(lab_dir)], cwd=REPO,
                   capture_output=True, text=True, timeout=90, check=False)


@contextmanager
def scratch(prefix: str) -> Iterator[Path]:
    """A temporary directory for labs, removed afterwards (labs must be down by then)."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{prefix}-") as d:
        yield Path(d)


# ---- memory: sum of RSS of the lab process and its descendants, sampled from /proc ------------
def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def _ppids() -> dict[int, int]:
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = _read(f"/proc/{name}/stat")
        if not stat:
            continue
        # pid (comm) state ppid ...; comm may contain spaces: split after the last ')'
        rest = stat.rsplit(")", 1)[-1].split()
        if len(rest) >= 2:
            out[int(name)] = int(rest[1])
    return out


def rss_kib(pid: int) -> int:
    """VmRSS of one process in KiB (0 when it is gone)."""
    for line in _read(f"/proc/{pid}/status").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def lab_processes(lab_dir: Path) -> list[int]:
    """PIDs of the lab process (`emulator serve --dir lab_dir`) and all its descendants."""
    want = str(lab_dir.resolve())
    roots = []
    ppids = _ppids()
    for pid in ppids:
        argv = _read(f"/proc/{pid}/cmdline").split("\0")
        if "serve" in argv and "emulator" in argv and want in argv:
            roots.append(pid)
    children: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


class MemorySampler:
    """Samples the summed RSS of a lab's processes every `interval` s (a thread); keeps the peak."""

    def __init__(self, lab_dir: Path, interval: float = 0.05) -> None:
        self.lab_dir = lab_dir
        self.interval = interval
        self.samples: list[tuple[float, int, int]] = []  # (t, KiB, process count)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._t0 = time.perf_counter()

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = lab_processes(self.lab_dir)
            if pids:
                total = sum(rss_kib(p) for p in pids)
                self.samples.append((time.perf_counter() - self._t0, total, len(pids)))
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    @property
    def peak_mib(self) -> float | None:
        return max(s[1] for s in self.samples) / 1024 if self.samples else None

    @property
    def last_mib(self) -> float | None:
        return self.samples[-1][1] / 1024 if self.samples else None

    @property
    def max_processes(self) -> int:
        return max((s[2] for s in self.samples), default=0)


def harness_env() -> dict[str, str]:
    """The environment for harness runs: the repo importable, nothing else changed."""
    return dict(os.environ, PYTHONPATH=str(REPO))


def run_in_place(lab_dir: Path, *args: str, env: dict[str, str] | None = None,
                 timeout: float = 3600) -> tuple[subprocess.CompletedProcess[str], float]:
    """`pytest runbooks/in_place --cluster=lab --lab-dir DIR -q ARGS` from the repository;
    the finished process and its wall time (interpreter start to exit)."""
    cmd = [PY, "-m", "pytest", "runbooks/in_place", "--cluster=lab", f"--lab-dir={lab_dir}",
           "-q", "-p", "no:cacheprovider", *args]
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env or harness_env(), capture_output=True,
                          text=True, timeout=timeout)
    return proc, time.perf_counter() - started


def extra_workers_for(total_nodes: int) -> int:
    """`--extra-workers` that makes the default lab (clusters/lab.yaml) `total_nodes` nodes big:
    the lab adds extra workers to the profile's own nodes (3 + 3, so 297 extra = 303 nodes)."""
    import yaml

    raw = yaml.safe_load((REPO / "clusters" / "lab.yaml").read_text())
    base = sum(len(raw["nodes"].get(k) or []) for k in ("control_plane", "workers"))
    if total_nodes < base:
        raise ValueError(f"the default lab already has {base} nodes")
    return total_nodes - base
