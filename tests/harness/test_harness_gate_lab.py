"""The health gate against one healthy lab (shared by this module: no test changes it).

The lab writes a concrete profile (DIR/cluster.yaml: loopback addresses, its own talosctl);
variants of it point one node at an unused loopback address, or talosctl at a fake.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from checks import ALL_CHECKS
from emulator.api import Lab
from tests.harness.gate import fake_talosctl, lab_dirs, run_gate

pytestmark = pytest.mark.lab


def variant(lab: Lab, tmp_path: Path, change: dict[str, object]) -> Path:
    """A copy of the lab's concrete profile with top-level sections replaced or extended."""
    raw = yaml.safe_load(lab.profile.read_text())
    for key, value in change.items():
        section, _, field = key.partition(".")
        if field:
            raw[section][field] = value
        else:
            raw[section] = value
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_healthy_lab_passes_every_check_and_writes_junit(module_lab: Lab, tmp_path: Path) -> None:
    run = run_gate(tmp_path, f"--cluster={module_lab.profile}")
    assert run.rc == 0, run
    assert f"{len(ALL_CHECKS)} passed" in run.out
    assert list(run.verdicts) == [c.name for c in ALL_CHECKS]  # --junitxml: one case per check
    assert {v.outcome for v in run.verdicts.values()} == {"passed"}
    assert (f"cluster: lab from {module_lab.profile}: Talos v1.9.2, Kubernetes 1.32.0, 6 nodes"
            in run.out)


def test_lab_dir_attaches_to_the_running_lab_and_leaves_it_running(
        module_lab: Lab, tmp_path: Path) -> None:
    run = run_gate(tmp_path, "--cluster=lab", f"--lab-dir={module_lab.dir}")
    assert run.rc == 0, run
    assert f"(lab in {module_lab.dir})" in run.out
    assert lab_dirs(run) == []  # no lab of its own
    assert module_lab.state["state"] == "ready"
    assert [n["name"] for n in module_lab.status()["nodes"]] == [
        "cp1", "cp2", "cp3", "w1", "w2", "w3"]


def test_a_node_that_does_not_answer_is_named_in_the_findings(
        module_lab: Lab, tmp_path: Path) -> None:
    """w4 is a profile node on a loopback address of the lab's block that nothing serves."""
    workers = yaml.safe_load(module_lab.profile.read_text())["nodes"]["workers"]
    silent = workers[0]["address"].rsplit(".", 1)[0] + ".200"
    profile = variant(module_lab, tmp_path, {"nodes.workers": [
        *workers, {"name": "w4", "address": silent}]})
    run = run_gate(tmp_path, f"--cluster={profile}")
    assert run.rc == 1, run
    assert run.text("apid-ready").startswith(
        "apid to be ready: 1 finding(s)\n"
        "  [apid-ready] node w4: expected the Talos API answering, observed no answer: ")
    assert f"dial tcp {silent}:50000: connect: connection refused" in run.text("apid-ready")
    assert ("[k8s-nodes-registered] node w4: expected registered in Kubernetes, observed no "
            "Kubernetes Node of that name") in run.text("k8s-nodes-registered")
    for check in run.failed():  # every finding is about w4 alone
        findings = run.text(check).strip().splitlines()[1:]
        assert findings and all(" w4" in line for line in findings), run.text(check)
    assert run.verdicts["etcd-status-ok"].outcome == "passed"
    assert run.traceback_free(), run


GARBAGE_AFTER_VERSION = """#!/bin/sh
case "$*" in *"version --client"*) printf 'Client:\\nTalos v1.11.6\\n'; exit 0 ;; esac
echo '<html>garbage {{{'
"""


def test_talosctl_output_that_cannot_be_parsed_is_one_harness_error(
        module_lab: Lab, tmp_path: Path) -> None:
    """A talosctl that passes the start-up check but then prints nonsense: the gate stops at
    the first check with one "harness error" paragraph, not 27 findings or a traceback."""
    talosctl = fake_talosctl(tmp_path / "talosctl", GARBAGE_AFTER_VERSION)
    profile = variant(module_lab, tmp_path, {"talos.talosctl": str(talosctl)})
    run = run_gate(tmp_path, f"--cluster={profile}")
    assert run.rc == 1, run
    error = ("harness error: ParseError: cannot parse talosctl version: no 'Server:' section "
             "(first line: '<html>garbage {{{')")
    assert f"\n{error}\n" in run.out
    assert ("! harness error, no check could run: ParseError: cannot parse talosctl version: "
            "no 'Server:' section") in run.out
    assert "1 error in" in run.out
    assert run.traceback_free(), run
    assert [v.outcome for v in run.verdicts.values()] == ["error"]
