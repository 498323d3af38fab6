"""The in-place runbook against the guide's own shell sequence, on identical fresh labs (issue 4).

    .venv/bin/python bench/upgrade_vs_guide.py [--keep-logs] [--health-via control-plane|node]

Two default labs (v1.9.2 / 1.32.0, 3 control planes + 3 workers) are started; lab start is
excluded from both timings. Then, one after the other:
(b) the guide (shared/seeds/in-place-upgrade-guide.md) as a bash script using the lab's
    bin/talosctl: per worker, then per control plane (secondaries, the primary last)
        talosctl upgrade --image <factory>/installer/<schematic>:v1.9.4 --preserve --nodes N
        talosctl health --nodes N --wait-timeout 5m
    then `talosctl upgrade-k8s --to 1.32.2 --nodes <primary>`. By default (--health-via
    control-plane) the health after a WORKER runs with --nodes <primary>: server-side health
    through a worker fails on the lab ("member list is only available on control plane
    nodes") and would wait out its 5 m timeout; --health-via node runs it exactly as written;
(a) `python -m pytest runbooks/in_place --cluster=lab --lab-dir DIR -p bench._probe`.
Wall time = the bash process / the pytest process, start to exit. Headline, at lab timings x10
(closer to real machines, where a node's own work dominates): (a)/(b) <= 1.10. At x1 (the
demo's timings) the runbook's extra time is split into a per-node overhead (<= 0.25 s) and
fixed costs (<= 2.5 s).

Postconditions asserted (reported, no longer a target: bench/faults_vs_guide.py measures which
faults each side catches):
- guide: `talosctl upgrade` (waits by default) asserts 2 per node, machine ready and boot ID
  changed, when it ends with "post check passed"; `talosctl health` asserts each check it
  prints as "waiting for <check>: OK" (16 per call); `upgrade-k8s` asserts every condition it
  printed "waiting for ..." about (each static-pod update, kubelet restart, node update,
  manifest), counted generously (it exited 0, so every wait held);
- runbook: leaf check-function evaluations whose verdict the run used, counted by
  bench/_probe.py; a wait counts its final judgement only, not every poll (see _probe.py).
Both units are "one named condition judged once over its scope", like one health check.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    PY,
    REPO,
    REPORTS,
    LabRun,
    Results,
    Target,
    harness_env,
    lab_down,
    lab_up,
    median,
    run_in_place,
    say,
    scratch,
)

HEALTH_OK = re.compile(r"^waiting for (.+): OK$")
K8S_WAIT = re.compile(r"waiting for ")
NODE_PREFIX = re.compile(r'^[<>]?\s*("[^"]*":\s*)?')


# ---- (b) the guide ------------------------------------------------------------------------------
def guide_script(lab: LabRun, logs: Path, health_via: str, wait_timeout: str = "5m") -> str:
    """The guide's sequence for this lab as bash. health_via "node": `health --nodes <node>`
    as written; "control-plane": after a worker, `health --nodes <primary>`. `wait_timeout`:
    the health calls' --wait-timeout (the guide's 5m)."""
    prof = yaml.safe_load(lab.profile.read_text())
    cps = prof["nodes"]["control_plane"]
    primary = next((n for n in cps if n.get("primary")), cps[0])
    workers = [n["address"] for n in prof["nodes"].get("workers") or []]
    order = workers + [n["address"] for n in cps if n is not primary] + [primary["address"]]
    health = {a: primary["address"] if health_via == "control-plane" and a in workers else a
              for a in order}
    host = prof["talos"]["factory"]["url"].split("://", 1)[-1].rstrip("/")
    schematic = prof["talos"]["factory"]["schematic"]
    target = prof["upgrade"]["target"]
    lines = [
        "#!/usr/bin/env bash",
        "# The guide's upgrade sequence (shared/seeds/in-place-upgrade-guide.md), on the lab.",
        "set -euo pipefail",
        f'source "{lab.dir / "env"}"',
        f'OUT="{logs}"',
        f'SCHEMATIC_ID="{schematic}"',
        f'NEW_VERSION="{target["talos"]}"',
        f'NEW_K8S="{target["kubernetes"]}"',
        f'IMAGE="{host}/installer/${{SCHEMATIC_ID}}:${{NEW_VERSION}}"',
        'mark() { echo "$EPOCHREALTIME $1" >> "$OUT/marks"; }',
        "n=0",
        f'for step in {" ".join(f"{a}/{health[a]}" for a in order)}; do',
        '    node="${step%/*}"; via="${step#*/}"',
        "    n=$((n + 1))",
        '    mark "upgrade $node"',
        '    talosctl upgrade --image "$IMAGE" --preserve --nodes "$node" '
        '>"$OUT/$n-upgrade-$node.log" 2>&1',
        '    mark "health $node (via $via)"',
        f'    talosctl health --nodes "$via" --wait-timeout {wait_timeout} '
        '>"$OUT/$n-health-$node.log" 2>&1',
        "done",
        'mark "upgrade-k8s"',
        f'talosctl upgrade-k8s --to "$NEW_K8S" --nodes {primary["address"]} '
        '>"$OUT/upgrade-k8s.log" 2>&1',
        'mark "end"',
    ]
    return "\n".join(lines) + "\n"


def run_guide(lab: LabRun, logs: Path, health_via: str, wait_timeout: str = "5m",
              timeout: float = 1800) -> dict[str, Any]:
    """Run the guide's script; after `timeout` seconds its whole process group is killed and
    `timed_out` says so (exit_code is then -9)."""
    logs.mkdir(parents=True, exist_ok=True)
    script = guide_script(lab, logs, health_via, wait_timeout)
    path = logs / "guide.sh"
    path.write_text(script)
    started = time.perf_counter()
    proc = subprocess.Popen(["bash", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    timed_out = False
    try:
        _, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        _, stderr = proc.communicate()
    wall = time.perf_counter() - started
    marks = [ln.split(" ", 1) for ln in (logs / "marks").read_text().splitlines()]
    steps = []
    for (t, what), (t_next, _) in zip(marks, marks[1:], strict=False):
        steps.append({"step": what, "seconds": float(t_next) - float(t)})
    counted = count_guide(logs)
    return {"wall_seconds": wall, "exit_code": proc.returncode, "timed_out": timed_out,
            "stderr": stderr.strip()[-2000:], "steps": steps, **counted,
            "talosctl_processes": len(steps), "script": script}


def count_guide(logs: Path) -> dict[str, Any]:
    """The postconditions the guide's commands asserted, from their own output."""
    per: dict[str, int] = Counter()
    kinds: set[str] = set()
    detail: list[dict[str, Any]] = []
    for log in sorted(logs.glob("*.log")):
        text = log.read_text()
        if "-upgrade-" in log.name:
            n = 2 if "post check passed" in text else 0
            kind, what = "upgrade --wait", "machine ready + boot ID changed"
            kinds.update(("upgrade: machine ready", "upgrade: boot ID changed") if n else ())
        elif "-health-" in log.name:
            oks = [m.group(1) for ln in text.splitlines() if (m := HEALTH_OK.match(ln.strip()))]
            n, kind, what = len(oks), "health", f"{len(oks)} checks OK"
            kinds.update(f"health: {o}" for o in oks)
        else:
            waits = [ln.strip() for ln in text.splitlines() if K8S_WAIT.search(ln)
                     and "waiting, " not in ln and ", waiting" not in ln]
            n, kind, what = len(waits), "upgrade-k8s", f"{len(waits)} waited-for conditions"
            kinds.update("upgrade-k8s: " + NODE_PREFIX.sub("", w) for w in waits)
        per[kind] += n
        detail.append({"log": log.name, "kind": kind, "postconditions": n, "what": what})
    return {"postconditions": sum(per.values()), "postconditions_by_command": dict(per),
            "distinct_postconditions": len(kinds), "distinct_list": sorted(kinds),
            "postconditions_detail": detail}


