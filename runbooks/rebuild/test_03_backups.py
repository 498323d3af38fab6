"""Phase 3, backups: the etcd snapshot of the in-place runbook (talosctl etcd snapshot of the
primary, verified: size, sha256 trailer, etcdctl snapshot status against talosctl's line;
stored off-cluster in backups.etcd_snapshot_dir with its checksum), and the cluster's state
recorded (versions, nodes, etcd members, Flux objects) as evidence and beside the snapshot. Both
are what the teardown waits for."""

from __future__ import annotations

from pathlib import Path

import allure
import pytest

from fixtures.procedures.backups import take_etcd_snapshot
from fixtures.procedures.proofs import attach_snapshot
from fixtures.procedures.run import Run, already_done
from fixtures.rebuild import MARKER, marker_body
from model.plan import UpgradePlan
from model.state_record import describe_state


@pytest.mark.mutating
def test_restore_marker_written(run: Run) -> None:
    """A ConfigMap naming this run, written before the snapshot: a recovery from the snapshot
    (rebuild.restore_etcd, or the rebuild's rollback) proves itself by bringing it back"""
    run_id = run.record.current.run_id
    have = run.kube.get_configmap(*MARKER)
    if have is not None and (have.get("data") or {}).get("run") == run_id:
        already_done(f"configmap {'/'.join(MARKER)} names {run_id}")
        return
    run.before_change()
    body = marker_body(run_id)
    if have is None:
        run.kube.create_configmap(MARKER[0], body)
    else:
        raise AssertionError(
            f"configmap {'/'.join(MARKER)} exists from run {(have.get('data') or {}).get('run')}"
            ": delete it (kubectl -n default delete configmap talos-runbooks-rebuild) and rerun"
        )
    allure.attach(str(body), "restore marker", allure.attachment_type.TEXT)


@pytest.mark.mutating
def test_etcd_snapshot(run: Run, plan: UpgradePlan) -> None:
    """etcd snapshot via talosctl, saved outside the cluster, verified, recorded (sha256)"""
    done = run.record.current.etcd
    # talosctl etcd snapshot <dir>/<cluster>-etcd-pre-rebuild-<time>.snapshot -n <primary>
    backup = take_etcd_snapshot(run, plan.nodes.primary, "pre-rebuild", done)
    if backup != done:
        run.record.apply(lambda r: r.with_etcd(backup))


def test_cluster_state_recorded(run: Run, plan: UpgradePlan) -> None:
    """The cluster's state before the rebuild recorded: versions, nodes, etcd members, Flux"""
    snap = run.observer.look()
    text = describe_state(snap, plan.nodes.primary.name)
    attach_snapshot(snap, "snapshot before the rebuild")
    allure.attach(text, "cluster state", allure.attachment_type.TEXT)
    backup = run.record.current.etcd
    assert backup is not None, "no etcd snapshot recorded: the state goes beside it"
    path = Path(backup.path).with_suffix(".state.txt")
    path.write_text(text)
    allure.attach(str(path), "state file", allure.attachment_type.TEXT)
    assert snap.node(plan.nodes.primary.name) is not None, "the primary was not observed"
