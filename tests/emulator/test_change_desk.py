"""The lab's change desk speaks both dialects as the vendors document them (see COVERAGE.md,
"Change management"): envelopes, error forms, the header Jira requires, authentication."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def desk(make_module_lab: Callable[..., Any]) -> tuple[str, str, Any]:
    lab = make_module_lab()
    return str(lab.state["change"]), (lab.dir / "change-token").read_text().strip(), lab


def test_servicenow_table_api_answers_with_display_and_utc_values(desk: tuple[str, str, Any]
                                                                  ) -> None:
    url, secret, _ = desk
    resp = httpx.get(f"{url}/api/now/table/change_request", auth=("svc", secret), params={
        "sysparm_query": "number=CHG0030002", "sysparm_display_value": "all",
        "sysparm_fields": "number,state,start_date"})
    assert resp.status_code == 200
    (row,) = resp.json()["result"]
    assert sorted(row) == ["number", "start_date", "state"]
    assert row["state"] == {"display_value": "Assess", "value": "-4"}
    assert len(row["start_date"]["value"]) == len("2026-12-07 12:00:00")
    raw = httpx.get(f"{url}/api/now/table/change_request", auth=("svc", secret),
                    params={"sysparm_query": "number=CHG0030002"}).json()["result"][0]
    assert raw["state"] == "-4"  # sysparm_display_value=false (the default): values only


def test_servicenow_refuses_without_credentials_in_its_error_envelope(
        desk: tuple[str, str, Any]) -> None:
    url, _, _ = desk
    resp = httpx.get(f"{url}/api/now/table/change_request?sysparm_query=number=CHG0030001")
    assert resp.status_code == 401
    assert resp.json() == {"error": {"message": "User Not Authenticated",
                                     "detail": "Required to provide Auth information"},
                           "status": "failure"}


def test_jira_attachments_need_the_no_check_header(desk: tuple[str, str, Any]) -> None:
    url, secret, lab = desk
    headers = {"Authorization": f"Bearer {secret}"}
    files = {"file": ("x.tar.gz", b"abc", "application/gzip")}
    blocked = httpx.post(f"{url}/rest/api/2/issue/OPS-103/attachments", headers=headers,
                         files=files)
    assert (blocked.status_code, blocked.text) == (403, "XSRF check failed")
    done = httpx.post(f"{url}/rest/api/2/issue/OPS-103/attachments",
                      headers={**headers, "X-Atlassian-Token": "no-check"}, files=files)
    assert done.status_code == 200
    assert [(a["filename"], a["size"]) for a in done.json()] == [("x.tar.gz", 3)]
    assert [a["file_name"] for a in lab.change_desk()["jira"]["OPS-103"]["attachments"]] == [
        "x.tar.gz"]
    missing = httpx.get(f"{url}/rest/api/2/issue/OPS-999", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"errorMessages": ["Issue does not exist or you do not have "
                                                "permission to see it."], "errors": {}}


def test_change_faults_name_what_they_cannot_act_on(desk: tuple[str, str, Any]) -> None:
    _, _, lab = desk
    with pytest.raises(Exception, match=r"fault change_not_approved: no change 'CHG0030006' it "
                                        r"can act on"):
        lab.fault("change_not_approved", ref="CHG0030006")  # closed: nothing to withdraw
