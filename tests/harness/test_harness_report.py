"""Evidence: the Allure results of one health-gate run (a lab with w2 cordoned, so the report
has a failure and 26 passes), and the single-file HTML report rendered by a real headless
Chromium. The browser may load nothing from the network: DNS resolves nothing and every
request goes to a dead loopback proxy."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks import ALL_CHECKS
from tests.harness.gate import REPO, GateRun, run_gate

pytestmark = pytest.mark.lab

FAILED_TITLE = "all k8s nodes to report schedulable"
FINDING = ("[k8s-nodes-schedulable] node w2: expected schedulable, observed cordoned "
           "(spec.unschedulable: true) — hint: once it is healthy: 'kubectl uncordon w2'")


@dataclass
class Evidence:
    run: GateRun
    results: Path

    def results_json(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in self.results.glob("*-result.json")]

    def containers(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text()) for p in self.results.glob("*-container.json")]


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Evidence:
    tmp = tmp_path_factory.mktemp("report")
    faults = tmp / "faults.yaml"
    faults.write_text(yaml.safe_dump([{"kind": "cordoned", "node": "w2"}]))
    results = tmp / "allure-results"
    run = run_gate(tmp, "--cluster=lab", f"--lab-faults={faults}", f"--alluredir={results}")
    assert run.rc == 1, run
    return Evidence(run, results)


def test_results_carry_check_titles_labels_and_the_failure_text(evidence: Evidence) -> None:
    results = {r["name"]: r for r in evidence.results_json()}
    assert sorted(results) == sorted(c.title for c in ALL_CHECKS)
    for check in ALL_CHECKS:
        r = results[check.title]
        labels = {(lb["name"], lb["value"]) for lb in r["labels"]}
        assert {("runbook", "health"), ("phase", "health"), ("cluster", "lab"),
                ("category", check.category.value)} <= labels, r["labels"]
        assert r["description"].startswith(f"`{check.name}`: ")  # the check's docstring
        assert r["parameters"] == [{"name": "check", "value": f"'{check.name}'"}]
        assert r["status"] == ("failed" if check.title == FAILED_TITLE else "passed")
        assert [a["name"] for a in r["attachments"]][:1] == ["verdict"]
    failed = results[FAILED_TITLE]
    assert failed["statusDetails"]["message"] == (
        f"Failed: {FAILED_TITLE}: 1 finding(s)\n  {FINDING}")
    verdict = json.loads((evidence.results / failed["attachments"][0]["source"]).read_text())
    assert verdict == [{"check": "k8s-nodes-schedulable", "subject": "node w2",
                        "expected": "schedulable",
                        "observed": "cordoned (spec.unschedulable: true)",
                        "hint": "once it is healthy: 'kubectl uncordon w2'",
                        "category": "node_readiness"}]


def test_environment_names_cluster_versions_talosctl_and_revision(evidence: Evidence) -> None:
    lines = (evidence.results / "environment.properties").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines)
    assert env["cluster"] == "lab" and env["lab"] == "yes"
    assert env["talos.profile"] == "v1.9.2" and env["talos.running"] == "v1.9.2"
    assert env["kubernetes.profile"] == "1.32.0"
    assert env["kubernetes.apiserver"] == "1.32.0" and env["kubernetes.kubelet"] == "1.32.0"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", env["talosctl"]), env
    has_git = (REPO / ".git").exists() and shutil.which("git") is not None
    assert re.fullmatch(r"[0-9a-f]{7,}" if has_git else r"[0-9a-f]{7,}|unknown",
                        env["harness.revision"]), env


def matching_categories(categories: list[dict[str, Any]], result: dict[str, Any]) -> list[str]:
    """The names of the Allure 3 rules (status and label matchers) a result matches."""
    def matches(m: dict[str, Any]) -> bool:
        return result["status"] in m["statuses"] and all(
            any(lb["name"] == name and re.search(rx, lb["value"]) for lb in result["labels"])
            for name, rx in m.get("labels", {}).items())

    return [c["name"] for c in categories
            if any(matches(m) for m in (c["matchers"] if isinstance(c["matchers"], list)
                                        else [c["matchers"]]))]


def test_categories_group_failures_by_cause(evidence: Evidence) -> None:
    categories = json.loads((evidence.results / "categories.json").read_text())
    assert [c["name"] for c in categories] == [
        "etcd", "node readiness", "version mismatch", "extensions", "workloads", "Flux",
        "backups", "change gate", "cluster lock", "node change command", "harness error"]
    by_status = {r["status"]: r for r in evidence.results_json()}
    assert matching_categories(categories, by_status["failed"]) == ["node readiness"]
    assert matching_categories(categories, by_status["passed"]) == []
    assert matching_categories(categories, {"status": "broken", "labels": []}) == [
        "harness error"]


def test_the_snapshot_and_every_driver_call_are_in_the_report(evidence: Evidence) -> None:
    (fixture,) = [b for c in evidence.containers() for b in c.get("befores", [])
                  if b["name"] == "health_snapshot"]
    (snapshot,) = [a for a in fixture["attachments"]
                   if a["name"] == "snapshot the verdicts were made from"]
    snap = json.loads((evidence.results / snapshot["source"]).read_text())
    assert [n["name"] for n in snap["nodes"]] == ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
    assert [n["name"] for n in snap["k8s_nodes"] if n["unschedulable"]] == ["w2"]
    (observe,) = fixture["steps"]
    calls = [s["name"] for s in observe["steps"]]
    talosctl = [c for c in calls if c.startswith("talosctl ")]
    # titled by what each call asks (node names, no binary path or global flags); one process
    # per resource for all six nodes, etcd over the three control planes
    assert talosctl == [
        "talosctl version -n cp1,cp2,cp3,w1,w2,w3",
        "talosctl get machinestatus -o json -n cp1,cp2,cp3,w1,w2,w3",
        "talosctl get extensions -o json -n cp1,cp2,cp3,w1,w2,w3",
        "talosctl etcd members -n cp1,cp2,cp3", "talosctl etcd status -n cp1,cp2,cp3",
        "talosctl etcd alarm list -n cp1"]
    for step in observe["steps"]:  # the full command line stays in the attachment
        if step["name"].startswith("talosctl "):
            (output,) = [a for a in step["attachments"] if a["name"] == "command output"]
            text = (evidence.results / output["source"]).read_text()
            assert text.startswith("$ ") and "--talosconfig " in text.splitlines()[0], text
    assert "kubectl get nodes" in calls and "kubectl get pods -A" in calls, calls


# ---- the HTML report in a real browser ----------------------------------------------------------
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_NETWORK = ["--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9"]


@pytest.fixture(scope="module")
def report(evidence: Evidence, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    done = subprocess.run([str(REPO / "scripts" / "report.sh"), str(evidence.results), str(out)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out / "index.html")
    assert sorted(p.name for p in out.iterdir() if p.suffix == ".html") == ["index.html"]
    return out / "index.html"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed: `WITH_BROWSER=1 scripts/setup.sh` installs it "
                    "(Debian package chromium); .ci/run does")
    profile = tmp_path_factory.mktemp("chromium-profile")
    yield [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--no-first-run", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", *NO_NETWORK,
           "--window-size=1400,1800"]


def visible_text(dom: str) -> str:
    """The rendered text of a DOM dump: no scripts, no styles, no tags, spaces collapsed."""
    dom = re.sub(r"(?s)<(script|style)\b.*?</\1>", " ", dom)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


def render(browser: list[str], url: str, ready: str, screenshot: Path | None = None) -> str:
    """The visible text of url once `ready` shows (the report renders asynchronously: up to
    three loads with a growing virtual-time budget); optionally a screenshot too."""
    text = ""
    for budget in (5000, 10000, 20000):
        done = subprocess.run([*browser, f"--virtual-time-budget={budget}", "--dump-dom", url],
                              capture_output=True, text=True, timeout=180, check=False)
        text = visible_text(done.stdout)
        if ready in text:
            break
    assert ready in text, f"{url} never showed {ready!r}; it showed: {text[:2000]}"
    if screenshot is not None:
        subprocess.run([*browser, f"--virtual-time-budget={budget}",
                        f"--screenshot={screenshot}", url],
                       capture_output=True, timeout=180, check=True)
        assert screenshot.stat().st_size > 10_000
    return text


def test_html_report_lists_every_check(report: Path, browser: list[str]) -> None:
    text = render(browser, report.as_uri(), FAILED_TITLE, report.parent / "overview.png")
    for check in ALL_CHECKS:
        assert check.title in text
    assert "Total 27 Failed 1 Passed 26" in text
    assert "cluster lab" in text and "runbook: health" in text


def test_html_report_shows_a_check_with_its_evidence(report: Path, browser: list[str]) -> None:
    by_id = json.loads((report.parent / "test-results.json").read_text())["byId"]
    (failed,) = [tr_id for tr_id, tr in by_id.items() if tr["status"] == "failed"]
    text = render(browser, f"{report.as_uri()}#{failed}", FINDING,
                  report.parent / "failed-check.png")
    assert FAILED_TITLE in text
    assert f"Failed: {FAILED_TITLE}: 1 finding(s)" in text
    assert "Description" in text  # its text renders in a frame that --dump-dom leaves out
    for evidence_name in ("health_snapshot", "verdict", "findings"):
        assert evidence_name in text
    assert "runbook health" in text and "cluster lab" in text  # labels


def test_html_report_shows_the_failure_category(report: Path, browser: list[str]) -> None:
    by_id = json.loads((report.parent / "test-results.json").read_text())["byId"]
    (failed,) = [tr_id for tr_id, tr in by_id.items() if tr["status"] == "failed"]
    text = render(browser, f"{report.as_uri()}#{failed}", FINDING)
    assert "Category: node readiness" in text


def test_html_report_loads_nothing_from_the_network(report: Path) -> None:
    html = report.read_text()
    assert re.findall(r"""(?:src|href)=["']?https?://[^"' >]+""", html) == []
