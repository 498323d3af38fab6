"""EtcdCluster against real etcd 3.4 members on random 127.77.x.y addresses.

Read-only tests share one cluster (module fixture); tests that change membership or processes
get a fresh cluster each. Everything waits by polling with a deadline, never by sleeping.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import socket
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import pytest

from emulator.etcd import (
    EtcdApiError,
    EtcdCluster,
    EtcdError,
    EtcdMemberDown,
    EtcdPortTaken,
    EtcdTimeout,
    kill_recorded,
    member_id_hex,
    read_pid_file,
)
from emulator.etcd import gateway as gw
from emulator.etcd.base import MISSING_ETCD
from emulator.etcd.cluster import SEED_KEYS
from emulator.etcd.lag import LagOverlay
from emulator.etcd.snapshot import snapshot_status
from emulator.etcd.types import Status

NAMES = ("cp1", "cp2", "cp3")
T = TypeVar("T")


def _port_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def free_addresses(n: int = 3) -> list[str]:
    """n loopback addresses 127.77.x.y whose 2379/2380 are free (random x/y, bind-checked)."""
    rng = random.SystemRandom()
    for _ in range(50):
        x, y = rng.randint(0, 255), rng.randint(1, 250 - n)
        addrs = [f"127.77.{x}.{y + i}" for i in range(n)]
        if all(_port_free(a, p) for a in addrs for p in (2379, 2380)):
            return addrs
    raise RuntimeError("no free 127.77.x.y block found")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def wait_for(cond: Callable[[], T], what: str, timeout: float = 10.0) -> T:
    """Poll `cond` until it returns a truthy value; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            value = cond()
            if value:
                return value
            last = value
        except EtcdError as exc:
            last = exc
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}; last: {last!r}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _new_cluster(base: Path, **kwargs: Any) -> EtcdCluster:
    cluster = EtcdCluster(base, **kwargs)
    run(cluster.bootstrap(list(zip(NAMES, free_addresses(), strict=True))))
    return cluster


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    cluster = _new_cluster(tmp_path_factory.mktemp("etcd-shared"))
    try:
        yield cluster
    finally:
        run(cluster.shutdown())
        cluster.kill_all()


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[EtcdCluster]:
    cluster = _new_cluster(tmp_path / "lab")
    try:
        yield cluster
    finally:
        run(cluster.shutdown())
        cluster.kill_all()


def leader_name(c: EtcdCluster) -> str:
    running = [n for n in c.names if c.member(n).running]
    lead = c.status(running[0]).leader
    return next(n for n in c.names if c.member(n).member_id == lead)


# ---- errors before anything runs --------------------------------------------------------------
def test_missing_etcd_binary_says_what_to_install(tmp_path: Path) -> None:
    cluster = EtcdCluster(tmp_path, etcd_bin=str(tmp_path / "no-such-etcd"))
    with pytest.raises(EtcdError) as err:
        cluster.check_binaries()
    assert MISSING_ETCD.startswith("etcd binary not found: ")
    assert str(err.value).startswith(f"etcd binary {str(tmp_path / 'no-such-etcd')!r} not found "
                                     "on PATH (")
    assert str(err.value).endswith("): install etcd-server "
                                   "(apt-get install etcd-server etcd-client)")
    with pytest.raises(EtcdError, match="etcd binary .* not found"):
        run(cluster.bootstrap([("cp1", "127.77.0.1")]))


def test_non_loopback_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(EtcdError, match=r"etcd member cp1: 10\.0\.0\.1 is not a loopback address"):
        run(EtcdCluster(tmp_path).bootstrap([("cp1", "10.0.0.1")]))


def test_port_taken_names_address_and_port(tmp_path: Path) -> None:
    addrs = free_addresses()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind((addrs[1], 2380))
        blocker.listen()
        cluster = EtcdCluster(tmp_path)
        with pytest.raises(EtcdPortTaken) as err:
            run(cluster.bootstrap(list(zip(NAMES, addrs, strict=True))))
    assert f"cannot start etcd member cp2: {addrs[1]}:2380 is already in use" in str(err.value)
    assert cluster.pids() == {}
    assert cluster.names == []


def test_member_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    cluster = EtcdCluster(tmp_path, etcd_bin="false")
    with pytest.raises(EtcdError) as err:
        run(cluster.bootstrap([("cp1", free_addresses(1)[0])]))
    assert re.match(r"etcd member cp1 exited with code 1 while starting: --- .* start: false "
                    r"--name=cp1", str(err.value)), str(err.value)
    assert cluster.pids() == {}


