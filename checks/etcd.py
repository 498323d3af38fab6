"""etcd checks: membership (count, started, learners, addresses, consistency) and status
(errors, one leader, raft indexes caught up, alarms). They hold with ``--preserve``, where
Talos skips its own etcd pre-checks."""

from __future__ import annotations

from collections import Counter

from checks._common import clip, host_of, normal_host
from checks.expectation import Expectation, ExpectedNode
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, EtcdMember, EtcdStatus

MEMBER_COUNT = "etcd-member-count"
STARTED = "etcd-members-started"
LEARNERS = "etcd-no-learners"
CONTROL_PLANES = "etcd-members-control-planes"
CONSISTENT = "etcd-members-consistent"
STATUS = "etcd-status-ok"
LEADER = "etcd-one-leader"
RAFT = "etcd-raft-caught-up"
ALARMS = "etcd-no-alarms"

_CAT = Category.ETCD


# --------------------------------------------------------------------------- naming


def _cp_for(member: EtcdMember, expectation: Expectation) -> str | None:
    """The control plane a member runs on: by peer address, else by hostname."""
    hosts = {host_of(u) for u in member.peer_urls}
    for cp in expectation.control_planes:
        if cp.address is not None and normal_host(cp.address) in hosts:
            return cp.name
    names = {cp.name for cp in expectation.control_planes}
    return member.hostname if member.hostname in names else None


def _short(member: EtcdMember, expectation: Expectation) -> str:
    """``cp2``, or the hex id for a member that belongs to no control plane."""
    return _cp_for(member, expectation) or member.hostname or member.hex_id


def member_subject(member: EtcdMember, expectation: Expectation) -> str:
    """``member 7f3c9a1b2c3d4e5f (cp2)``: the id, and where the member lives."""
    where = _cp_for(member, expectation) or member.hostname
    if not where and member.peer_urls:
        where = f"peer {member.peer_urls[0]}"
    return f"member {member.hex_id} ({where or 'no name'})"


def _id_subject(member_id: int, node: str, members: list[EtcdMember], exp: Expectation) -> str:
    for m in members:
        if m.id == member_id:
            return member_subject(m, exp)
    return f"member {member_id:016x} ({node})"


# --------------------------------------------------------------------------- gathering


def _member_lists(snapshot: ClusterSnapshot) -> dict[str, tuple[EtcdMember, ...]]:
    return {n: v for n, v in snapshot.etcd.members_by_node.items() if not isinstance(v, str)}


def _union(snapshot: ClusterSnapshot) -> list[EtcdMember]:
    """Every member any control plane reported, once (first seen wins), in report order."""
    seen: dict[int, EtcdMember] = {}
    for members in _member_lists(snapshot).values():
        for m in members:
            seen.setdefault(m.id, m)
    return list(seen.values())


def _statuses(snapshot: ClusterSnapshot) -> dict[str, EtcdStatus]:
    return {n: v for n, v in snapshot.etcd.status_by_node.items() if isinstance(v, EtcdStatus)}


def _blind(check: str, snapshot: ClusterSnapshot, what: str, by_node: dict[str, str]) -> Finding:
    errors = "; ".join(f"{n}: {clip(e, 80)}" for n, e in by_node.items()) or "nobody was asked"
    return Finding(
        check,
        "etcd",
        f"{what} from at least one control plane",
        f"none ({errors})",
        "is any control plane up? 'talosctl -n <control plane> service etcd'",
        _CAT,
    )


def _no_members(check: str, snapshot: ClusterSnapshot) -> list[Finding]:
    if _member_lists(snapshot):
        return []
    errors = {n: v for n, v in snapshot.etcd.members_by_node.items() if isinstance(v, str)}
    return [_blind(check, snapshot, "a member list", errors)]


def _no_status(check: str, snapshot: ClusterSnapshot) -> list[Finding]:
    if _statuses(snapshot):
        return []
    errors = {n: v for n, v in snapshot.etcd.status_by_node.items() if isinstance(v, str)}
    return [_blind(check, snapshot, "a status", errors)]


# --------------------------------------------------------------------------- membership


