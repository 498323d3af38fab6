"""The lab's change desk: ServiceNow change requests and Jira issues, seeded relative to the
lab's start, with the notes, comments and attachments the harness writes to them.

ServiceNow states are the change_request choice values (New -5, Assess -4, Authorize -3,
Scheduled -2, Implement -1, Review 0, Closed 3, Canceled 4); dates are UTC
"YYYY-MM-DD HH:MM:SS" as the Table API's `value` gives them. Jira statuses are those of the
Jira Service Management change workflow. Faults: `change_not_approved`, `change_outside_window`,
`change_attachment_fails` (emulator/faultapply.py).
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

SNOW_STATES = {
    -5: "New",
    -4: "Assess",
    -3: "Authorize",
    -2: "Scheduled",
    -1: "Implement",
    0: "Review",
    3: "Closed",
    4: "Canceled",
}
IMPLEMENT, ASSESS = -1, -4
JIRA_IMPLEMENTING, JIRA_AWAITING = "Implementing", "Awaiting approval"
SNOW_TIME = "%Y-%m-%d %H:%M:%S"


@dataclass
class Attachment:
    id: str
    file_name: str
    content_type: str
    data: bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "file_name": self.file_name,
            "content_type": self.content_type,
            "size": len(self.data),
            "sha256": hashlib.sha256(self.data).hexdigest(),
        }


@dataclass
class SnowChange:
    number: str
    state: int
    start: datetime | None
    end: datetime | None
    short_description: str
    sys_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    work_notes: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


@dataclass
class JiraIssue:
    key: str
    id: str
    status: str
    summary: str
    comments: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)


def _seed_snow(now: datetime) -> list[SnowChange]:
    hour, day = timedelta(hours=1), timedelta(days=1)
    return [
        SnowChange(
            "CHG0030001",
            IMPLEMENT,
            now - hour,
            now + 8 * hour,
            "Talos upgrade (approved, in its window)",
        ),
        SnowChange(
            "CHG0030002", ASSESS, now - hour, now + 8 * hour, "Talos upgrade (being assessed)"
        ),
        SnowChange(
            "CHG0030003",
            IMPLEMENT,
            now - 2 * day,
            now - 2 * day + 4 * hour,
            "Talos upgrade (window over)",
        ),
        SnowChange(
            "CHG0030004",
            -2,
            now + day,
            now + day + 4 * hour,
            "Talos upgrade (scheduled for tomorrow)",
        ),
        SnowChange("CHG0030005", -1, None, None, "Talos upgrade (no planned dates)"),
        SnowChange("CHG0030006", 3, now - 3 * day, now - 3 * day + hour, "Closed change"),
    ]


def _seed_jira() -> list[JiraIssue]:
    return [
        JiraIssue("OPS-101", "10101", JIRA_IMPLEMENTING, "Talos upgrade (implementing)"),
        JiraIssue("OPS-102", "10102", JIRA_AWAITING, "Talos upgrade (awaiting approval)"),
        JiraIssue("OPS-103", "10103", "Completed", "Talos upgrade (completed)"),
        JiraIssue("OPS-104", "10104", "Declined", "Talos upgrade (declined)"),
    ]


class ChangeDesk:
    """Both systems' records, the secret that authenticates to them, and the faults."""

    def __init__(self, now: datetime | None = None, secret: str | None = None) -> None:
        self.started = (now or datetime.now(UTC)).replace(microsecond=0)
        self.secret = secret or f"lab-change-{secrets.token_hex(16)}"
        self.snow = {c.number: c for c in _seed_snow(self.started)}
        self.jira = {i.key: i for i in _seed_jira()}
        self.attachments_fail = False

    # ---- lookups --------------------------------------------------------------------------
    def snow_by_sys_id(self, sys_id: str) -> SnowChange | None:
        return next((c for c in self.snow.values() if c.sys_id == sys_id), None)

    def jira_issue(self, key_or_id: str) -> JiraIssue | None:
        return self.jira.get(key_or_id) or next(
            (i for i in self.jira.values() if i.id == key_or_id), None
        )

    # ---- faults ---------------------------------------------------------------------------
    def not_approved(self, ref: str | None) -> list[str]:
        """Approved changes (Implement / Implementing) go back to Assess / Awaiting approval."""
        hit = []
        for c in self.snow.values():
            if c.state == IMPLEMENT and ref in (None, c.number):
                c.state = ASSESS
                hit.append(c.number)
        for i in self.jira.values():
            if i.status == JIRA_IMPLEMENTING and ref in (None, i.key):
                i.status = JIRA_AWAITING
                hit.append(i.key)
        return hit

    def outside_window(self, ref: str | None) -> list[str]:
        """ServiceNow changes' planned windows end an hour before now."""
        hit = []
        end = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
        for c in self.snow.values():
            if ref in (None, c.number):
                c.start, c.end = end - timedelta(hours=4), end
                hit.append(c.number)
        return hit

    # ---- what the harness wrote ---------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """Every record with its notes and attachments (the lab's control API: GET /change)."""
        return {
            "servicenow": {
                n: {
                    "sys_id": c.sys_id,
                    "state": SNOW_STATES[c.state],
                    "start": snow_time(c.start),
                    "end": snow_time(c.end),
                    "work_notes": list(c.work_notes),
                    "attachments": [a.to_dict() for a in c.attachments],
                }
                for n, c in self.snow.items()
            },
            "jira": {
                k: {
                    "status": i.status,
                    "comments": list(i.comments),
                    "attachments": [a.to_dict() for a in i.attachments],
                }
                for k, i in self.jira.items()
            },
        }


def snow_time(moment: datetime | None) -> str:
    """A date-time as the Table API's `value` gives it (UTC), "" when unset."""
    return "" if moment is None else moment.strftime(SNOW_TIME)
