"""etcd checks: membership and status, each judged from every control plane's answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from checks import etcd
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, EtcdAlarm, EtcdMember
from tests.snapshot_builder import (
    CPS,
    MEMBER_ID,
    expectation,
    healthy_snapshot,
    member,
    members_everywhere,
    status,
    with_etcd,
)

Mutation = Callable[[ClusterSnapshot], ClusterSnapshot]
STALE = EtcdMember(0x1122334455667788, "", ("https://127.0.10.4:2380",), ())
ALL = tuple(member(m) for m in CPS)

CASES: list[tuple[str, Callable[..., list[Finding]], Mutation, list[str]]] = [
    (
        "extra-member",
        etcd.check_member_count,
        lambda s: members_everywhere(s, ALL + (STALE,)),
        [
            "[etcd-member-count] etcd cluster: expected 3 members (cp1, cp2, cp3), observed 4 "
            "members (cp1, cp2, cp3, 1122334455667788) — hint: remove members that belong to no "
            "control plane, once confirmed gone: 'talosctl etcd remove-member <id>'"
        ],
    ),
    (
        "missing-member",
        etcd.check_member_count,
        lambda s: members_everywhere(s, ALL[:2]),
        [
            "[etcd-member-count] etcd cluster: expected 3 members (cp1, cp2, cp3), observed 2 "
            "members (cp1, cp2) — hint: cp3 not in etcd: 'talosctl -n 127.0.10.3 service etcd'"
        ],
    ),
    (
        "no-member-list-at-all",
        etcd.check_member_count,
        lambda s: with_etcd(s, members_by_node={cp: f"{cp}: connection refused" for cp in CPS}),
        [
            "[etcd-member-count] etcd: expected a member list from at least one control plane, "
            "observed none (cp1: cp1: connection refused; cp2: cp2: connection refused; cp3: "
            "cp3: connection refused) — hint: is any control plane up? "
            "'talosctl -n <control plane> service etcd'"
        ],
    ),
    (
        "unstarted-member",
        etcd.check_members_started,
        lambda s: members_everywhere(
            s, (member("cp1"), member("cp2", hostname="", client_urls=()), member("cp3"))
        ),
        [
            "[etcd-members-started] member 7f3c9a1b2c3d4e5f (cp2): expected started, observed "
            "not started — hint: remove the stale member with 'talosctl etcd remove-member "
            "7f3c9a1b2c3d4e5f' after confirming it is gone"
        ],
    ),
    (
        "learner",
        etcd.check_no_learners,
        lambda s: members_everywhere(
            s, (member("cp1"), member("cp2"), member("cp3", learner=True))
        ),
        [
            "[etcd-no-learners] member ecebb05b59a776f1 (cp3): expected a voting member, observed "
            "a learner (not promoted yet) — hint: Talos promotes a learner once it has caught "
            "up; if it stays one, 'talosctl -n 127.0.10.3 logs etcd'"
        ],
    ),
    (
        "member-not-on-a-control-plane",
        etcd.check_members_are_control_planes,
        lambda s: members_everywhere(s, ALL + (STALE,)),
        [
            "[etcd-members-control-planes] member 1122334455667788 (peer https://127.0.10.4:2380)"
            ": expected a peer address among the control planes (cp1=127.0.10.1, cp2=127.0.10.2,"
            " cp3=127.0.10.3), observed peer address 127.0.10.4 — hint: a member on a machine "
            "that is not a control plane: once it is confirmed gone, 'talosctl etcd "
            "remove-member 1122334455667788'"
        ],
    ),
    (
        "inconsistent-lists",
        etcd.check_members_consistent,
        lambda s: with_etcd(s, members_by_node={"cp3": (member("cp1"), member("cp3"))}),
        [
            "[etcd-members-consistent] etcd member list on cp3: expected 3 members (cp1, cp2, "
            "cp3), as reported by cp1, cp2, observed 2 members (cp1, cp3) — hint: cp3 may be "
            "partitioned or stale: 'talosctl -n 127.0.10.3 etcd members' and "
            "'talosctl -n 127.0.10.3 logs etcd'"
        ],
    ),
    (
        "member-list-error",
        etcd.check_members_consistent,
        lambda s: with_etcd(s, members_by_node={"cp3": "rpc error: code = Unavailable"}),
        [
            "[etcd-members-consistent] etcd member list on cp3: expected an answer, observed no "
            "answer: rpc error: code = Unavailable — hint: 'talosctl -n 127.0.10.3 service etcd'"
        ],
    ),
    (
        "status-errors",
        etcd.check_status_ok,
        lambda s: with_etcd(
            s,
            status_by_node={
                "cp2": status("cp2", errors=("etcdserver: no leader",)),
                "cp3": "connection refused",
            },
        ),
        [
            "[etcd-status-ok] etcd on cp2: expected a status without errors, observed errors: "
            "etcdserver: no leader — hint: 'talosctl -n 127.0.10.2 service etcd' and "
            "'talosctl -n 127.0.10.2 logs etcd'",
            "[etcd-status-ok] etcd on cp3: expected a status without errors, observed no status: "
            "connection refused — hint: 'talosctl -n 127.0.10.3 service etcd' and "
            "'talosctl -n 127.0.10.3 logs etcd'",
        ],
    ),
    (
        "split-leadership",
        etcd.check_one_leader,
        lambda s: with_etcd(s, status_by_node={"cp3": status("cp3", leader_id=MEMBER_ID["cp3"])}),
        [
            "[etcd-one-leader] etcd on cp3: expected leader member a49c021e76e707db (cp1), as "
            "reported by cp1, cp2, observed leader member ecebb05b59a776f1 (cp3) — hint: "
            "leadership may be moving (re-check in a few seconds); if it persists, "
            "'talosctl -n 127.0.10.3 logs etcd'"
        ],
    ),
    (
        "no-leader-anywhere",
        etcd.check_one_leader,
        lambda s: with_etcd(s, status_by_node={cp: status(cp, leader_id=0) for cp in CPS}),
        [
            "[etcd-one-leader] etcd cluster: expected one leader, observed no leader reported by "
            "any control plane — hint: quorum may be lost: 'talosctl -n <control plane> logs etcd'"
        ],
    ),
    (
        "leader-not-a-member",
        etcd.check_one_leader,
        lambda s: with_etcd(s, status_by_node={cp: status(cp, leader_id=0x99) for cp in CPS}),
        [
            "[etcd-one-leader] etcd cluster: expected a leader that is a member, observed leader "
            "0000000000000099, which no member list contains — hint: compare 'talosctl etcd "
            "members' with 'talosctl etcd status'"
        ],
    ),
    (
        "raft-lagging",
        etcd.check_raft_caught_up,
        lambda s: with_etcd(s, status_by_node={"cp2": status("cp2", raft_index=52191)}),
        [
            "[etcd-raft-caught-up] member 7f3c9a1b2c3d4e5f (cp2): expected raft index within 50 "
            "of the highest (53391), observed raft index 52191 (1200 behind) — hint: it is "
            "catching up; wait for it before taking down another control plane: "
            "'talosctl -n 127.0.10.2 etcd status'"
        ],
    ),
    (
        "raft-within-spread",
        etcd.check_raft_caught_up,
        lambda s: with_etcd(s, status_by_node={"cp2": status("cp2", raft_index=53341)}),
        [],
    ),
    (
        "nospace-alarm",
        etcd.check_no_alarms,
        lambda s: with_etcd(s, alarms=(EtcdAlarm(MEMBER_ID["cp2"], "NOSPACE"),)),
        [
            "[etcd-no-alarms] member 7f3c9a1b2c3d4e5f (cp2): expected no alarm, observed alarm "
            "NOSPACE — hint: the database hit its quota: 'talosctl -n 127.0.10.2 etcd defrag', "
            "then 'talosctl -n 127.0.10.2 etcd alarm disarm'"
        ],
    ),
    (
        "alarm-list-unreadable",
        etcd.check_no_alarms,
        lambda s: with_etcd(s, alarms_error="rpc error: code = DeadlineExceeded"),
        [
            "[etcd-no-alarms] etcd: expected the alarm list, observed unreadable: rpc error: "
            "code = DeadlineExceeded — hint: 'talosctl -n <control plane> etcd alarm list'"
        ],
    ),
]


@pytest.mark.parametrize(
    ("check", "mutate", "expected"),
    [pytest.param(c, m, e, id=i) for i, c, m, e in CASES],
)
def test_finding_text(
    check: Callable[..., list[Finding]], mutate: Mutation, expected: list[str]
) -> None:
    findings = check(mutate(healthy_snapshot()), expectation())
    assert [str(f) for f in findings] == expected
    assert all(f.category is Category.ETCD for f in findings)


def test_unstarted_member_without_any_address_is_named_by_id() -> None:
    ghost = EtcdMember(0xABC, "", (), ())
    (finding,) = etcd.check_members_started(
        members_everywhere(healthy_snapshot(), ALL + (ghost,)), expectation()
    )
    assert finding.subject == "member 0000000000000abc (no name)"


def test_ipv6_peer_urls_match_control_plane_addresses() -> None:
    exp = expectation()
    exp = replace(
        exp, nodes=tuple(replace(n, address=f"fd00::{i + 1}") for i, n in enumerate(exp.nodes))
    )
    v6 = tuple(
        member(cp, peer_urls=(f"https://[fd00:0::{i + 1}]:2380",)) for i, cp in enumerate(CPS)
    )
    assert (
        etcd.check_members_are_control_planes(members_everywhere(healthy_snapshot(), v6), exp) == []
    )


def test_profile_without_addresses_is_a_harness_error() -> None:
    exp = expectation()
    exp = replace(exp, nodes=tuple(replace(n, address=None) for n in exp.nodes))
    (finding,) = etcd.check_members_are_control_planes(healthy_snapshot(), exp)
    assert finding.category is Category.HARNESS_ERROR
    assert "the profile leaves some control-plane addresses out" in str(finding)


def test_consistency_reports_a_control_plane_missing_from_the_snapshot() -> None:
    snap = healthy_snapshot()
    views = {k: v for k, v in snap.etcd.members_by_node.items() if k != "cp2"}
    snap = replace(snap, etcd=replace(snap.etcd, members_by_node=views))
    (finding,) = etcd.check_members_consistent(snap, expectation())
    assert finding.category is Category.HARNESS_ERROR
    assert finding.subject == "etcd member list on cp2"
    assert finding.observed == "not asked (no entry in the snapshot)"