def check_member_count(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """etcd has exactly one member per control plane."""
    if blind := _no_members(MEMBER_COUNT, snapshot):
        return blind
    members = _union(snapshot)
    cps = expectation.control_planes
    if len(members) == len(cps):
        return []
    present = {_cp_for(m, expectation) for m in members}
    absent = [cp for cp in cps if cp.name not in present]
    if len(members) > len(cps) or not absent:
        hint = (
            "remove members that belong to no control plane, once confirmed gone: "
            "'talosctl etcd remove-member <id>'"
        )
    else:
        hint = f"{', '.join(cp.name for cp in absent)} not in etcd: " + ", ".join(
            f"'talosctl -n {cp.target} service etcd'" for cp in absent
        )
    return [
        Finding(
            MEMBER_COUNT,
            "etcd cluster",
            f"{len(cps)} members ({', '.join(cp.name for cp in cps)})",
            f"{len(members)} members ({', '.join(_short(m, expectation) for m in members)})",
            hint,
            _CAT,
        )
    ]


def check_members_started(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every member has started (a member with no name or no client URLs never did)."""
    if blind := _no_members(STARTED, snapshot):
        return blind
    return [
        Finding(
            STARTED,
            member_subject(m, expectation),
            "started",
            "not started",
            f"remove the stale member with 'talosctl etcd remove-member {m.hex_id}' "
            "after confirming it is gone",
            _CAT,
        )
        for m in _union(snapshot)
        if not m.started
    ]


def check_no_learners(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """No member is still a learner (not yet promoted to a voting member)."""
    if blind := _no_members(LEARNERS, snapshot):
        return blind
    findings = []
    for m in _union(snapshot):
        if m.learner:
            cp = _cp_for(m, expectation)
            target = expectation.node(cp).target if cp else "<its node>"
            findings.append(
                Finding(
                    LEARNERS,
                    member_subject(m, expectation),
                    "a voting member",
                    "a learner (not promoted yet)",
                    "Talos promotes a learner once it has caught up; if it stays one, "
                    f"'talosctl -n {target} logs etcd'",
                    _CAT,
                )
            )
    return findings


def check_members_are_control_planes(
    snapshot: ClusterSnapshot, expectation: Expectation
) -> list[Finding]:
    """Every member's peer address is a control plane's address."""
    if blind := _no_members(CONTROL_PLANES, snapshot):
        return blind
    cps = expectation.control_planes
    if any(cp.address is None for cp in cps):
        return [
            Finding(
                CONTROL_PLANES,
                "etcd",
                "control-plane addresses to compare with",
                "the profile leaves some control-plane addresses out",
                "run the checks with the concrete profile (the lab writes one with addresses)",
                Category.HARNESS_ERROR,
            )
        ]
    addresses = {normal_host(cp.address) for cp in cps if cp.address is not None}
    listed = ", ".join(f"{cp.name}={cp.address}" for cp in cps)
    findings = []
    for m in _union(snapshot):
        hosts = sorted({host_of(u) for u in m.peer_urls})
        strangers = [h for h in hosts if h not in addresses]
        if hosts and not strangers:
            continue
        findings.append(
            Finding(
                CONTROL_PLANES,
                member_subject(m, expectation),
                f"a peer address among the control planes ({listed})",
                f"peer address {', '.join(strangers)}" if strangers else "no peer URLs",
                "a member on a machine that is not a control plane: once it is confirmed gone, "
                f"'talosctl etcd remove-member {m.hex_id}'",
                _CAT,
            )
        )
    return findings


def check_members_consistent(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every control plane reports the same member list."""
    views = snapshot.etcd.members_by_node
    findings: list[Finding] = []
    lists: dict[str, tuple[EtcdMember, ...]] = {}
    for cp in expectation.control_planes:
        view = views.get(cp.name)
        subject = f"etcd member list on {cp.name}"
        if view is None:
            findings.append(
                Finding(
                    CONSISTENT,
                    subject,
                    "an answer",
                    "not asked (no entry in the snapshot)",
                    "a harness bug: every control plane must be asked",
                    Category.HARNESS_ERROR,
                )
            )
        elif isinstance(view, str):
            findings.append(
                Finding(
                    CONSISTENT,
                    subject,
                    "an answer",
                    f"no answer: {clip(view)}",
                    f"'talosctl -n {cp.target} service etcd'",
                    _CAT,
                )
            )
        else:
            lists[cp.name] = view
    if not lists:
        return findings
    sets = {name: frozenset(m.id for m in view) for name, view in lists.items()}
    counts = Counter(sets.values())
    top = max(counts.values())
    reference = next(s for s in sets.values() if counts[s] == top)  # ties: profile order
    agreeing = [n for n, s in sets.items() if s == reference]
    ref_view = lists[agreeing[0]]

    def names(view: tuple[EtcdMember, ...]) -> str:
        return ", ".join(sorted(_short(m, expectation) for m in view)) or "none"

    for cp in expectation.control_planes:
        if cp.name in sets and sets[cp.name] != reference:
            view = lists[cp.name]
            findings.append(
                Finding(
                    CONSISTENT,
                    f"etcd member list on {cp.name}",
                    f"{len(ref_view)} members ({names(ref_view)}), "
                    f"as reported by {', '.join(agreeing)}",
                    f"{len(view)} members ({names(view)})",
                    f"{cp.name} may be partitioned or stale: 'talosctl -n {cp.target} etcd "
                    f"members' and 'talosctl -n {cp.target} logs etcd'",
                    _CAT,
                )
            )
    return findings


# --------------------------------------------------------------------------- status


def _status_subject(
    cp: ExpectedNode, status: EtcdStatus, snapshot: ClusterSnapshot, expectation: Expectation
) -> str:
    return _id_subject(status.member_id, cp.name, _union(snapshot), expectation)


def check_status_ok(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every control plane answers ``etcd status`` without errors."""
    findings = []
    for cp in expectation.control_planes:
        status = snapshot.etcd.status_by_node.get(cp.name)
        if isinstance(status, EtcdStatus) and not status.errors:
            continue
        if status is None:
            observed, category = "not asked (no entry in the snapshot)", Category.HARNESS_ERROR
        elif isinstance(status, str):
            observed, category = f"no status: {clip(status)}", _CAT
        else:
            observed, category = f"errors: {clip('; '.join(status.errors))}", _CAT
        findings.append(
            Finding(
                STATUS,
                f"etcd on {cp.name}",
                "a status without errors",
                observed,
                f"'talosctl -n {cp.target} service etcd' and 'talosctl -n {cp.target} logs etcd'",
                category,
            )
        )
    return findings


def check_one_leader(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """All control planes name the same leader, and it is a member."""
    if blind := _no_status(LEADER, snapshot):
        return blind
    statuses = _statuses(snapshot)
    members = _union(snapshot)
    leaders = Counter(s.leader_id for s in statuses.values() if s.leader_id)
    findings = []
    if not leaders:
        return [
            Finding(
                LEADER,
                "etcd cluster",
                "one leader",
                "no leader reported by any control plane",
                "quorum may be lost: 'talosctl -n <control plane> logs etcd'",
                _CAT,
            )
        ]
    leader, _ = leaders.most_common(1)[0]
    voters = [n for n, s in statuses.items() if s.leader_id == leader]
    leader_name = _id_subject(leader, "not a member", members, expectation)
    for cp in expectation.control_planes:
        status = statuses.get(cp.name)
        if status is None or status.leader_id == leader:
            continue
        seen = (
            "no leader"
            if not status.leader_id
            else f"leader {_id_subject(status.leader_id, 'not a member', members, expectation)}"
        )
        findings.append(
            Finding(
                LEADER,
                f"etcd on {cp.name}",
                f"leader {leader_name}, as reported by {', '.join(voters)}",
                seen,
                "leadership may be moving (re-check in a few seconds); if it persists, "
                f"'talosctl -n {cp.target} logs etcd'",
                _CAT,
            )
        )
    if members and leader not in {m.id for m in members}:
        findings.append(
            Finding(
                LEADER,
                "etcd cluster",
                "a leader that is a member",
                f"leader {leader:016x}, which no member list contains",
                "compare 'talosctl etcd members' with 'talosctl etcd status'",
                _CAT,
            )
        )
    return findings


def check_raft_caught_up(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Raft indexes are within ``max_raft_index_spread`` of the highest."""
    if blind := _no_status(RAFT, snapshot):
        return blind
    statuses = _statuses(snapshot)
    spread = expectation.max_raft_index_spread
    highest = max(s.raft_index for s in statuses.values())
    findings = []
    for cp in expectation.control_planes:
        status = statuses.get(cp.name)
        if status is None or highest - status.raft_index <= spread:
            continue
        findings.append(
            Finding(
                RAFT,
                _status_subject(cp, status, snapshot, expectation),
                f"raft index within {spread} of the highest ({highest})",
                f"raft index {status.raft_index} ({highest - status.raft_index} behind)",
                "it is catching up; wait for it before taking down another control plane: "
                f"'talosctl -n {cp.target} etcd status'",
                _CAT,
            )
        )
    return findings


def _alarm_hint(alarm: str, target: str) -> str:
    if alarm.upper() == "NOSPACE":
        return (
            f"the database hit its quota: 'talosctl -n {target} etcd defrag', "
            f"then 'talosctl -n {target} etcd alarm disarm'"
        )
    if alarm.upper() == "CORRUPT":
        return "data corruption: stop the change and restore this member from a snapshot"
    return f"fix the cause, then 'talosctl -n {target} etcd alarm disarm'"


def check_no_alarms(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """No etcd alarm is raised (and the alarm list could be read)."""
    etcd = snapshot.etcd
    findings = []
    if etcd.alarms_error is not None:
        findings.append(
            Finding(
                ALARMS,
                "etcd",
                "the alarm list",
                f"unreadable: {clip(etcd.alarms_error)}",
                "'talosctl -n <control plane> etcd alarm list'",
                _CAT,
            )
        )
    members = _union(snapshot)
    for alarm in etcd.alarms:
        cp = next((_cp_for(m, expectation) for m in members if m.id == alarm.member_id), None)
        target = expectation.node(cp).target if cp else "<control plane>"
        findings.append(
            Finding(
                ALARMS,
                _id_subject(alarm.member_id, "not a member", members, expectation),
                "no alarm",
                f"alarm {alarm.alarm}",
                _alarm_hint(alarm.alarm, target),
                _CAT,
            )
        )
    return findings
