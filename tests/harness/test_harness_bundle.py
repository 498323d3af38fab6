"""The evidence bundle's manifest and its verification (drivers/bundle.py and the documented
command, scripts/verify_bundle.py): intact is exit 0; each changed, missing or extra file is
named, exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from drivers.bundle import archive, verify, write_manifest

REPO = Path(__file__).resolve().parents[2]


def _bundle(tmp_path: Path) -> Path:
    d = tmp_path / "bundle-in_place-home-20261207T100000Z"
    (d / "allure-results").mkdir(parents=True)
    (d / "report.html").write_text("<html>report</html>")
    (d / "allure-results" / "a-result.json").write_text('{"status": "passed"}')
    (d / "run-summary.txt").write_text("in_place on home (CHG-7): passed\n")
    write_manifest(d, {"runbook": "in_place", "cluster": "home", "change": "CHG-7"})
    return d


def _verify(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "verify_bundle.py"),
                           str(target)], capture_output=True, text=True, timeout=60, check=False)


def test_the_manifest_names_every_file_with_its_sha256_and_the_run(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["run"] == {"runbook": "in_place", "cluster": "home", "change": "CHG-7"}
    assert sorted(manifest["files"]) == ["allure-results/a-result.json", "report.html",
                                         "run-summary.txt"]
    assert all(len(h) == 64 for h in manifest["files"].values())
    assert verify(d) == []
    done = _verify(d)
    assert (done.returncode, done.stdout) == (0, f"{d}: intact\n")


def test_a_changed_a_missing_and_an_extra_file_are_each_named(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    (d / "run-summary.txt").write_text("in_place on home (CHG-7): failed\n")  # edited after
    (d / "report.html").unlink()
    (d / "allure-results" / "b-result.json").write_text("{}")
    assert verify(d) == ["missing: report.html", "changed: run-summary.txt",
                         "extra: allure-results/b-result.json"]
    done = _verify(d)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"{d}: missing: report.html",
                                        f"{d}: changed: run-summary.txt",
                                        f"{d}: extra: allure-results/b-result.json"]


def test_the_archive_verifies_too_and_a_bundle_without_manifest_is_refused(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    packed = archive(d)
    assert packed.name == d.name + ".tar.gz"
    assert _verify(packed).returncode == 0
    (d / "manifest.json").unlink()
    done = _verify(d)
    assert done.returncode == 1 and "no readable manifest" in done.stdout
    assert _verify(tmp_path / "nothing-here").returncode == 2