def test_bootstrap_timeout_carries_last_errors_and_leaves_nothing_running(
    tmp_path: Path,
) -> None:
    # cp2 never runs etcd (its "etcd" sleeps), so cp1 never gets a quorum.
    fake = tmp_path / "etcd-but-not-cp2"
    fake.write_text('#!/bin/sh\ncase "$1" in --name=cp2) exec sleep 60;; esac\nexec etcd "$@"\n')
    fake.chmod(0o755)
    cluster = EtcdCluster(tmp_path / "lab", etcd_bin=str(fake), start_timeout=1.5)
    addrs = free_addresses(2)
    with pytest.raises(EtcdTimeout) as err:
        run(cluster.bootstrap([("cp1", addrs[0]), ("cp2", addrs[1])]))
    assert str(err.value).startswith(
        f"etcd not healthy after 1.5s: cp1: http://{addrs[0]}:2379/health: no answer within "
        f"1s; cp2: http://{addrs[1]}:2379/health: All connection attempts failed"), str(err.value)
    assert cluster.pids() == {}
    assert read_pid_file(tmp_path / "lab") == {}


# ---- one shared cluster, read-only ------------------------------------------------------------
def test_bootstrap_makes_every_member_healthy(shared: EtcdCluster) -> None:
    for name in NAMES:
        assert gw.health(shared.client_url(name)) is None, name
    pids = shared.pids()
    assert sorted(pids) == list(NAMES)
    assert all(alive(p) for p in pids.values())
    assert read_pid_file(shared.base_dir) == pids
    assert (shared.base_dir / "logs" / "cp1.log").read_text().count("--name=cp1") == 1


def test_member_lists_agree_from_every_member(shared: EtcdCluster) -> None:
    views = {n: sorted(shared.members(n), key=lambda m: m.name) for n in NAMES}
    assert views["cp1"] == views["cp2"] == views["cp3"]
    members = views["cp1"]
    assert [m.name for m in members] == list(NAMES)
    for m in members:
        address = shared.member(m.name).address
        assert m.id == shared.member(m.name).member_id == shared.status(m.name).member_id
        assert m.peer_urls == (f"http://{address}:2380",)
        assert m.client_urls == (f"http://{address}:2379",)
        assert m.started and not m.is_learner
        assert re.fullmatch(r"[0-9a-f]{16}", member_id_hex(m.id))


def test_status_agrees_on_one_leader(shared: EtcdCluster) -> None:
    statuses = {n: shared.status(n) for n in NAMES}
    leaders = {s.leader for s in statuses.values()}
    assert len(leaders) == 1
    assert leaders.pop() in {s.member_id for s in statuses.values()}
    for s in statuses.values():
        assert s.version.startswith("3.4.")
        assert s.errors == ()
        assert s.db_size >= s.db_size_in_use > 0
        assert s.raft_term >= 2 and s.raft_index >= len(SEED_KEYS)
        assert not s.is_learner


def test_snapshot_has_sha256_trailer_and_status(shared: EtcdCluster, tmp_path: Path) -> None:
    dest = tmp_path / "backups" / "db.snapshot"
    info = shared.snapshot("cp2", dest)
    assert dest.stat().st_size == info.size_bytes
    assert info.size_bytes % 512 == 32
    assert info.total_keys >= len(SEED_KEYS) + len(NAMES)
    assert info.revision >= len(SEED_KEYS) + len(NAMES)
    assert info.total_size > 0 and info.hash > 0
    status = json.loads(subprocess.run(["etcdctl", "snapshot", "status", "-w", "json", str(dest)],
                                       capture_output=True, text=True, check=True).stdout)
    assert status["hash"] == info.hash and status["totalKey"] == info.total_keys
    saved, summary = info.talosctl_lines()
    assert saved == f'etcd snapshot saved to "{dest}" ({info.size_bytes} bytes)'
    assert re.fullmatch(r"snapshot info: hash [0-9a-f]{8}, revision \d+, total keys \d+, "
                        r"total size \d+", summary)


def test_no_alarms_and_removing_unknown_member_gives_etcds_error(shared: EtcdCluster) -> None:
    assert shared.alarms("cp1") == []
    with pytest.raises(EtcdApiError) as err:
        shared.remove_member("cp1", 0x1234)
    assert str(err.value) == "etcdserver: member not found"
    assert err.value.code == 5


def test_raised_alarm_is_listed_everywhere_then_disarmed(shared: EtcdCluster) -> None:
    cp2_id = shared.member("cp2").member_id
    assert cp2_id is not None
    try:
        shared.raise_alarm("cp1", cp2_id, "NOSPACE")
        for via in NAMES:
            alarms = shared.alarms(via)
            assert [(a.member_id, a.alarm_type) for a in alarms] == [(cp2_id, "NOSPACE")]
        assert run(shared.aalarms("cp3")) == shared.alarms("cp3")
    finally:
        disarmed = shared.disarm_alarms("cp3")
    assert [a.member_id for a in disarmed] == [cp2_id]
    assert shared.alarms("cp1") == []


