"""HTTP face of the lab's change desk (aiohttp, plain HTTP on loopback): both dialects on one
listener, each with its own paths, envelopes and error forms.

ServiceNow (Table API, Attachment API):
    GET   /api/now/table/change_request?sysparm_query=number=CHG...&sysparm_display_value=...
    GET   /api/now/table/change_request/{sys_id}
    PATCH /api/now/table/change_request/{sys_id}       {"work_notes": "..."}
    POST  /api/now/attachment/file?table_name=change_request&table_sys_id=..&file_name=..
          (the body is the file; Content-Type is the file's type)
    answers {"result": ...}; errors {"error": {"message", "detail"}, "status": "failure"}
Jira (REST API v2):
    GET   /rest/api/2/issue/{key}?fields=status,summary
    POST  /rest/api/2/issue/{key}/comment               {"body": "..."}
    POST  /rest/api/2/issue/{key}/attachments           multipart field "file",
          header X-Atlassian-Token: no-check (without it: 403 "XSRF check failed")
    errors {"errorMessages": [...], "errors": {}}
Authentication: basic auth (any user, the desk's secret as password) or a bearer token.
"""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import BodyPartReader, web

from emulator.change.models import SNOW_STATES, Attachment, ChangeDesk, SnowChange, snow_time

DESK: web.AppKey[ChangeDesk] = web.AppKey("change_desk", ChangeDesk)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
SNOW_FIELDS = ("sys_id", "number", "state", "start_date", "end_date", "short_description")
_NUMBER_QUERY = re.compile(r"^number=([A-Za-z0-9]+)$")


def _snow_error(status: int, message: str, detail: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "detail": detail}, "status": "failure"}, status=status
    )


def _jira_error(status: int, *messages: str) -> web.Response:
    return web.json_response({"errorMessages": list(messages), "errors": {}}, status=status)