# ---- (a) the runbook ----------------------------------------------------------------------------
def run_runbook(lab: LabRun, out: Path) -> dict[str, Any]:
    env = dict(harness_env(), BENCH_PROBE_OUT=str(out))
    t0 = time.time()
    proc, wall = run_in_place(lab.dir, "-p", "bench._probe", env=env, timeout=1800)
    probe = json.loads(out.read_text())
    return {"wall_seconds": wall, "exit_code": proc.returncode, "t0": t0,
            "summary": (proc.stdout.strip().splitlines() or [""])[-1],
            "failed": [k for k, v in probe["tests"].items() if v["outcome"] != "passed"],
            "probe": probe}


FLOOR = "version --client (no server)"
PYTHON = "python -s -c pass (bare interpreter start)"
OBSERVE_VERBS = ("version", "get machinestatus", "get extensions", "etcd members",
                 "etcd status", "etcd alarm")


def profile_runbook(run: dict[str, Any]) -> dict[str, Any]:
    """Where the runbook's wall time went, from the probe's records."""
    p, t0, wall = run["probe"], run["t0"], run["wall_seconds"]
    times = p["times"]
    procs = p["processes"]["list"]
    by_cmd = p["processes"]["by_command"]
    upgrade = by_cmd.get("talosctl upgrade", {}).get("seconds", 0.0)
    k8s = by_cmd.get("talosctl upgrade-k8s", {}).get("seconds", 0.0)
    obs = p["observations"]
    obs_procs = [x for x in procs if x["verb"] in OBSERVE_VERBS]
    waits = p["waits"]
    phases: dict[str, float] = defaultdict(float)
    for nodeid, t in p["tests"].items():
        phases[Path(nodeid.split("::", 1)[0]).stem.removeprefix("test_")] += t["seconds"]
    per_step: dict[str, int] = Counter()
    for o in obs["list"]:
        name = (o["test"] or "session").split("::", 1)[-1].split("[", 1)[0]
        per_step[name] += 1
    reboot_waits = [w for w in waits if "rebooted" in (w["what"] or "")]
    reads = by_cmd.get("talosctl read", {"calls": 0, "seconds": 0.0})
    return {
        "wall_seconds": wall,
        "startup_seconds": times.get("first_test", t0) - t0,
        "teardown_seconds": t0 + wall - times.get("last_test_done", t0 + wall),
        "phases_seconds": dict(phases),
        "talosctl_upgrade_seconds": upgrade,
        "talosctl_upgrade_k8s_seconds": k8s,
        "dry_run_seconds": sum(t["seconds"] for k, t in p["tests"].items() if "dry_run" in k),
        "observations": {"count": obs["count"], "seconds": obs["seconds"],
                         "mean_seconds": obs["seconds"] / obs["count"] if obs["count"] else 0.0,
                         "talosctl_processes": len(obs_procs),
                         "talosctl_seconds": sum(x["seconds"] for x in obs_procs),
                         "by_phase": obs["by_phase"], "by_step": dict(per_step)},
        "node_looks": p.get("node_looks", {"count": 0, "seconds": 0.0}),
        "kube_requests": {"count": p["kube"]["count"], "seconds": p["kube"]["seconds"]},
        "boot_id_reads": reads,
        "waits": {"count": len(waits), "judgements": sum(w["judgements"] for w in waits),
                  "more_than_one_judgement": sum(1 for w in waits if w["judgements"] > 1),
                  "slept_seconds": sum(w["slept"] for w in waits),
                  "reboot_waits": len(reboot_waits),
                  "reboot_wait_seconds": sum(w["seconds"] for w in reboot_waits),
                  "reboot_wait_slept": sum(w["slept"] for w in reboot_waits)},
        "talosctl_processes": p["counters"]["runner_calls"],
        "kube_requests_total": p["counters"]["kube_requests"],
    }


