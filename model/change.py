"""A change record as the change system reports it, and the gate's judgement of it.

`ChangeRecord` is what drivers/change.py reads (ServiceNow change_request, Jira issue); the
gate (`refusal`) decides whether a mutating runbook may start under it: its state must be one
the profile allows and, where the system has a planned window and the profile checks it, now
must be inside it. `work_note` is what the runbook writes back at the end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from model.profile_sections import Change


@dataclass(frozen=True)
class ChangeRecord:
    """One change: its reference (CHG0030001, OPS-101), the system's own id for it (ServiceNow
    sys_id, Jira issue key), its state as the system names it, its planned window (UTC; None
    where the system has none), and a link a person can open."""

    system: str
    ref: str
    key: str
    state: str
    start: datetime | None = None
    end: datetime | None = None
    link: str = ""
    summary: str = ""

    def window_text(self) -> str:
        if self.start is None and self.end is None:
            return "no planned window"
        return f"planned window {_when(self.start)} -> {_when(self.end)}"

    def describe(self) -> str:
        """One line for the evidence: reference, state, window, link."""
        parts = [f"{self.ref}: state {self.state!r}"]
        if self.system == "servicenow":
            parts.append(self.window_text())
        if self.summary:
            parts.append(f"summary {self.summary!r}")
        if self.link:
            parts.append(self.link)
        return "; ".join(parts)


def _when(moment: datetime | None) -> str:
    return "(not set)" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def refusal(change: ChangeRecord, profile: Change, now: datetime, where: str) -> str | None:
    """Why a mutating runbook may not start under `change` (None: it may). `where` names the
    profile file, so the operator knows which setting allowed what."""
    allowed = ", ".join(profile.allowed_states)
    if change.state not in profile.allowed_states:
        return (
            f"{change.ref} is in state {change.state!r}; a runbook may change the cluster only "
            f"in {allowed} (change.allowed_states in {where})"
        )
    if change.system != "servicenow" or not profile.check_window:
        return None
    if change.start is None or change.end is None:
        return (
            f"{change.ref} has {change.window_text()}: the planned start and end dates must be "
            f"set (or check_window: false in {where})"
        )
    moment = now.astimezone(UTC)
    if not change.start <= moment <= change.end:
        side = "has not started" if moment < change.start else "is over"
        return (
            f"{change.ref} is in state {change.state!r} but its {change.window_text()} {side}; "
            f"now is {_when(moment)}"
        )
    return None


def work_note(runbook: str, cluster: str, summary: str, bundle: str) -> str:
    """The note (ServiceNow work note, Jira comment) written to the change at the end: the
    outcome and the before -> after table of the run summary, and where the evidence is."""
    return f"talos-runbooks {runbook} on cluster {cluster}\n\n{summary.rstrip()}\n\n{bundle}\n"
