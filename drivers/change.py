"""The change system over HTTP (httpx): read a change, attach a file to it, write a note.

- ServiceNow: the Table API's change_request found by number (`sysparm_display_value=all`:
  the state's display name, e.g. "Implement", and the planned dates' UTC values), the
  Attachment API (POST /api/now/attachment/file, the body is the file), and a work note
  (PATCH the record's `work_notes`).
- Jira (REST API v2): the issue's status, an attachment (multipart field `file`, with the
  `X-Atlassian-Token: no-check` header Jira requires), and a comment.

Authentication: basic auth when the profile names a `user` (the secret is the password or API
token), else `Authorization: Bearer <secret>`. Every failure is a ChangeError naming the
system, the change and what the system answered; the secret never appears in one.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from drivers.errors import DriverError
from model.change import ChangeRecord
from model.profile_sections import Change

REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
SNOW_TIME = "%Y-%m-%d %H:%M:%S"
SNOW_FIELDS = "sys_id,number,state,start_date,end_date,short_description"


class ChangeError(DriverError):
    """The change system could not be reached, refused, or answered something unexpected."""


class ChangeSystem(ABC):
    """One change system as the profile's `change:` section describes it; each dialect
    (ServiceNow, Jira) says how to read a change, attach a file and write a note."""

    name = ""

    def __init__(
        self, config: Change, secret: str, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.config = config
        auth: httpx.Auth | None = None
        headers = {"Accept": "application/json"}
        if config.user:
            auth = httpx.BasicAuth(config.user, secret)
        else:
            headers["Authorization"] = f"Bearer {secret}"
        self.http = httpx.Client(
            base_url=config.url,
            auth=auth,
            headers=headers,
            timeout=config.timeout,
            transport=transport,
        )

    def close(self) -> None:
        self.http.close()

    @abstractmethod
    def fetch(self, ref: str) -> ChangeRecord:
        """The change `ref` (ChangeError when the system has none or cannot be read)."""

    @abstractmethod
    def attach(self, change: ChangeRecord, path: Path) -> str:
        """Attach the file; return how the system names the attachment."""

    @abstractmethod
    def note(self, change: ChangeRecord, text: str) -> None:
        """Write `text` to the change (ServiceNow: a work note; Jira: a comment)."""

    # ---- HTTP ---------------------------------------------------------------------------------
    def _call(self, what: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            resp = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as e:
            raise ChangeError(
                f"{self.name} {self.config.url}: {what}: {type(e).__name__}: {e}"
            ) from None
        if resp.is_success:
            return resp
        raise ChangeError(
            f"{self.name} {self.config.url}: {what}: HTTP {resp.status_code}: {self._error(resp)}"
        )

    @staticmethod
    def _error(resp: httpx.Response) -> str:
        """The system's own error message (both dialects), else the start of the body."""
        try:
            body = resp.json()
        except ValueError:
            return resp.text.strip()[:200] or resp.reason_phrase
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):  # ServiceNow
                return ": ".join(str(error[k]) for k in ("message", "detail") if error.get(k))
            messages = list(body.get("errorMessages") or [])  # Jira
            messages += [f"{k}: {v}" for k, v in (body.get("errors") or {}).items()]
            if messages:
                return "; ".join(map(str, messages))
        return str(body)[:200]

    def _json(self, resp: httpx.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise ChangeError(
                f"{self.name} {self.config.url}: {what}: the answer is not JSON "
                f"({resp.text.strip()[:120]!r})"
            ) from None


class ServiceNow(ChangeSystem):
    name = "ServiceNow"

    def fetch(self, ref: str) -> ChangeRecord:
        what = f"change_request {ref}"
        resp = self._call(
            what,
            "GET",
            "/api/now/table/change_request",
            params={
                "sysparm_query": f"number={ref}",
                "sysparm_fields": SNOW_FIELDS,
                "sysparm_display_value": "all",
                "sysparm_exclude_reference_link": "true",
                "sysparm_limit": "1",
            },
        )
        results = self._json(resp, what).get("result")
        if not isinstance(results, list):
            raise ChangeError(f"{self.name} {self.config.url}: {what}: no 'result' list")
        if not results:
            raise ChangeError(
                f"{self.name} {self.config.url}: no change_request numbered {ref} (or this user "
                "may not read it)"
            )
        row = results[0]

        def field(name: str, part: str = "value") -> str:
            cell = row.get(name)
            if isinstance(cell, dict):
                return str(cell.get(part) or "")
            return "" if cell is None else str(cell)

        sys_id = field("sys_id")
        return ChangeRecord(
            system="servicenow",
            ref=field("number") or ref,
            key=sys_id,
            state=field("state", "display_value"),
            start=_snow_time(field("start_date"), f"{what}: start_date"),
            end=_snow_time(field("end_date"), f"{what}: end_date"),
            link=f"{self.config.url}/change_request.do?sys_id={sys_id}",
            summary=field("short_description"),
        )

    def attach(self, change: ChangeRecord, path: Path) -> str:
        resp = self._call(
            f"attaching {path.name} to {change.ref}",
            "POST",
            "/api/now/attachment/file",
            params={
                "table_name": "change_request",
                "table_sys_id": change.key,
                "file_name": path.name,
            },
            content=path.read_bytes(),
            headers={"Content-Type": "application/gzip"},
        )
        result = self._json(resp, "attachment").get("result") or {}
        return f"attachment {result.get('sys_id', '?')} ({result.get('size_bytes', '?')} bytes)"

    def note(self, change: ChangeRecord, text: str) -> None:
        self._call(
            f"work note on {change.ref}",
            "PATCH",
            f"/api/now/table/change_request/{change.key}",
            json={"work_notes": text},
        )


def _snow_time(text: str, what: str) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, SNOW_TIME).replace(tzinfo=UTC)
    except ValueError:
        raise ChangeError(f"ServiceNow {what}: {text!r} is not YYYY-MM-DD HH:MM:SS") from None


