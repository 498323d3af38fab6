"""The read-only health gate's speed, and its cost per node count (issue 3).

    .venv/bin/python bench/health_gate.py [--repeat 3] [--nodes 300]

For the default 6-node lab and a --nodes lab (3 control planes, the rest workers), started
first (lab start excluded), it runs --repeat times, as a user would:
    .venv/bin/python -m pytest runbooks/health --cluster=DIR/cluster.yaml -p bench._probe
and takes the median wall time of that process (interpreter start to exit). The probe plugin
(bench/_probe.py) only observes: it reads the harness's own counters at the end of the
session, `Runner.calls` (talosctl processes) and `Kube.requests` (Kubernetes API calls), and
records each process and request, to show which ones they were.
Targets: gate < 5 s at 6 nodes; < 30 s at 300; talosctl processes and Kubernetes requests at
300 nodes no more than at 6 (they must not grow with the node count).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PY,
    REPO,
    LabRun,
    Results,
    Target,
    extra_workers_for,
    harness_env,
    lab_down,
    lab_up,
    median,
    say,
    scratch,
)


def run_gate(lab: LabRun, out: Path) -> dict[str, Any]:
    """One health-gate run with the probe; return wall time, outcome and the probe's counts."""
    env = dict(harness_env(), BENCH_PROBE_OUT=str(out))
    cmd = [PY, "-m", "pytest", "runbooks/health", f"--cluster={lab.profile}", "-q",
           "-p", "bench._probe"]
    t0 = time.time()
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - started
    probe = json.loads(out.read_text())
    tests = probe["tests"]
    times = probe["times"]
    return {
        "wall_seconds": wall,
        "exit_code": proc.returncode,
        "summary": (proc.stdout.strip().splitlines() or [""])[-1],
        "tests": len(tests),
        "failed": sorted(k.split("[", 1)[-1].rstrip("]") for k, v in tests.items()
                         if v["outcome"] != "passed"),
        "startup_seconds": times.get("first_test", t0) - t0,
        "tests_seconds": times.get("last_test_done", t0) - times.get("first_test", t0),
        "talosctl_processes": probe["counters"]["runner_calls"],
        "kube_requests": probe["counters"]["kube_requests"],
        "processes_seen": probe["counters"]["processes_seen"],
        "kube_requests_seen": probe["counters"]["kube_requests_seen"],
        "observations": probe["observations"]["count"],
        "talosctl_by_command": {k: v["calls"] for k, v in probe["processes"]["by_command"].items()},
        "kube_by_request": probe["kube"]["by_what"],
    }


def measure(base: Path, nodes: int, repeat: int) -> dict[str, Any]:
    say(f"{nodes}-node lab: starting")
    extra = extra_workers_for(nodes)
    lab = lab_up(base / f"lab-{nodes}", extra_workers=extra or None)
    try:
        runs = []
        for i in range(repeat):
            say(f"{nodes}-node lab: health gate {i + 1}/{repeat}")
            runs.append(run_gate(lab, base / f"probe-{nodes}-{i}.json"))
    finally:
        lab_down(lab.dir)
    return {"nodes": nodes, "lab_up_seconds": lab.up_seconds, "runs": runs,
            "median_wall_seconds": median([r["wall_seconds"] for r in runs]),
            "talosctl_processes": max(r["talosctl_processes"] for r in runs),
            "kube_requests": max(r["kube_requests"] for r in runs),
            "all_passed": all(r["exit_code"] == 0 for r in runs)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="gate runs per lab size (median)")
    ap.add_argument("--nodes", type=int, default=300, help="size of the big lab")
    args = ap.parse_args(argv)
    res = Results("health_gate")
    with scratch("health-gate") as base:
        small = measure(base, 6, args.repeat)
        big = measure(base, args.nodes, args.repeat)
    n = args.nodes

    def runs(m: dict[str, Any]) -> str:
        walls = ", ".join(f"{r['wall_seconds']:.2f}" for r in m["runs"])
        inside = median([r["tests_seconds"] for r in m["runs"]])
        return f"runs {walls} s (process wall); median {inside:.2f} s inside the test session"

    res.add(Target("gate, 6 nodes (median)", small["median_wall_seconds"], 5.0, "s",
                   note=runs(small)))
    res.add(Target(f"gate, {n} nodes (median)", big["median_wall_seconds"], 30.0, "s",
                   note=runs(big)))
    res.add(Target(f"talosctl processes, {n} nodes", big["talosctl_processes"],
                   small["talosctl_processes"], "",
                   note=f"{small['talosctl_processes']} at 6 nodes; target: no more than at 6 "
                        f"({_cmds(big)})"))
    res.add(Target(f"Kubernetes requests, {n} nodes", big["kube_requests"],
                   small["kube_requests"], "",
                   note=f"{small['kube_requests']} at 6 nodes; target: no more than at 6"))
    res.details = {"six": small, "big": big,
                   "method": "wall time of the pytest process; counts are Runner.calls and "
                             "Kube.requests read by bench/_probe.py at the end of the session"}
    lines = []
    for m in (small, big):
        if not m["all_passed"]:
            failed = sorted({f for r in m["runs"] for f in r["failed"]})
            lines.append(f"  WARNING: the gate did not pass on the {m['nodes']}-node lab "
                         f"(failed: {', '.join(failed)}): its time and counts include failure "
                         "diagnostics")
    return res.finish(lines)


def _cmds(m: dict[str, Any]) -> str:
    by = m["runs"][0]["talosctl_by_command"]
    return ", ".join(f"{v}x {k.removeprefix('talosctl ')}" for k, v in by.items())


if __name__ == "__main__":
    sys.exit(main())
