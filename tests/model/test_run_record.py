"""The run record as typed values: its JSON form (including records older harnesses wrote),
ordering by parsed time, and which record a resume or a rollback picks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drivers.run_store import RunStore
from model.run_record import (
    EtcdBackup,
    HopStart,
    KubeChange,
    LockSession,
    NodeChange,
    RecordError,
    RunRecord,
    Versions,
    parse_time,
    resume_candidate,
    undo_candidate,
)
from model.versions import KubeVersion, TalosVersion

T, K = TalosVersion.parse, KubeVersion.parse
PLAN = {"hops": [{"kind": "talos", "from": "v1.9.2", "to": "v1.9.4", "kubernetes": "1.32.0"},
                 {"kind": "kubernetes", "from": "1.32.0", "to": "1.32.2", "talos": "v1.9.4"}]}

# What the rollback runbook wrote, before this module, for a rollback with explicit versions
# and no upgrade record: the `started` of a run id, empty versions, "finished": "n/a".
LEGACY_STAND_IN = {
    "run_id": "lab-rollback-20261207T120000Z", "cluster": "lab", "started": "20261207T120000Z",
    "plan": {"hops": []}, "from": {}, "to": {},
    "nodes": {"w1": [{"from": "v1.9.4", "to": "v1.9.2", "at": "2026-12-07T12:01:00Z",
                      "action": "reinstall", "boot_before": "a", "boot_after": "b",
                      "came_back_on": "v1.9.2"}]},
    "kubernetes_hops": [], "backups": {}, "sessions": [], "finished": "n/a"}


def _upgrade(run_id: str = "lab-v1.9.2-1.32.0-to-v1.9.4-1.32.2-20261207T110000Z",
             started: str = "2026-12-07T11:00:00Z") -> RunRecord:
    return RunRecord.new_upgrade(run_id, "lab", parse_time(started),
                                 Versions(T("v1.9.2"), K("1.32.0")),
                                 Versions(T("v1.9.4"), K("1.32.2")), PLAN)


def test_a_record_goes_to_json_and_back_unchanged() -> None:
    at = parse_time("2026-12-07T11:05:00Z")
    rec = (_upgrade()
           .with_session(LockSession({"user": "alice", "runbook": "in_place"}, ("w",), "ks/l"))
           .with_etcd(EtcdBackup("/b/s.snapshot", 544, "ab" * 32, "0badcafe", 7, 12, "cp1"))
           .with_node_change("w1", NodeChange(T("v1.9.2"), T("v1.9.4"), at, "upgrade",
                                              T("v1.9.4"), "b1", "b2",
                                              began=parse_time("2026-12-07T11:03:20Z")))
           .with_kube_change(KubeChange(K("1.32.0"), K("1.32.2"), at, "upgrade"))
           .with_session_end(3, True, [])
           .with_hop_start(T("v1.9.2"), T("v1.9.4"), HopStart({"w1": T("v1.9.2")}, K("1.32.0")))
           .with_hop_start(T("v1.9.2"), T("v1.9.4"), HopStart({}, None))  # the first stands
           .with_verified({"etcd-members": True})
           .finished_at(at))
    again = RunRecord.from_dict(json.loads(json.dumps(rec.to_dict())), "r.json")
    assert again == rec
    assert rec.to_dict()["nodes"]["w1"] == [{
        "from": "v1.9.2", "to": "v1.9.4", "at": "2026-12-07T11:05:00Z", "action": "upgrade",
        "began": "2026-12-07T11:03:20Z", "boot_before": "b1", "boot_after": "b2",
        "came_back_on": "v1.9.4"}]
    assert again.nodes["w1"][0].seconds == 100.0
    assert not again.open_for_resume and again.undoable
    assert again.planned[1].talos == T("v1.9.4") and again.planned[0].kubernetes == K("1.32.0")
    assert again.hop_start(T("v1.9.2"), T("v1.9.4")) == HopStart({"w1": T("v1.9.2")}, K("1.32.0"))
    assert again.rebooted_toward("w1", T("v1.9.4")) and not again.rebooted_toward("w2", T("v1.9.4"))


def test_the_legacy_stand_in_of_an_explicit_rollback_is_a_rollback_with_nothing_to_undo() -> None:
    stand_in = RunRecord.from_dict(LEGACY_STAND_IN, "runs/lab-rollback.json")
    assert stand_in.kind == "rollback" and stand_in.target is None
    assert stand_in.changed_anything and not stand_in.undoable
    assert stand_in.finished is None and not stand_in.open_for_resume
    upgrade = _upgrade().with_node_change("w1", NodeChange(
        T("v1.9.2"), T("v1.9.4"), parse_time("2026-12-07T11:01:00Z"), "upgrade", T("v1.9.4")))
    # the stand-in is newer, yet the rollback undoes the upgrade
    assert undo_candidate([upgrade, stand_in]) is upgrade
    assert undo_candidate([stand_in]) is None


def test_records_sort_by_parsed_start_time_whatever_their_format(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    older = dict(LEGACY_STAND_IN, started="20261207T090000Z", run_id="lab-rollback-x")
    (tmp_path / "a.json").write_text(json.dumps(older))
    newer = _upgrade(started="2026-12-07T11:00:00Z")
    store.save(newer)
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps(dict(older, cluster="home")))
    # as strings, "20261207T090000Z" > "2026-12-07T11:00:00Z": the old sort got this wrong
    assert [r.run_id for _, r in store.all_for("lab")] == ["lab-rollback-x", newer.run_id]
    assert resume_candidate([r for _, r in store.all_for("lab")],
                            "lab-v1.9.2-1.32.0-to-v1.9.4-1.32.2") == newer


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["to"].pop("talos"), "r.json: to.talos: missing"),
    (lambda d: d.update(started="yesterday"),
     "r.json: started: not a time: 'yesterday' (expected e.g. 2026-12-07T10:08:49Z)"),
    (lambda d: d["plan"]["hops"][1].pop("talos"), "r.json: plan.hops[1].talos: missing"),
    (lambda d: d.update(nodes={"w1": [{"from": "v1.9.2", "to": "1.9.x", "at": "x"}]}),
     "r.json: nodes.w1[0].to: "),
    (lambda d: d.update(to={}, kind="upgrade"),
     "r.json: to: an upgrade's record names the versions it went to"),
])
def test_a_broken_record_names_the_file_and_the_field(change: Any, message: str) -> None:
    data = _upgrade().to_dict()
    change(data)
    with pytest.raises(RecordError) as e:
        RunRecord.from_dict(data, "r.json")
    assert str(e.value).startswith(message), str(e.value)


def test_other_slot_is_what_the_node_left_when_it_came_back_on_the_target() -> None:
    at = parse_time("2026-12-07T11:01:00Z")
    rec = (_upgrade()
           .with_node_change("w1", NodeChange(T("v1.9.2"), T("v1.9.4"), at, "upgrade",
                                              T("v1.9.4")))
           .with_node_change("w2", NodeChange(T("v1.9.2"), T("v1.9.4"), at, "upgrade",
                                              T("v1.9.2"))))
    assert rec.other_slot("w1", T("v1.9.4")) == T("v1.9.2")
    assert rec.other_slot("w2", T("v1.9.2")) is None  # fell back: its other slot is the new one
    assert rec.other_slot("w3", T("v1.9.2")) is None


def test_a_rebuilds_progress_goes_to_json_and_back_and_makes_it_undoable() -> None:
    from dataclasses import replace

    from model.run_record import KeptVm

    kept = KeptVm(301, "w1", "worker", "10.0.0.21",
                  {"net0": "virtio=BC:24:11:00:01:2D,bridge=vmbr0", "ipconfig0": "ip=10.0.0.21/24"})
    rec = _upgrade().with_rebuild(lambda p: replace(p, template_proof="clone 9199: ok"))
    assert rec.rebuild is not None and not rec.rebuild.torn_down and not rec.undoable
    rec = rec.with_rebuild(lambda p: replace(p, vms=(kept,), stopped=(301,)))
    assert rec.undoable  # a stopped VM: the cluster changed
    rec = rec.with_rebuild(lambda p: replace(
        p, destroyed=(301,), cloned=(301,), configured=("w1",),
        bootstrapped=parse_time("2026-12-07T11:09:00Z"), profile_commit="abc123"))
    again = RunRecord.from_dict(json.loads(json.dumps(rec.to_dict())), "r.json")
    assert again == rec
    assert rec.to_dict()["rebuild"]["vms"][0]["config"]["net0"].startswith("virtio=BC:24:11")
    bad = rec.to_dict()
    bad["rebuild"]["stopped"] = ["x"]
    with pytest.raises(RecordError, match=r"r.json: rebuild.stopped\[0\]: invalid literal"):
        RunRecord.from_dict(bad, "r.json")
