"""--plan prints the plan and changes nothing; impossible targets are refused (exit 4) before
anything runs, with the reason and the nearest valid plan. One lab for the module: none of
these sessions may change it, and each test checks that."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.kube import Kube
from drivers.lock import LEASE_NAME, NAMESPACE
from emulator.api import Lab
from tests.runbooks.runbook_run import lab_counts, run_runbook

pytestmark = pytest.mark.lab

PREFLIGHT = ["test_change_is_approved", "test_plan_is_valid", "test_target_image_is_known",
             "test_take_cluster_lock",
             "test_cluster_healthy",
             "test_cluster_matches_profile", "test_installer_images_exist",
             "test_talosctl_not_older_than_target", "test_no_flux_reconciliation_in_progress",
             "test_no_pdb_blocks_drain", "test_rollback_path_exists"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab.start(tmp_path_factory.mktemp("plan-lab") / "run")
    yield lab
    lab.stop(discard_data=True)


def _velero_backups(kube: Kube) -> list[str]:
    items = kube._items("list backups", "/apis/velero.io/v1/namespaces/velero/backups")
    return sorted(b["metadata"]["name"] for b in items)


def _unchanged(lab: Lab, before: dict[str, Any], backups: list[str]) -> None:
    __tracebackhide__ = True
    assert lab_counts(lab) == before
    kube = Kube(lab.dir / "kubeconfig")
    try:
        assert kube.get_lease(NAMESPACE, LEASE_NAME) is None, "a --plan run left a lease"
        assert _velero_backups(kube) == backups
    finally:
        kube.close()
    assert not list((lab.dir / "backups").rglob("*.snapshot")), "no etcd snapshot"
    assert not list((lab.dir / "backups").rglob("*.json")), "no run record"


@pytest.fixture
def before(lab: Lab) -> tuple[dict[str, Any], list[str]]:
    kube = Kube(lab.dir / "kubeconfig")
    try:
        return lab_counts(lab), _velero_backups(kube)
    finally:
        kube.close()


def test_plan_prints_the_plan_and_changes_nothing(lab: Lab, tmp_path: Path,
                                                  before: tuple[dict[str, Any], list[str]]
                                                  ) -> None:
    result = run_runbook(lab, tmp_path, "--plan")
    assert result.exit_code == 0, result.tail()
    assert result.passed == PREFLIGHT, result.tail()
    assert result.failed == []
    later = [s for s in result.steps.values() if s.name not in PREFLIGHT]
    assert later and all(s.outcome == "skipped" and "--plan" in s.message for s in later), \
        [(s.name, s.message) for s in later if "--plan" not in s.message]
    out = result.stdout
    assert "upgrade plan (nothing was changed)" in out
    assert "Upgrade plan: Talos v1.9.2 -> v1.9.4, Kubernetes 1.32.0 -> 1.32.2 (2 hops)" in out
    assert "Node order for each Talos hop: w1 (" in out and "cp1 (" in out and "[primary]" in out
    order = [out.index(f"   {n} ") for n in ("w1", "w2", "w3", "cp2", "cp3", "cp1")]
    assert order == sorted(order), "workers first, the primary last"
    schematic = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"
    assert f"/installer/{schematic}:v1.9.4" in out
    assert "talosctl upgrade --image " in out and "talosctl upgrade-k8s --to 1.32.2" in out
    assert "not taken (--plan); free" in out
    _unchanged(lab, *before)


@pytest.mark.parametrize(("args", "texts"), [
    pytest.param(("--talos-version", "v1.9.99"),
                 ("unknown Talos version v1.9.99: not in the release catalog",
                  "latest v1.9.x is v1.9.6",
                  "nearest valid plan (--talos-version v1.9.6 --k8s-version 1.32.2)",
                  "Upgrade plan: Talos v1.9.2 -> v1.9.6"), id="unknown-version"),
    pytest.param(("--talos-version", "v9.9.9"),  # an unknown minor line: once INTERNALERROR
                 ("unknown Talos version v9.9.9: not in the release catalog (newest is v1.13.9)",
                  "nearest valid plan (--talos-version v1.13.9 --k8s-version 1.32.2)",
                  "Upgrade plan: Talos v1.9.2 -> v1.13.9"), id="unknown-minor"),
    pytest.param(("--talos-version", "v1.8.3"),
                 ("Talos v1.9.2 -> v1.8.3 is a downgrade; use the rollback runbook",
                  "nearest valid plan (--talos-version v1.9.2 --k8s-version 1.32.2)"),
                 id="downgrade"),
    pytest.param(("--k8s-version", "1.40.0"),
                 ("Kubernetes 1.40.0 is not supported by any Talos release in the catalog",
                  "nearest valid plan (--talos-version v1.9.4 --k8s-version 1.32.",
                  "Upgrade plan: Talos v1.9.2 -> v1.9.4, Kubernetes 1.32.0 -> 1.32."),
                 id="kubernetes-too-new"),
])
def test_impossible_target_is_refused_before_anything_runs(
        lab: Lab, tmp_path: Path, before: tuple[dict[str, Any], list[str]],
        args: tuple[str, ...], texts: tuple[str, ...]) -> None:
    result = run_runbook(lab, tmp_path, *args)
    assert result.exit_code == 4, result.tail()
    assert result.steps == {}, "nothing may run"
    err = result.stderr + result.stdout
    assert "cannot plan the upgrade: " in err, err
    assert "INTERNALERROR" not in err and "Traceback" not in err, err
    for text in texts:
        assert text in err, f"{text!r} not in:\n{err}"
    _unchanged(lab, *before)


def test_rollback_without_a_record_is_refused(lab: Lab, tmp_path: Path,
                                              before: tuple[dict[str, Any], list[str]]) -> None:
    result = run_runbook(lab, tmp_path, runbook="rollback")
    assert result.exit_code == 4, result.tail()
    assert result.steps == {}
    err = result.stderr + result.stdout
    assert "cannot plan the rollback: no run record of cluster 'lab'" in err, err
    assert "--rollback-from PATH, or --talos-version/--k8s-version" in err, err
    _unchanged(lab, *before)


def test_the_record_of_an_explicit_rollback_is_not_undone_by_a_later_rollback(
        lab: Lab, tmp_path: Path, before: tuple[dict[str, Any], list[str]]) -> None:
    """A rollback with explicit versions and no upgrade record writes a stand-in record; a later
    plain rollback used to pick it and die with KeyError: 'talos'."""
    from tests.model.test_run_record import LEGACY_STAND_IN

    runs = lab.dir / "backups" / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stand_in = runs / f"{LEGACY_STAND_IN['run_id']}.json"
    stand_in.write_text(json.dumps(LEGACY_STAND_IN))
    try:
        result = run_runbook(lab, tmp_path, runbook="rollback")
        assert result.exit_code == 4, result.tail()
        assert result.steps == {}
        err = result.stderr + result.stdout
        assert "cannot plan the rollback: no run record of cluster 'lab'" in err, err
        assert "KeyError" not in err and "Traceback" not in err, err

        explicit = run_runbook(lab, tmp_path, "--plan", f"--rollback-from={stand_in}",
                               runbook="rollback", name="from-stand-in")
        assert explicit.exit_code == 4, explicit.tail()
        assert (f"cannot plan the rollback: --rollback-from {stand_in}: the record of a "
                "rollback (lab-rollback-20261207T120000Z), not of an upgrade: nothing to "
                "undo") in explicit.stderr + explicit.stdout
    finally:
        stand_in.unlink()
    _unchanged(lab, *before)
