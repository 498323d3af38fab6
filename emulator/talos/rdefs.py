"""Resource definitions and the three `talosctl get` writers (table, yaml, json).

A resource is {"metadata": {...}, "spec": {...}} as built by emulator.talos.resources; items
are (node, resource) pairs, or (node, resource, event) in watch mode. The definitions mirror
the upstream ResourceDefinitionSpec (type, default namespace, print columns, aliases), with
aliases derived the way cosi's `Fill()` derives them (reference §2.2/§2.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from emulator.talos.gojson import go_json, go_json_compact
from emulator.talos.gotext import go_list, go_quote, go_value, tabwriter
from emulator.talos.goyaml import (
    GoMap,
    MappingNode,
    Node,
    SequenceNode,
    decode_node,
    emit_document,
    raw_scalar,
    value_node,
)

TYPE_CHECKING = False  # no runtime import of typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

    Resource = Mapping[str, Any]
    Item = tuple[str, Resource] | tuple[str, Resource, str]


class ResourceDefinition:
    """One registered resource type: `type` is the full type, `columns` (name, jsonpath)."""

    __slots__ = ("columns", "explicit_aliases", "namespace", "type")

    def __init__(self, rtype: str, namespace: str, columns: tuple[tuple[str, str], ...] = (),
                 explicit_aliases: tuple[str, ...] = ()) -> None:
        self.type = rtype
        self.namespace = namespace
        self.columns = columns
        self.explicit_aliases = explicit_aliases

    def __repr__(self) -> str:
        return f"ResourceDefinition({self.type!r})"

    @property
    def id(self) -> str:
        """The ResourceDefinition ID: the full type, lower-cased."""
        return self.type.lower()

    @property
    def display_type(self) -> str:
        """The singular name shown in the TYPE column (`Member`, `ExtensionStatus`)."""
        name = self.type.split(".", 1)[0]
        if name.endswith("ies"):
            return name[:-3] + "y"
        if name.endswith(("sses", "uses", "xes")):
            return name[:-2]
        return name[:-1]

    @property
    def aliases(self) -> tuple[str, ...]:
        """Explicit aliases, the lower-cased display type and the capital initials (cosi Fill)."""
        name = self.type.split(".", 1)[0]
        out = [*self.explicit_aliases, self.display_type.lower()]
        upper = "".join(c for c in name if c.isupper())
        if len(upper) > 1:
            out.append(upper.lower())
            if not upper.endswith("S"):
                out.append(upper.lower() + "s")
        return tuple(out)

    @property
    def all_aliases(self) -> tuple[str, ...]:
        """Every name `get` accepts besides the ID: plural, dotted prefixes, then aliases."""
        name, suffix = self.type.split(".", 1)
        parts = suffix.split(".")
        dotted = [".".join([name.lower(), *parts[:i]]) for i in range(1, len(parts))]
        return (name.lower(), *dotted, *self.aliases)

    @property
    def headers(self) -> list[str]:
        """The table header cells: NODE NAMESPACE TYPE ID VERSION + upper-cased columns."""
        return ["NODE", "NAMESPACE", "TYPE", "ID", "VERSION", *(n.upper() for n, _ in self.columns)]


def _rd(rtype: str, ns: str, *columns: tuple[str, str], aliases: tuple[str, ...] = ()
        ) -> ResourceDefinition:
    return ResourceDefinition(rtype, ns, tuple(columns), aliases)


EMULATED: tuple[ResourceDefinition, ...] = (
    _rd("Members.cluster.talos.dev", "cluster", ("Hostname", "{.hostname}"),
        ("Machine Type", "{.machineType}"), ("OS", "{.operatingSystem}"),
        ("Addresses", "{.addresses}")),
    _rd("ExtensionStatuses.runtime.talos.dev", "runtime", ("Name", "{.metadata.name}"),
        ("Version", "{.metadata.version}"), aliases=("extensions",)),
    _rd("MachineStatuses.runtime.talos.dev", "runtime", ("Stage", "{.stage}"),
        ("Ready", "{.status.ready}")),
    _rd("Nodenames.kubernetes.talos.dev", "k8s", ("Nodename", "{.nodename}")),
    _rd("Versions.runtime.talos.dev", "runtime", ("Version", "{.version}")),
    _rd("EtcdMembers.etcd.talos.dev", "etcd", ("Member ID", "{.memberID}")),
    _rd("EtcdSpecs.etcd.talos.dev", "etcd", ("Name", "{.name}"),
        ("AdvertisedAddresses", "{.advertisedAddresses}"),
        ("ListenPeerAddresses", "{.listenPeerAddresses}"),
        ("ListenClientAddresses", "{.listenClientAddresses}")),
    _rd("EtcdConfigs.etcd.talos.dev", "etcd", ("Image", "{.image}")),
    _rd("PKIStatuses.etcd.talos.dev", "etcd", ("Ready", "{.ready}"),
        ("Secrets Version", "{.version}")),
    _rd("Services.v1alpha1.talos.dev", "runtime", ("Running", "{.running}"),
        ("Healthy", "{.healthy}"), ("Health Unknown", "{.unknown}"), aliases=("svc",)),
    _rd("HostnameStatuses.net.talos.dev", "network", ("Hostname", "{.hostname}"),
        ("Domainname", "{.domainname}"), aliases=("hostname",)),
    _rd("NodeAddresses.net.talos.dev", "network", ("Addresses", "{.addresses}"),
        ("SortAlgorithm", "{.sortAlgorithm}")),
    _rd("KubeletSpecs.kubernetes.talos.dev", "k8s"),
)

# Every type machined v1.11 registers ("Type[:explicit,aliases]"), so that `get` resolves,
# rejects and reports ambiguity (`get es`, `get ms`) exactly like the real API.
_REGISTERED_TEXT = (
    "AcquireConfigSpecs.v1alpha1.talos.dev AcquireConfigStatuses.v1alpha1.talos.dev "
    "AddressSpecs.net.talos.dev AddressStatuses.net.talos.dev:address,addresses "
    "AdjtimeStatuses.v1alpha1.talos.dev AdmissionControlConfigs.kubernetes.talos.dev "
    "Affiliates.cluster.talos.dev ApiCertificates.secrets.talos.dev "
    "APIServerConfigs.kubernetes.talos.dev AuditPolicyConfigs.kubernetes.talos.dev "
    "AuthorizationConfigs.kubernetes.talos.dev BlockDevices.block.talos.dev "
    "BlockSymlinks.block.talos.dev BootedEntries.talos.dev "
    "BootstrapManifestsConfigs.kubernetes.talos.dev CertSANs.secrets.talos.dev "
    "ConfigStatuses.kubernetes.talos.dev ControllerManagerConfigs.kubernetes.talos.dev "
    "CPUStats.perf.talos.dev DeviceConfigSpecs.net.talos.dev "
    "DevicesStatuses.runtime.talos.dev Diagnostics.runtime.talos.dev "
    "DiscoveredVolumes.block.talos.dev DiscoveryConfigs.cluster.talos.dev "
    "DiscoveryRefreshRequests.block.talos.dev DiscoveryRefreshStatuses.block.talos.dev "
    "Disks.block.talos.dev DNSResolveCaches.net.talos.dev DNSUpstreams.net.talos.dev "
    "EncryptionSalts.secrets.talos.dev Endpoints.kubernetes.talos.dev "
    "EtcdConfigs.etcd.talos.dev EtcdMembers.etcd.talos.dev EtcdRootSecrets.secrets.talos.dev "
    "EtcdSecrets.secrets.talos.dev EtcdSpecs.etcd.talos.dev EtcFileSpecs.files.talos.dev "
    "EtcFileStatuses.files.talos.dev EthernetSpecs.net.talos.dev "
    "EthernetStatuses.net.talos.dev:ethtool EventSinkConfigs.runtime.talos.dev "
    "ExtensionServiceConfigs.runtime.talos.dev "
    "ExtensionServiceConfigStatuses.runtime.talos.dev "
    "ExtensionStatuses.runtime.talos.dev:extensions "
    "ExtraManifestsConfigs.kubernetes.talos.dev HardwareAddresses.net.talos.dev "
    "HostDNSConfigs.net.talos.dev HostnameSpecs.net.talos.dev "
    "HostnameStatuses.net.talos.dev:hostname Identities.cluster.talos.dev "
    "ImageCacheConfigs.cri.talos.dev Infos.cluster.talos.dev "
    "KernelCmdlines.runtime.talos.dev:cmdline KernelModuleSpecs.runtime.talos.dev "
    "KernelParamDefaultSpecs.runtime.talos.dev KernelParamSpecs.runtime.talos.dev "
    "KernelParamStatuses.runtime.talos.dev:sysctls,kernelparameters,kernelparams "
    "KmsgLogConfigs.runtime.talos.dev KubeletConfigs.kubernetes.talos.dev "
    "KubeletLifecycles.kubernetes.talos.dev KubeletSecrets.secrets.talos.dev "
    "KubeletSpecs.kubernetes.talos.dev KubePrismConfigs.kubernetes.talos.dev "
    "KubePrismEndpoints.kubernetes.talos.dev KubePrismStatuses.kubernetes.talos.dev "
    "KubernetesAccessConfigs.cluster.talos.dev KubernetesDynamicCerts.secrets.talos.dev "
    "KubernetesRootSecrets.secrets.talos.dev KubernetesSecrets.secrets.talos.dev "
    "KubeSpanConfigs.kubespan.talos.dev KubeSpanEndpoints.kubespan.talos.dev "
    "KubeSpanIdentities.kubespan.talos.dev KubeSpanPeerSpecs.kubespan.talos.dev "
    "KubeSpanPeerStatuses.kubespan.talos.dev LinkRefreshes.net.talos.dev "
    "LinkSpecs.net.talos.dev LinkStatuses.net.talos.dev:link,links "
    "LoadedKernelModules.runtime.talos.dev:module,modules MachineConfigs.config.talos.dev "
    "MachineResetSignals.runtime.talos.dev MachineStatuses.runtime.talos.dev "
    "MachineTypes.config.talos.dev MaintenanceRootSecrets.secrets.talos.dev "
    "MaintenanceServiceCertificates.secrets.talos.dev "
    "MaintenanceServiceConfigs.runtime.talos.dev "
    "MaintenanceServiceRequests.runtime.talos.dev Manifests.kubernetes.talos.dev "
    "ManifestStatuses.kubernetes.talos.dev Members.cluster.talos.dev "
    "MemoryModules.hardware.talos.dev:memorymodules,ram MemoryStats.perf.talos.dev "
    "MetaKeys.runtime.talos.dev:meta MetaLoads.runtime.talos.dev "
    "MountRequests.block.talos.dev MountStatuses.block.talos.dev "
    "MountStatuses.runtime.talos.dev:mounts Namespaces.meta.cosi.dev:ns "
    "NetworkStatuses.net.talos.dev:netstatus,netstatuses "
    "NfTablesChains.net.talos.dev:chain,chains NodeAddresses.net.talos.dev "
    "NodeAddressFilters.net.talos.dev NodeAddressSortAlgorithms.net.talos.dev "
    "NodeAnnotationSpecs.k8s.talos.dev NodeCordonedSpecs.k8s.talos.dev "
    "NodeIPConfigs.kubernetes.talos.dev NodeIPs.kubernetes.talos.dev "
    "NodeLabelSpecs.k8s.talos.dev Nodenames.kubernetes.talos.dev "
    "NodeStatuses.kubernetes.talos.dev NodeTaintSpecs.k8s.talos.dev "
    "OperatorSpecs.net.talos.dev OSRootSecrets.secrets.talos.dev "
    "PCIDevices.hardware.talos.dev:devices,device PCIDriverRebindConfigs.runtime.talos.dev "
    "PCIDriverRebindStatuses.runtime.talos.dev:pcidriverrebinds "
    "PCRStatuses.hardware.talos.dev PKIStatuses.etcd.talos.dev PlatformMetadatas.talos.dev "
    "ProbeSpecs.net.talos.dev ProbeStatuses.net.talos.dev:probe,probes "
    "Processors.hardware.talos.dev:cpus,cpu RegistryConfigs.cri.talos.dev "
    "ResolverSpecs.net.talos.dev ResolverStatuses.net.talos.dev:resolvers "
    "ResourceDefinitions.meta.cosi.dev:api-resources RouteSpecs.net.talos.dev "
    "RouteStatuses.net.talos.dev:route,routes SBOMItems.talos.dev:sbom,sboms "
    "SchedulerConfigs.kubernetes.talos.dev SeccompProfiles.cri.talos.dev "
    "SecretStatuses.kubernetes.talos.dev SecurityStates.talos.dev "
    "Services.v1alpha1.talos.dev:svc SiderolinkConfigs.siderolink.talos.dev "
    "SiderolinkStatuses.siderolink.talos.dev SiderolinkTunnels.siderolink.talos.dev "
    "StaticPods.kubernetes.talos.dev StaticPodServerStatuses.kubernetes.talos.dev "
    "StaticPodStatuses.kubernetes.talos.dev:podstatus "
    "SwapStatuses.block.talos.dev:swap,swaps SystemDisks.block.talos.dev "
    "SystemInformations.hardware.talos.dev:systeminformation TimeServerSpecs.net.talos.dev "
    "TimeServerStatuses.net.talos.dev:timeserver,timeservers TimeStatuses.v1alpha1.talos.dev "
    "TrustdCertificates.secrets.talos.dev UniqueMachineTokens.runtime.talos.dev "
    "UserDiskConfigStatuses.block.talos.dev Versions.runtime.talos.dev "
    "VolumeConfigs.block.talos.dev VolumeLifecycles.block.talos.dev "
    "VolumeMountRequests.block.talos.dev VolumeMountStatuses.block.talos.dev "
    "VolumeStatuses.block.talos.dev WatchdogTimerConfigs.runtime.talos.dev "
    "WatchdogTimerStatuses.runtime.talos.dev ZswapStatuses.block.talos.dev "
)
_REGISTERED = _REGISTERED_TEXT.split()


def _registry() -> tuple[ResourceDefinition, ...]:
    defs = {rd.type: rd for rd in EMULATED}
    for entry in _REGISTERED:
        rtype, _, aliases = entry.partition(":")
        if rtype not in defs:
            defs[rtype] = ResourceDefinition(rtype, "", (), tuple(a for a in aliases.split(",")
                                                                  if a))
    return tuple(sorted(defs.values(), key=lambda rd: rd.id))


REGISTRY: tuple[ResourceDefinition, ...] = _registry()

BY_TYPE: dict[str, ResourceDefinition] = {rd.type: rd for rd in REGISTRY}

# What a node's machined registers depends on its version. Only these differences are emulated
# (the rest of the registry is v1.11's): Versions.runtime.talos.dev is new in v1.10.0 (commit
# 5e4c24758 "feat: add a version resource"); v1.13.0 adds its Name column (runtime/version.go).
_VERSION_RD_1_13 = _rd("Versions.runtime.talos.dev", "runtime", ("Name", "{.name}"),
                       ("Version", "{.version}"))
_REGISTRIES: dict[str, tuple[ResourceDefinition, ...]] = {}


def registry_for(talos_version: str) -> tuple[ResourceDefinition, ...]:
    """The resource definitions a node of this Talos version registers."""
    from emulator.talos.gotext import semver_key

    key = semver_key(talos_version)
    era = ("v1.9" if key < semver_key("v1.10.0-alpha.0") else
           "v1.10" if key < semver_key("v1.13.0-alpha.0") else "v1.13")
    if era not in _REGISTRIES:
        defs = [rd for rd in REGISTRY if not (era == "v1.9" and rd.type == _VERSION_RD_1_13.type)]
        if era == "v1.13":
            defs = [_VERSION_RD_1_13 if rd.type == _VERSION_RD_1_13.type else rd for rd in defs]
        _REGISTRIES[era] = tuple(defs)
    return _REGISTRIES[era]


class ResourceLookupError(LookupError):
    """`get <type>` named no (or more than one) resource; str() is talosctl's error line."""


