"""The upgrade plan: from the running versions to the targets, hop by hop (planned by
model/planner.py). Pure.

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from model.upgrade_call import DEFAULT_STYLE, UpgradeCall, UpgradeStyle, upgrade_call
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
    worker_batch: int = 1  # workers upgraded at once, at most (control planes: always one)

    def __post_init__(self) -> None:
        if not self.control_planes:
            raise PlanError("node order has no control plane node")
        if self.worker_batch < 1:
            raise PlanError(f"a worker batch has at least one node, not {self.worker_batch}")
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

    @property
    def worker_batches(self) -> tuple[tuple[NodeRef, ...], ...]:
        """The workers in batches of up to `worker_batch`, in profile order: the batches when
        the preflight formed none from the live budgets (fixtures/procedures/batches.predict).
        At run time a PodDisruptionBudget may split a batch into smaller ones; a batch never
        takes a node from the next one."""
        n = self.worker_batch
        return tuple(self.workers[i : i + n] for i in range(0, len(self.workers), n))

    def batch_of(self, node: NodeRef) -> tuple[NodeRef, ...]:
        """The batch a worker belongs to (one node alone for a control plane)."""
        return next((b for b in self.worker_batches if node in b), (node,))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: workers, control planes (primary last) and the primary's name."""
        return {
            "workers": [{"name": n.name, "address": n.address} for n in self.workers],
            "control_planes": [{"name": n.name, "address": n.address} for n in self.control_planes],
            "primary": self.primary.name,
            "worker_batch": self.worker_batch,
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
    schematic: str | None = None  # set when the hop also moves nodes to a new image
    kind: ClassVar[str] = "talos"

    @property
    def title(self) -> str:
        """'Talos v1.9.2 -> v1.9.4', or 'Talos v1.9.4, new image 1a2b3c4d5e6f' (same version)."""
        if self.from_version == self.to_version and self.schematic:
            return f"Talos {self.to_version}, new image {self.schematic[:12]}"
        return f"Talos {self.from_version} -> {self.to_version}"

    def call(
        self,
        running: TalosVersion | None,
        client: TalosVersion | None,
        style: UpgradeStyle = DEFAULT_STYLE,
    ) -> UpgradeCall:
        """The one `talosctl upgrade` of this hop for a node running `running` (None: the hop's
        starting version) with talosctl `client`: the runbook runs it, the plan prints it (see
        model/upgrade_call.py for why it depends on both versions)."""
        return upgrade_call(
            client,
            running or self.from_version,
            self.image,
            preserve=style.preserve,
            reboot_timeout=style.reboot_timeout,
        )

    def command_for(
        self,
        node: NodeRef,
        client: TalosVersion | None = None,
        style: UpgradeStyle = DEFAULT_STYLE,
    ) -> str:
        """The talosctl command line upgrading `node` (the driver adds talosconfig/endpoints)."""
        return self.call(None, client, style).command(node.address)

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
            **({"schematic": self.schematic} if self.schematic else {}),
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
    current_schematic: str = ""  # the image change, when there is one: from this schematic...
    target_schematic: str = ""  # ...to this one (empty: every hop keeps the nodes' schematic)

    @property
    def changes_image(self) -> bool:
        """The plan moves the nodes to another Image Factory schematic."""
        return bool(self.target_schematic) and self.target_schematic != self.current_schematic

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

    def describe(
        self,
        client: TalosVersion | None = None,
        *,
        heading: str = "Upgrade plan",
        node_command: Callable[[TalosHop, NodeRef], str] | None = None,
        style: UpgradeStyle = DEFAULT_STYLE,
    ) -> str:
        """A multi-line, human-readable plan (hops, node order, images, commands) for --plan
        and the report; the commands are those talosctl `client` will run (`node_command`
        says otherwise, e.g. a rollback's `talosctl rollback`)."""
        now = f"Talos {self.current_talos} and Kubernetes {self.current_kubernetes}"
        if self.is_empty:
            return f"Nothing to do: the cluster already runs {now}."
        n = len(self.hops)
        image = (
            f", image {self.current_schematic[:12]} -> {self.target_schematic[:12]}"
            if self.changes_image
            else ""
        )
        lines = [
            f"{heading}: {_change('Talos', self.current_talos, self.target_talos)}, "
            f"{_change('Kubernetes', self.current_kubernetes, self.target_kubernetes)}{image} "
            f"({n} hop{'s' * (n != 1)})",
            "Node order for each Talos hop: "
            + ", ".join(
                f"{x}{' [primary]' if x == self.nodes.primary else ''}" for x in self.nodes.in_order
            ),
        ]
        if self.nodes.worker_batch > 1:
            lines.append(
                f"Workers in batches of up to {self.nodes.worker_batch}, formed in the preflight "
                "from the live PodDisruptionBudgets and workloads (control planes one at a time)"
            )
        width = max(len(x.name) for x in self.nodes.in_order)
        for i, hop in enumerate(self.hops, 1):
            lines.append(f"{i}. {hop.title}: {hop.reason}")
            if isinstance(hop, TalosHop):
                lines.append(f"   Kubernetes {hop.kubernetes} keeps running; image {hop.image}")
                for node in hop.nodes:
                    cmd = (
                        node_command(hop, node)
                        if node_command
                        else hop.command_for(node, client, style)
                    )
                    lines.append(f"   {node.name:<{width}}  {cmd}")
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
            **(
                {"image": {"from": self.current_schematic, "to": self.target_schematic}}
                if self.changes_image
                else {}
            ),
            "nodes": self.nodes.to_dict(),
            "hops": [h.to_dict() for h in self.hops],
        }


def _change(what: str, old: object, new: object) -> str:
    return f"{what} {old} (unchanged)" if old == new else f"{what} {old} -> {new}"


# ---------------------------------------------------------------------------- images
def installer_image(factory_host: str, schematic: str, version: TalosVersion) -> str:
    """``<factory host>/installer/<schematic>:<version>``; a URL's scheme and slash are dropped."""
    host = factory_host.split("://", 1)[-1].strip().rstrip("/")
    if not host:
        raise PlanError("no Image Factory host given for the installer image")
    if not schematic.strip():
        raise PlanError("no Image Factory schematic ID given for the installer image")
    return f"{host}/installer/{schematic.strip()}:{version}"
