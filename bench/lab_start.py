"""Lab start-up speed and memory, and the latency of one emulated talosctl call (issue 2).

    .venv/bin/python bench/lab_start.py [--repeat 3] [--calls 30] [--nodes 300]

Measures, through the lab's own command line (`python -m emulator up/down`):
- the wall time of `up` for the default 6-node lab (median of --repeat starts; `up` returns
  only when the lab is ready);
- the wall time of `up --extra-workers 294` (300 nodes, 3 control planes: the lab adds extra
  workers to the default profile's 6 nodes, so 297 would make 303), and the peak of the
  summed RSS of the lab process and its etcd children, sampled from /proc every 50 ms from
  `up` until the lab has answered `status --json` and `get members` for all 300 nodes;
- the median wall time of `bin/talosctl -n <cp1> get members -o json` on the 6-node lab
  (--calls runs after one warm-up call).
Targets: 6 nodes < 3 s; 300 nodes < 20 s and < 1 GiB; get members median < 150 ms.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    LabRun,
    MemorySampler,
    Results,
    Target,
    extra_workers_for,
    lab_down,
    lab_up,
    median,
    say,
    scratch,
)


def start_once(lab_dir: Path, extra_workers: int | None, answer: bool) -> dict[str, Any]:
    """Start a lab while sampling its memory; optionally make it answer; stop it."""
    sampler = MemorySampler(lab_dir)
    try:
        with sampler:
            lab = lab_up(lab_dir, extra_workers=extra_workers)
            rss_ready = sampler.last_mib
            answered = make_it_answer(lab) if answer else {}
    finally:
        lab_down(lab_dir)
    return {"up_seconds": lab.up_seconds, "peak_rss_mib": sampler.peak_mib,
            "rss_at_ready_mib": rss_ready, "processes": sampler.max_processes,
            "samples": len(sampler.samples), **answered}


def make_it_answer(lab: LabRun) -> dict[str, Any]:
    """Prove the lab answers for every node: status --json and one get members over cp1."""
    t0 = time.perf_counter()
    status = lab.status()
    status_s = time.perf_counter() - t0
    cp1 = next(n["address"] for n in status["nodes"] if n.get("primary"))
    t0 = time.perf_counter()
    out = subprocess.run([str(lab.talosctl), "-n", cp1, "get", "members", "-o", "json"],
                         env=lab.env(), capture_output=True, text=True, timeout=120, check=True)
    members_s = time.perf_counter() - t0
    members = out.stdout.count('"node":')
    return {"status_nodes": len(status["nodes"]), "status_seconds": status_s,
            "members_listed": members, "get_members_seconds": members_s}


def time_get_members(lab: LabRun, calls: int) -> dict[str, Any]:
    """Run `bin/talosctl -n <cp1> get members -o json` `calls` times (after one warm-up)."""
    cp1 = next(n["address"] for n in lab.status()["nodes"] if n.get("primary"))
    argv = [str(lab.talosctl), "-n", cp1, "get", "members", "-o", "json"]
    env = lab.env()
    subprocess.run(argv, env=env, capture_output=True, check=True, timeout=60)  # warm-up
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        times.append(time.perf_counter() - t0)
        if out.returncode != 0 or '"node":' not in out.stdout:
            raise RuntimeError(f"get members failed: {out.stderr.strip()}")
    ordered = sorted(times)
    return {"command": " ".join(argv), "calls": calls, "median_ms": median(times) * 1000,
            "min_ms": ordered[0] * 1000, "max_ms": ordered[-1] * 1000,
            "p90_ms": ordered[int(0.9 * (len(ordered) - 1))] * 1000,
            "all_ms": [round(t * 1000, 1) for t in times]}


def _secs(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['up_seconds']:.2f}" for r in runs)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="lab starts per size (median)")
    ap.add_argument("--calls", type=int, default=30, help="get members calls")
    ap.add_argument("--nodes", type=int, default=300, help="size of the big lab (3 control "
                    "planes; the rest are workers added with --extra-workers)")
    args = ap.parse_args(argv)
    res = Results("lab_start")
    with scratch("lab-start") as base:
        small = []
        for i in range(args.repeat):
            say(f"6-node lab: start {i + 1}/{args.repeat}")
            small.append(start_once(base / f"six-{i}", None, answer=False))
        say(f"6-node lab: {args.calls} x get members")
        lab = lab_up(base / "six-calls")
        try:
            calls = time_get_members(lab, args.calls)
        finally:
            lab_down(lab.dir)
        big = []
        n = args.nodes
        extra = extra_workers_for(n)
        for i in range(args.repeat):
            say(f"{n}-node lab: start {i + 1}/{args.repeat}")
            big.append(start_once(base / f"big-{i}", extra, answer=True))

    up6 = median([r["up_seconds"] for r in small])
    upn = median([r["up_seconds"] for r in big])
    peak = max((r["peak_rss_mib"] or 0.0) for r in big)
    answered = all(r["status_nodes"] == n and r["members_listed"] == n for r in big)
    res.add(Target("6-node lab ready (median)", up6, 3.0, "s",
                   note=f"runs: {_secs(small)} s "
                        "(wall time of `python -m emulator up`)"))
    res.add(Target(f"{n}-node lab ready (median)", upn, 20.0, "s",
                   note=f"runs: {_secs(big)} s; answered "
                        f"for all {n} nodes: {'yes' if answered else 'NO'}"))
    res.add(Target(f"{n}-node lab peak RSS", peak, 1024.0, "MiB",
                   note=f"lab process + {max(r['processes'] for r in big) - 1} etcd children, "
                        "sampled every 50 ms through start-up and the first answers"))
    res.add(Target("get members -o json (median)", calls["median_ms"], 150.0, "ms",
                   note=f"{calls['calls']} calls: min {calls['min_ms']:.0f}, p90 "
                        f"{calls['p90_ms']:.0f}, max {calls['max_ms']:.0f} ms"))
    res.details = {"six_node_starts": small, "big_lab_starts": big, "big_lab_nodes": n,
                   "big_lab_answered": answered, "get_members": calls}
    if not answered:
        res.details["warning"] = "the big lab did not list every node"
    ready = ", ".join(f"{r['rss_at_ready_mib'] or 0:.0f}" for r in big)
    return res.finish([
        f"  6-node lab peak RSS: {max((r['peak_rss_mib'] or 0) for r in small):.0f} MiB; "
        f"{n}-node lab RSS when `up` returned: {ready} MiB"])

if __name__ == "__main__":
    sys.exit(main())