def _authenticated(desk: ChangeDesk, header: str | None) -> bool:
    if not header:
        return False
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() == desk.secret
    if scheme.lower() == "basic":
        try:
            _, _, password = base64.b64decode(value.strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return password == desk.secret
    return False


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if _authenticated(request.app[DESK], request.headers.get("Authorization")):
        return await handler(request)
    if request.path.startswith("/rest/"):
        return web.Response(
            status=401, text="Client must be authenticated to access this resource."
        )
    return _snow_error(401, "User Not Authenticated", "Required to provide Auth information")


# ---- ServiceNow ------------------------------------------------------------------------------
def _snow_value(change: SnowChange, name: str) -> tuple[str, str]:
    """(value, display_value) of one change_request field."""
    if name == "state":
        return str(change.state), SNOW_STATES[change.state]
    raw = {
        "sys_id": change.sys_id,
        "number": change.number,
        "short_description": change.short_description,
        "start_date": snow_time(change.start),
        "end_date": snow_time(change.end),
    }[name]
    return raw, raw


def _snow_record(change: SnowChange, request: web.Request) -> dict[str, Any]:
    display = request.query.get("sysparm_display_value", "false")
    wanted = [f for f in request.query.get("sysparm_fields", "").split(",") if f]
    out: dict[str, Any] = {}
    for name in wanted or list(SNOW_FIELDS):
        if name not in SNOW_FIELDS:
            continue  # the real API leaves out fields it does not know
        value, shown = _snow_value(change, name)
        out[name] = (
            {"display_value": shown, "value": value}
            if display == "all"
            else shown
            if display == "true"
            else value
        )
    return out


async def snow_query(request: web.Request) -> web.Response:
    query = request.query.get("sysparm_query", "")
    match = _NUMBER_QUERY.match(query)
    if not match:
        return _snow_error(
            400,
            "not emulated",
            f"the lab answers only sysparm_query=number=<CHG...>, not {query!r}",
        )
    change = request.app[DESK].snow.get(match.group(1))
    return web.json_response({"result": [_snow_record(change, request)] if change else []})


def _snow_change(request: web.Request) -> SnowChange | None:
    return request.app[DESK].snow_by_sys_id(request.match_info["sys_id"])


NO_RECORD = ("No Record found", "Record doesn't exist or ACL restricts the record retrieval")


async def snow_get(request: web.Request) -> web.Response:
    change = _snow_change(request)
    if change is None:
        return _snow_error(404, *NO_RECORD)
    return web.json_response({"result": _snow_record(change, request)})


async def snow_update(request: web.Request) -> web.Response:
    change = _snow_change(request)
    if change is None:
        return _snow_error(404, *NO_RECORD)
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return _snow_error(400, "Exception while reading request", "The payload is not valid JSON.")
    if not isinstance(body, dict):
        return _snow_error(400, "Exception while reading request", "The payload is not valid JSON.")
    if body.get("work_notes"):
        change.work_notes.append(str(body["work_notes"]))
    return web.json_response({"result": _snow_record(change, request)})


async def snow_attach(request: web.Request) -> web.Response:
    desk, q = request.app[DESK], request.query
    missing = [p for p in ("table_name", "table_sys_id", "file_name") if not q.get(p)]
    if missing:
        return _snow_error(
            400,
            "Failed to create the attachment. File part might be missing in the request.",
            f"missing parameter(s): {', '.join(missing)}",
        )
    change = desk.snow_by_sys_id(q["table_sys_id"])
    if q["table_name"] != "change_request" or change is None:
        return _snow_error(
            404, "Invalid table or record", f"{q['table_name']}/{q['table_sys_id']} does not exist"
        )
    if desk.attachments_fail:
        return _snow_error(
            403, "Operation Failed", "ACL Exception Insert Failed due to security constraints"
        )
    data = await request.read()
    att = Attachment(uuid.uuid4().hex, q["file_name"], request.content_type, data)
    change.attachments.append(att)
    return web.json_response(
        {
            "result": {
                "sys_id": att.id,
                "file_name": att.file_name,
                "table_name": "change_request",
                "table_sys_id": change.sys_id,
                "content_type": att.content_type,
                "size_bytes": str(len(data)),
                "download_link": f"{request.scheme}://{request.host}/api/now/attachment/{att.id}/file",
            }
        },
        status=201,
        headers={"Location": f"/api/now/attachment/{att.id}"},
    )


# ---- Jira ------------------------------------------------------------------------------------
NO_ISSUE = "Issue does not exist or you do not have permission to see it."


async def jira_issue(request: web.Request) -> web.Response:
    issue = request.app[DESK].jira_issue(request.match_info["key"])
    if issue is None:
        return _jira_error(404, NO_ISSUE)
    base = f"{request.scheme}://{request.host}"
    fields: dict[str, Any] = {
        "status": {"name": issue.status, "self": f"{base}/rest/api/2/status"},
        "summary": issue.summary,
    }
    wanted = [f for f in request.query.get("fields", "").split(",") if f]
    if wanted:
        fields = {k: v for k, v in fields.items() if k in wanted}
    return web.json_response(
        {
            "id": issue.id,
            "key": issue.key,
            "self": f"{base}/rest/api/2/issue/{issue.id}",
            "fields": fields,
        }
    )


async def jira_comment(request: web.Request) -> web.Response:
    issue = request.app[DESK].jira_issue(request.match_info["key"])
    if issue is None:
        return _jira_error(404, NO_ISSUE)
    try:
        body = await request.json()
    except json.JSONDecodeError:
        return _jira_error(400, "Unexpected character: the body is not JSON")
    if not isinstance(body, dict) or not str(body.get("body") or "").strip():
        return web.json_response(
            {"errorMessages": [], "errors": {"comment": "Comment body can not be empty!"}},
            status=400,
        )
    issue.comments.append(str(body["body"]))
    cid = str(10000 + len(issue.comments))
    return web.json_response({"id": cid, "body": body["body"]}, status=201)


async def jira_attach(request: web.Request) -> web.Response:
    desk = request.app[DESK]
    if request.headers.get("X-Atlassian-Token", "").lower() != "no-check":
        return web.Response(status=403, text="XSRF check failed")
    issue = desk.jira_issue(request.match_info["key"])
    if issue is None:
        return _jira_error(404, NO_ISSUE)
    if desk.attachments_fail:
        return _jira_error(403, "You do not have permission to create attachments for this issue.")
    if not request.content_type.startswith("multipart/"):
        return _jira_error(415, "Attachments must be posted as multipart/form-data")
    out = []
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name != "file":
            continue
        data = await part.read()
        att = Attachment(
            str(20000 + len(issue.attachments)),
            part.filename or "file",
            part.headers.get("Content-Type", "application/octet-stream"),
            data,
        )
        issue.attachments.append(att)
        out.append(
            {
                "id": att.id,
                "filename": att.file_name,
                "size": len(data),
                "mimeType": att.content_type,
            }
        )
    if not out:
        return _jira_error(400, "No file part named 'file' in the request")
    return web.json_response(out)


async def not_emulated(request: web.Request) -> web.Response:
    return web.json_response(
        {"error": f"not emulated: {request.method} {request.path}"}, status=501
    )


def build_app(desk: ChangeDesk) -> web.Application:
    """The aiohttp application serving both dialects of this desk."""
    app = web.Application(middlewares=[authenticate], client_max_size=256 * 1024 * 1024)
    app[DESK] = desk
    r = app.router
    table = "/api/now/table/change_request"
    r.add_get(table, snow_query, allow_head=False)
    r.add_get(table + "/{sys_id}", snow_get, allow_head=False)
    r.add_patch(table + "/{sys_id}", snow_update)
    r.add_put(table + "/{sys_id}", snow_update)
    r.add_post("/api/now/attachment/file", snow_attach)
    r.add_get("/rest/api/2/issue/{key}", jira_issue, allow_head=False)
    r.add_post("/rest/api/2/issue/{key}/comment", jira_comment)
    r.add_post("/rest/api/2/issue/{key}/attachments", jira_attach)
    r.add_route("*", "/{tail:.*}", not_emulated)
    return app
