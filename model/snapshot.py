"""What was observed about a cluster at one moment: frozen, immutable values.

`drivers/` builds a `ClusterSnapshot` from real output (talosctl, the Kubernetes API);
`checks/` judges it. Lists given to the constructors become tuples and dicts become read-only
mappings, so a snapshot cannot change after it is built. ``to_dict()`` gives JSON evidence.

Node-keyed mappings (``EtcdObservation.members_by_node`` ...) are keyed by the profile's node
name. A string in place of a value is the error met while observing it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import Enum
from types import MappingProxyType
from typing import Any

from model.roles import Role
from model.versions import KubeVersion, TalosVersion, VersionError

_OS_IMAGE = re.compile(r"^Talos \((?P<tag>v[^)]+)\)$")


def _freeze(value: object) -> object:
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict | MappingProxyType):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    return value


def _jsonable(value: object) -> object:
    if isinstance(value, _Observed):
        return value.to_dict()
    if isinstance(value, TalosVersion | KubeVersion):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


@dataclass(frozen=True)
class _Observed:
    """Base of every observation: freezes containers, converts to JSON-ready dicts."""

    def __post_init__(self) -> None:
        for f in fields(self):
            object.__setattr__(self, f.name, _freeze(getattr(self, f.name)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: versions as strings, enums as values, tuples as lists."""
        return {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}


# --------------------------------------------------------------------------- Talos side


@dataclass(frozen=True)
class UnmetCondition(_Observed):
    """One entry of MachineStatus ``status.unmetConditions``."""

    name: str
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}" if self.reason else self.name


@dataclass(frozen=True)
class ExtensionObservation(_Observed):
    """One ExtensionStatus resource (``id`` is ``0``, ``1``, ...)."""

    id: str
    name: str
    version: str


SCHEMATIC_EXTENSION = "schematic"  # the extension an Image Factory image carries its ID in


@dataclass(frozen=True)
class NodeObservation(_Observed):
    """What the Talos API said about one profile node (apid_ok False: it did not answer)."""

    name: str
    address: str | None
    role: Role
    talos_version: TalosVersion | None = None
    apid_ok: bool = False
    apid_error: str | None = None
    machine_stage: str | None = None
    machine_ready: bool | None = None
    unmet_conditions: tuple[UnmetCondition, ...] = ()
    extensions: tuple[ExtensionObservation, ...] = ()

    @property
    def schematic_ids(self) -> list[str]:
        """The Image Factory schematic IDs the node reports (its `schematic` extension's
        version: one, on a factory image)."""
        return [e.version for e in self.extensions if e.name == SCHEMATIC_EXTENSION]


# --------------------------------------------------------------------------- Kubernetes side


@dataclass(frozen=True)
class K8sNode(_Observed):
    """A Kubernetes Node object (``ready`` is the Ready condition status as written)."""

    name: str
    ready: str = "Unknown"
    ready_reason: str | None = None
    ready_message: str | None = None
    unschedulable: bool = False
    kubelet_version: KubeVersion | None = None
    os_image: str = ""
    internal_ip: str | None = None
    roles: tuple[str, ...] = ()

    @property
    def os_talos_version(self) -> TalosVersion | None:
        """The Talos version in ``osImage: Talos (v1.9.4)``; None when it is not of that form."""
        m = _OS_IMAGE.match(self.os_image.strip())
        if not m:
            return None
        try:
            return TalosVersion.parse(m["tag"])
        except VersionError:
            return None


@dataclass(frozen=True)
class Pod(_Observed):
    """A pod, reduced to what health checks need."""

    namespace: str
    name: str
    phase: str
    node: str | None = None
    ready: bool = False
    restarts: int = 0
    waiting_reason: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    images: tuple[str, ...] = ()
    owner_kind: str | None = None
    owner_name: str | None = None

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class _Rollout(_Observed):
    namespace: str
    name: str
    desired: int = 0
    ready: int = 0
    updated: int = 0
    labels: Mapping[str, str] = field(default_factory=dict)
    images: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """``namespace/name``."""
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class DaemonSet(_Rollout):
    """A DaemonSet: desired = desiredNumberScheduled, ready = numberReady, updated."""


