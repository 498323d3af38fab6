"""The change-system driver (drivers/change.py) against answers shaped as the vendors document
them, and the requests it sends (paths, parameters, the headers each API requires).

Sources of the sample shapes:
- ServiceNow Table API, GET /now/table/{tableName}: `{"result": [...]}`; with
  `sysparm_display_value=all` each field is `{"display_value": ..., "value": ...}`, date-times'
  `value` in UTC "YYYY-MM-DD HH:MM:SS"; errors `{"error": {"message", "detail"}, "status":
  "failure"}` (docs.servicenow.com, Table API and "REST API HTTP response codes").
- ServiceNow Attachment API, POST /now/attachment/file?table_name&table_sys_id&file_name, the
  file as the body with its Content-Type, 201 `{"result": {"sys_id", "size_bytes", ...}}`.
- Jira REST API v2, GET /rest/api/2/issue/{key}: `fields.status.name`; 404 `{"errorMessages":
  ["Issue does not exist or you do not have permission to see it."], "errors": {}}`;
  POST /rest/api/2/issue/{key}/attachments, multipart field `file`, header
  `X-Atlassian-Token: no-check`, 200 with a list of attachments (developer.atlassian.com,
  "Add attachment").
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from drivers.change import ChangeError, ChangeSystem, change_system, check_ref
from model.change import ChangeRecord
from model.profile_sections import Change

SNOW_ROW = {
    "sys_id": {"display_value": "c83c5e5347c12200e0ef563dbb9a7190",
               "value": "c83c5e5347c12200e0ef563dbb9a7190"},
    "number": {"display_value": "CHG0030001", "value": "CHG0030001"},
    "state": {"display_value": "Implement", "value": "-1"},
    # display values are in the user's time zone and format; values are UTC
    "start_date": {"display_value": "12/07/2026 04:00:00 AM", "value": "2026-12-07 12:00:00"},
    "end_date": {"display_value": "12/07/2026 08:00:00 AM", "value": "2026-12-07 16:00:00"},
    "short_description": {"display_value": "Upgrade Talos", "value": "Upgrade Talos"},
}
JIRA_ISSUE = {
    "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
    "id": "10002", "self": "https://your-domain.atlassian.net/rest/api/2/issue/10002",
    "key": "ED-1",
    "fields": {"summary": "Upgrade Talos",
               "status": {"self": "https://your-domain.atlassian.net/rest/api/2/status/10000",
                          "name": "Implementing", "id": "10000"}},
}

Handler = Callable[[httpx.Request], httpx.Response]


def client(system: str, handler: Handler, **extra: object) -> ChangeSystem:
    config = Change.model_validate({
        "system": system, "url": "https://change.example.com", "credentials": {"env": "T"},
        "allowed_states": ["Implement", "Implementing"], **extra})
    return change_system(config, "s3cr3t", transport=httpx.MockTransport(handler))


def test_servicenow_reads_the_change_by_number_with_display_and_utc_values() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"result": [SNOW_ROW]})

    change = client("servicenow", handler, user="svc-talos").fetch("CHG0030001")
    assert change == ChangeRecord(
        "servicenow", "CHG0030001", "c83c5e5347c12200e0ef563dbb9a7190", "Implement",
        datetime(2026, 12, 7, 12, tzinfo=UTC), datetime(2026, 12, 7, 16, tzinfo=UTC),
        "https://change.example.com/change_request.do?sys_id=c83c5e5347c12200e0ef563dbb9a7190",
        "Upgrade Talos")
    (request,) = seen
    assert request.url.path == "/api/now/table/change_request"
    assert request.url.params["sysparm_query"] == "number=CHG0030001"
    assert request.url.params["sysparm_display_value"] == "all"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(
        b"svc-talos:s3cr3t").decode()


def test_servicenow_attaches_the_file_as_the_body_and_writes_a_work_note(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/api/now/attachment/file":
            return httpx.Response(201, json={"result": {"sys_id": "a1", "size_bytes": "5"}})
        return httpx.Response(200, json={"result": {}})

    archive = tmp_path / "bundle.tar.gz"
    archive.write_bytes(b"hello")
    change = ChangeRecord("servicenow", "CHG0030001", "c83c", "Implement")
    desk = client("servicenow", handler)
    assert desk.attach(change, archive) == "attachment a1 (5 bytes)"
    desk.note(change, "passed")
    attach, note = seen
    assert dict(attach.url.params) == {"table_name": "change_request", "table_sys_id": "c83c",
                                       "file_name": "bundle.tar.gz"}
    assert attach.headers["Content-Type"] == "application/gzip" and attach.content == b"hello"
    assert attach.headers["Authorization"] == "Bearer s3cr3t"
    assert (note.method, note.url.path) == ("PATCH", "/api/now/table/change_request/c83c")
    assert json.loads(note.content) == {"work_notes": "passed"}


def test_servicenow_errors_carry_the_api_message_not_the_secret() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "User Not Authenticated",
                                                   "detail": "Required to provide Auth "
                                                             "information"},
                                         "status": "failure"})

    with pytest.raises(ChangeError) as info:
        client("servicenow", handler).fetch("CHG0030001")
    assert str(info.value) == (
        "ServiceNow https://change.example.com: change_request CHG0030001: HTTP 401: User Not "
        "Authenticated: Required to provide Auth information")
    assert "s3cr3t" not in str(info.value)


def test_servicenow_an_unknown_number_is_named() -> None:
    desk = client("servicenow", lambda r: httpx.Response(200, json={"result": []}))
    with pytest.raises(ChangeError, match=r"no change_request numbered CHG0099999 \(or this "
                                          r"user may not read it\)$"):
        desk.fetch("CHG0099999")


def test_jira_reads_the_status_and_attaches_with_the_no_check_header(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/attachments"):
            return httpx.Response(200, json=[{"id": "10001", "filename": "b.tar.gz",
                                              "size": 5, "mimeType": "application/gzip"}])
        if request.url.path.endswith("/comment"):
            return httpx.Response(201, json={"id": "10000", "body": "x"})
        return httpx.Response(200, json=JIRA_ISSUE)

    desk = client("jira", handler)
    change = desk.fetch("ED-1")
    assert (change.ref, change.state, change.link) == (
        "ED-1", "Implementing", "https://change.example.com/browse/ED-1")
    archive = tmp_path / "b.tar.gz"
    archive.write_bytes(b"hello")
    assert desk.attach(change, archive) == "attachment 10001 (5 bytes)"
    desk.note(change, "passed")
    get, attach, comment = seen
    assert get.url.path == "/rest/api/2/issue/ED-1"
    assert attach.headers["X-Atlassian-Token"] == "no-check"
    assert attach.headers["Content-Type"].startswith("multipart/form-data")
    assert b'name="file"; filename="b.tar.gz"' in attach.content
    assert json.loads(comment.content) == {"body": "passed"}


def test_jira_404_says_what_jira_said() -> None:
    body = {"errorMessages": ["Issue does not exist or you do not have permission to see it."],
            "errors": {}}
    desk = client("jira", lambda r: httpx.Response(404, json=body))
    with pytest.raises(ChangeError) as info:
        desk.fetch("ED-9")
    assert str(info.value) == ("Jira https://change.example.com: issue ED-9: HTTP 404: Issue "
                               "does not exist or you do not have permission to see it.")


def test_an_unreachable_system_is_named() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(ChangeError, match=r"^Jira https://change.example.com: issue ED-1: "
                                          r"ConnectError: \[Errno 111\] Connection refused$"):
        client("jira", handler).fetch("ED-1")


@pytest.mark.parametrize("ref", ["CHG0030001", "OPS-101", "chg_1.2"])
def test_references_that_are_safe_in_a_query_and_a_path(ref: str) -> None:
    assert check_ref(ref) is None


@pytest.mark.parametrize("ref", ["CHG1^ORnumber=CHG2", "../OPS-1", "OPS 1", ""])
def test_references_that_could_change_the_query_are_refused(ref: str) -> None:
    assert check_ref(ref) == (f"--change-ref {ref!r}: a change reference has only letters, "
                              "digits, '.', '_', '-'")
