"""The check registry: every check is named, passes on a healthy cluster, and can fail."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from checks import ALL_CHECKS, CheckSpec, Expectation, get_check, run_checks
from model.findings import Category, Finding
from model.profile import load_profile
from model.snapshot import ClusterSnapshot
from model.versions import KubeVersion, TalosVersion
from tests.snapshot_builder import expectation, healthy_snapshot, supports

REPO = Path(__file__).resolve().parents[2]


def test_names_are_unique_and_kebab_case() -> None:
    names = [spec.name for spec in ALL_CHECKS]
    assert len(names) == len(set(names))
    assert all(name == name.lower() and " " not in name for name in names)


@pytest.mark.parametrize("spec", ALL_CHECKS, ids=lambda s: s.name)
def test_every_check_passes_on_a_healthy_cluster(spec: CheckSpec) -> None:
    assert spec(healthy_snapshot(), expectation()) == []


@pytest.mark.parametrize("spec", ALL_CHECKS, ids=lambda s: s.name)
def test_every_check_fails_when_it_cannot_see_the_cluster(spec: CheckSpec) -> None:
    """Nothing answered: no check may pass blind, and findings carry the check's own name."""
    healthy = healthy_snapshot()
    blind = replace(
        healthy,
        nodes=tuple(replace(n, apid_ok=False, apid_error="timeout") for n in healthy.nodes),
        etcd=replace(healthy.etcd, members_by_node={}, status_by_node={}, alarms_error="timeout"),
        k8s_nodes=(),
        pods=(),
        daemonsets=(),
        deployments=(),
        flux=(),
        api_server_version=None,
        kube_error="timeout",
        flux_error="timeout",
    )
    findings = spec(blind, expectation())
    assert findings, f"{spec.name} passed without seeing anything"
    for f in findings:
        assert f.check == spec.name
        assert f.category in (spec.category, Category.HARNESS_ERROR)
        assert f.subject and f.expected and f.observed and f.hint
        assert "\n" not in str(f)


def test_get_check_names_the_known_checks() -> None:
    assert get_check("etcd-no-alarms").title == "no etcd alarms"
    with pytest.raises(KeyError) as info:
        get_check("etcd-alarms")
    assert str(info.value).startswith("no check 'etcd-alarms' (known: etcd-status-ok, ")


def test_run_checks_turns_a_crash_into_a_harness_error() -> None:
    def broken(snapshot: ClusterSnapshot, exp: Expectation) -> list[Finding]:
        raise RuntimeError("boom")

    spec = CheckSpec("broken", "a broken check", Category.ETCD, broken)
    results = run_checks(healthy_snapshot(), expectation(), [spec, get_check("apid-ready")])
    assert list(results) == ["broken", "apid-ready"]
    assert results["apid-ready"] == []
    (finding,) = results["broken"]
    assert finding.category is Category.HARNESS_ERROR
    assert str(finding) == (
        "[broken] the check itself: expected to run, observed RuntimeError: boom — hint: a "
        "harness bug: report it with this line"
    )


def test_only_the_suspension_check_is_advisory() -> None:
    assert [s.name for s in ALL_CHECKS if s.advisory] == ["flux-not-suspended"]


def test_expectation_from_the_lab_profile() -> None:
    profile = load_profile(REPO / "clusters" / "lab.yaml")
    exp = Expectation.from_profile(profile, supports)
    assert exp.node_names == ("cp1", "cp2", "cp3", "w1", "w2", "w3")
    assert [n.name for n in exp.control_planes] == ["cp1", "cp2", "cp3"]
    assert {n.talos_version for n in exp.nodes} == {TalosVersion.parse("v1.9.2")}
    assert exp.kubernetes == KubeVersion.parse("1.32.0")
    assert exp.extensions == ("siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent")
    assert exp.flux_enabled is True
    assert exp.installer_image(exp.with_talos(TalosVersion.parse("v1.9.4")).nodes[0]) == (
        "factory.talos.dev/installer/"
        "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586:v1.9.4"
    )
    mid = Expectation.from_profile(
        profile,
        supports,
        talos={"w1": TalosVersion.parse("v1.9.4")},
        kubernetes=KubeVersion.parse("1.32.2"),
    )
    assert [str(n.talos_version) for n in mid.nodes] == ["v1.9.2"] * 3 + ["v1.9.4"] + ["v1.9.2"] * 2
    assert str(mid.kubernetes) == "1.32.2"
    with pytest.raises(KeyError, match="no expected node\\(s\\) w9"):
        exp.with_talos(TalosVersion.parse("v1.9.4"), ["w9"])
