"""The lab fixture gives a running lab and stops it afterwards."""

from __future__ import annotations

from pathlib import Path


def test_lab_fixture_starts_and_answers(lab) -> None:  # type: ignore[no-untyped-def]
    status = lab.status()
    assert [n["name"] for n in status["nodes"]] == ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
    done = lab.talosctl("version", "-n", lab.address("w1"))
    assert done.returncode == 0, done.stderr
    assert "\tTag:         v1.9.2\n" in done.stdout
    pid = lab.state["pid"]
    lab.stop()
    stat = Path(f"/proc/{pid}/stat")
    assert not stat.exists() or stat.read_text().split()[2] == "Z", f"lab process {pid} still runs"


def test_in_process_lab_uses_the_same_server(make_lab) -> None:  # type: ignore[no-untyped-def]
    lab = make_lab(in_process=True)
    assert lab.state["state"] == "ready"
    done = lab.talosctl("get", "machinestatus", "-n", lab.address("cp2"), "-o", "json")
    assert done.returncode == 0, done.stderr
    assert '"stage": "running"' in done.stdout
    etcd_pids = list(lab.state.get("etcd_pids", {}).values())
    assert len(etcd_pids) == 3
    lab.stop()
    assert all(not Path(f"/proc/{pid}").exists() or
               Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z" for pid in etcd_pids)


def _disk_bytes(root: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


def test_discarding_a_stopped_labs_data_keeps_its_logs(make_lab) -> None:  # type: ignore[no-untyped-def]
    """etcd 3.4 preallocates 64 MB per WAL segment: a full suite kept ~20 GB of them until the
    disk filled. A lab stopped with discard_data keeps its log, state and profile, and the
    etcd members' data goes."""
    lab = make_lab()
    members = sorted(p.parent.name for p in (lab.dir / "etcd").glob("*/data"))
    assert members == ["cp1", "cp2", "cp3"]
    assert _disk_bytes(lab.dir / "etcd") > 3 * 60 * 2**20  # the preallocated WALs
    lab.stop(discard_data=True)
    assert list((lab.dir / "etcd").glob("*/data")) == []
    assert (lab.dir / "lab.log").stat().st_size > 0
    assert (lab.dir / "cluster.yaml").exists()
    assert _disk_bytes(lab.dir) < 8 * 2**20
