"""Image changes in place (the in-place guide's "Adding or Changing Extensions"): a target
extension set (--extensions, upgrade.target.extensions) or an explicit --schematic moves every
node to the new schematic's installer; every node is proven to run its extension list, without
the extensions it dropped. The schematic ID is the Factory's (POST /schematics), checked against
the sha256 rule; an unknown --schematic stops the preflight before anything changes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from model.schematic import schematic_id
from tests.runbooks.runbook_run import lab_counts, run_runbook

pytestmark = pytest.mark.lab

OLD = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"
THREE = ["siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent", "siderolabs/util-linux-tools"]
SAME_VERSION = ("--talos-version", "v1.9.2", "--k8s-version", "1.32.0")


def _images(lab: Any) -> dict[str, tuple[str, list[str]]]:
    return {n["name"]: (n["schematic"], n["extensions"]) for n in lab.status()["nodes"]}


def test_a_new_extension_on_the_same_version_then_a_rerun_changes_nothing(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    lab = make_lab()
    new = schematic_id(THREE)
    plan = run_runbook(lab, tmp_path, *SAME_VERSION, "--extensions", ",".join(THREE), "--plan",
                       name="plan")
    assert plan.exit_code == 0, plan.tail()
    assert (f"Upgrade plan: Talos v1.9.2 (unchanged), Kubernetes 1.32.0 (unchanged), image "
            f"{OLD[:12]} -> {new[:12]} (1 hop)") in plan.stdout
    assert f"1. Talos v1.9.2, new image {new[:12]}: image change" in plan.stdout
    assert (f"Image change (--extensions): {OLD[:12]} (iscsi-tools, qemu-guest-agent) -> "
            f"{new[:12]} (iscsi-tools, qemu-guest-agent, util-linux-tools)") in plan.stdout
    assert {n: c["upgrade_count"] for n, c in lab_counts(lab).items()} == dict.fromkeys(
        _images(lab), 0)

    result = run_runbook(lab, tmp_path, *SAME_VERSION, "--extensions", ",".join(THREE))
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.step("test_target_image_is_known").outcome == "passed"
    for name, (schematic, extensions) in _images(lab).items():
        assert schematic == new, name
        assert extensions == THREE, name
    assert "w1       worker        v1.9.2" in result.stdout
    assert f"dc7b152cb3ea -> {new[:12]}" in result.stdout
    counts = lab_counts(lab)
    assert {n: c["upgrade_count"] for n, c in counts.items()} == dict.fromkeys(counts, 1)

    # the profile still names the old schematic: a rerun finds every node on the new one
    again = run_runbook(lab, tmp_path, *SAME_VERSION, "--extensions", ",".join(THREE),
                        name="again")
    assert again.exit_code == 0, f"{again.failed}\n{again.tail()}"
    assert again.step("test_upgrade_worker[v1.9.2-w1]").outcome == "passed"
    assert lab_counts(lab) == counts


def test_a_dropped_extension_with_a_version_change(make_lab: Callable[..., Any],
                                                   tmp_path: Path) -> None:
    lab = make_lab()
    only = ["siderolabs/qemu-guest-agent"]
    result = run_runbook(lab, tmp_path, "--extensions", ",".join(only))
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    for name, (schematic, extensions) in _images(lab).items():
        assert schematic == schematic_id(only), name
        assert extensions == only, name
    assert {c["talos_version"] for c in lab_counts(lab).values()} == {"v1.9.4"}


def test_an_unknown_schematic_stops_before_anything_changes(make_lab: Callable[..., Any],
                                                             tmp_path: Path) -> None:
    lab = make_lab()
    before = lab_counts(lab)
    unknown = "0" * 64
    result = run_runbook(lab, tmp_path, *SAME_VERSION, "--schematic", unknown)
    assert result.exit_code == 1, result.tail()
    assert result.failed == ["test_target_image_is_known"], result.tail()
    assert (f"schematic {unknown} (--schematic) is not in the Image Factory "
            in result.step("test_target_image_is_known").text)
    assert "create it there first (POST /schematics), or give --extensions" in result.step(
        "test_target_image_is_known").text
    assert lab_counts(lab) == before


def test_bad_image_options_are_usage_errors(lab: Any, tmp_path: Path) -> None:
    both = run_runbook(lab, tmp_path, "--extensions", "siderolabs/iscsi-tools", "--schematic",
                       "a" * 64, "--plan", name="both")
    assert both.exit_code == 4
    assert "cannot plan the upgrade: give --extensions or --schematic, not both" in both.stderr
    bad = run_runbook(lab, tmp_path, "--extensions", "iscsi-tools", "--plan", name="bad")
    assert bad.exit_code == 4
    assert ("cannot plan the upgrade: --extensions: 'iscsi-tools' is not an official extension "
            "name (owner/name, e.g. siderolabs/iscsi-tools)") in bad.stderr


def test_an_explicit_schematic_takes_its_extensions_from_the_factory(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    import httpx

    from model.profile import load_profile
    from model.schematic import canonical_yaml

    lab = make_lab()
    factory = load_profile(lab.profile).talos.factory.url
    wanted = ["siderolabs/qemu-guest-agent", "siderolabs/util-linux-tools"]
    created = httpx.post(f"{factory}/schematics", content=canonical_yaml(wanted), timeout=10)
    assert created.status_code == 201, created.text
    sid = created.json()["id"]
    result = run_runbook(lab, tmp_path, *SAME_VERSION, "--schematic", sid)
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    for name, (schematic, extensions) in _images(lab).items():
        assert (schematic, extensions) == (sid, wanted), name