def resolve_resource(name: str, registry: Sequence[ResourceDefinition] = REGISTRY
                     ) -> ResourceDefinition:
    """Return the definition `talosctl get <name>` resolves to (case-insensitive).

    Raise ResourceLookupError with the gRPC text talosctl prints:
    `rpc error: code = NotFound desc = resource "foo" is not registered`.
    """
    wanted = name.lower()
    matched = [rd for rd in registry if rd.id == wanted or wanted in rd.all_aliases]
    if len(matched) == 1:
        return matched[0]
    if matched:
        raise ResourceLookupError(
            f"rpc error: code = InvalidArgument desc = resource type {go_quote(name)} is "
            f"ambiguous: {go_list(rd.id for rd in matched)}")
    raise ResourceLookupError(
        f"rpc error: code = NotFound desc = resource {go_quote(name)} is not registered")


# ---------------------------------------------------------------------------------------------
# Document building (cosi resource.MarshalYAML: metadata by hand, spec by reflection)
# ---------------------------------------------------------------------------------------------
_META_ORDER = ("namespace", "type", "id", "version", "owner", "phase", "created", "updated")


def metadata_node(meta: Mapping[str, Any]) -> MappingNode:
    """Return cosi's Metadata.MarshalYAML node: fixed key order, untagged plain scalars."""
    items: list[tuple[Any, Node]] = [(raw_scalar(k), raw_scalar(str(meta.get(k, ""))))
                                     for k in _META_ORDER]
    for key in ("labels", "annotations"):
        kv = meta.get(key) or {}
        if kv:
            items.append((raw_scalar(key), MappingNode(
                [(raw_scalar(k), raw_scalar(str(kv[k]))) for k in sorted(kv)])))
    fins = meta.get("finalizers") or []
    if fins:
        items.append((raw_scalar("finalizers"), SequenceNode([raw_scalar(f) for f in fins])))
    return MappingNode(items)


