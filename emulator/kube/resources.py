"""The resource types the emulated API server knows (its discovery table).

Store keys: a resource is named by its *key*, ``plural`` for the core group (``"nodes"``,
``"pods"``) and ``plural.group`` otherwise (``"deployments.apps"``, ``"backups.velero.io"``),
as kubectl spells a fully-qualified resource. :func:`resolve` also accepts a bare plural when
it is unambiguous (``"deployments"``), a singular, a short name, a Kind, or a
``(group, plural)`` pair, and returns the :class:`ResourceType`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STANDARD_VERBS: tuple[str, ...] = ("create", "delete", "get", "list", "patch", "update", "watch")
STATUS_VERBS: tuple[str, ...] = ("get", "patch", "update")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``pods/status``; group/version/kind differ for ``pods/eviction``."""

    name: str
    kind: str
    verbs: tuple[str, ...]
    group: str = ""
    version: str = ""


@dataclass(frozen=True)
class ResourceType:
    """One API resource: where it lives, what it is called, what can be done with it."""

    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    verbs: tuple[str, ...] = STANDARD_VERBS
    subresources: tuple[Subresource, ...] = ()
    categories: tuple[str, ...] = ()
    custom: bool = False  # a CustomResourceDefinition (affects patch types and tables)
    field_selectors: tuple[str, ...] = field(default=())

    @property
    def key(self) -> str:
        """Return the store key: ``plural`` (core) or ``plural.group``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def api_version(self) -> str:
        """Return ``v1`` for core, ``group/version`` otherwise."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        """Return the list kind, e.g. ``NodeList``."""
        return f"{self.kind}List"

    def has_subresource(self, name: str) -> bool:
        """Return True if ``<plural>/<name>`` exists."""
        return any(s.name == name for s in self.subresources)

    def allowed_field_selectors(self) -> tuple[str, ...]:
        """Return the field labels a field selector may use on this resource."""
        base = ("metadata.name", "metadata.namespace")
        return base + tuple(f for f in self.field_selectors if f not in base)


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, STATUS_VERBS)


RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", "namespace", False, ("ns",),
                 subresources=(_status("Namespace"),), field_selectors=("status.phase",)),
    ResourceType("", "v1", "Node", "nodes", "node", False, ("no",),
                 subresources=(_status("Node"),), field_selectors=("spec.unschedulable",)),
    ResourceType(
        "", "v1", "Pod", "pods", "pod", True, ("po",),
        subresources=(
            _status("Pod"),
            Subresource("eviction", "Eviction", ("create",), "policy", "v1"),
        ),
        categories=("all",),
        field_selectors=(
            "spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
            "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
            "status.nominatedNodeName",
        ),
    ),
    ResourceType("", "v1", "Event", "events", "event", True, ("ev",), field_selectors=(
        "involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type")),
    ResourceType("", "v1", "Service", "services", "service", True, ("svc",),
                 subresources=(_status("Service"),), categories=("all",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", "configmap", True, ("cm",)),
    ResourceType("apps", "v1", "Deployment", "deployments", "deployment", True, ("deploy",),
                 subresources=(_status("Deployment"),), categories=("all",)),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", "daemonset", True, ("ds",),
                 subresources=(_status("DaemonSet"),), categories=("all",)),
    ResourceType("apps", "v1", "ReplicaSet", "replicasets", "replicaset", True, ("rs",),
                 subresources=(_status("ReplicaSet"),), categories=("all",)),
    ResourceType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets",
                 "poddisruptionbudget", True, ("pdb",),
                 subresources=(_status("PodDisruptionBudget"),)),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", "lease", True),
    ResourceType("velero.io", "v1", "Backup", "backups", "backup", True, custom=True),
    ResourceType("kustomize.toolkit.fluxcd.io", "v1", "Kustomization", "kustomizations",
                 "kustomization", True, ("ks",), subresources=(_status("Kustomization"),),
                 custom=True),
    ResourceType("source.toolkit.fluxcd.io", "v1", "GitRepository", "gitrepositories",
                 "gitrepository", True, ("gitrepo",), subresources=(_status("GitRepository"),),
                 custom=True),
    ResourceType("helm.toolkit.fluxcd.io", "v2", "HelmRelease", "helmreleases", "helmrelease",
                 True, ("hr",), subresources=(_status("HelmRelease"),), custom=True),
)

BY_KEY: dict[str, ResourceType] = {r.key: r for r in RESOURCES}

# Real API resources the lab does not serve: requests for them answer 501 "not emulated".
NOT_EMULATED_RESOURCES: dict[str, frozenset[str]] = {
    "": frozenset({"secrets", "serviceaccounts", "endpoints", "persistentvolumes",
                   "persistentvolumeclaims", "limitranges", "resourcequotas",
                   "replicationcontrollers", "podtemplates", "componentstatuses", "bindings"}),
    "apps": frozenset({"statefulsets", "controllerrevisions"}),
    "policy": frozenset(),
    "coordination.k8s.io": frozenset(),
}
NOT_EMULATED_GROUPS: frozenset[str] = frozenset({
    "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io",
    "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
    "certificates.k8s.io", "discovery.k8s.io", "events.k8s.io", "flowcontrol.apiserver.k8s.io",
    "metrics.k8s.io", "networking.k8s.io", "node.k8s.io", "rbac.authorization.k8s.io",
    "scheduling.k8s.io", "storage.k8s.io", "snapshot.storage.k8s.io"})


def not_emulated(group: str, plural: str | None = None) -> bool:
    """Return True if ``group`` (and ``plural``) is real Kubernetes API the lab does not serve."""
    if group in NOT_EMULATED_GROUPS:
        return True
    return plural is not None and plural in NOT_EMULATED_RESOURCES.get(group, frozenset())


def resolve(name: str | tuple[str, str] | ResourceType) -> ResourceType:
    """Return the resource named by key, bare plural, singular, short name, Kind or (group, plural).

    Raises KeyError (with the list of known keys) if nothing or more than one type matches.
    """
    if isinstance(name, ResourceType):
        return name
    if isinstance(name, tuple):
        group, plural = name
        found = BY_KEY.get(f"{plural}.{group}" if group else plural)
        if found is None:
            raise KeyError(f"unknown resource {group}/{plural}; known: {sorted(BY_KEY)}")
        return found
    if name in BY_KEY:
        return BY_KEY[name]
    lowered = name.lower()
    matches = [
        r for r in RESOURCES
        if lowered in (r.plural, r.singular, r.kind.lower()) or lowered in r.short_names
    ]
    if not matches and "." in lowered:  # "deployment.apps", "ks.kustomize.toolkit.fluxcd.io"
        head, _, group = lowered.partition(".")
        matches = [
            r for r in RESOURCES
            if r.group == group and (head in (r.plural, r.singular, r.kind.lower())
                                     or head in r.short_names)
        ]
    core = [r for r in matches if not r.group]
    if len(matches) > 1 and len(core) == 1:
        return core[0]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise KeyError(f"unknown resource {name!r}; known: {sorted(BY_KEY)}")
    raise KeyError(f"ambiguous resource {name!r}: {sorted(r.key for r in matches)}")


def lookup(group: str, version: str, plural: str) -> ResourceType | None:
    """Return the type served at ``group/version`` under ``plural``, or None."""
    r = BY_KEY.get(f"{plural}.{group}" if group else plural)
    if r is None or r.version != version:
        return None
    return r


def group_versions() -> dict[str, list[str]]:
    """Return ``{group: [versions]}`` for every non-core group, in table order."""
    out: dict[str, list[str]] = {}
    for r in RESOURCES:
        if r.group and r.version not in out.setdefault(r.group, []):
            out[r.group].append(r.version)
    return out


def in_group_version(group: str, version: str) -> list[ResourceType]:
    """Return the types served at ``group/version`` (``""``, ``"v1"`` for core)."""
    return [r for r in RESOURCES if r.group == group and r.version == version]
