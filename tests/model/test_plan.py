"""The upgrade planner: hop order, node order, commands, and every refusal text."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from model.catalog import Catalog
from model.plan import (
    KubeHop,
    NodeOrder,
    NodeRef,
    PlanError,
    TalosHop,
    UpgradePlan,
    installer_image,
    node_order_from_profile,
)
from model.planner import plan
from model.versions import KubeVersion, TalosVersion

T = TalosVersion.parse
K = KubeVersion.parse
SCHEMATIC = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
FACTORY = "https://factory.talos.dev"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


NODES = NodeOrder(
    workers=(NodeRef("w1", "192.168.1.80"), NodeRef("w2", "192.168.1.81")),
    control_planes=(NodeRef("cp2", "192.168.1.71"), NodeRef("cp1", "192.168.1.70")),
)


def make(
    catalog: Catalog,
    cur_t: str,
    cur_k: str,
    tgt_t: str | None,
    tgt_k: str | None,
    allow_prerelease: bool = False,
) -> UpgradePlan:
    return plan(
        T(cur_t),
        K(cur_k),
        T(tgt_t) if tgt_t else None,
        K(tgt_k) if tgt_k else None,
        catalog,
        NODES,
        FACTORY,
        SCHEMATIC,
        allow_prerelease=allow_prerelease,
    )


def titles(p: UpgradePlan) -> list[str]:
    return [h.title for h in p.hops]


def image(version: str) -> str:
    return f"factory.talos.dev/installer/{SCHEMATIC}:{version}"


# ------------------------------------------------------------------------------ plans
def test_patch_upgrade_is_one_talos_hop_then_one_kubernetes_hop(catalog: Catalog) -> None:
    p = make(catalog, "v1.9.2", "1.32.0", "v1.9.4", "1.32.2")
    assert titles(p) == ["Talos v1.9.2 -> v1.9.4", "Kubernetes 1.32.0 -> 1.32.2"]
    talos, kube = p.hops
    assert isinstance(talos, TalosHop) and isinstance(kube, KubeHop)
    assert talos.image == image("v1.9.4")
    assert [n.name for n in talos.nodes] == ["w1", "w2", "cp2", "cp1"]
    assert talos.commands == tuple(
        f"talosctl upgrade --image {image('v1.9.4')} --wait=false -n {addr}"
        for addr in ("192.168.1.80", "192.168.1.81", "192.168.1.71", "192.168.1.70")
    )
    assert talos.kubernetes == K("1.32.0")
    assert kube.command == "talosctl upgrade-k8s --to 1.32.2 -n 192.168.1.70"
    assert kube.node == NodeRef("cp1", "192.168.1.70") and kube.talos == T("v1.9.4")
    assert (p.target_talos, p.target_kubernetes) == (T("v1.9.4"), K("1.32.2"))


def test_multi_minor_plan_goes_through_latest_patches_and_interleaves(catalog: Catalog) -> None:
    p = make(catalog, "v1.9.2", "1.32.0", "v1.11.6", "1.34.1")
    assert titles(p) == [
        "Talos v1.9.2 -> v1.9.6",
        "Talos v1.9.6 -> v1.10.9",
        "Kubernetes 1.32.0 -> 1.33.11",
        "Talos v1.10.9 -> v1.11.6",
        "Kubernetes 1.33.11 -> 1.34.1",
    ]
    assert [h.image for h in p.talos_hops] == [image("v1.9.6"), image("v1.10.9"), image("v1.11.6")]
    assert [h.kubernetes for h in p.talos_hops] == [K("1.32.0"), K("1.32.0"), K("1.33.11")]
    assert [h.reason for h in p.hops] == [
        "latest v1.9.x before leaving the minor",
        "latest v1.10.x: one Talos minor at a time",
        "latest 1.33.x: one Kubernetes minor at a time; Talos v1.10.9 supports 1.28–1.33",
        "target",
        "target; Talos v1.11.6 supports 1.29–1.34",
    ]


def test_kubernetes_is_raised_before_a_talos_hop_that_would_drop_it(catalog: Catalog) -> None:
    p = make(catalog, "v1.8.4", "1.26.15", "v1.10.9", "1.33.6")
    assert titles(p) == [
        "Kubernetes 1.26.15 -> 1.27.16",
        "Kubernetes 1.27.16 -> 1.28.15",
        "Kubernetes 1.28.15 -> 1.29.15",
        "Kubernetes 1.29.15 -> 1.30.14",
        "Kubernetes 1.30.14 -> 1.31.14",
        "Talos v1.8.4 -> v1.9.6",
        "Kubernetes 1.31.14 -> 1.32.13",
        "Talos v1.9.6 -> v1.10.9",
        "Kubernetes 1.32.13 -> 1.33.6",
    ]
    assert p.hops[0].reason == (
        "latest 1.27.x: one Kubernetes minor at a time; raised before Talos v1.9.6, "
        "which supports 1.27–1.32 only"
    )


def test_talos_only_target_keeps_kubernetes(catalog: Catalog) -> None:
    p = make(catalog, "v1.9.2", "1.30.0", "v1.11.6", None)
    assert titles(p) == [
        "Talos v1.9.2 -> v1.9.6",
        "Talos v1.9.6 -> v1.10.9",
        "Talos v1.10.9 -> v1.11.6",
    ]
    assert p.target_kubernetes == K("1.30.0") and not p.kube_hops


def test_kubernetes_only_target_goes_one_minor_at_a_time(catalog: Catalog) -> None:
    p = make(catalog, "v1.9.2", "1.30.0", None, "1.32.2")
    assert titles(p) == ["Kubernetes 1.30.0 -> 1.31.14", "Kubernetes 1.31.14 -> 1.32.2"]
    assert all(h.talos == T("v1.9.2") for h in p.kube_hops)
    assert p.target_talos == T("v1.9.2")


def test_same_minor_talos_target_is_a_single_hop_even_from_an_old_patch(catalog: Catalog) -> None:
    assert titles(make(catalog, "v1.10.0", "1.33.0", "v1.10.9", None)) == [
        "Talos v1.10.0 -> v1.10.9"
    ]


def test_no_extra_hop_when_already_on_the_latest_patch(catalog: Catalog) -> None:
    assert titles(make(catalog, "v1.9.6", "1.32.4", "v1.10.9", None)) == ["Talos v1.9.6 -> v1.10.9"]


@pytest.mark.parametrize("target", [(None, None), ("v1.9.4", "1.32.2"), ("v1.9.4", None)])
def test_same_version_target_is_an_empty_plan(
    catalog: Catalog, target: tuple[str | None, ...]
) -> None:
    p = make(catalog, "v1.9.4", "1.32.2", target[0], target[1])
    assert p.is_empty and p.hops == ()
    assert p.describe() == (
        "Nothing to do: the cluster already runs Talos v1.9.4 and Kubernetes 1.32.2."
    )


def test_prerelease_is_planned_when_allowed(catalog: Catalog) -> None:
    p = make(catalog, "v1.12.3", "1.35.0", "v1.14.0-rc.1", "1.37.0-rc.1", allow_prerelease=True)
    assert titles(p) == [
        "Talos v1.12.3 -> v1.12.11",
        "Talos v1.12.11 -> v1.13.9",
        "Kubernetes 1.35.0 -> 1.36.3",
        "Talos v1.13.9 -> v1.14.0-rc.1",
        "Kubernetes 1.36.3 -> 1.37.0-rc.1",
    ]


# Every (line default -> newer line latest) pair: the invariants hold at every step.
PAIRS = [(f"v1.{a}.0", f"v1.{b}") for a in range(5, 14) for b in range(a, 14)]


@pytest.mark.parametrize(("start", "line"), PAIRS)
def test_plan_invariants(catalog: Catalog, start: str, line: str) -> None:
    cur_t = T(start)
    cur_k = catalog.default_kubernetes(cur_t)
    tgt_t = catalog.latest_patch(line.removeprefix("v"))
    tgt_k = catalog.default_kubernetes(tgt_t)
    p = plan(cur_t, cur_k, tgt_t, tgt_k, catalog, NODES, FACTORY, SCHEMATIC)
    talos, k = cur_t, cur_k
    for hop in p.hops:
        if isinstance(hop, TalosHop):
            assert hop.from_version == talos and hop.kubernetes == k
            assert catalog.supports(talos, k) and catalog.supports(hop.to_version, k), hop.title
            assert catalog.can_upgrade_host(talos, hop.to_version) is None
            assert hop.to_version.minor - talos.minor <= 1, f"{hop.title} skips a minor"
            if hop.to_version != tgt_t:
                assert hop.to_version == catalog.latest_patch(hop.to_version.minor_line)
            talos = hop.to_version
        else:
            assert hop.from_version == k and hop.talos == talos
            assert hop.to_version.minor - k.minor <= 1, f"{hop.title} skips a minor"
            assert catalog.supports(talos, hop.to_version), hop.title
            k = hop.to_version
    assert (talos, k) == (tgt_t, tgt_k)


# ------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("v1.9.2", "1.32.0", "v1.9.9", None),
            "unknown Talos version v1.9.9: not in the release catalog (latest v1.9.x is v1.9.6)",
        ),
        (
            ("v1.9.2", "1.32.0", "v1.20.0", None),
            "unknown Talos version v1.20.0: not in the release catalog (newest is v1.13.9)",
        ),
        (
            ("v1.9.4", "1.32.0", "v1.9.2", None),
            "Talos v1.9.4 -> v1.9.2 is a downgrade; use the rollback runbook",
        ),
        (
            ("v1.9.4", "1.32.2", None, "1.32.0"),
            "Kubernetes 1.32.2 -> 1.32.0 is a downgrade; Kubernetes is not downgraded in place "
            "(keep 1.32.2 as the target)",
        ),
        (
            ("v1.9.4", "1.32.2", "v1.13.9", "1.40.0"),
            "Kubernetes 1.40.0 is not supported by any Talos release in the catalog "
            "(newest: v1.13.9 supports up to 1.36)",
        ),
        (
            ("v1.9.4", "1.32.2", "v1.11.6", "1.35.0"),
            "Kubernetes 1.35.0 is not supported by Talos v1.11.6 (supports 1.29–1.34); "
            "nearest valid target: Kubernetes 1.34.7, or Talos v1.12.11",
        ),
        (
            ("v1.9.4", "1.32.2", "v1.10.9", "1.36.0"),
            "Kubernetes 1.36.0 is not supported by Talos v1.10.9 (supports 1.28–1.33); "
            "nearest valid target: Kubernetes 1.33.11, or Talos v1.13.9",
        ),
        (
            ("v1.9.2", "1.28.0", "v1.11.6", None),
            "running Kubernetes 1.28.0 (no Kubernetes target) is not supported by Talos v1.11.6 "
            "(supports 1.29–1.34); nearest valid target: Kubernetes 1.29.15, or Talos v1.10.9",
        ),
        (
            ("v1.13.9", "1.36.3", None, "1.37.0-rc.1"),
            "Kubernetes 1.37.0-rc.1 is a pre-release; pre-releases are only planned when allowed "
            "(newest stable: 1.36.3)",
        ),
        (
            ("v1.9.4", "1.32.2", None, "1.32.20"),
            "unknown Kubernetes version 1.32.20: not in the release catalog "
            "(latest 1.32.x is 1.32.13)",
        ),
        (
            ("v1.13.9", "1.36.3", "v1.14.0-rc.1", None),
            "Talos v1.14.0-rc.1 is a pre-release; pre-releases are only planned when allowed "
            "(newest stable: v1.13.9)",
        ),
        (
            ("v1.9.7", "1.32.0", "v1.9.4", None),
            "running Talos v1.9.7 is not in the release catalog (latest v1.9.x is v1.9.6); "
            "refresh the catalog with scripts/refresh_catalog.py",
        ),
        (
            ("v1.9.2", "1.33.0", "v1.9.4", None),
            "running Kubernetes 1.33.0 is not supported by the running Talos v1.9.2 "
            "(supports 1.27–1.32); bring the cluster back into the support matrix before "
            "planning an upgrade",
        ),
    ],
)
def test_refusals(
    catalog: Catalog, args: tuple[str, str, str | None, str | None], message: str
) -> None:
    with pytest.raises(PlanError) as exc:
        make(catalog, *args)
    assert str(exc.value) == message
    assert "\n" not in str(exc.value)


def test_unknown_kubernetes_minor_with_only_prereleases(catalog: Catalog) -> None:
    with pytest.raises(PlanError) as exc:
        make(catalog, "v1.13.9", "1.36.3", "v1.14.0-rc.1", "1.37.0-rc.2", allow_prerelease=True)
    assert str(exc.value) == (
        "unknown Kubernetes version 1.37.0-rc.2: not in the release catalog "
        "(1.37 has only pre-releases, newest 1.37.0-rc.1)"
    )


def test_missing_factory_inputs_are_refused(catalog: Catalog) -> None:
    with pytest.raises(PlanError, match=r"^no Image Factory schematic ID given"):
        plan(T("v1.9.2"), K("1.32.0"), T("v1.9.4"), None, catalog, NODES, FACTORY, " ")
    with pytest.raises(PlanError, match=r"^no Image Factory host given"):
        plan(T("v1.9.2"), K("1.32.0"), T("v1.9.4"), None, catalog, NODES, "https://", SCHEMATIC)


@pytest.mark.parametrize(
    "host", ["factory.talos.dev", "https://factory.talos.dev", "https://factory.talos.dev/"]
)
def test_installer_image(host: str) -> None:
    assert installer_image(host, SCHEMATIC, T("v1.9.4")) == image("v1.9.4")


# ------------------------------------------------------------------------------ output
def test_describe_lists_hops_node_order_images_and_commands(catalog: Catalog) -> None:
    text = make(catalog, "v1.9.2", "1.32.0", "v1.11.6", "1.34.1").describe()
    lines = text.splitlines()
    assert lines[0] == "Upgrade plan: Talos v1.9.2 -> v1.11.6, Kubernetes 1.32.0 -> 1.34.1 (5 hops)"
    assert lines[1] == (
        "Node order for each Talos hop: w1 (192.168.1.80), w2 (192.168.1.81), "
        "cp2 (192.168.1.71), cp1 (192.168.1.70) [primary]"
    )
    assert "1. Talos v1.9.2 -> v1.9.6: latest v1.9.x before leaving the minor" in lines
    assert f"   Kubernetes 1.32.0 keeps running; image {image('v1.9.6')}" in lines
    cmd = f"talosctl upgrade --image {image('v1.11.6')} --wait=false -n 192.168.1.70"
    assert f"   cp1  {cmd}" in lines
    assert "   talosctl upgrade-k8s --to 1.33.11 -n 192.168.1.70" in lines
    assert "5. Kubernetes 1.33.11 -> 1.34.1: target; Talos v1.11.6 supports 1.29–1.34" in lines
    assert [ln.split(".")[0] for ln in lines if ln[:1].isdigit()] == ["1", "2", "3", "4", "5"]


def test_describe_marks_unchanged_versions(catalog: Catalog) -> None:
    first = make(catalog, "v1.9.2", "1.30.0", None, "1.31.14").describe().splitlines()[0]
    assert first == "Upgrade plan: Talos v1.9.2 (unchanged), Kubernetes 1.30.0 -> 1.31.14 (1 hop)"


def test_to_dict_is_json_ready(catalog: Catalog) -> None:
    d = make(catalog, "v1.9.2", "1.32.0", "v1.9.4", "1.32.2").to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["current"] == {"talos": "v1.9.2", "kubernetes": "1.32.0"}
    assert d["target"] == {"talos": "v1.9.4", "kubernetes": "1.32.2"}
    assert d["nodes"]["primary"] == "cp1"
    assert [h["kind"] for h in d["hops"]] == ["talos", "kubernetes"]
    assert d["hops"][0]["image"] == image("v1.9.4")
    assert d["hops"][0]["nodes"][0] == {
        "name": "w1",
        "address": "192.168.1.80",
        "command": f"talosctl upgrade --image {image('v1.9.4')} --wait=false -n 192.168.1.80",
    }
    assert d["hops"][1]["command"] == "talosctl upgrade-k8s --to 1.32.2 -n 192.168.1.70"


# ------------------------------------------------------------------------------ nodes / profile
@dataclass(frozen=True)
class FakeNode:
    name: str
    address: str
    primary: bool = False


@dataclass(frozen=True)
class FakeNodes:
    control_plane: list[FakeNode]
    workers: list[FakeNode] = field(default_factory=list)


@dataclass(frozen=True)
class FakeProfile:
    nodes: FakeNodes


def test_node_order_from_profile_puts_workers_first_and_the_primary_last() -> None:
    profile = FakeProfile(
        FakeNodes(
            control_plane=[
                FakeNode("cp1", "10.0.0.1", primary=True),
                FakeNode("cp2", "10.0.0.2"),
                FakeNode("cp3", "10.0.0.3"),
            ],
            workers=[FakeNode("w2", "10.0.1.2"), FakeNode("w1", "10.0.1.1")],
        )
    )
    order = node_order_from_profile(profile)
    assert [n.name for n in order.in_order] == ["w2", "w1", "cp2", "cp3", "cp1"]
    assert order.primary == NodeRef("cp1", "10.0.0.1")


def test_node_order_without_a_flagged_primary_uses_the_first_control_plane() -> None:
    profile = FakeProfile(FakeNodes([FakeNode("a", "10.0.0.1"), FakeNode("b", "10.0.0.2")]))
    assert [n.name for n in node_order_from_profile(profile).control_planes] == ["b", "a"]


def test_node_order_refuses_two_primaries_and_bad_orders() -> None:
    two = FakeProfile(FakeNodes([FakeNode("a", "10.0.0.1", True), FakeNode("b", "10.0.0.2", True)]))
    with pytest.raises(PlanError) as exc:
        node_order_from_profile(two)
    assert str(exc.value) == "profile marks more than one control plane as primary: a, b"
    with pytest.raises(PlanError) as exc:
        NodeOrder((NodeRef("w1", "10.0.1.1"),), ())
    assert str(exc.value) == "node order has no control plane node"
    with pytest.raises(PlanError) as exc:
        NodeOrder((NodeRef("x", "10.0.1.1"),), (NodeRef("x", "10.0.0.1"),))
    assert str(exc.value) == "node order names x more than once"


# ------------------------------------------------------------------------------ worker batches
def test_workers_are_cut_into_batches_in_profile_order(catalog: Catalog) -> None:
    workers = tuple(NodeRef(f"w{i}", f"10.0.0.{i}") for i in range(1, 8))
    order = NodeOrder(workers, NODES.control_planes, worker_batch=3)
    assert [[n.name for n in b] for b in order.worker_batches] == [
        ["w1", "w2", "w3"], ["w4", "w5", "w6"], ["w7"]]
    assert [n.name for n in order.batch_of(workers[4])] == ["w4", "w5", "w6"]
    assert order.batch_of(NODES.control_planes[0]) == (NODES.control_planes[0],)
    assert order.to_dict()["worker_batch"] == 3
    p = make(catalog, "v1.9.2", "1.32.0", "v1.9.4", None)
    text = UpgradePlan(p.current_talos, p.current_kubernetes, p.target_talos,
                       p.target_kubernetes, order, p.hops).describe()
    assert ("Workers in batches of up to 3, formed in the preflight from the live "
            "PodDisruptionBudgets and workloads (control planes one at a time)") in text
    assert "batches" not in p.describe()  # one at a time says nothing of batches


def test_a_batch_has_at_least_one_worker() -> None:
    with pytest.raises(PlanError, match=r"^a worker batch has at least one node, not 0$"):
        NodeOrder(NODES.workers, NODES.control_planes, worker_batch=0)
