"""drivers/observe.py on the lab: the etcd alarm list is read alongside the other reads from
the first control plane, and from the next one that answers when the first does not, with no
stale prefetched answer left behind; the partial looks (etcd status only, Kubernetes only)
start only the processes they need."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from drivers.kube import Kube
from drivers.observe import ALARMS, observe, observe_etcd_status, observe_kube
from drivers.process import Runner
from drivers.talosctl import Talosctl
from model.profile import load_profile


def _drivers(lab: Any) -> tuple[Any, Talosctl, Kube]:
    profile = load_profile(lab.profile)
    talos = Talosctl(profile.talos.talosctl, profile.talos.talosconfig, profile.talos.endpoints,
                     Runner(), read_only=True)
    return profile, talos, Kube(profile.talos.kubeconfig, read_only=True)


def _alarm_reads(talos: Talosctl) -> list[str]:
    return [c.command for c in talos.runner.history if " ".join(ALARMS) in c.command]


def test_alarms_come_from_the_first_control_plane_in_the_same_round(
        make_lab: Callable[..., Any]) -> None:
    profile, talos, kube = _drivers(make_lab())
    try:
        snap = observe(profile, talos, kube)
    finally:
        kube.close()
    assert snap.etcd.alarms == () and snap.etcd.alarms_error is None
    assert talos._prefetched == {}  # every prefetched read was used
    assert len(_alarm_reads(talos)) == 1


def test_with_the_first_control_plane_down_alarms_come_from_the_next_one(
        make_lab: Callable[..., Any]) -> None:
    lab = make_lab()
    lab.fault("node_down", "cp1")
    profile, talos, kube = _drivers(lab)
    try:
        snap = observe(profile, talos, kube)
    finally:
        kube.close()
    assert not snap.node("cp1").apid_ok  # type: ignore[union-attr]
    assert snap.etcd.alarms_error is None, snap.etcd.alarms_error
    cp1, cp2 = (str(n.target) for n in profile.control_planes[:2])
    reads = _alarm_reads(talos)
    assert [r.rsplit(" -n ", 1)[1] for r in reads] == [f"{cp1} etcd alarm list",
                                                       f"{cp2} etcd alarm list"], reads
    assert talos._prefetched == {}  # cp1's prefetched (failed) answer is not kept for later


def test_partial_looks_read_only_what_they_say(make_lab: Callable[..., Any]) -> None:
    profile, talos, kube = _drivers(make_lab())
    try:
        only_kube = observe_kube(profile, kube)
        assert talos.runner.calls == 0  # no talosctl process at all
        only_etcd = observe_etcd_status(profile, talos)
    finally:
        kube.close()
    assert only_kube.nodes == () and only_kube.kube_error is None
    assert sorted(n.name for n in only_kube.k8s_nodes) == ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
    assert only_kube.api_server_version is not None
    assert [c.command.split(" -n ", 1)[1].split(" ", 1)[1] for c in talos.runner.history] == [
        "etcd status"]
    assert only_etcd.nodes == () and only_etcd.k8s_nodes == ()
    assert sorted(only_etcd.etcd.status_by_node) == ["cp1", "cp2", "cp3"]
    leaders = {s.leader_id for s in only_etcd.etcd.status_by_node.values()}  # type: ignore[union-attr]
    assert len(leaders) == 1, only_etcd.etcd.status_by_node
