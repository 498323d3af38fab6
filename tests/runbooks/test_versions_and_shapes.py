"""The in-place runbook on the clusters people run: other talosctl clients, another Talos line,
a slow etcd member (v1.14's split tables), kube-proxy replaced. The matrix is chosen to stay
within CI's time: each client's own behaviour is covered by the lab's fidelity tests
(tests/emulator/test_lab_clients.py); here each pair runs the whole runbook once."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from drivers import parse
from tests.runbooks.runbook_run import allure_attachments, lab_counts, run_runbook

pytestmark = pytest.mark.lab


def _attachments(results: Path, name: str) -> list[str]:
    """The texts of every Allure attachment called `name` in a results directory."""
    return [text for _, text in allure_attachments(results, name)]


@pytest.mark.parametrize(("client", "flags"), [
    ("v1.11.6", "--wait=false"),
    # v1.13+: `--drain` (default true) would force --wait; on these v1.9 nodes the client
    # falls back to the legacy call, and the node drains itself
    ("v1.13.9", "--drain=false --wait=false"),
    ("v1.14.0-rc.1", "--drain=false --wait=false"),
])
def test_in_place_upgrade_with_each_talosctl(make_lab: Callable[..., Any], tmp_path: Path,
                                             client: str, flags: str) -> None:
    lab = make_lab(lab={"talosctl": client})
    results = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, f"--alluredir={results}")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.failed == [] and result.skipped == []
    assert all(n["talos_version"] == "v1.9.4" and n["upgrade_count"] == 1
               for n in lab_counts(lab).values())
    how = _attachments(results, "how w1 is upgraded")
    assert len(how) == 1, how
    assert f":v1.9.4 {flags} -n " in how[0]
    assert "drained by: the node (its upgrade sequence cordons and drains it" in how[0]
    assert "--preserve" not in how[0]  # a no-op since v1.8 (and it skips etcd checks later)


def test_v1_13_nodes_with_a_v1_13_client_are_drained_by_talosctl(make_lab: Callable[..., Any],
                                                                 tmp_path: Path) -> None:
    """The v1.13 upgrade API installs only; talosctl cordons, drains, reboots, waits for
    Ready and uncordons, so the harness lets it drain and waits for it (--drain=false would
    reboot an undrained node)."""
    lab = make_lab(talos="v1.13.0", target={"talos": "v1.13.9", "kubernetes": "1.32.2"},
                   lab={"talosctl": "v1.13.9"})
    results = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, f"--alluredir={results}")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.failed == [] and result.skipped == []
    (how,) = _attachments(results, "how cp2 is upgraded")
    assert ":v1.13.9 --drain --wait --timeout 60s -n " in how
    assert "drained by: talosctl (client-side cordon and drain" in how
    assert all(n["talos_version"] == "v1.13.9" and not n["kubernetes"]["cordoned"]
               for n in lab.status()["nodes"])


def test_v1_11_to_v1_12_with_a_v1_14_client_and_a_slow_etcd_member(
        make_lab: Callable[..., Any], tmp_path: Path) -> None:
    """cp3's etcd answers 0.8 s late: a v1.14 client flushes its rows in a block of their own
    (no header, own widths) in every `etcd status`/`etcd members` the runbook reads."""
    lab = make_lab(talos="v1.11.6", kubernetes="1.34.1",
                   target={"talos": "v1.12.11", "kubernetes": "1.34.1"},
                   lab={"talosctl": "v1.14.0-rc.1"},
                   faults=[{"kind": "slow_etcd_member", "node": "cp3", "seconds": 0.8}])
    results = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, f"--alluredir={results}")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.failed == [] and result.skipped == []
    assert "test_upgrade_kubernetes" not in " ".join(result.steps)  # Talos only: no empty step
    assert "test_verify_everything" in result.steps
    assert all(n["talos_version"] == "v1.12.11" for n in lab_counts(lab).values())
    outputs = [t.split("--- stdout ---\n", 1)[-1].split("--- stderr ---", 1)[0]
               for t in _attachments(results, "command output") if " etcd status" in t]
    statuses = [t for t in outputs if t.startswith("NODE ") and "RAFT INDEX" in t]

    def two_blocks(text: str) -> bool:  # a row that does not sit under the one header
        header, *rows = text.splitlines()
        starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
        return any(parse._cut(row, starts) is None for row in rows)

    assert any(two_blocks(t) for t in statuses), "no etcd status output came in two blocks"


def test_kube_proxy_replaced_is_a_shape_not_a_failure(make_lab: Callable[..., Any],
                                                      tmp_path: Path) -> None:
    lab = make_lab(lab={"kube_proxy": False})
    results = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, f"--alluredir={results}")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.failed == [] and result.skipped == []
    upgrade_k8s = _attachments(results, "upgrade-k8s output")
    assert len(upgrade_k8s) == 1 and 'updating kube-proxy to version "1.32.2"' in upgrade_k8s[0]
    (shape,) = _attachments(results, "kube-proxy: cluster shape")
    assert shape.startswith("No kube-system/kube-proxy DaemonSet: kube-proxy is replaced")
    assert "upgrade-k8s does not skip it" in shape
    assert lab.status()["kubernetes"]["version"] == "1.32.2"


UPGRADE = {"target": {"talos": "v1.9.4", "kubernetes": "1.32.2"},
           "timeouts": {"reboot": "60s", "node_ready": "60s", "etcd": "60s",
                        "kubernetes": "120s", "backup": "60s"}}


def test_single_control_plane_without_flux_or_velero(make_lab: Callable[..., Any],
                                                     tmp_path: Path) -> None:
    """The seed guide's homelab: one control plane (acknowledged), no Flux, no Velero. Steps
    that do not apply say so and pass: a skipped step would skip every step after it."""
    lab = make_lab(extra={
        "nodes": {"control_plane": [{"name": "cp1", "vmid": 201, "primary": True}],
                  "workers": [{"name": "w1", "vmid": 301}, {"name": "w2", "vmid": 302}]},
        "upgrade": {**UPGRADE, "single_control_plane_ack": True},
        "flux": {"enabled": False}, "backups": {"etcd_snapshot_dir": "backups/"}})
    results = tmp_path / "allure"
    result = run_runbook(lab, tmp_path, f"--alluredir={results}")
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.failed == [] and result.skipped == []
    reasons = _attachments(results, "not applicable")
    assert "flux.enabled is false in the profile: no Flux to wait for" in reasons
    assert any(r.startswith("backups.velero is not configured") for r in reasons)
    assert any(r.startswith("cp1 is the only control plane") for r in reasons)
    assert all(n["talos_version"] == "v1.9.4" for n in lab_counts(lab).values())


def test_schedulable_control_planes_without_workers(make_lab: Callable[..., Any],
                                                    tmp_path: Path) -> None:
    """Three control planes that also run the workloads (allowSchedulingOnControlPlanes): the
    worker phase is empty, and each control plane is drained and its pods move to the others."""
    lab = make_lab(extra={"nodes": {"control_plane": [
        {"name": "cp1", "vmid": 201, "primary": True}, {"name": "cp2", "vmid": 202},
        {"name": "cp3", "vmid": 203}], "workers": []}})
    result = run_runbook(lab, tmp_path)
    assert result.exit_code == 0, f"{result.failed}\n{result.tail()}"
    assert result.failed == [] and result.skipped == []
    assert not any(n.startswith("test_upgrade_worker") for n in result.steps)
    assert all(n["talos_version"] == "v1.9.4" for n in lab_counts(lab).values())
