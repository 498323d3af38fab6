"""The upgrade plan: from the running versions to the targets, hop by hop. Pure.

Rules (each one a refusal, raised as `PlanError` before anything runs, when it cannot hold):

* Talos moves one minor at a time through the **latest patch of every intermediate minor**, as
  the Talos docs recommend ("always upgrade to the latest patch release of all intermediate minor
  releases"). When the target is in another minor and the cluster is not on the latest patch of
  its current minor, the first hop goes there (the docs' example: 1.0 -> v1.0.6 -> v1.1.2 ->
  v1.2.4). A jump the installer would accept (e.g. v1.9 -> v1.11) is still split: the migration
  is only tested between adjacent minors. Inside one minor the target is a single hop.
* Kubernetes moves one minor at a time (``talosctl upgrade-k8s`` refuses more); an intermediate
  minor is taken at its latest known patch, the last hop lands exactly on the target. There is no
  extra patch hop inside the current Kubernetes minor.
* Interleaving keeps the running Kubernetes supported by every node's Talos at every moment:
  a Kubernetes hop goes right after the Talos hop that makes it supported; before a Talos hop whose
  Talos would not support the running Kubernetes, Kubernetes is raised first, as far as the running
  Talos allows. A patch-only Kubernetes change goes after the Talos hops.
* Per Talos hop, nodes go workers first (profile order), then secondary control planes, then the
  primary control plane last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from model.catalog import Catalog, CatalogError, K8sSupport
from model.upgrade_call import upgrade_call
from model.versions import KubeVersion, TalosVersion


class PlanError(ValueError):
    """A plan that must not run; the message names the versions, the reason and what would work."""


# ---------------------------------------------------------------------------- nodes
@dataclass(frozen=True)
class NodeRef:
    """A node as the plan needs it: its name and the address talosctl's ``-n`` takes."""

    name: str
    address: str

    def __str__(self) -> str:
        return f"{self.name} ({self.address})"


@dataclass(frozen=True)
class NodeOrder:
    """Upgrade order: workers in profile order, then control planes with the primary last."""

    workers: tuple[NodeRef, ...]
    control_planes: tuple[NodeRef, ...]

    def __post_init__(self) -> None:
        if not self.control_planes:
            raise PlanError("node order has no control plane node")
        names = [n.name for n in self.in_order]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise PlanError(f"node order names {', '.join(dup)} more than once")

    @property
    def primary(self) -> NodeRef:
        """The primary control plane: upgraded last, and where ``upgrade-k8s`` runs."""
        return self.control_planes[-1]

    @property
    def in_order(self) -> tuple[NodeRef, ...]:
        """Every node, in the order a Talos hop upgrades them."""
        return self.workers + self.control_planes

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: workers, control planes (primary last) and the primary's name."""
        return {
            "workers": [{"name": n.name, "address": n.address} for n in self.workers],
            "control_planes": [{"name": n.name, "address": n.address} for n in self.control_planes],
            "primary": self.primary.name,
        }


class NodeLike(Protocol):
    """What the adapter reads from a profile node (model.profile.Node)."""

    @property
    def name(self) -> str: ...
    @property
    def address(self) -> object: ...
    @property
    def primary(self) -> bool: ...


class NodesLike(Protocol):
    """What the adapter reads from ``profile.nodes``."""

    @property
    def workers(self) -> Sequence[NodeLike]: ...
    @property
    def control_plane(self) -> Sequence[NodeLike]: ...


class ProfileNodesLike(Protocol):
    """A profile, as far as `node_order_from_profile` is concerned."""

    @property
    def nodes(self) -> NodesLike: ...


def node_order_from_profile(profile: ProfileNodesLike) -> NodeOrder:
    """Return the upgrade order of a profile's nodes; raise PlanError if two are primary.

    Uses only ``profile.nodes.workers``/``control_plane`` and each node's name, address and
    primary flag. With no node flagged primary, the first control plane is the primary.
    """
    workers = tuple(NodeRef(n.name, str(n.address)) for n in profile.nodes.workers)
    cps = list(profile.nodes.control_plane)
    flagged = [n for n in cps if n.primary]
    if len(flagged) > 1:
        names = ", ".join(n.name for n in flagged)
        raise PlanError(f"profile marks more than one control plane as primary: {names}")
    primary = flagged[0] if flagged else (cps[0] if cps else None)
    ordered = [n for n in cps if n is not primary] + ([primary] if primary is not None else [])
    return NodeOrder(workers, tuple(NodeRef(n.name, str(n.address)) for n in ordered))


