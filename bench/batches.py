"""Workers in batches against the limit a perfect batch roll would reach (issue 10).

    .venv/bin/python bench/batches.py [--workers 30] [--batches 1,5,10] [--scale 5]

For each batch size N, a fresh lab with 3 control planes and `--workers` workers (the default
lab plus generated workers; lab timings x`--scale`, `lab.track_disruption: true`) runs
`pytest runbooks/in_place --batch N`. Measured per N, from the session's JUnit XML and the
lab's status:
- the worker phase's wall time (its steps run one after another, so the sum of their times)
  and the whole session's;
- the limit: ceil(workers / N) x one worker's time at N = 1 (the worker phase at N = 1 divided
  by the workers), i.e. batches that cost no more than one node each; for the session, plus
  what the control planes and the rest took at N = 1;
- the batches the run formed (the `batch` evidence: how many, how big), and the ratio to those
  batches x one worker's time: the default lab's `web` Deployment (a budget of one unavailable,
  one pod on each of w1-w3) and coredns forbid some workers going together, so fewer than
  ceil(workers / N) batches are possible and the issue's limit cannot be reached without
  breaking a budget;
- every budget kept: the lab samples each PodDisruptionBudget's healthy pods and each
  ReplicaSet's Ready replicas every 50 ms and reports the lowest it saw;
- every worker proven: its upgrade, version, extensions and readiness steps all passed.
Target: at N = 5 on 30 workers, worker phase <= 1.3 x the limit.
"""

from __future__ import annotations

import argparse
import math
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    REPO,
    Results,
    Target,
    lab_down,
    lab_up,
    run_in_place,
    say,
    scratch,
)

from tests.runbooks.runbook_run import allure_attachments  # noqa: E402

PROOFS = ("test_upgrade_worker", "test_worker_version", "test_worker_extensions",
          "test_worker_ready")


def lab_profile(base: Path, scale: float) -> Path:
    prof = yaml.safe_load((REPO / "clusters" / "lab.yaml").read_text())
    prof["lab"]["scale"] = float(prof["lab"].get("scale", 1.0)) * scale
    prof["lab"]["track_disruption"] = True
    path = base / f"lab-x{scale:g}.yaml"
    path.write_text(yaml.safe_dump(prof, sort_keys=False))
    return path


def run_once(base: Path, n: int, workers: int, scale: float) -> dict[str, Any]:
    lab = lab_up(base / f"lab-{n}", profile=lab_profile(base, scale), extra_workers=workers - 3,
                 timeout=300)
    junit = base / f"batch-{n}.xml"
    results = base / f"allure-{n}"
    try:
        proc, wall = run_in_place(lab.dir, "--batch", str(n), f"--junitxml={junit}",
                                  f"--alluredir={results}", "--no-bundle", "--no-progress")
        status = lab.status()
    finally:
        lab_down(lab.dir)
    phases: dict[str, float] = {}
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        phase = (case.get("classname") or "").rsplit(".", 1)[-1].removeprefix("test_")
        phases[phase] = phases.get(phase, 0.0) + float(case.get("time") or 0.0)
        failed = any(c.tag in ("failure", "error", "skipped") for c in case)
        outcomes[case.get("name", "")] = "not passed" if failed else "passed"
    proven = sum(1 for w in range(1, workers + 1) if all(
        outcomes.get(f"{p}[v1.9.4-w{w}]") == "passed" for p in PROOFS))
    return {"n": n, "exit_code": proc.returncode, "wall_seconds": wall,
            "summary": (proc.stdout.strip().splitlines() or [""])[-1],
            "phases": phases, "workers_proven": proven, "batches": batch_sizes(results),
            "disruption": status["disruption"],
            "upgrades": sorted({x["upgrade_count"] for x in status["nodes"]})}


def batch_sizes(results: Path) -> list[int]:
    """The size of each batch the run started, from its `batch` evidence."""
    sizes = []
    for _, text in allure_attachments(results, "batch"):
        members = text.splitlines()[0].split(": ", 1)[1].split(" -> ", 1)[0]
        sizes.append(len(members.split(", ")))
    return sizes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=30)
    ap.add_argument("--batches", default="1,5,10")
    ap.add_argument("--scale", type=float, default=5.0)
    args = ap.parse_args(argv)
    sizes = sorted({int(x) for x in args.batches.split(",")} | {1})
    runs: dict[int, dict[str, Any]] = {}
    with scratch("batches") as base:
        for n in sizes:
            say(f"--batch {n}: {args.workers} workers, lab timings x{args.scale:g}")
            runs[n] = run_once(base, n, args.workers, args.scale)
    one = runs[1]["phases"].get("03_workers", 0.0) / args.workers
    rest = runs[1]["wall_seconds"] - runs[1]["phases"].get("03_workers", 0.0)
    res = Results("batches")
    lines = [f"one worker at N = 1: {one:.2f} s; the rest of the session at N = 1: {rest:.1f} s"]
    for n, run in runs.items():
        workers_s = run["phases"].get("03_workers", 0.0)
        limit = math.ceil(args.workers / n) * one
        ratio = workers_s / limit if limit else None
        # the budgets may forbid ceil(workers / N) batches: the batches they allowed, each as
        # long as one worker, is the best this cluster's workloads permit
        allowed = len(run["batches"]) * one if run["batches"] else limit
        allowed_ratio = workers_s / allowed if allowed else None
        if n == 5:
            res.add(Target(f"worker phase / limit at N = {n}", ratio, 1.3, "x",
                           note=f"{workers_s:.1f} s vs {limit:.1f} s"))
        d = run["disruption"]
        lines.append(
            f"N = {n:>2}: exit {run['exit_code']} ({run['summary']}); worker phase "
            f"{workers_s:.1f} s, limit {limit:.1f} s, ratio {ratio:.2f} (to the "
            f"{len(run['batches']) or math.ceil(args.workers / n)} batches the budgets allowed: "
            f"{allowed_ratio:.2f}); session "
            f"{run['wall_seconds']:.1f} s vs {limit + rest:.1f} s; batches "
            f"{len(run['batches'])} of sizes {sorted(run['batches'], reverse=True)}; workers "
            f"proven {run['workers_proven']}/{args.workers}; upgrades per node "
            f"{run['upgrades']}; budgets violated {d['pdb_violated'] or 'none'} "
            f"({d['samples']} samples; lowest healthy {d['pdb_min_healthy']}; fewest Ready "
            f"replicas {d['min_ready']})")
        res.add(Target(f"N = {n}: budgets violated", float(len(d["pdb_violated"])), 0, ""))
        res.add(Target(f"N = {n}: workers proven", float(run["workers_proven"]),
                       float(args.workers), "", at_least=True))
    res.details = {"workers": args.workers, "scale": args.scale, "one_worker_seconds": one,
                   "runs": runs}
    return res.finish(lines)


if __name__ == "__main__":
    sys.exit(main())
