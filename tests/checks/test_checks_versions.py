"""Version, support-matrix and extension checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from checks import extensions, support, versions
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, ExtensionObservation
from model.versions import KubeVersion, TalosVersion
from tests.snapshot_builder import (
    SCHEMATIC,
    expectation,
    healthy_snapshot,
    with_k8s_node,
    with_node,
    without_k8s_node,
)

Mutation = Callable[[ClusterSnapshot], ClusterSnapshot]
OTHER = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
INSTALLER = f"factory.talos.dev/installer/{SCHEMATIC}:v1.9.4"
FALLBACK = (
    "hint: if w1 was just upgraded it may have booted its previous image (A/B fallback): check "
    f"'talosctl -n 127.0.10.11 dmesg'; otherwise upgrade it with {INSTALLER}"
)

CASES: list[tuple[str, Callable[..., list[Finding]], Mutation, list[str]]] = [
    (
        "talos-behind-both-sources",
        versions.check_talos_version,
        lambda s: with_k8s_node(
            with_node(s, "w1", talos_version=TalosVersion.parse("v1.9.2")),
            "w1",
            os_image="Talos (v1.9.2)",
        ),
        [
            "[talos-version] node w1: expected v1.9.4, observed v1.9.2 (Talos API); v1.9.2 "
            f"(Kubernetes osImage) — {FALLBACK}"
        ],
    ),
    (
        "talos-osimage-only",
        versions.check_talos_version,
        lambda s: with_k8s_node(s, "w1", os_image="Talos (v1.9.2)"),
        [
            "[talos-version] node w1: expected v1.9.4, observed v1.9.2 (Kubernetes osImage) "
            f"— {FALLBACK}"
        ],
    ),
    (
        "talos-osimage-not-talos",
        versions.check_talos_version,
        lambda s: with_k8s_node(s, "w1", os_image="Ubuntu 24.04"),
        [
            "[talos-version] node w1: expected v1.9.4, observed osImage 'Ubuntu 24.04' (not "
            f"'Talos (vX.Y.Z)') — {FALLBACK}"
        ],
    ),
    (
        "talos-unobservable",
        versions.check_talos_version,
        lambda s: without_k8s_node(with_node(s, "w2", apid_ok=False), "w2"),
        [
            "[talos-version] node w2: expected v1.9.4, observed unknown (Talos API not answering "
            "and no Kubernetes Node) — hint: is the machine up? 'talosctl -n 127.0.10.12 version'"
        ],
    ),
    (
        "kubelet-behind",
        versions.check_kubelet_version,
        lambda s: with_k8s_node(s, "w2", kubelet_version=KubeVersion.parse("1.32.0")),
        [
            "[kubelet-version] node w2: expected kubelet 1.32.2, observed 1.32.0 — hint: "
            "'talosctl -n 127.0.10.1 upgrade-k8s --to 1.32.2' upgrades the kubelets after the "
            "control plane"
        ],
    ),
    (
        "api-server-behind",
        versions.check_api_server_version,
        lambda s: replace(s, api_server_version=KubeVersion.parse("1.32.0")),
        [
            "[api-server-version] Kubernetes API server: expected 1.32.2, observed 1.32.0 — "
            "hint: 'talosctl -n 127.0.10.1 upgrade-k8s --to 1.32.2'"
        ],
    ),
    (
        "kubelet-too-new-for-talos",
        support.check_talos_supports_kubernetes,
        lambda s: with_k8s_node(s, "w1", kubelet_version=KubeVersion.parse("1.33.1")),
        [
            "[talos-supports-kubernetes] node w1: expected Kubernetes supported by Talos v1.9.4, "
            "observed kubelet 1.33.1, outside Talos 1.9's support matrix — hint: upgrade Talos "
            "and Kubernetes in steps so that every node's Talos supports the running Kubernetes "
            "(see the support matrix)"
        ],
    ),
    (
        "api-server-too-new-on-control-planes",
        support.check_talos_supports_kubernetes,
        lambda s: replace(s, api_server_version=KubeVersion.parse("1.33.0")),
        [
            f"[talos-supports-kubernetes] node {cp}: expected Kubernetes supported by Talos "
            "v1.9.4, observed API server 1.33.0, outside Talos 1.9's support matrix — hint: "
            "upgrade Talos and Kubernetes in steps so that every node's Talos supports the "
            "running Kubernetes (see the support matrix)"
            for cp in ("cp1", "cp2", "cp3")
        ],
    ),
    (
        "talos-unknown-to-catalog",
        support.check_talos_supports_kubernetes,
        lambda s: with_node(s, "w1", talos_version=TalosVersion.parse("v1.11.0")),
        [
            "[talos-supports-kubernetes] node w1: expected Talos v1.11.0 in the release catalog, "
            "observed no support-matrix entry for Talos 1.11 — hint: refresh the release "
            "catalog, or fix the version in the profile"
        ],
    ),
    (
        "support-unobservable",
        support.check_talos_supports_kubernetes,
        lambda s: with_node(s, "w1", apid_ok=False, talos_version=None),
        [
            "[talos-supports-kubernetes] node w1: expected a Talos release that supports the "
            "running Kubernetes, observed unknown (its Talos version was not observed) — hint: "
            "see the apid-ready and kubelet-version checks for why"
        ],
    ),
    (
        "extension-missing",
        extensions.check_extensions,
        lambda s: with_node(
            s,
            "w1",
            extensions=[
                ExtensionObservation("0", "qemu-guest-agent", "9.2.0"),
                ExtensionObservation("1", "schematic", OTHER),
            ],
        ),
        [
            "[extensions-present] node w1: expected extensions siderolabs/iscsi-tools, "
            "siderolabs/qemu-guest-agent, observed missing siderolabs/iscsi-tools (installed: "
            f"qemu-guest-agent, schematic) — hint: w1 booted an image without them: upgrade it "
            f"with {INSTALLER}"
        ],
    ),
    (
        "schematic-differs",
        extensions.check_schematic,
        lambda s: with_node(s, "w1", extensions=[ExtensionObservation("1", "schematic", OTHER)]),
        [
            f"[schematic-matches] node w1: expected schematic {SCHEMATIC}, observed schematic "
            f"{OTHER} — hint: upgrade w1 with {INSTALLER}"
        ],
    ),
    (
        "schematic-absent",
        extensions.check_schematic,
        lambda s: with_node(s, "w1", extensions=[]),
        [
            f"[schematic-matches] node w1: expected schematic {SCHEMATIC}, observed no "
            f"'schematic' extension (not an Image Factory image?) — hint: upgrade w1 with "
            f"{INSTALLER}"
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


def test_extension_names_match_with_or_without_the_siderolabs_prefix() -> None:
    snap = with_node(
        healthy_snapshot(),
        "w1",
        extensions=[
            ExtensionObservation("0", "siderolabs/iscsi-tools", "v0.1.6"),
            ExtensionObservation("1", "qemu-guest-agent", "9.2.0"),
        ],
    )
    assert extensions.check_extensions(snap, expectation()) == []


def test_expected_version_is_per_node_mid_upgrade() -> None:
    """w1 already upgraded to v1.9.4, the others still expected on v1.9.2."""
    old = TalosVersion.parse("v1.9.2")
    exp = expectation().with_talos(old, ["cp1", "cp2", "cp3", "w2"])
    snap = healthy_snapshot()
    for name in ("cp1", "cp2", "cp3", "w2"):
        snap = with_k8s_node(
            with_node(snap, name, talos_version=old), name, os_image="Talos (v1.9.2)"
        )
    assert versions.check_talos_version(snap, exp) == []
    findings = versions.check_talos_version(healthy_snapshot(), exp)
    assert [f.subject for f in findings] == ["node cp1", "node cp2", "node cp3", "node w2"]
    assert {f.category for f in findings} == {Category.VERSION_MISMATCH}


def test_kubelet_check_sees_an_unreadable_api() -> None:
    snap = replace(healthy_snapshot(), kube_error="Unauthorized")
    (finding,) = versions.check_kubelet_version(snap, expectation())
    assert str(finding).startswith(
        "[kubelet-version] Kubernetes API: expected readable, observed unreadable: Unauthorized"
    )


def test_support_check_with_the_real_catalog_names_an_unknown_talos_line() -> None:
    """The production catalog raises CatalogError (not a LookupError) for a line it does not
    know: the check must report that as a catalog gap, not crash or blame the cluster."""
    from model.catalog import Catalog

    snap = with_node(healthy_snapshot(), "w1", talos_version=TalosVersion.parse("v1.99.0"))
    exp = replace(expectation(), supports=Catalog.load().supports)
    found = support.check_talos_supports_kubernetes(snap, exp)
    assert [str(f) for f in found] == [
        "[talos-supports-kubernetes] node w1: expected Talos v1.99.0 in the release catalog, "
        "observed no support-matrix entry for Talos 1.99 — hint: refresh the release "
        "catalog, or fix the version in the profile"
    ]
    assert found[0].category is Category.HARNESS_ERROR
