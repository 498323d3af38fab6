"""Planning an upgrade hop by hop: `plan(current, targets, catalog, node order, factory)`.
The rules are in model/plan.py's docstring; the plan's types are there too. Pure."""

from __future__ import annotations

from dataclasses import replace

from model.catalog import Catalog, CatalogError, K8sSupport
from model.plan import (
    Hop,
    KubeHop,
    NodeOrder,
    PlanError,
    TalosHop,
    UpgradePlan,
    installer_image,
)
from model.versions import KubeVersion, TalosVersion


def plan(
    current_talos: TalosVersion,
    current_k8s: KubeVersion,
    target_talos: TalosVersion | None,
    target_k8s: KubeVersion | None,
    catalog: Catalog,
    nodes: NodeOrder,
    factory_host: str,
    schematic: str,
    *,
    target_schematic: str | None = None,
    allow_prerelease: bool = False,
) -> UpgradePlan:
    """Return the hop-by-hop plan; a None target keeps the current version (and schematic).

    With a `target_schematic` other than `schematic` (an image change: new extensions), every
    Talos hop installs the target schematic's installer; on the same Talos version the change
    is one hop of its own (the node reinstalls its version from the new image).

    Raises PlanError (one line: versions, reason, nearest valid target) for unknown versions,
    downgrades, pre-releases (unless allowed) and Kubernetes the Talos target cannot run.
    """
    new_image = target_schematic if target_schematic not in (None, schematic) else None
    try:
        p = _Planner(
            catalog, nodes, factory_host, new_image or schematic, allow_prerelease, new_image
        ).plan(
            current_talos,
            current_k8s,
            target_talos or current_talos,
            target_k8s or current_k8s,
            implicit_k8s=target_k8s is None,
        )
    except CatalogError as exc:
        raise PlanError(str(exc)) from exc
    if new_image is None:
        return p
    return replace(p, current_schematic=schematic, target_schematic=new_image)


