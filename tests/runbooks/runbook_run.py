"""Running a runbook as an operator does (`pytest runbooks/<name> --cluster=lab --lab-dir=DIR`)
in a subprocess, and reading what happened from its JUnit XML: each step's outcome and the
failure or skip text an operator reads.

    result = run_runbook(lab, tmp_path)
    assert result.exit_code == 1
    assert result.failed == ["test_worker_version[v1.9.4-w1]"]
    assert "came back on v1.9.2" in result.step("test_worker_version[v1.9.4-w1]").text
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Step:
    """One runbook step as JUnit recorded it; `text` is the message plus the long report."""

    name: str
    outcome: str  # passed | failed | skipped | error
    message: str = ""
    text: str = ""


@dataclass
class RunResult:
    """A finished runbook session: exit code, output, and its steps in execution order."""

    exit_code: int
    stdout: str
    stderr: str
    steps: dict[str, Step] = field(default_factory=dict)

    def names(self, outcome: str) -> list[str]:
        return [s.name for s in self.steps.values() if s.outcome == outcome]

    @property
    def failed(self) -> list[str]:
        return self.names("failed") + self.names("error")

    @property
    def passed(self) -> list[str]:
        return self.names("passed")

    @property
    def skipped(self) -> list[str]:
        return self.names("skipped")

    def step(self, name: str) -> Step:
        if name not in self.steps:
            raise AssertionError(f"no step {name!r} in the run; steps: {list(self.steps)}\n"
                                 + self.tail())
        return self.steps[name]

    def after(self, name: str) -> list[Step]:
        """The steps that come after `name`, in execution order."""
        names = list(self.steps)
        return [self.steps[n] for n in names[names.index(name) + 1:]]

    def tail(self, lines: int = 60) -> str:
        """The end of the session's output, for assertion messages."""
        out = (self.stdout + "\n" + self.stderr).strip().splitlines()
        return "\n".join(out[-lines:])


def runbook_argv(lab_dir: Path, junit: Path, *args: str, runbook: str = "in_place") -> list[str]:
    return [sys.executable, "-m", "pytest", f"runbooks/{runbook}", "--cluster=lab",
            f"--lab-dir={lab_dir}", f"--junitxml={junit}", "-p", "no:cacheprovider", "-q",
            "-rfEs", "-o", "junit_logging=no", *args]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(REPO)
    return env


def start_runbook(lab: Any, workdir: Path, *args: str, runbook: str = "in_place",
                  name: str = "run") -> tuple[subprocess.Popen[str], Path]:
    """Start a runbook session in its own process group; return (process, junit path)."""
    junit = workdir / f"{name}.xml"
    proc = subprocess.Popen(runbook_argv(lab.dir, junit, *args, runbook=runbook), cwd=REPO,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    return proc, junit


def finish(proc: subprocess.Popen[str], junit: Path, timeout: float = 600) -> RunResult:
    """Wait for a started session (killing its process group on timeout) and read its steps."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        out, err = proc.communicate()
        raise AssertionError(f"runbook still running after {timeout} s; output:\n{out}\n{err}"
                             ) from None
    return RunResult(proc.returncode, out, err, read_junit(junit))


def run_runbook(lab: Any, workdir: Path, *args: str, runbook: str = "in_place",
                name: str = "run", timeout: float = 600) -> RunResult:
    """Run a runbook session against the lab to its end."""
    proc, junit = start_runbook(lab, workdir, *args, runbook=runbook, name=name)
    return finish(proc, junit, timeout)


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the session's whole process group (pytest and its talosctl children)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def read_junit(path: Path) -> dict[str, Step]:
    """Steps by test name (with parameters), in execution order; {} when no report was written."""
    if not path.exists():
        return {}
    steps: dict[str, Step] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        name = case.get("name", "")
        outcome, message, text = "passed", "", ""
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[child.tag]
                message = child.get("message", "")
                text = f"{message}\n{child.text or ''}"
                break
        if name in steps and outcome == "passed":
            continue  # a teardown error reported twice keeps the first record
        steps[name] = Step(name, outcome, message, text)
    return steps


def lab_counts(lab: Any) -> dict[str, dict[str, Any]]:
    """Per node: boot_count, upgrade_count, talos_version, active_slot, kubelet version."""
    return {n["name"]: {"boot_count": n["boot_count"], "upgrade_count": n["upgrade_count"],
                        "talos_version": n["talos_version"], "active_slot": n["active_slot"],
                        "kubelet": n["kubernetes"]["kubelet_version"], "stage": n["stage"],
                        "busy": n["busy"]}
            for n in lab.status()["nodes"]}


def allure_result(alluredir: Path, test_id: str) -> dict[str, Any]:
    """The Allure result of one step, by its test id (`test_worker_version[v1.9.4-w2]`): the
    result is named by the step's title, `<docstring's first line> [<parameter id>]`."""
    function, _, param = test_id.partition("[")
    for path in alluredir.glob("*-result.json"):
        data: dict[str, Any] = json.loads(path.read_text())
        if data.get("fullName", "").rsplit("#", 1)[-1] != function:
            continue
        if not param or data.get("name", "").endswith(f"[{param}"):
            return data
    raise AssertionError(f"no Allure result for {test_id} in {alluredir}")


def allure_attachments(results: Path, name: str) -> list[tuple[str, str]]:
    """Every Allure attachment called `name` in a results directory, at any step depth: the
    title of the result it belongs to, and its text."""
    found = []
    for path in results.glob("*-result.json"):
        data = json.loads(path.read_text())
        stack = [data]
        while stack:
            node = stack.pop()
            stack += node.get("steps", [])
            found += [(data.get("name", ""), (results / a["source"]).read_text())
                      for a in node.get("attachments", []) if a["name"] == name]
    return found