def test_truncated_snapshot_fails_the_trailer_check(tmp_path: Path) -> None:
    bad = tmp_path / "db.snapshot"
    bad.write_bytes(b"\0" * 4096)
    with pytest.raises(EtcdError) as err:
        snapshot_status("etcdctl", bad)
    assert str(err.value) == "sha256 checksum not found (size 4096)"


def test_unknown_member_name_lists_the_known_ones(shared: EtcdCluster) -> None:
    with pytest.raises(EtcdError, match=r"unknown etcd member 'cp9' \(members: cp1, cp2, cp3\)"):
        shared.status("cp9")


def test_forfeit_by_a_follower_changes_nothing(shared: EtcdCluster) -> None:
    follower = next(n for n in NAMES if n != leader_name(shared))
    assert shared.forfeit_leadership(follower) is None


# ---- fresh clusters, changing things ----------------------------------------------------------
def test_stop_and_start_keep_the_member_id(fresh: EtcdCluster) -> None:
    old_id = fresh.member("cp2").member_id
    old_pid = fresh.pids()["cp2"]
    run(fresh.stop_member("cp2"))
    assert not alive(old_pid)
    assert "cp2" not in read_pid_file(fresh.base_dir)
    with pytest.raises(EtcdMemberDown) as err:
        fresh.status("cp2")
    address = fresh.member("cp2").address
    assert str(err.value) == f"etcd member cp2 ({address}:2379) is not running (stopped)"
    assert old_id in {m.id for m in fresh.members("cp1") if m.started}
    run(fresh.start_member("cp2"))
    assert fresh.status("cp2").member_id == old_id
    assert fresh.member("cp2").state == "running"
    assert read_pid_file(fresh.base_dir)["cp2"] == fresh.pids()["cp2"] != old_pid


def test_leave_and_rejoin_give_a_new_member_id(fresh: EtcdCluster) -> None:
    old_id = fresh.member("cp3").member_id
    assert run(fresh.leave("cp3")) == old_id
    assert not fresh.member("cp3").data_dir.exists()
    assert fresh.member("cp3").state == "left"
    assert sorted(m.name for m in fresh.members("cp1")) == ["cp1", "cp2"]
    with pytest.raises(EtcdError, match="etcd member cp3 has left the cluster; rejoin it instead"):
        run(fresh.start_member("cp3"))
    new_id = run(fresh.rejoin("cp3"))
    assert new_id != old_id
    assert fresh.status("cp3").member_id == new_id
    for via in NAMES:
        ids = {m.id for m in fresh.members(via)}
        assert len(ids) == 3 and new_id in ids and old_id not in ids
    with pytest.raises(EtcdError, match=r"etcd member cp3 is still in the cluster \(running\)"):
        run(fresh.rejoin("cp3"))


def test_stale_member_is_listed_unstarted_and_blocks_a_rejoin(fresh: EtcdCluster) -> None:
    peer = f"http://{free_addresses(1)[0]}:2380"
    stale_id = run(fresh.add_stale_member("ghost", peer))
    for via in NAMES:
        stale = [m for m in fresh.members(via) if m.id == stale_id]
        assert len(fresh.members(via)) == 4
        assert len(stale) == 1
        assert stale[0].name == "" and stale[0].client_urls == ()
        assert stale[0].peer_urls == (peer,) and not stale[0].started
    assert fresh.stale_members == {"ghost": stale_id}
    # With 2 of 3 voters started after a leave, etcd refuses to add a 4th (strict reconfig).
    run(fresh.leave("cp3"))
    with pytest.raises(EtcdApiError, match="re-configuration failed due to not enough started"):
        run(fresh.rejoin("cp3"))
    fresh.remove_member("cp1", stale_id)
    assert fresh.stale_members == {}
    assert run(fresh.rejoin("cp3")) in {m.id for m in fresh.members("cp1")}


def test_killed_member_stays_listed_and_answers_nothing(fresh: EtcdCluster) -> None:
    pid = fresh.pids()["cp1"]
    fresh.kill_member("cp1")
    assert not alive(pid)  # killed and reaped
    with pytest.raises(EtcdMemberDown, match="etcd member cp1 .* is not running"):
        fresh.status("cp1")
    with pytest.raises(EtcdMemberDown):
        fresh.members("cp1")
    cp1_id = fresh.member("cp1").member_id
    assert cp1_id in {m.id for m in fresh.members("cp2") if m.started}
    # Quorum holds with 2 of 3: the others keep (or elect) a leader among themselves.
    for name in ("cp2", "cp3"):
        wait_for(partial(lambda n: fresh.status(n).leader not in (0, cp1_id), name),
                 f"{name}: a leader")
    assert fresh.status("cp2").leader == fresh.status("cp3").leader
    assert fresh.status("cp3").errors == ()
    run(fresh.start_member("cp1"))
    assert fresh.status("cp1").member_id == cp1_id