class _Planner:
    def __init__(
        self,
        catalog: Catalog,
        nodes: NodeOrder,
        factory_host: str,
        schematic: str,
        allow_prerelease: bool,
        new_image: str | None,
    ) -> None:
        self.c = catalog
        self.nodes = nodes
        self.factory_host = factory_host
        self.schematic = schematic
        self.allow_pre = allow_prerelease
        self.new_image = new_image  # the hops also move the nodes to this schematic

    def plan(
        self,
        cur_t: TalosVersion,
        cur_k: KubeVersion,
        tgt_t: TalosVersion,
        tgt_k: KubeVersion,
        implicit_k8s: bool,
    ) -> UpgradePlan:
        self._check_current(cur_t, cur_k)
        self._check_talos_target(cur_t, tgt_t)
        self._check_k8s_target(cur_k, tgt_k, tgt_t, cur_t, implicit_k8s)
        installer_image(self.factory_host, self.schematic, tgt_t)  # fail early on bad inputs
        hops = self._hops(cur_t, cur_k, tgt_t, tgt_k)
        return UpgradePlan(cur_t, cur_k, tgt_t, tgt_k, self.nodes, tuple(hops))

    # ----------------------------------------------------------------- refusals
    def _check_current(self, cur_t: TalosVersion, cur_k: KubeVersion) -> None:
        if not self.c.is_known_talos(cur_t):
            raise PlanError(
                f"running Talos {cur_t} is not in the release catalog "
                f"({self.c.talos_hint(cur_t)}); refresh the "
                "catalog with scripts/refresh_catalog.py"
            )
        if not self.c.supports(cur_t, cur_k):
            raise PlanError(
                f"running Kubernetes {cur_k} is not supported by the running Talos {cur_t} "
                f"(supports {self.c.k8s_support(cur_t)}); bring the cluster back into the "
                "support matrix before planning an upgrade"
            )

    def _check_talos_target(self, cur_t: TalosVersion, tgt_t: TalosVersion) -> None:
        if tgt_t == cur_t:
            return
        if tgt_t.is_prerelease and not self.allow_pre:
            raise PlanError(
                f"Talos {tgt_t} is a pre-release; pre-releases are only planned when allowed "
                f"(newest stable: {self.c.newest_talos()})"
            )
        if not self.c.is_known_talos(tgt_t):
            raise PlanError(self.c.unknown_talos_message(tgt_t))
        if tgt_t < cur_t:
            raise PlanError(f"Talos {cur_t} -> {tgt_t} is a downgrade; use the rollback runbook")

    def _check_k8s_target(
        self,
        cur_k: KubeVersion,
        tgt_k: KubeVersion,
        tgt_t: TalosVersion,
        cur_t: TalosVersion,
        implicit: bool,
    ) -> None:
        if tgt_k != cur_k:
            if tgt_k.is_prerelease and not self.allow_pre:
                raise PlanError(
                    f"Kubernetes {tgt_k} is a pre-release; pre-releases are only planned when "
                    f"allowed (newest stable: {self._newest_stable_k8s()})"
                )
            newest = self.c.newest_talos(self.allow_pre)
            top = self.c.k8s_support(newest)
            if tgt_k.minor_line > top.max_line:
                raise PlanError(
                    f"Kubernetes {tgt_k} is not supported by any Talos release in the catalog "
                    f"(newest: {newest} supports up to {top.max.minor_str})"
                )
            if tgt_k < cur_k:
                raise PlanError(
                    f"Kubernetes {cur_k} -> {tgt_k} is a downgrade; Kubernetes is not downgraded "
                    f"in place (keep {cur_k} as the target)"
                )
            if not self.c.known_k8s(tgt_k):
                raise PlanError(self._unknown_k8s_message(tgt_k))
        if not self.c.supports(tgt_t, tgt_k):
            what = (
                f"running Kubernetes {tgt_k} (no Kubernetes target)"
                if implicit
                else (f"Kubernetes {tgt_k}")
            )
            raise PlanError(
                f"{what} is not supported by Talos {tgt_t} (supports "
                f"{self.c.k8s_support(tgt_t)}); nearest valid target: "
                + self._nearest(tgt_k, tgt_t, cur_t)
            )

    def _nearest(self, k: KubeVersion, tgt_t: TalosVersion, cur_t: TalosVersion) -> str:
        sup = self.c.k8s_support(tgt_t)
        too_new = k.minor_line > sup.max_line
        k_line = sup.max_line if too_new else sup.min_line
        try:
            k_alt = str(self.c.latest_k8s_patch(k_line))
        except CatalogError:
            k_alt = f"{k_line[0]}.{k_line[1]}.x"
        lines = [ln for ln in self.c.talos_lines() if k in self._support_of(ln)]
        lines = (
            [ln for ln in lines if ln > tgt_t.minor_line]
            if too_new
            else [ln for ln in lines if cur_t.minor_line <= ln < tgt_t.minor_line]
        )
        t_alt = None
        for ln in lines if too_new else reversed(lines):
            rel = self.c.talos_releases(self.allow_pre)
            cands = [v for v in rel if v.minor_line == ln]
            if cands:
                t_alt = cands[-1]
                break
        return f"Kubernetes {k_alt}" + (f", or Talos {t_alt}" if t_alt else "")

    def _support_of(self, line: tuple[int, int]) -> K8sSupport:
        return self.c.k8s_support(TalosVersion(line[0], line[1], 0))

    def _newest_stable_k8s(self) -> KubeVersion:
        return max(
            v for ln in self.c.k8s_lines() for v in self.c.k8s_releases(ln) if not v.is_prerelease
        )

    def _unknown_k8s_message(self, v: KubeVersion) -> str:
        known = self.c.k8s_releases(v.minor_line)
        stable = [x for x in known if not x.is_prerelease]
        if stable:
            hint = f"latest {v.minor_str}.x is {stable[-1]}"
        elif known:
            hint = f"{v.minor_str} has only pre-releases, newest {known[-1]}"
        else:
            hint = f"newest is {self._newest_stable_k8s()}"
        return f"unknown Kubernetes version {v}: not in the release catalog ({hint})"

    # ----------------------------------------------------------------- hops
    def _talos_path(self, cur: TalosVersion, tgt: TalosVersion) -> list[tuple[TalosVersion, str]]:
        if tgt == cur:
            if self.new_image:
                return [(tgt, f"image change: Talos {tgt} from schematic {self.new_image[:12]}")]
            return []
        if tgt.minor_line == cur.minor_line:
            return [(tgt, "target")]
        path: list[tuple[TalosVersion, str]] = []
        latest = self.c.latest_patch(cur.minor_line)
        if latest > cur:
            path.append((latest, f"latest v{cur.minor_str}.x before leaving the minor"))
        for line in self.c.talos_lines():
            if cur.minor_line < line < tgt.minor_line:
                path.append(
                    (
                        self.c.latest_patch(line),
                        f"latest v{line[0]}.{line[1]}.x: one Talos minor at a time",
                    )
                )
        path.append((tgt, "target"))
        return path

    def _next_k8s(self, k: KubeVersion, tgt: KubeVersion) -> tuple[KubeVersion, str]:
        if k.minor_line == tgt.minor_line:
            return tgt, "target"
        following = [ln for ln in self.c.k8s_lines() if ln > k.minor_line]
        if not following:
            raise PlanError(f"no Kubernetes minor after {k.minor_str} in the release catalog")
        nxt = following[0]
        if nxt == tgt.minor_line:
            return tgt, "target"
        return (
            self.c.latest_k8s_patch(nxt),
            f"latest {nxt[0]}.{nxt[1]}.x: one Kubernetes minor at a time",
        )

    def _hops(
        self,
        cur_t: TalosVersion,
        cur_k: KubeVersion,
        tgt_t: TalosVersion,
        tgt_k: KubeVersion,
    ) -> list[Hop]:
        hops: list[Hop] = []
        talos, k = cur_t, cur_k

        def raise_k8s(why: str) -> None:
            nonlocal k
            while k.minor_line < tgt_k.minor_line:
                nxt, reason = self._next_k8s(k, tgt_k)
                if not self.c.supports(talos, nxt):
                    return
                hops.append(KubeHop(k, nxt, self.nodes.primary, talos, f"{reason}; {why}"))
                k = nxt

        for to, reason in self._talos_path(cur_t, tgt_t):
            support = self.c.k8s_support(to)
            if k not in support:
                raise_k8s(f"raised before Talos {to}, which supports {support} only")
                if k not in support:
                    raise PlanError(
                        f"no upgrade path: Talos {to} does not support Kubernetes {k} "
                        f"(supports {support}) and Talos {talos} cannot run a newer one"
                    )
            refusal = self.c.can_upgrade_host(talos, to) if to != talos else None
            if refusal:
                raise PlanError(f"no upgrade path: {refusal}")
            image = installer_image(self.factory_host, self.schematic, to)
            hops.append(TalosHop(talos, to, image, self.nodes.in_order, k, reason, self.new_image))
            talos = to
            raise_k8s(f"Talos {talos} supports {self.c.k8s_support(talos)}")
        while k != tgt_k:
            nxt, reason = self._next_k8s(k, tgt_k)
            if not self.c.supports(talos, nxt):
                raise PlanError(
                    f"no upgrade path: Talos {talos} does not support Kubernetes {nxt} "
                    f"(supports {self.c.k8s_support(talos)})"
                )
            why = f"Talos {talos} supports {self.c.k8s_support(talos)}"
            hops.append(KubeHop(k, nxt, self.nodes.primary, talos, f"{reason}; {why}"))
            k = nxt
        return hops