def observation_cost(lab: LabRun, rounds: int = 5) -> dict[str, Any]:
    """On a lab: the 6 talosctl reads of one observation (the driver's command lines) run one
    after another vs all at once, and each command alone (medians of `rounds`)."""
    prof = yaml.safe_load(lab.profile.read_text())
    cps = [n["address"] for n in prof["nodes"]["control_plane"]]
    every = cps + [n["address"] for n in prof["nodes"].get("workers") or []]
    base = [str(lab.talosctl), "--talosconfig", str(lab.dir / "talosconfig"), "-e", ",".join(cps)]
    cmds = {"version": ["-n", ",".join(every), "version"],
            "get machinestatus": ["-n", ",".join(every), "get", "machinestatus", "-o", "json"],
            "get extensions": ["-n", ",".join(every), "get", "extensions", "-o", "json"],
            "etcd members": ["-n", ",".join(cps), "etcd", "members"],
            "etcd status": ["-n", ",".join(cps), "etcd", "status"],
            "etcd alarm list": ["-n", cps[0], "etcd", "alarm", "list"],
            FLOOR: ["version", "--client", "--short"],
            PYTHON: []}
    each: dict[str, list[float]] = defaultdict(list)
    seq, par = [], []
    for _ in range(rounds):
        for name, args in cmds.items():
            t0 = time.perf_counter()
            argv = [PY, "-s", "-c", "pass"] if name == PYTHON else base + args
            subprocess.run(argv, capture_output=True, timeout=60, check=False)
            each[name].append(time.perf_counter() - t0)
        seq.append(sum(each[n][-1] for n in cmds if n not in (FLOOR, PYTHON)))
        t0 = time.perf_counter()
        running = [subprocess.Popen(base + a, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
                   for n, a in cmds.items() if n not in (FLOOR, PYTHON)]
        for proc in running:
            proc.wait(60)
        par.append(time.perf_counter() - t0)
    return {"sequential_seconds": median(seq), "concurrent_seconds": median(par),
            "per_command_ms": {k: round(median(v) * 1000) for k, v in each.items()},
            "rounds": rounds}


def suggestions(prof: dict[str, Any], guide: dict[str, Any],
                cost: dict[str, Any] | None) -> list[str]:
    """Where the runbook's extra time went, measured (printed and stored)."""
    out = []
    obs, waits = prof["observations"], prof["waits"]
    allowed = guide["wall_seconds"] * RATIO_LIMIT
    must = max(0.0, prof["wall_seconds"] - allowed)
    out.append(f"gap: runbook {prof['wall_seconds']:.1f} s vs guide {guide['wall_seconds']:.1f} s;"
               f" {RATIO_LIMIT:.2f} allows {allowed:.1f} s, so {must:.1f} s must go. The "
               f"runbook's talosctl "
               f"upgrade calls took {prof['talosctl_upgrade_seconds']:.1f} s and upgrade-k8s "
               f"(dry run included) {prof['talosctl_upgrade_k8s_seconds']:.1f} s")
    node_steps = [st for st in guide["steps"] if st["step"].startswith(("upgrade 1", "health"))]
    nodes = max(1, sum(1 for st in node_steps if st["step"].startswith("upgrade")))
    g_node = sum(st["seconds"] for st in node_steps) / nodes
    ph = prof["phases_seconds"]
    r_node = (ph.get("03_workers", 0.0) + ph.get("04_control_planes", 0.0)) / nodes
    out.append(f"[1] per node: runbook {r_node:.2f} s (upgrade, version, extensions, ready, etcd "
               f"guard and catch-up, whole health gate) vs guide {g_node:.2f} s (upgrade --wait "
               f"+ health): {(r_node - g_node) * nodes:+.1f} s over {nodes} nodes")
    k8s_guide = sum(st["seconds"] for st in guide["steps"] if st["step"] == "upgrade-k8s")
    out.append(f"[2] Kubernetes: runbook {ph.get('05_kubernetes', 0.0):.2f} s (dry run "
               f"{prof['dry_run_seconds']:.2f} s included) vs guide upgrade-k8s {k8s_guide:.2f} s")
    out.append(f"[3] fixed costs the guide does not pay: start-up before the first test "
               f"{prof['startup_seconds']:.2f} s; preflight {ph.get('01_preflight', 0.0):.2f} s; "
               f"backups {ph.get('02_backups', 0.0):.2f} s; verify {ph.get('06_verify', 0.0):.2f}"
               f" s; after the last test {prof['teardown_seconds']:.2f} s")
    out.append(f"[4] full cluster observations: {obs['count']} x {obs['mean_seconds']:.2f} s = "
               f"{obs['seconds']:.1f} s ({100 * obs['seconds'] / prof['wall_seconds']:.0f}% of "
               f"the wall time, mostly overlapping the lab's own reboots); per step: "
               + ", ".join(f"{k} {v}" for k, v in sorted(obs["by_step"].items(),
                                                         key=lambda kv: -kv[1]))
               + f"; and {prof['node_looks']['count']} looks at one node after its reboot "
               f"({prof['node_looks']['seconds']:.1f} s)")
    if cost:
        out.append(f"[5] one observation's talosctl reads on this machine: "
                   f"{cost['sequential_seconds']:.2f} s one after another, "
                   f"{cost['concurrent_seconds']:.2f} s all at once (as drivers/observe.py runs "
                   f"them); per command (ms): {cost['per_command_ms']}")
    out.append(f"[6] waits: {waits['count']} waits, {waits['judgements']} judgements "
               f"({waits['more_than_one_judgement']} needed more than one), "
               f"{waits['slept_seconds']:.1f} s paused in all; reboot detection "
               f"{waits['reboot_wait_seconds']:.1f} s over {waits['reboot_waits']} reboots "
               f"({prof['boot_id_reads']['calls']} boot-ID reads)")
    return out


# ---- main -------------------------------------------------------------------------------------
HEADLINE_SCALE, OVERHEAD_SCALE = 10.0, 1.0
RATIO_LIMIT, PER_NODE_LIMIT, FIXED_LIMIT = 1.10, 0.25, 2.5


def compare(scale: float, health_via: str, keep_logs: bool) -> dict[str, Any]:
    """The guide and the runbook on two fresh labs at lab timings x`scale`."""
    with scratch("upgrade") as base:
        profile = scaled_profile(base, scale)
        say(f"x{scale:g} guide: starting lab B")
        lab_b = lab_up(base / "guide-lab", profile=profile)
        try:
            say(f"x{scale:g} guide: running the shell sequence")
            guide = run_guide(lab_b, base / "guide-logs", health_via)
        finally:
            lab_down(lab_b.dir)
        say(f"x{scale:g} runbook: starting lab A")
        lab_a = lab_up(base / "runbook-lab", profile=profile)
        try:
            say(f"x{scale:g} runbook: running pytest runbooks/in_place")
            book = run_runbook(lab_a, base / "probe.json")
            cost = None
            if scale == OVERHEAD_SCALE:
                say("runbook: measuring the cost of one observation on the upgraded lab")
                cost = observation_cost(lab_a)
        finally:
            lab_down(lab_a.dir)
        if keep_logs:
            dest = REPORTS / f"upgrade_vs_guide-logs-x{scale:g}"
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(base / "guide-logs", dest)
            shutil.copy(base / "probe.json", dest / "runbook-probe.json")
    prof = profile_runbook(book)
    return {"scale": scale, "guide": guide, "book": book, "cost": cost, "prof": prof,
            "ratio": book["wall_seconds"] / guide["wall_seconds"], **overheads(prof, guide)}


def overheads(prof: dict[str, Any], guide: dict[str, Any]) -> dict[str, Any]:
    """The runbook's extra wall time split in two: per node (its worker and control-plane
    phases per node minus the guide's upgrade + health per node) and fixed (the rest of the
    gap: start-up, preflight, backups, Kubernetes beyond upgrade-k8s, verify, the end)."""
    node_steps = [st for st in guide["steps"] if st["step"].startswith(("upgrade 1", "health"))]
    nodes = max(1, sum(1 for st in node_steps if st["step"].startswith("upgrade")))
    g_node = sum(st["seconds"] for st in node_steps) / nodes
    ph = prof["phases_seconds"]
    r_node = (ph.get("03_workers", 0.0) + ph.get("04_control_planes", 0.0)) / nodes
    per_node = r_node - g_node
    fixed = prof["wall_seconds"] - guide["wall_seconds"] - per_node * nodes
    return {"nodes": nodes, "per_node_overhead": per_node, "fixed_overhead": fixed,
            "runbook_per_node": r_node, "guide_per_node": g_node}


def _summary_lines(run: dict[str, Any], health_via: str) -> list[str]:
    guide, book, prof = run["guide"], run["book"], run["prof"]
    pc = book["probe"]["postconditions"]
    lines = [f"x{run['scale']:g}: runbook {book['wall_seconds']:.1f} s ({book['summary']}, exit "
             f"{book['exit_code']}); guide {guide['wall_seconds']:.1f} s (exit "
             f"{guide['exit_code']}); ratio {run['ratio']:.2f}; per node runbook "
             f"{run['runbook_per_node']:.2f} s vs guide {run['guide_per_node']:.2f} s; fixed "
             f"{run['fixed_overhead']:.1f} s"]
    if health_via == "control-plane":
        lines.append("  guide: after each worker, `talosctl health` ran with --nodes <primary> "
                     "(through a worker it fails on the lab; --health-via node runs it as written)")
    if book["exit_code"] != 0 or guide["exit_code"] != 0:
        lines.append("  WARNING: a run did not succeed; its numbers are not comparable: "
                     f"runbook failed {book['failed'][:3]}; guide stderr: "
                     f"{guide['stderr'][-300:]}")
    lines.append(f"  runbook postconditions {pc['total']} vs the guide's {guide['postconditions']}"
                 " (no longer a target: bench/faults_vs_guide.py measures what they catch); "
                 "by phase: " + ", ".join(f"{k} {v}" for k, v in pc["by_phase"].items()))
    lines.append("  where the runbook's time went:")
    lines += [f"    {s}" for s in suggestions(prof, guide, run["cost"])]
    lines.append("  guide steps: " + ", ".join(f"{s['step']} {s['seconds']:.2f}s"
                                              for s in guide["steps"]))
    lines.append("  runbook phases: " + ", ".join(f"{k} {v:.1f}s"
                                                 for k, v in prof["phases_seconds"].items()))
    return lines


def _details(run: dict[str, Any], health_via: str) -> dict[str, Any]:
    guide, book, prof = run["guide"], run["book"], run["prof"]
    pc = book["probe"]["postconditions"]
    return {
        "lab_timings_scale": run["scale"], "ratio": run["ratio"],
        "per_node_overhead": run["per_node_overhead"], "fixed_overhead": run["fixed_overhead"],
        "guide": {k: v for k, v in guide.items() if k != "script"},
        "guide_health_via": health_via,
        "guide_script": guide["script"],
        "runbook": {"wall_seconds": book["wall_seconds"], "exit_code": book["exit_code"],
                    "summary": book["summary"], "failed": book["failed"],
                    "postconditions": {k: v for k, v in pc.items() if k != "list"},
                    "profile": prof, "waits": book["probe"]["waits"],
                    "tests": book["probe"]["tests"],
                    "talosctl_by_command": book["probe"]["processes"]["by_command"],
                    "kube_by_request": book["probe"]["kube"]["by_what"]},
        "observation_cost": run["cost"],
        "suggestions": suggestions(prof, guide, run["cost"]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep-logs", action="store_true",
                    help="copy the guide's logs and the probe JSON to reports/bench/")
    ap.add_argument("--health-via", choices=("control-plane", "node"), default="control-plane",
                    help="the guide's `talosctl health --nodes N` after a WORKER: 'node' runs it "
                         "as written; 'control-plane' (default) runs it through the primary "
                         "control plane, because server-side health through a worker fails on "
                         "the lab at 'etcd members to be control plane nodes' (member list is "
                         "only available on control plane nodes) and waits out its 5 m timeout")
    ap.add_argument("--scale", type=float, default=None,
                    help="run one comparison at lab timings x SCALE only (results go to "
                         "upgrade_vs_guide-scale<N>.json); default: the headline at x10 and the "
                         "overheads at x1")
    ap.add_argument("--repeat", type=int, default=3,
                    help="comparisons at x1 (each on two fresh labs); its overheads are the "
                         "medians (default 3: a single x1 run varies by about 0.05 s per node "
                         "on this shared machine)")
    args = ap.parse_args(argv)
    if args.scale is not None and args.scale <= 0:
        ap.error("--scale must be positive")
    if args.repeat < 1:
        ap.error("--repeat must be at least 1")
    scales = [args.scale] if args.scale is not None else [HEADLINE_SCALE, OVERHEAD_SCALE]
    runs: dict[float, dict[str, Any]] = {}
    spread: dict[str, list[float]] = {}
    for s in scales:
        times = args.repeat if s == OVERHEAD_SCALE else 1
        done = [compare(s, args.health_via, args.keep_logs) for _ in range(times)]
        runs[s] = _median_run(done)
        if s == OVERHEAD_SCALE:
            spread = {k: [r[k] for r in done] for k in ("per_node_overhead", "fixed_overhead")}
    res = Results("upgrade_vs_guide")
    lines: list[str] = []
    for scale, run in runs.items():
        if scale != OVERHEAD_SCALE or args.scale is not None:
            res.add(Target(f"wall time runbook / guide at x{scale:g}", run["ratio"], RATIO_LIMIT,
                           "x", note=f"runbook {run['book']['wall_seconds']:.1f} s, guide "
                                     f"{run['guide']['wall_seconds']:.1f} s (lab start "
                                     "excluded)"))
        if scale == OVERHEAD_SCALE:
            each = ", ".join(f"{v:.2f}" for v in spread["per_node_overhead"])
            res.add(Target("per-node overhead at x1",
                           statistics.median(spread["per_node_overhead"]), PER_NODE_LIMIT, "s",
                           note=f"median of {len(spread['per_node_overhead'])} run(s): {each} s; "
                                f"the median run: runbook {run['runbook_per_node']:.2f} s vs "
                                f"guide {run['guide_per_node']:.2f} s per node, "
                                f"{run['nodes']} nodes"))
            each = ", ".join(f"{v:.2f}" for v in spread["fixed_overhead"])
            res.add(Target("fixed costs at x1", statistics.median(spread["fixed_overhead"]),
                           FIXED_LIMIT, "s",
                           note=f"median of {len(spread['fixed_overhead'])} run(s): {each} s; the "
                                "gap the nodes do not explain: start-up, preflight, backups, "
                                "Kubernetes beyond upgrade-k8s, verify, the end"))
        lines += _summary_lines(run, args.health_via)
    res.details = {f"x{s:g}": _details(r, args.health_via) for s, r in runs.items()}
    if spread:
        res.details["x1_runs"] = spread
    suffix = "" if args.scale is None else f"-scale{args.scale:g}"
    return res.finish(lines, suffix)


def _median_run(done: list[dict[str, Any]]) -> dict[str, Any]:
    """The run whose per-node overhead is the median (its breakdown is the one printed)."""
    ordered = sorted(done, key=lambda r: r["per_node_overhead"])
    return ordered[(len(ordered) - 1) // 2]


def scaled_profile(base: Path, scale: float) -> Path | None:
    """clusters/lab.yaml with lab.scale set (None for 1: the lab's own default profile)."""
    if scale == 1:
        return None
    prof = yaml.safe_load((REPO / "clusters" / "lab.yaml").read_text())
    prof["lab"]["scale"] = float(prof["lab"].get("scale", 1.0)) * scale
    path = base / f"lab-scale{scale:g}.yaml"
    path.write_text(yaml.safe_dump(prof, sort_keys=False))
    return path


if __name__ == "__main__":
    sys.exit(main())
