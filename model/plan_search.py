"""Planning from a profile, and when a target is impossible, the nearest valid plan to offer
instead (the refusal names it with the options that give it). Pure."""

from __future__ import annotations

import contextlib

from model.catalog import Catalog, CatalogError
from model.plan import PlanError, UpgradePlan, node_order_from_profile
from model.planner import plan
from model.profile import Profile
from model.versions import KubeVersion, TalosVersion


def plan_for(
    profile: Profile,
    talos: TalosVersion | None,
    kube: KubeVersion | None,
    catalog: Catalog,
    schematic: str | None = None,
) -> UpgradePlan:
    """The plan from the profile's versions (and schematic) to the targets (None keeps one)."""
    return plan(
        profile.talos.version,
        profile.talos.kubernetes,
        talos,
        kube,
        catalog,
        node_order_from_profile(profile),
        profile.talos.factory.url,
        profile.talos.factory.schematic,
        target_schematic=schematic,
    )


def nearest_plan_text(
    profile: Profile,
    t: TalosVersion | None,
    k: KubeVersion | None,
    catalog: Catalog,
    schematic: str | None = None,
) -> str:
    """'nearest valid plan (--talos-version X --k8s-version Y):' and its description, or why
    there is none."""
    for ta in _talos_alternatives(t, profile.talos.version, catalog):
        talos = ta or profile.talos.version
        for ka in _k8s_alternatives(k, profile.talos.kubernetes, talos, catalog):
            try:
                p = plan_for(profile, ta, ka, catalog, schematic)
            except PlanError:
                continue
            if p.is_empty:
                continue
            return (
                f"nearest valid plan (--talos-version {p.target_talos} --k8s-version "
                f"{p.target_kubernetes}):\n{p.describe()}"
            )
    return (
        f"no valid upgrade plan near that target: the cluster runs Talos "
        f"{profile.talos.version} and Kubernetes {profile.talos.kubernetes}; to go back to "
        "older versions use the rollback runbook (pytest runbooks/rollback)"
    )


def _talos_alternatives(
    t: TalosVersion | None, cur: TalosVersion, catalog: Catalog
) -> list[TalosVersion | None]:
    if t is None:
        return [None]
    out: list[TalosVersion | None] = [t]
    with contextlib.suppress(CatalogError):
        out.append(catalog.latest_patch(t.minor_line))
    older = [v for v in catalog.talos_releases() if cur <= v <= t]
    if older:
        out.append(older[-1])
    out.append(None)
    return list(dict.fromkeys(out))


def _k8s_alternatives(
    k: KubeVersion | None, cur: KubeVersion, talos: TalosVersion, catalog: Catalog
) -> list[KubeVersion | None]:
    if k is None:
        return [None]
    out: list[KubeVersion | None] = [k]
    supported = []
    for line in catalog.k8s_lines():
        with contextlib.suppress(CatalogError):
            supported.append(catalog.latest_k8s_patch(line))
    try:
        fits = [v for v in supported if cur <= v and catalog.supports(talos, v)]
    except CatalogError:  # a Talos the catalog does not know supports nothing we can plan
        fits = []
    out += sorted((v for v in fits if v <= k), reverse=True)[:1] + sorted(fits, reverse=True)[:1]
    out.append(None)
    return list(dict.fromkeys(out))