# ---------------------------------------------------------------------------- hops
@dataclass(frozen=True)
class TalosHop:
    """One Talos version change, node by node, with the Kubernetes that runs throughout it."""

    from_version: TalosVersion
    to_version: TalosVersion
    image: str
    nodes: tuple[NodeRef, ...]
    kubernetes: KubeVersion
    reason: str
    kind: ClassVar[str] = "talos"

    @property
    def title(self) -> str:
        """'Talos v1.9.2 -> v1.9.4'."""
        return f"Talos {self.from_version} -> {self.to_version}"

    def command_for(self, node: NodeRef, client: TalosVersion | None = None) -> str:
        """The talosctl command line upgrading `node` with talosctl `client` (the driver adds
        talosconfig/endpoints); see model/upgrade_call.py for why it depends on both."""
        return upgrade_call(client, self.from_version, self.image).command(node.address)

    @property
    def commands(self) -> tuple[str, ...]:
        """One command line per node, in upgrade order."""
        return tuple(self.command_for(n) for n in self.nodes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the hop."""
        return {
            "kind": self.kind,
            "from": str(self.from_version),
            "to": str(self.to_version),
            "image": self.image,
            "kubernetes": str(self.kubernetes),
            "reason": self.reason,
            "nodes": [
                {"name": n.name, "address": n.address, "command": self.command_for(n)}
                for n in self.nodes
            ],
        }


@dataclass(frozen=True)
class KubeHop:
    """One Kubernetes version change (one minor at most), run once on the primary control plane."""

    from_version: KubeVersion
    to_version: KubeVersion
    node: NodeRef
    talos: TalosVersion
    reason: str
    kind: ClassVar[str] = "kubernetes"

    @property
    def title(self) -> str:
        """'Kubernetes 1.32.0 -> 1.33.11'."""
        return f"Kubernetes {self.from_version} -> {self.to_version}"

    @property
    def command(self) -> str:
        """The talosctl command line (the driver adds talosconfig/endpoints)."""
        return f"talosctl upgrade-k8s --to {self.to_version} -n {self.node.address}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the hop."""
        return {
            "kind": self.kind,
            "from": str(self.from_version),
            "to": str(self.to_version),
            "talos": str(self.talos),
            "node": {"name": self.node.name, "address": self.node.address},
            "command": self.command,
            "reason": self.reason,
        }


Hop = TalosHop | KubeHop


@dataclass(frozen=True)
class UpgradePlan:
    """The ordered hops from the current versions to the targets; empty means nothing to do."""

    current_talos: TalosVersion
    current_kubernetes: KubeVersion
    target_talos: TalosVersion
    target_kubernetes: KubeVersion
    nodes: NodeOrder
    hops: tuple[Hop, ...]

    @property
    def is_empty(self) -> bool:
        """True when the cluster already runs both targets."""
        return not self.hops

    @property
    def talos_hops(self) -> tuple[TalosHop, ...]:
        """The Talos hops, in order."""
        return tuple(h for h in self.hops if isinstance(h, TalosHop))

    @property
    def kube_hops(self) -> tuple[KubeHop, ...]:
        """The Kubernetes hops, in order."""
        return tuple(h for h in self.hops if isinstance(h, KubeHop))

    def describe(self, client: TalosVersion | None = None) -> str:
        """A multi-line, human-readable plan (hops, node order, images, commands) for --plan;
        the commands are those talosctl `client` will run."""
        now = f"Talos {self.current_talos} and Kubernetes {self.current_kubernetes}"
        if self.is_empty:
            return f"Nothing to do: the cluster already runs {now}."
        n = len(self.hops)
        lines = [
            f"Upgrade plan: {_change('Talos', self.current_talos, self.target_talos)}, "
            f"{_change('Kubernetes', self.current_kubernetes, self.target_kubernetes)} "
            f"({n} hop{'s' * (n != 1)})",
            "Node order for each Talos hop: "
            + ", ".join(
                f"{x}{' [primary]' if x == self.nodes.primary else ''}" for x in self.nodes.in_order
            ),
        ]
        width = max(len(x.name) for x in self.nodes.in_order)
        for i, hop in enumerate(self.hops, 1):
            lines.append(f"{i}. {hop.title}: {hop.reason}")
            if isinstance(hop, TalosHop):
                lines.append(f"   Kubernetes {hop.kubernetes} keeps running; image {hop.image}")
                for node in hop.nodes:
                    lines.append(f"   {node.name:<{width}}  {hop.command_for(node, client)}")
            else:
                lines.append(f"   on Talos {hop.talos}, from {hop.node}")
                lines.append(f"   {hop.command}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form of the whole plan."""
        return {
            "current": {
                "talos": str(self.current_talos),
                "kubernetes": str(self.current_kubernetes),
            },
            "target": {"talos": str(self.target_talos), "kubernetes": str(self.target_kubernetes)},
            "nodes": self.nodes.to_dict(),
            "hops": [h.to_dict() for h in self.hops],
        }


def _change(what: str, old: object, new: object) -> str:
    return f"{what} {old} (unchanged)" if old == new else f"{what} {old} -> {new}"


# ---------------------------------------------------------------------------- planning
def installer_image(factory_host: str, schematic: str, version: TalosVersion) -> str:
    """``<factory host>/installer/<schematic>:<version>``; a URL's scheme and slash are dropped."""
    host = factory_host.split("://", 1)[-1].strip().rstrip("/")
    if not host:
        raise PlanError("no Image Factory host given for the installer image")
    if not schematic.strip():
        raise PlanError("no Image Factory schematic ID given for the installer image")
    return f"{host}/installer/{schematic.strip()}:{version}"


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
    allow_prerelease: bool = False,
) -> UpgradePlan:
    """Return the hop-by-hop plan; a None target keeps the current version.

    Raises PlanError (one line: versions, reason, nearest valid target) for unknown versions,
    downgrades, pre-releases (unless allowed) and Kubernetes the Talos target cannot run.
    """
    try:
        return _Planner(catalog, nodes, factory_host, schematic, allow_prerelease).plan(
            current_talos,
            current_k8s,
            target_talos or current_talos,
            target_k8s or current_k8s,
            implicit_k8s=target_k8s is None,
        )
    except CatalogError as exc:
        raise PlanError(str(exc)) from exc


class _Planner:
    def __init__(
        self,
        catalog: Catalog,
        nodes: NodeOrder,
        factory_host: str,
        schematic: str,
        allow_prerelease: bool,
    ) -> None:
        self.c = catalog
        self.nodes = nodes
        self.factory_host = factory_host
        self.schematic = schematic
        self.allow_pre = allow_prerelease

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
            refusal = self.c.can_upgrade_host(talos, to)
            if refusal:
                raise PlanError(f"no upgrade path: {refusal}")
            image = installer_image(self.factory_host, self.schematic, to)
            hops.append(TalosHop(talos, to, image, self.nodes.in_order, k, reason))
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