def test_forfeit_leadership_moves_the_leader(fresh: EtcdCluster) -> None:
    old = leader_name(fresh)
    new_id = fresh.forfeit_leadership(old)
    assert new_id is not None and new_id != fresh.member(old).member_id
    for name in NAMES:
        wait_for(partial(lambda n: fresh.status(n).leader == new_id, name),
                 f"{name} to follow {new_id}")
    assert fresh.forfeit_leadership(old) is None


def test_catchup_lag_is_reported_then_cleared(tmp_path: Path) -> None:
    clock = FakeClock()
    cluster = _new_cluster(tmp_path / "lab", clock=clock, raft_index_offset=50000)
    try:
        member = next(n for n in NAMES if n != leader_name(cluster))
        lead = leader_name(cluster)
        cluster.set_catchup_lag(member, 10.0, entries=1000)
        assert cluster.catchup_margin(member) == 0  # only after a restart
        run(cluster.stop_member(member))
        run(cluster.start_member(member))

        def gap() -> int:
            return cluster.status(lead).raft_index - cluster.status(member).raft_index

        assert cluster.status(lead).raft_index > 50000
        wait_for(lambda: gap() == 1000, "a 1000-entry gap right after the restart")
        clock.now += 5.0
        wait_for(lambda: gap() == 500, "a 500-entry gap half-way")
        st = cluster.status(member)
        assert st.raft_applied_index <= st.raft_index
        clock.now += 5.0
        wait_for(lambda: gap() == 0, "no gap once the window is over")
        assert cluster.catchup_margin(member) == 0
    finally:
        run(cluster.shutdown())


def test_shutdown_leaves_no_process(tmp_path: Path) -> None:
    cluster = _new_cluster(tmp_path / "lab")
    pids = cluster.pids()
    assert len(pids) == 3 and all(alive(p) for p in pids.values())
    started = time.monotonic()
    run(cluster.shutdown())
    assert time.monotonic() - started < 3.0  # no ~6 s leader hand-over stall
    assert not [p for p in pids.values() if alive(p)]
    assert cluster.pids() == {}
    assert not (tmp_path / "lab" / "etcd.pids").exists()
    run(cluster.shutdown())  # twice is harmless


def test_kill_recorded_ends_members_of_a_dead_lab_by_pid(tmp_path: Path) -> None:
    cluster = _new_cluster(tmp_path / "lab")
    try:
        pids = read_pid_file(cluster.base_dir)
        assert pids == cluster.pids()
        assert sorted(kill_recorded(cluster.base_dir)) == sorted(pids.values())
        assert not (cluster.base_dir / "etcd.pids").exists()
    finally:
        cluster.kill_all()  # reaps what kill_recorded signalled
    assert not [p for p in pids.values() if alive(p)]
    # A PID that no longer runs this lab's etcd is left alone.
    (tmp_path / "lab" / "etcd.pids").write_text(json.dumps({"cp1": os.getpid()}))
    assert kill_recorded(tmp_path / "lab") == []


# ---- the lag overlay alone ---------------------------------------------------------------------
def _status(index: int) -> Status:
    return Status(member_id=1, db_size=1, db_size_in_use=1, leader=1, raft_index=index,
                  raft_term=2, raft_applied_index=index, is_learner=False)


def test_lag_overlay_shrinks_linearly_and_never_below_one() -> None:
    clock = FakeClock()
    lag = LagOverlay(clock)
    lag.arm("cp2", 4.0, 100)
    assert lag.apply("cp2", _status(500)).raft_index == 500  # no restart yet
    lag.restarted("cp2")
    assert lag.apply("cp2", _status(500)).raft_index == 400
    clock.now += 1.0
    assert lag.margin("cp2") == 75
    assert lag.apply("cp2", _status(30)).raft_index == 1  # floored, still behind
    assert lag.apply("cp1", _status(30)).raft_index == 30  # others unaffected
    clock.now += 3.0
    assert lag.apply("cp2", _status(500)).raft_applied_index == 500
    lag.arm("cp2", 0, 100)  # seconds <= 0 disarms
    lag.restarted("cp2")
    assert lag.margin("cp2") == 0