def resource_node(res: Resource) -> MappingNode:
    """Return the {metadata, spec} document node of a resource."""
    return MappingNode([(raw_scalar("metadata"), metadata_node(res["metadata"])),
                        (raw_scalar("spec"), value_node(res.get("spec") or {}))])


def _split(item: Sequence[Any]) -> tuple[str, Resource, str | None]:
    return str(item[0]), item[1], (str(item[2]) if len(item) > 2 else None)


def resources_yaml(items: Sequence[Item]) -> str:
    """Return `get -o yaml`: `node:` first, 4-space yaml.v3 documents separated by `---`."""
    out = []
    for i, item in enumerate(items):
        node, res, event = _split(item)
        head = ("---\n" if i else "") + f"node: {node}\n"
        if event is not None:
            head += f"event: {event}\n"
        out.append(head + emit_document(resource_node(res)))
    return "".join(out)


def resource_data(node: str, res: Resource, event: str | None = None) -> dict[str, Any]:
    """Return what `get -o json` encodes for one resource (YAML round trip + node/event)."""
    data: dict[str, Any] = decode_node(resource_node(res))
    data["node"] = node
    if event is not None:
        data["event"] = event
    return data


def resources_json(items: Sequence[Item]) -> str:
    """Return `get -o json`: one 4-space-indented object per resource, concatenated."""
    return "".join(go_json(resource_data(*_split(item))) + "\n" for item in items)


