"""The change gate (the profile's change: section) on the lab's change desk, both dialects:
an approved change lets the runbook run and gets the bundle and a work note; a change not
approved, out of its window or not given stops the run at its first step, before any call to
the cluster; a failed attachment leaves the verdict alone and says so; health needs no change."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runbooks.runbook_run import RunResult, lab_counts, run_runbook

pytestmark = pytest.mark.lab

SNOW = {"system": "servicenow", "url": "https://example.service-now.com", "user": "svc-talos",
        "credentials": {"env": "SNOW_PASSWORD"}}
JIRA = {"system": "jira", "url": "https://jira.example.com",
        "credentials": {"env": "JIRA_TOKEN"}, "allowed_states": ["Implementing"]}
GATE = "test_change_is_approved"


@pytest.fixture(scope="module")
def snow_lab(make_module_lab: Callable[..., Any]) -> Any:
    """One lab for every refusal: a refused run changes nothing, so they can share it."""
    return make_module_lab(extra={"change": SNOW})


def _section(result: RunResult, title: str) -> list[str]:
    """The lines of one terminal summary section (`=== title ===`)."""
    lines = result.stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if f" {title} " in ln and ln.startswith("="))
    out = []
    for line in lines[start + 1:]:
        if line.startswith("==="):
            break
        out.append(line)
    return out


@pytest.mark.parametrize(("args", "message"), [
    pytest.param((), "names a change system (servicenow at http://", id="no-change-ref"),
    pytest.param(("--change-ref", "CHG0030002"), "[change] refused: CHG0030002 is in state "
                 "'Assess'; a runbook may change the cluster only in Implement "
                 "(change.allowed_states in ", id="not-approved"),
    pytest.param(("--change-ref", "CHG0030003"), "[change] refused: CHG0030003 is in state "
                 "'Implement' but its planned window ", id="window-over"),
    pytest.param(("--change-ref", "CHG0099999"), "[change] cannot confirm CHG0099999: "
                 "ServiceNow http://", id="unknown-change"),
])
def test_a_refused_change_stops_the_run_before_any_call_to_the_cluster(
        snow_lab: Any, tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    before = lab_counts(snow_lab)
    results = tmp_path / "allure"
    result = run_runbook(snow_lab, tmp_path, *args, f"--alluredir={results}", "--no-bundle")
    assert result.exit_code == 1, result.tail()
    assert result.failed == [GATE], result.tail()
    assert message in result.step(GATE).text, result.step(GATE).text
    assert list(result.steps)[0] == GATE
    assert all(s.outcome == "skipped" for s in result.after(GATE))
    assert not (results / "commands.log").exists(), (results / "commands.log").read_text()
    assert lab_counts(snow_lab) == before
    if "refused" in message:
        (line,) = _section(result, "change record")
        assert line.startswith(f"refused: {args[1]} is in state "), line


@pytest.mark.parametrize(("fault", "ref", "message"), [
    pytest.param("change_not_approved", "CHG0030001", "CHG0030001 is in state 'Assess'; ",
                 id="not-approved"),
    pytest.param("change_outside_window", "CHG0030005", "CHG0030005 is in state 'Implement' "
                 "but its planned window ", id="outside-window"),
])
def test_a_change_the_desk_withdraws_is_refused(snow_lab: Any, tmp_path: Path, fault: str,
                                                ref: str, message: str) -> None:
    """The lab's faults: the change board sends the approved change back to Assess, or moves
    its window into the past."""
    snow_lab.fault(fault, ref=ref)
    result = run_runbook(snow_lab, tmp_path, "--change-ref", ref, "--no-bundle")
    assert result.failed == [GATE], result.tail()
    assert f"[change] refused: {message}" in result.step(GATE).text
    if fault == "change_outside_window":
        assert " is over; now is " in result.step(GATE).text


def test_health_and_plan_need_no_change(snow_lab: Any, tmp_path: Path) -> None:
    health = run_runbook(snow_lab, tmp_path, runbook="health", name="health")
    assert health.exit_code == 0, health.tail()
    plan = run_runbook(snow_lab, tmp_path, "--plan", name="plan")
    assert plan.exit_code == 0, plan.tail()
    assert plan.step(GATE).outcome == "passed"


def test_an_approved_change_gets_the_bundle_and_a_work_note(make_lab: Callable[..., Any],
                                                           tmp_path: Path) -> None:
    lab = make_lab(extra={"change": SNOW})
    results = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, "--change-ref", "CHG0030001", f"--alluredir={results}")
    assert result.exit_code == 0, result.tail()
    (archive,) = tmp_path.glob("bundle-in_place-lab-*.tar.gz")
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    record = lab.change_desk()["servicenow"]["CHG0030001"]
    (attached,) = record["attachments"]
    assert (attached["file_name"], attached["sha256"]) == (archive.name, digest)
    assert attached["content_type"] == "application/gzip"
    (note,) = record["work_notes"]
    assert note.startswith("talos-runbooks in_place on cluster lab\n\n"
                           "in_place on lab (CHG0030001): passed\n")
    assert "w1       worker        v1.9.2 -> v1.9.4" in note
    assert f"Evidence bundle attached: {archive.name} (sha256 {digest})" in note
    lines = _section(result, "change record")
    assert lines[0].startswith("approved: CHG0030001: state 'Implement'; planned window ")
    assert lines[1].startswith(f"attached {archive.name} to CHG0030001: attachment ")
    assert lines[2] == "work note written to CHG0030001"
    secret = (lab.dir / "change-token").read_text().strip()
    bundle = archive.with_name(archive.name.removesuffix(".tar.gz"))
    leaked = [p for p in bundle.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert leaked == []


def test_a_failed_attachment_keeps_the_verdict_and_says_so(make_lab: Callable[..., Any],
                                                          tmp_path: Path) -> None:
    lab = make_lab(extra={"change": JIRA}, faults=[{"kind": "change_attachment_fails"}])
    results = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, "--change-ref", "OPS-101", f"--alluredir={results}")
    assert result.exit_code == 0, result.tail()
    (archive,) = tmp_path.glob("bundle-in_place-lab-*.tar.gz")
    lines = _section(result, "change record")
    assert lines[0].startswith("approved: OPS-101: state 'Implementing'; summary ")
    assert lines[1] == (
        f"ATTACHMENT FAILED (the run's verdict stands): Jira {lab_url(lab)}: attaching "
        f"{archive.name} to OPS-101: HTTP 403: You do not have permission to create "
        "attachments for this issue.")
    assert lines[2] == f"the bundle stays at {archive}"
    assert lines[3] == "work note written to OPS-101"
    assert archive.is_file()
    issue = lab.change_desk()["jira"]["OPS-101"]
    assert issue["attachments"] == []
    (comment,) = issue["comments"]
    assert "could not be attached" in comment and str(archive) in comment


def lab_url(lab: Any) -> str:
    return str(lab.state["change"])
