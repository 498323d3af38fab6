"""Which faults each way of upgrading catches before it does harm (issue 10).

    .venv/bin/python bench/faults_vs_guide.py [--only KIND,KIND] [--guide-wait-timeout 5m]

For every lab fault of the in-place runbook, two fresh default labs (v1.9.2 / 1.32.0 ->
v1.9.4 / 1.32.2) are started with the same fault, one after the other:
(b) the guide's shell sequence, as bench/upgrade_vs_guide.py builds it (per node `talosctl
    upgrade` then `talosctl health --wait-timeout 5m`, workers first, the primary last; then
    `talosctl upgrade-k8s`), `set -euo pipefail`: it stops at the first command that exits
    non-zero;
(a) `pytest runbooks/in_place --cluster=lab --lab-dir DIR`: it stops at the first failed step.
After each run the lab's status is compared with its status before the run:
- rebooted: nodes whose boot count grew; cordoned: nodes left unschedulable that were not;
  wrong image: nodes that were upgraded but do not run the target with every extension.
- harm: a node disrupted beyond what the fault itself needs. A fault visible before any
  upgrade (an unhealthy cluster, a blocking budget, a failed backup, a node down) allows no
  reboot at all; a fault that shows only when its node is upgraded (w1, the first in the
  roll) allows that node, and nothing after it. "stopped before harm" = the run stopped
  (non-zero exit) and disrupted nothing more than that.
- transient faults (an etcd member catching up slowly, the API away for a few seconds) are
  not to be stopped on: the expected outcome is to wait them out and finish with every node
  on the target; they are reported apart.
Target: the runbook stops every stopping fault before harm; the table also shows how many the
guide's sequence catches, where it stopped, and the message the operator got.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import (  # noqa: E402
    LabRun,
    Results,
    Target,
    lab_down,
    lab_up,
    run_in_place,
    say,
    scratch,
)
from upgrade_vs_guide import run_guide  # noqa: E402

from tests.runbooks.runbook_run import read_junit  # noqa: E402

TARGET_VERSION = "v1.9.4"


@dataclass(frozen=True)
class Fault:
    kind: str
    params: dict[str, Any]
    allowed: tuple[str, ...]  # nodes the fault itself needs disrupted before it can show
    transient: bool = False

    @property
    def label(self) -> str:
        extra = ", ".join(f"{k}={v}" for k, v in self.params.items() if k != "kind")
        return f"{self.kind}({extra})" if extra else self.kind


FAULTS = [
    Fault("stale_etcd_member", {}, ()),
    Fault("etcd_member_down", {"node": "cp2"}, ()),
    Fault("crashloop_pod", {"node": "w2"}, ()),
    Fault("flux_not_ready", {}, ()),
    Fault("drain_blocked", {"node": "w2"}, ()),
    Fault("cordoned", {"node": "w3"}, ()),
    Fault("node_down", {"node": "w3"}, ()),
    Fault("velero_backup_fails", {}, ()),
    Fault("snapshot_hash_mismatch", {}, ()),
    Fault("image_pull_failure", {"node": "w1"}, ("w1",)),
    Fault("boot_failure", {"node": "w1"}, ("w1",)),
    Fault("extension_missing", {"node": "w1", "extension": "siderolabs/iscsi-tools"}, ("w1",)),
    Fault("never_ready", {"node": "w1"}, ("w1",)),
    Fault("slow_etcd_catchup", {"node": "cp2", "seconds": 4}, (), transient=True),
    Fault("api_unreachable", {"node": "cp1", "seconds": 6}, (), transient=True),
]


# ---- harm -----------------------------------------------------------------------------------
def _nodes(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["name"]: n for n in status["nodes"]}


def harm(before: dict[str, Any], after: dict[str, Any], extensions: list[str]) -> dict[str, Any]:
    """What a run did to the nodes: rebooted, left cordoned, left on the wrong image."""
    b, a = _nodes(before), _nodes(after)
    rebooted = [n for n in a if a[n]["boot_count"] > b[n]["boot_count"]]
    cordoned = [n for n in a if a[n]["kubernetes"]["cordoned"]
                and not b[n]["kubernetes"]["cordoned"]]
    wrong = [n for n in a if a[n]["upgrade_count"] > b[n]["upgrade_count"]
             and (a[n]["talos_version"] != TARGET_VERSION
                  or not set(extensions) <= set(a[n]["extensions"]))]
    on_target = sum(1 for n in a.values() if n["talos_version"] == TARGET_VERSION)
    return {"rebooted": rebooted, "cordoned": cordoned, "wrong_image": wrong,
            "on_target": on_target, "nodes": len(a)}


def verdict(fault: Fault, exit_code: int, done: dict[str, Any]) -> str:
    beyond = [n for n in done["rebooted"] + done["cordoned"] + done["wrong_image"]
              if n not in fault.allowed]
    if fault.transient:
        if exit_code == 0 and done["on_target"] == done["nodes"]:
            return "waited out"
        return "stopped (should have waited)" if exit_code else "finished off target"
    if exit_code == 0:
        return "did not stop"
    if done.get("timed_out"):
        return "blocked before harm" if not beyond else "blocked after harm"
    return "stopped before harm" if not beyond else "stopped after harm"


# ---- the two runs ---------------------------------------------------------------------------
def fault_lab(base: Path, name: str, fault: Fault) -> LabRun:
    faults = base / f"{name}-faults.yaml"
    faults.write_text(yaml.safe_dump([{"kind": fault.kind, **fault.params}]))
    return lab_up(base / name, faults=faults)


def guide_run(base: Path, fault: Fault, wait_timeout: str, bound: float) -> dict[str, Any]:
    lab = fault_lab(base, "guide-lab", fault)
    try:
        before = lab.status()
        extensions = before["nodes"][0]["extensions"]
        logs = base / "guide-logs"
        started = time.perf_counter()
        out = run_guide(lab, logs, "control-plane", wait_timeout, timeout=bound)
        wall = time.perf_counter() - started
        after = lab.status()
    finally:
        lab_down(lab.dir)
    marks = (logs / "marks").read_text().splitlines()
    last = marks[-1].split(" ", 1)[1] if marks else "?"
    for node in before["nodes"]:  # the guide's marks name addresses; the table names nodes
        last = last.replace(node["address"], node["name"])
    where, message = "finished", ""
    if out["timed_out"]:
        where = f"{last} (still waiting after {bound:g} s: stopped by the benchmark)"
        failed = sorted(logs.glob("*.log"), key=lambda p: p.stat().st_mtime)
        text = failed[-1].read_text().strip().splitlines() if failed else []
        message = next((ln.strip() for ln in reversed(text) if ln.strip()), "")
    elif out["exit_code"] != 0:
        where = last
        failed = sorted(logs.glob("*.log"), key=lambda p: p.stat().st_mtime)
        text = failed[-1].read_text().strip().splitlines() if failed else []
        message = next((ln.strip() for ln in reversed(text) if ln.strip()), "")
    done = harm(before, after, extensions)
    return {"exit_code": out["exit_code"], "timed_out": out["timed_out"], "where": where,
            "message": message[:300], "wall_seconds": wall, **done}


def runbook_run(base: Path, fault: Fault) -> dict[str, Any]:

    lab = fault_lab(base, "runbook-lab", fault)
    junit = base / "runbook.xml"
    try:
        before = lab.status()
        extensions = before["nodes"][0]["extensions"]
        proc, wall = run_in_place(lab.dir, f"--junitxml={junit}", "--no-progress",
                                  "-o", "junit_logging=no", timeout=1800)
        after = lab.status()
    finally:
        lab_down(lab.dir)
    steps = read_junit(junit)
    failed = [s for s in steps.values() if s.outcome in ("failed", "error")]
    where = failed[0].name if failed else "finished"
    message = ""
    if failed:
        message = next((ln.strip() for ln in failed[0].message.splitlines() if ln.strip()), "")
        message = re.sub(r"^(Failed|[\w.]*(Error|Timeout|Exception)): ", "", message)
    done = harm(before, after, extensions)
    return {"exit_code": proc.returncode, "where": where, "message": message[:300],
            "wall_seconds": wall, **done}


def _row(fault: Fault, who: str, run: dict[str, Any]) -> str:
    return (f"  {who:8} {verdict(fault, run['exit_code'], run):28} at {run['where']}\n"
            f"  {'':8} rebooted {len(run['rebooted'])} {run['rebooted']}, cordoned "
            f"{run['cordoned']}, wrong image {run['wrong_image']}; {run['wall_seconds']:.0f} s\n"
            f"  {'':8} said: {_short(run['message']) or '(nothing: it exited 0)'}")


def _short(text: str, width: int = 150) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated fault kinds (default: all)")
    ap.add_argument("--guide-bound", type=float, default=600.0,
                    help="stop the guide's script after this many seconds (default 600): a "
                         "command that waits longer (talosctl upgrade waits up to 30 min for a "
                         "node that never gets ready) is reported as still waiting there")
    ap.add_argument("--guide-wait-timeout", default="5m",
                    help="the guide's `talosctl health --wait-timeout` (default 5m, as written; "
                         "a shorter one only shortens the benchmark where health waits it out)")
    args = ap.parse_args(argv)
    chosen = [f for f in FAULTS if not args.only or f.kind in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {f.kind for f in FAULTS}
    if unknown:
        ap.error(f"unknown fault(s) {sorted(unknown)} (known: {[f.kind for f in FAULTS]})")
    res = Results("faults_vs_guide")
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    for fault in chosen:
        with scratch(f"fault-{fault.kind}") as base:
            say(f"{fault.label}: the guide's sequence")
            guide = guide_run(base, fault, args.guide_wait_timeout, args.guide_bound)
            say(f"{fault.label}: the runbook")
            book = runbook_run(base, fault)
        rows.append({"fault": fault.label, "transient": fault.transient,
                     "allowed": list(fault.allowed), "guide": guide, "runbook": book,
                     "guide_verdict": verdict(fault, guide["exit_code"], guide),
                     "runbook_verdict": verdict(fault, book["exit_code"], book)})
        lines.append(f"{fault.label}" + (" (transient: to be waited out)" if fault.transient
                                         else ""))
        lines.append(_row(fault, "guide", guide))
        lines.append(_row(fault, "runbook", book))
        res.details = {"partial": True, "faults": rows}
        res.write()  # what is known so far survives a crash of a later fault
    stopping = [r for r in rows if not r["transient"]]
    transient = [r for r in rows if r["transient"]]

    def count(who: str, wanted: str, among: list[dict[str, Any]]) -> int:
        return sum(1 for r in among if r[f"{who}_verdict"] == wanted)

    res.add(Target("runbook: faults stopped before harm", count("runbook", "stopped before harm",
                                                               stopping),
                   len(stopping), "", at_least=True,
                   note=f"of {len(stopping)} faults to stop on"))
    res.add(Target("guide: faults stopped before harm", count("guide", "stopped before harm",
                                                             stopping),
                   0, "", at_least=True, note="reported, not a target (≥ 0)"))
    res.add(Target("guide: still waiting, nothing harmed yet", count("guide",
                                                                  "blocked before harm",
                                                                  stopping),
                   0, "", at_least=True, note=f"a command still waiting after "
                                             f"{args.guide_bound:g} s (reported, not a target)"))
    if transient:
        res.add(Target("runbook: transient faults waited out",
                       count("runbook", "waited out", transient), len(transient), "",
                       at_least=True))
        res.add(Target("guide: transient faults waited out",
                       count("guide", "waited out", transient), 0, "", at_least=True,
                       note="reported, not a target (≥ 0)"))
    res.details = {"definition": __doc__.split("After each run", 1)[1].strip(),
                   "guide_wait_timeout": args.guide_wait_timeout, "faults": rows}
    return res.finish(["", *lines])


if __name__ == "__main__":
    sys.exit(main())