@dataclass(frozen=True)
class Deployment(_Rollout):
    """A Deployment: desired = spec.replicas, ready = readyReplicas, updated = updatedReplicas."""


@dataclass(frozen=True)
class PodDisruptionBudget(_Observed):
    """A PodDisruptionBudget's status and selector (matchLabels)."""

    namespace: str
    name: str
    disruptions_allowed: int = 0
    current_healthy: int = 0
    desired_healthy: int = 0
    expected_pods: int = 0
    selector: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FluxObject(_Observed):
    """A Flux Kustomization or HelmRelease (``ready`` is the Ready condition status)."""

    kind: str
    namespace: str
    name: str
    ready: str = "Unknown"
    reason: str | None = None
    message: str | None = None
    suspended: bool = False


# --------------------------------------------------------------------------- etcd


@dataclass(frozen=True)
class EtcdMember(_Observed):
    """One row of ``talosctl etcd members`` (``id`` as an int; ``hex_id`` as Talos prints it)."""

    id: int
    hostname: str
    peer_urls: tuple[str, ...] = ()
    client_urls: tuple[str, ...] = ()
    learner: bool = False

    @property
    def hex_id(self) -> str:
        """The 16-digit lower-case hex id Talos prints and ``remove-member`` takes."""
        return f"{self.id:016x}"

    @property
    def started(self) -> bool:
        """A member that has not started yet has no name and no client URLs."""
        return bool(self.hostname) and bool(self.client_urls)


@dataclass(frozen=True)
class EtcdStatus(_Observed):
    """One row of ``talosctl etcd status`` (ids as ints; sizes as printed)."""

    member_id: int
    db_size: str = ""
    in_use: str = ""
    leader_id: int = 0
    raft_index: int = 0
    raft_term: int = 0
    raft_applied_index: int = 0
    learner: bool = False
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class EtcdAlarm(_Observed):
    """One active alarm (``talosctl etcd alarm list``), e.g. NOSPACE."""

    member_id: int
    alarm: str


@dataclass(frozen=True)
class EtcdObservation(_Observed):
    """etcd as each control plane sees it: per node, its member list/status or an error."""

    members_by_node: Mapping[str, tuple[EtcdMember, ...] | str] = field(default_factory=dict)
    status_by_node: Mapping[str, EtcdStatus | str] = field(default_factory=dict)
    alarms: tuple[EtcdAlarm, ...] = ()
    alarms_error: str | None = None


# --------------------------------------------------------------------------- the snapshot


@dataclass(frozen=True)
class ClusterSnapshot(_Observed):
    """Everything observed at ``taken_at`` (RFC 3339).

    ``kube_error`` / ``flux_error``: why the Kubernetes / Flux objects could not be read (then
    their tuples are empty and mean "unknown", not "none").
    """

    taken_at: str
    nodes: tuple[NodeObservation, ...] = ()
    k8s_nodes: tuple[K8sNode, ...] = ()
    etcd: EtcdObservation = field(default_factory=EtcdObservation)
    pods: tuple[Pod, ...] = ()
    daemonsets: tuple[DaemonSet, ...] = ()
    deployments: tuple[Deployment, ...] = ()
    pdbs: tuple[PodDisruptionBudget, ...] = ()
    flux: tuple[FluxObject, ...] = ()
    api_server_version: KubeVersion | None = None
    kube_error: str | None = None
    flux_error: str | None = None

    def node(self, name: str) -> NodeObservation | None:
        """The Talos-side observation of profile node `name`, or None."""
        return next((n for n in self.nodes if n.name == name), None)

    def k8s_node(self, name: str) -> K8sNode | None:
        """The Kubernetes Node called `name`, or None."""
        return next((n for n in self.k8s_nodes if n.name == name), None)

    def pods_on(self, node: str) -> tuple[Pod, ...]:
        """Pods scheduled on `node`."""
        return tuple(p for p in self.pods if p.node == node)
