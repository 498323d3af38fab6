"""The change gate's judgement (model/change.py): state, planned window, what the refusal says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from model.change import ChangeRecord, refusal, work_note
from model.profile_sections import Change

NOW = datetime(2026, 12, 7, 12, 0, 0, tzinfo=UTC)
SNOW = Change.model_validate(
    {"system": "servicenow", "url": "https://x.service-now.com", "credentials": {"env": "T"}}
)
JIRA = Change.model_validate({
    "system": "jira", "url": "https://jira.example.com", "credentials": {"env": "T"},
    "allowed_states": ["Implementing", "Approved"],
})
WHERE = "clusters/home.yaml"


def snow(state: str = "Implement", start: datetime | None = NOW - timedelta(hours=1),
         end: datetime | None = NOW + timedelta(hours=2)) -> ChangeRecord:
    return ChangeRecord("servicenow", "CHG0030001", "abc", state, start, end)


def test_an_approved_change_inside_its_window_lets_the_run_start() -> None:
    assert SNOW.allowed_states == ("Implement",)
    assert refusal(snow(), SNOW, NOW, WHERE) is None
    assert refusal(snow(start=NOW, end=NOW), SNOW, NOW, WHERE) is None  # the edges are inside


@pytest.mark.parametrize(("change", "message"), [
    pytest.param(snow("Assess"), "CHG0030001 is in state 'Assess'; a runbook may change the "
                 "cluster only in Implement (change.allowed_states in clusters/home.yaml)",
                 id="not-approved"),
    pytest.param(snow(start=NOW + timedelta(hours=1), end=NOW + timedelta(hours=3)),
                 "CHG0030001 is in state 'Implement' but its planned window 2026-12-07 13:00:00 "
                 "UTC -> 2026-12-07 15:00:00 UTC has not started; now is 2026-12-07 12:00:00 UTC",
                 id="window-not-started"),
    pytest.param(snow(start=NOW - timedelta(hours=3), end=NOW - timedelta(seconds=1)),
                 "CHG0030001 is in state 'Implement' but its planned window 2026-12-07 09:00:00 "
                 "UTC -> 2026-12-07 11:59:59 UTC is over; now is 2026-12-07 12:00:00 UTC",
                 id="window-over"),
    pytest.param(snow(end=None), "CHG0030001 has planned window 2026-12-07 11:00:00 UTC -> "
                 "(not set): the planned start and end dates must be set (or check_window: "
                 "false in clusters/home.yaml)", id="no-end-date"),
])
def test_the_refusal_names_the_change_its_state_and_why(change: ChangeRecord,
                                                        message: str) -> None:
    assert refusal(change, SNOW, NOW, WHERE) == message


def test_the_window_is_not_checked_when_the_profile_says_so() -> None:
    lenient = SNOW.model_copy(update={"check_window": False})
    assert refusal(snow(start=None, end=None), lenient, NOW, WHERE) is None
    assert refusal(snow("Assess", None, None), lenient, NOW, WHERE) is not None


def test_a_jira_issue_is_judged_by_its_status_only() -> None:
    issue = ChangeRecord("jira", "OPS-101", "OPS-101", "Implementing")
    assert refusal(issue, JIRA, NOW, WHERE) is None
    waiting = ChangeRecord("jira", "OPS-102", "OPS-102", "Awaiting approval")
    assert refusal(waiting, JIRA, NOW, WHERE) == (
        "OPS-102 is in state 'Awaiting approval'; a runbook may change the cluster only in "
        "Implementing, Approved (change.allowed_states in clusters/home.yaml)")


def test_the_work_note_carries_the_summary_and_the_evidence() -> None:
    text = work_note("in_place", "home", "in_place on home (CHG1): passed\nw1 v1 -> v2\n",
                     "Evidence bundle attached: b.tar.gz (sha256 00)")
    assert text == ("talos-runbooks in_place on cluster home\n\n"
                    "in_place on home (CHG1): passed\nw1 v1 -> v2\n\n"
                    "Evidence bundle attached: b.tar.gz (sha256 00)\n")