class Jira(ChangeSystem):
    name = "Jira"

    def fetch(self, ref: str) -> ChangeRecord:
        what = f"issue {ref}"
        resp = self._call(
            what, "GET", f"/rest/api/2/issue/{ref}", params={"fields": "status,summary"}
        )
        body = self._json(resp, what)
        fields = body.get("fields") or {}
        status = (fields.get("status") or {}).get("name")
        if not status:
            raise ChangeError(f"{self.name} {self.config.url}: {what}: no fields.status.name")
        key = str(body.get("key") or ref)
        return ChangeRecord(
            system="jira",
            ref=key,
            key=key,
            state=str(status),
            link=f"{self.config.url}/browse/{key}",
            summary=str(fields.get("summary") or ""),
        )

    def attach(self, change: ChangeRecord, path: Path) -> str:
        with path.open("rb") as f:
            resp = self._call(
                f"attaching {path.name} to {change.ref}",
                "POST",
                f"/rest/api/2/issue/{change.key}/attachments",
                files={"file": (path.name, f, "application/gzip")},
                headers={"X-Atlassian-Token": "no-check"},
            )
        items = self._json(resp, "attachment")
        first = items[0] if isinstance(items, list) and items else {}
        return f"attachment {first.get('id', '?')} ({first.get('size', '?')} bytes)"

    def note(self, change: ChangeRecord, text: str) -> None:
        self._call(
            f"comment on {change.ref}",
            "POST",
            f"/rest/api/2/issue/{change.key}/comment",
            json={"body": text},
        )


def change_system(
    config: Change, secret: str, transport: httpx.BaseTransport | None = None
) -> ChangeSystem:
    """The client for the profile's change system (`transport`: for tests)."""
    return (ServiceNow if config.system == "servicenow" else Jira)(config, secret, transport)


def check_ref(ref: str) -> str | None:
    """Why `ref` cannot be a change reference (None: it can). It goes into a query string and
    a URL path, so only letters, digits and . _ - are accepted."""
    if REF.match(ref):
        return None
    return f"--change-ref {ref!r}: a change reference has only letters, digits, '.', '_', '-'"
