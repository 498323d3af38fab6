"""The report's first screen (model/run_summary.py): title, before -> after per node, states."""

from __future__ import annotations

from dataclasses import replace

from model.run_record import parse_time
from model.run_summary import RunSummary, api_server, node_rows
from model.versions import TalosVersion
from tests.snapshot_builder import healthy_snapshot, with_node

NEW = TalosVersion.parse("v1.9.5")


def test_each_node_is_changed_rebooted_untouched_or_unknown() -> None:
    before = healthy_snapshot()
    after = with_node(before, "w1", talos_version=NEW)
    gone = replace(after, nodes=tuple(n for n in after.nodes if n.name != "w3"))
    rows = node_rows([("w1", "worker"), ("w2", "worker"), ("w3", "worker"), ("cp1", "cp")],
                     before, gone, {"w1": 95.0, "w2": 80.4})
    assert [r.state for r in rows] == ["changed", "rebooted", "unknown", "untouched"]
    assert rows[0].talos == (str(before.node("w1").talos_version), "v1.9.5")  # type: ignore[union-attr]
    assert rows[2].talos[1] == "?"
    assert [r.took for r in rows] == [95.0, 80.4, None, None]


def test_the_summary_says_what_ran_how_it_ended_and_what_changed() -> None:
    before = healthy_snapshot()
    after = with_node(before, "w1", talos_version=NEW)
    summary = RunSummary(
        "in_place", "home", "CHG-7", "alice@ops1", parse_time("2026-12-07T10:00:00Z"),
        parse_time("2026-12-07T10:12:30Z"), "passed",
        node_rows([("w1", "worker"), ("w2", "worker")], before, after, {"w1": 312.0}),
        (api_server(before), api_server(after)))
    text = summary.text().splitlines()
    assert summary.title == text[0] == "in_place on home (CHG-7): passed"
    assert text[1] == ("operator alice@ops1; started 2026-12-07 10:00:00Z, ended "
                       "2026-12-07 10:12:30Z (750 s)")
    w1 = next(line for line in text if line.startswith("w1 "))
    assert " -> v1.9.5" in w1 and " changed " in w1 and " 312 s " in w1
    assert text[-1] == "changed: w1; untouched: w2"
