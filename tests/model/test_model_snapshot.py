"""Snapshots are immutable and serialise to JSON evidence."""

from __future__ import annotations

import json
from dataclasses import FrozenInstanceError
from typing import Any

import pytest

from model.roles import Role
from model.snapshot import (
    ClusterSnapshot,
    EtcdMember,
    EtcdObservation,
    K8sNode,
    NodeObservation,
    Pod,
    UnmetCondition,
)
from model.versions import KubeVersion, TalosVersion
from tests.snapshot_builder import healthy_snapshot


def test_lists_and_dicts_are_frozen_on_construction() -> None:
    """Drivers may pass lists and dicts (hence the Any): they are stored as tuples/mappings."""
    peers: Any = ["https://127.0.10.1:2380"]
    members: Any = [EtcdMember(1, "cp1", peers, ("https://127.0.10.1:2379",))]
    etcd = EtcdObservation(members_by_node={"cp1": members, "cp2": "connection refused"})
    pod = Pod("kube-system", "coredns-1", "Running", labels={"k8s-app": "kube-dns"})
    assert isinstance(etcd.members_by_node["cp1"], tuple)
    assert etcd.members_by_node["cp1"][0].peer_urls == ("https://127.0.10.1:2380",)
    with pytest.raises(TypeError):
        etcd.members_by_node["cp3"] = ()  # type: ignore[index]
    with pytest.raises(TypeError):
        pod.labels["k8s-app"] = "x"  # type: ignore[index]
    members.append(EtcdMember(2, "cp2"))
    assert len(etcd.members_by_node["cp1"]) == 1  # a copy, not the caller's list
    with pytest.raises(FrozenInstanceError):
        pod.phase = "Failed"  # type: ignore[misc]


def test_to_dict_gives_json_evidence() -> None:
    data = healthy_snapshot().to_dict()
    text = json.dumps(data)
    assert json.loads(text) == data
    cp1 = data["nodes"][0]
    assert cp1["name"] == "cp1"
    assert cp1["role"] == "controlplane"
    assert cp1["talos_version"] == "v1.9.4"
    assert cp1["extensions"][2] == {
        "id": "2",
        "name": "schematic",
        "version": "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586",
    }
    assert data["k8s_nodes"][0]["kubelet_version"] == "1.32.2"
    assert data["etcd"]["members_by_node"]["cp2"][0]["id"] == 0xA49C021E76E707DB
    assert data["etcd"]["status_by_node"]["cp3"]["raft_index"] == 53391
    assert data["api_server_version"] == "1.32.2"
    assert data["kube_error"] is None


def test_errors_in_place_of_values_serialise_too() -> None:
    snap = ClusterSnapshot(
        taken_at="2026-11-20T03:00:00Z",
        nodes=(
            NodeObservation(
                "w1",
                None,
                Role.WORKER,
                apid_error="connection refused",
                unmet_conditions=(UnmetCondition("nodeReady", "not ready"),),
            ),
        ),
        etcd=EtcdObservation(status_by_node={"cp1": "deadline exceeded"}),
    )
    data = snap.to_dict()
    assert data["etcd"]["status_by_node"] == {"cp1": "deadline exceeded"}
    assert data["nodes"][0]["apid_ok"] is False
    assert data["nodes"][0]["unmet_conditions"] == [{"name": "nodeReady", "reason": "not ready"}]


@pytest.mark.parametrize(
    ("os_image", "version"),
    [
        ("Talos (v1.9.4)", TalosVersion.parse("v1.9.4")),
        ("Talos (v1.14.0-rc.1)", TalosVersion.parse("v1.14.0-rc.1")),
        ("Talos (1.9)", None),
        ("Ubuntu 24.04.1 LTS", None),
        ("", None),
    ],
)
def test_os_image_version(os_image: str, version: TalosVersion | None) -> None:
    assert K8sNode("w1", os_image=os_image).os_talos_version == version


def test_member_helpers() -> None:
    started = EtcdMember(0x7F3C9A1B2C3D4E5F, "cp2", ("https://a:2380",), ("https://a:2379",))
    assert started.hex_id == "7f3c9a1b2c3d4e5f"
    assert started.started
    assert not EtcdMember(5, "", ("https://a:2380",), ()).started
    assert not EtcdMember(5, "cp2", ("https://a:2380",), ()).started


def test_snapshot_lookups() -> None:
    snap = healthy_snapshot()
    w1, cp1 = snap.node("w1"), snap.k8s_node("cp1")
    assert w1 is not None and w1.address == "127.0.10.11"
    assert snap.node("w9") is None
    assert cp1 is not None and cp1.kubelet_version == KubeVersion.parse("1.32.2")
    assert {p.name for p in snap.pods_on("cp2")} >= {"kube-apiserver-cp2", "kube-scheduler-cp2"}