# ---------------------------------------------------------------------------------------------
# Table
# ---------------------------------------------------------------------------------------------
def jsonpath_text(data: Any, path: str) -> str:
    """Return what k8s jsonpath `{.a.b}` prints for decoded spec data ("" when missing)."""
    cur = data
    for key in path.strip("{}").lstrip(".").split("."):
        if not isinstance(cur, Mapping) or key not in cur:
            return ""
        cur = cur[key]
    if isinstance(cur, Mapping | list):
        return go_json_compact(cur)
    return go_value(cur)


def resource_row(node: str, res: Resource, rdef: ResourceDefinition,
                 event: str | None = None) -> list[str]:
    """Return one table row: NODE NAMESPACE TYPE ID VERSION and the print columns."""
    meta = res["metadata"]
    spec = decode_node(value_node(res.get("spec") or {}))
    row = [node, str(meta.get("namespace", "")), rdef.display_type, str(meta.get("id", "")),
           str(meta.get("version", ""))]
    if event is not None:
        row.insert(1, {"created": "+", "destroyed": "-"}.get(event, " "))
    return row + [jsonpath_text(spec, p) for _, p in rdef.columns]


def resources_table(items: Sequence[Item], rdef: ResourceDefinition, watch: bool = False) -> str:
    """Return `get` table output; the header is printed even when there are no items."""
    header = rdef.headers
    if watch:
        header.insert(1, "*")
    rows = [header]
    for item in items:
        node, res, event = _split(item)
        rows.append(resource_row(node, res, rdef, (event or "updated") if watch else None))
    return tabwriter(rows)


__all__ = ["REGISTRY", "BY_TYPE", "GoMap", "ResourceDefinition", "ResourceLookupError",
           "resolve_resource", "resources_json", "resources_table", "resources_yaml",
           "resource_data", "resource_row", "jsonpath_text", "metadata_node", "resource_node"]
