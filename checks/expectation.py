"""What the checks expect: derived from the profile, adjusted by a runbook mid-upgrade.

During an upgrade the expected Talos version differs per node (upgraded nodes run the target,
the others the current release), so it is kept per node; `with_talos` returns a copy with
some nodes moved on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

from model.plan import installer_image
from model.profile import Profile, UnknownName
from model.roles import Role
from model.schematic import Image
from model.versions import KubeVersion, TalosVersion

Supports = Callable[[TalosVersion, KubeVersion], bool]
"""``supports(talos, kubernetes)``: does that Talos release support that Kubernetes version?"""


@dataclass(frozen=True)
class ExpectedNode:
    """A node the cluster should have, with the role and Talos version it should run, and the
    image (schematic, extensions) when it differs from the cluster's (an image change mid-roll)."""

    name: str
    address: str | None
    role: Role
    talos_version: TalosVersion
    image: Image | None = None  # None: the expectation's schematic and extensions

    @property
    def target(self) -> str:
        """What to pass to ``talosctl -n`` in a hint: the address, else the name."""
        return self.address or self.name

    @property
    def is_control_plane(self) -> bool:
        return self.role is Role.CONTROL_PLANE


@dataclass(frozen=True)
class Expectation:
    """Everything the checks compare a snapshot against."""

    nodes: tuple[ExpectedNode, ...]
    kubernetes: KubeVersion
    schematic: str
    extensions: tuple[str, ...]
    supports: Supports
    flux_enabled: bool = False
    pod_allowlist: tuple[str, ...] = ()
    max_raft_index_spread: int = 50
    factory_host: str = "factory.talos.dev"

    @classmethod
    def from_profile(
        cls,
        profile: Profile,
        supports: Supports,
        *,
        talos: TalosVersion | Mapping[str, TalosVersion] | None = None,
        kubernetes: KubeVersion | None = None,
    ) -> Expectation:
        """The profile's current state (or `talos`/`kubernetes` overrides) as an Expectation.

        `talos` may be one version for every node or a mapping node name -> version
        (nodes it omits keep the profile's version).
        """
        nodes = tuple(
            ExpectedNode(n.name, n.address, n.role, profile.talos.version)
            for n in profile.all_nodes
        )
        exp = cls(
            nodes=nodes,
            kubernetes=kubernetes or profile.talos.kubernetes,
            schematic=profile.talos.factory.schematic,
            extensions=profile.talos.factory.extensions,
            supports=supports,
            flux_enabled=profile.flux.enabled,
            pod_allowlist=profile.health.pod_allowlist,
            max_raft_index_spread=profile.health.max_raft_index_spread,
            factory_host=profile.talos.factory.host,
        )
        if isinstance(talos, TalosVersion):
            return exp.with_talos(talos)
        if talos is not None:
            for name, version in talos.items():
                exp = exp.with_talos(version, [name])
        return exp

    @property
    def control_planes(self) -> tuple[ExpectedNode, ...]:
        return tuple(n for n in self.nodes if n.is_control_plane)

    @property
    def node_names(self) -> tuple[str, ...]:
        return tuple(n.name for n in self.nodes)

    def node(self, name: str) -> ExpectedNode:
        """The expected node called `name`; raise KeyError naming the known ones."""
        for node in self.nodes:
            if node.name == name:
                return node
        raise UnknownName(f"no expected node {name!r} (known: {', '.join(self.node_names)})")

    def image_of(self, node: ExpectedNode) -> Image:
        """The image `node` should run: its own when it moved to a new one, else the cluster's."""
        return node.image or Image(self.schematic, self.extensions)

    def with_talos(
        self,
        version: TalosVersion,
        names: Iterable[str] | None = None,
        image: Image | None = None,
    ) -> Expectation:
        """A copy expecting `version` (and `image`, when given) on the nodes in `names` (all
        nodes when None).

        Raises KeyError for a name that is not an expected node.
        """
        wanted = set(self.node_names if names is None else names)
        unknown = wanted - set(self.node_names)
        if unknown:
            raise UnknownName(f"no expected node(s) {', '.join(sorted(unknown))}")
        nodes = tuple(
            replace(n, talos_version=version, image=image or n.image) if n.name in wanted else n
            for n in self.nodes
        )
        return replace(self, nodes=nodes)

    def with_kubernetes(self, version: KubeVersion) -> Expectation:
        """A copy expecting Kubernetes `version` (kubelets and API server)."""
        return replace(self, kubernetes=version)

    def installer_image(self, node: ExpectedNode) -> str:
        """The Image Factory installer of the image `node` should run, at its expected version."""
        return installer_image(self.factory_host, self.image_of(node).schematic, node.talos_version)
