"""The HTTP surface, raw: discovery, Status errors, 501/503, Tables, paging and watch streams."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx
import pytest
from kube_live import LiveKube

from emulator.kube import objects as o
from emulator.kube.routes import serve
from emulator.kube.store import KubeStore

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture
def lab() -> Iterator[LiveKube]:
    live = LiveKube()
    yield live
    live.stop()


@pytest.fixture
def http(lab: LiveKube) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lab.url, timeout=10, trust_env=False) as c:
        yield c


def test_version_health_and_discovery(http: httpx.Client) -> None:
    v = http.get("/version").json()
    assert set(v) == {"major", "minor", "gitVersion", "gitCommit", "gitTreeState", "buildDate",
                      "goVersion", "compiler", "platform"}
    assert (v["major"], v["minor"], v["gitVersion"]) == ("1", "32", "v1.32.0")
    assert http.get("/readyz").text == "ok"
    assert http.get("/livez?verbose").text.endswith("livez check passed\n")
    # kubectl asks for aggregated discovery first; a plain JSON answer makes it fall back
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json")
    api = http.get("/api", headers={"Accept": accept})
    assert api.headers["content-type"].startswith("application/json")
    assert api.json()["kind"] == "APIVersions" and api.json()["versions"] == ["v1"]
    groups = {g["name"]: g["preferredVersion"]["groupVersion"]
              for g in http.get("/apis").json()["groups"]}
    assert groups["velero.io"] == "velero.io/v1" and groups["policy"] == "policy/v1"
    core = {r["name"]: r for r in http.get("/api/v1").json()["resources"]}
    assert core["pods/eviction"]["group"] == "policy" and core["pods/eviction"]["kind"] == \
        "Eviction"
    assert core["nodes"]["namespaced"] is False and core["pods"]["shortNames"] == ["po"]
    assert http.get("/apis/helm.toolkit.fluxcd.io").json()["preferredVersion"]["version"] == "v2"


@pytest.mark.parametrize(("method", "path", "code", "message"), [
    ("GET", "/api/v1/nodes/w9", 404, 'nodes "w9" not found'),
    ("GET", "/apis/velero.io/v1/namespaces/velero/backups/x", 404,
     'backups.velero.io "x" not found'),
    ("GET", "/apis/foo.io/v1/bars", 404, "the server could not find the requested resource"),
    ("GET", "/api/v1/namespaces/default/nodes", 404,
     "the server could not find the requested resource"),
    ("GET", "/api/v1/namespaces/apps/pods/x/log", 501, "not emulated: GET pods/log"),
    ("DELETE", "/api/v1/namespaces/apps/pods", 501, "not emulated: deletecollection of pods"),
    ("GET", "/api/v1/namespaces/default/secrets", 501, "not emulated: GET v1 secrets"),
    ("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", 501,
     "not emulated: POST authorization.k8s.io/v1 selfsubjectaccessreviews"),
    ("GET", "/apis/batch/v1", 501, "not emulated: API group batch"),
    ("POST", "/api/v1/pods", 405,
     "the server does not allow this method on the requested resource"),
    ("GET", "/api/v1/pods?labelSelector=app+in+web", 400,
     "unable to parse requirement: found end of string, expected: '('"),
])
def test_errors_are_status_objects(http: httpx.Client, method: str, path: str, code: int,
                                   message: str) -> None:
    r = http.request(method, path)
    assert r.status_code == code, r.text
    body = r.json()
    assert (body["kind"], body["status"], body["code"], body["message"]) == (
        "Status", "Failure", code, message)


def test_patch_media_types(http: httpx.Client) -> None:
    smp = {"Content-Type": "application/strategic-merge-patch+json"}
    r = http.patch("/apis/velero.io/v1/namespaces/velero/backups/daily-20261119",
                   content=b"{}", headers=smp)
    assert r.status_code == 415
    assert r.json()["message"].startswith("the body of the request was in an unknown format")
    r = http.patch("/api/v1/nodes/w1", content=b"{}",
                   headers={"Content-Type": "application/apply-patch+yaml"})
    assert r.status_code == 501 and r.json()["message"].startswith("not emulated: server-side")
    r = http.get("/openapi/v3")
    assert r.status_code == 501 and r.text.startswith("not emulated: /openapi/v3")


def test_unavailable_answers_503(lab: LiveKube, http: httpx.Client) -> None:
    lab.up = False
    r = http.get("/api/v1/nodes")
    assert r.status_code == 503 and r.json()["reason"] == "ServiceUnavailable"
    lab.up = True
    assert http.get("/api/v1/nodes").status_code == 200


def test_tables_and_paging(http: httpx.Client) -> None:
    t = http.get("/api/v1/nodes", headers={"Accept": TABLE}).json()
    assert t["kind"] == "Table" and t["apiVersion"] == "meta.k8s.io/v1"
    assert [(c["name"], c["priority"]) for c in t["columnDefinitions"]][:6] == [
        ("Name", 0), ("Status", 0), ("Roles", 0), ("Age", 0), ("Version", 0),
        ("Internal-IP", 1)]
    assert t["rows"][0]["cells"][:3] == ["cp1", "Ready", "control-plane"]
    one = http.get("/api/v1/namespaces/velero/pods", headers={"Accept": TABLE}).json()
    assert one["rows"] == []
    ks = http.get("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
                  headers={"Accept": TABLE}).json()
    assert [c["name"] for c in ks["columnDefinitions"]] == ["Name", "Age", "Ready", "Status"]
    page1 = http.get("/api/v1/pods", params={"limit": 4}).json()
    assert len(page1["items"]) == 4 and page1["metadata"]["remainingItemCount"] == 7
    page2 = http.get("/api/v1/pods", params={"limit": 100,
                                             "continue": page1["metadata"]["continue"]}).json()
    names = [p["metadata"]["name"] for p in page1["items"] + page2["items"]]
    assert len(names) == len(set(names)) == 11 and "continue" not in page2["metadata"]


def test_create_replace_delete_roundtrip(http: httpx.Client) -> None:
    body = o.lease("runbook", "default", "me", 30)
    created = http.post("/apis/coordination.k8s.io/v1/namespaces/default/leases", json=body)
    assert created.status_code == 201
    url = "/apis/coordination.k8s.io/v1/namespaces/default/leases/runbook"
    stale = created.json()
    same = http.put(url, json=stale)
    assert same.json()["metadata"]["resourceVersion"] == stale["metadata"]["resourceVersion"]
    moved = http.put(url, json={**stale, "spec": {"holderIdentity": "other"}})
    assert moved.status_code == 200 and moved.json()["spec"]["holderIdentity"] == "other"
    r = http.put(url, json=stale)
    assert r.status_code == 409 and r.json()["reason"] == "Conflict"
    r = http.put(url, json={**stale, "metadata": {"name": "other"}})
    assert r.status_code == 400 and "does not match the name on the URL" in r.json()["message"]
    gone = http.delete(url).json()
    assert (gone["status"], gone["details"]["kind"], gone["details"]["group"]) == (
        "Success", "leases", "coordination.k8s.io")
    assert http.get(url).status_code == 404


def read_events(lines: Iterator[str], n: int) -> list[dict]:
    out = []
    for line in lines:
        if line.strip():
            out.append(json.loads(line))
        if len(out) == n:
            break
    return out


def test_watch_stream(lab: LiveKube, http: httpx.Client) -> None:
    rv = http.get("/api/v1/nodes").json()["metadata"]["resourceVersion"]
    params = {"watch": "1", "resourceVersion": rv, "timeoutSeconds": "5"}
    with http.stream("GET", "/api/v1/nodes", params=params) as r:
        assert r.headers["content-type"] == "application/json"
        lines = r.iter_lines()
        lab.call(lab.store.patch, "nodes", "w1", {"spec": {"unschedulable": True}}, "merge")
        ev = read_events(lines, 1)[0]
    assert ev["type"] == "MODIFIED" and ev["object"]["spec"]["unschedulable"] is True
    assert int(ev["object"]["metadata"]["resourceVersion"]) == int(rv) + 1
    with http.stream("GET", "/api/v1/watch/namespaces/apps/pods",
                     params={"labelSelector": "app=web", "timeoutSeconds": "1"},
                     headers={"Accept": TABLE}) as r:
        events = [json.loads(x) for x in r.iter_lines() if x.strip()]
    assert [e["type"] for e in events] == ["ADDED"] * 3, "the stream ends at timeoutSeconds"
    assert events[0]["object"]["kind"] == "Table"


def test_watch_too_old_gets_an_error_event_and_unavailability_ends_it(
        lab: LiveKube, http: httpx.Client) -> None:
    def churn() -> None:
        for i in range(10001):
            lab.store.put("configmaps", o.configmap("churn", "default", {"i": str(i)}))

    lab.call(churn)
    with http.stream("GET", "/api/v1/nodes", params={"watch": "true",
                                                     "resourceVersion": "5"}) as r:
        ev = read_events(r.iter_lines(), 1)[0]
    assert ev["type"] == "ERROR" and ev["object"]["code"] == 410
    assert ev["object"]["message"].startswith("too old resource version: 5 (")
    with http.stream("GET", "/api/v1/nodes", params={"watch": "true"}) as r:
        lines = r.iter_lines()
        assert len(read_events(lines, 3)) == 3
        lab.up = False
        rest = list(lines)  # ends within one idle check instead of the 30-minute default
    assert rest == []


def test_serve_binds_loopback_only() -> None:
    async def attempt() -> None:
        await serve(KubeStore(), "192.0.2.1", 6443)

    with pytest.raises(ValueError, match="the lab only binds loopback addresses, not 192.0.2.1"):
        asyncio.run(attempt())
