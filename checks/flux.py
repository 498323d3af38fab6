"""Flux checks (when the profile enables Flux): Kustomizations and HelmReleases Ready;
suspended objects are reported by a separate, advisory check."""

from __future__ import annotations

from checks._common import clip
from checks.expectation import Expectation
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot, FluxObject

READY = "flux-ready"
SUSPENDED = "flux-not-suspended"

_CAT = Category.FLUX


def _subject(obj: FluxObject) -> str:
    return f"{obj.kind} {obj.namespace}/{obj.name}"


def _cli_kind(obj: FluxObject) -> str:
    """The flux CLI's words for the kind (`flux resume source git NAME`)."""
    return "source git" if obj.kind == "GitRepository" else obj.kind.lower()


def _unreadable(check: str, snapshot: ClusterSnapshot) -> list[Finding]:
    error = snapshot.flux_error or snapshot.kube_error
    if error is None:
        return []
    return [
        Finding(
            check,
            "Flux objects",
            "readable Kustomizations and HelmReleases",
            f"unreadable: {clip(error)}",
            "is Flux installed? 'flux check'; if the cluster has no Flux, set flux.enabled: false",
            _CAT,
        )
    ]


def check_flux_ready(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every GitRepository, Kustomization and HelmRelease that is not suspended is Ready=True."""
    if not expectation.flux_enabled:
        return []
    if findings := _unreadable(READY, snapshot):
        return findings
    if not snapshot.flux:
        return [
            Finding(
                READY,
                "Flux objects",
                "Kustomizations and HelmReleases",
                "none found",
                "is Flux installed? 'flux check'; if the cluster has no Flux, "
                "set flux.enabled: false",
                _CAT,
            )
        ]
    findings = []
    for obj in snapshot.flux:
        if obj.suspended or obj.ready == "True":
            continue
        why = ": ".join(x for x in (obj.reason, obj.message) if x)
        findings.append(
            Finding(
                READY,
                _subject(obj),
                "Ready=True",
                f"Ready={obj.ready}" + (f" ({clip(why)})" if why else ""),
                f"'flux get {_cli_kind(obj)}s -n {obj.namespace}'; "
                f"'flux reconcile {_cli_kind(obj)} {obj.name} -n {obj.namespace}'",
                _CAT,
            )
        )
    return findings


def check_flux_not_suspended(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """No Kustomization or HelmRelease is suspended (advisory: a suspension may be deliberate)."""
    if not expectation.flux_enabled:
        return []
    if findings := _unreadable(SUSPENDED, snapshot):
        return findings
    return [
        Finding(
            SUSPENDED,
            _subject(obj),
            "not suspended",
            "suspended (spec.suspend: true)",
            "resume it when the change is done: "
            f"'flux resume {_cli_kind(obj)} {obj.name} -n {obj.namespace}'",
            _CAT,
        )
        for obj in snapshot.flux
        if obj.suspended
    ]
