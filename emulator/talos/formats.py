"""Everything the emulated talosctl prints, byte for byte (reference §1, §2, §3, §8).

Pure functions, stdlib only. Go primitives live in gotext, the YAML/JSON writers in
goyaml/gojson, the `get` writers in rdefs and the upgrade/upgrade-k8s lines in upgrade_text;
all are re-exported here so callers import one module: `from emulator.talos import formats`.
Objects passed in (etcd members/status, snapshot info, version info) may be dataclasses or
dicts with the same field names.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from emulator.talos.gojson import go_json, go_json_compact
from emulator.talos.gotext import (
    DurationError,
    format_duration,
    format_float,
    format_seconds,
    go_list,
    go_quote,
    go_quote_list,
    go_quote_rune,
    go_time_string,
    go_value,
    humanize_bytes,
    member_id_hex,
    multierror,
    parse_duration,
    rpc_error,
    semver,
    semver_key,
    tabwriter,
    tabwriter_text,
    version_minor,
)
from emulator.talos.goyaml import GoMap, emit_document, value_node
from emulator.talos.rdefs import (
    BY_TYPE,
    REGISTRY,
    ResourceDefinition,
    ResourceLookupError,
    registry_for,
    resolve_resource,
    resource_data,
    resources_json,
    resources_table,
    resources_yaml,
)
from emulator.talos.upgrade_text import (
    EVENTS_CONDITION_MET,
    K8S_IMAGES,
    K8S_STATIC_PODS,
    POST_CHECK_PASSED,
    STOP_ALL_SERVICES_ERROR,
    UNAVAILABLE_RETRYING,
    UPGRADE_ACK,
    WAIT_INSECURE_ERROR,
    WAITING_FOR_ACTOR,
    actor_message,
    etcd_not_started_refusal,
    etcd_quorum_refusal,
    etcd_unhealthy_refusal,
    etcd_validation_error,
    go_now,
    k8s_checks_lines,
    k8s_compat_error,
    k8s_compat_line,
    k8s_config_mismatch,
    k8s_detected_line,
    k8s_discovered_lines,
    k8s_kube_proxy_lines,
    k8s_kubelet_header,
    k8s_kubelet_lines,
    k8s_manifest_lines,
    k8s_manifest_path,
    k8s_node_line,
    k8s_path,
    k8s_path_supported,
    k8s_prepull_lines,
    k8s_static_pod_header,
    k8s_static_pod_lines,
    k8s_unsupported_path_error,
    machine_status_message,
    phase_message,
    preflight_error,
    sequence_failure_messages,
    sequence_message,
    service_message,
    task_message,
    tracker_line,
    upgrade_ack_table,
    upgrade_after_reboot_messages,
    upgrade_before_reboot_messages,
    upgrade_phases,
)

TYPE_CHECKING = False  # no runtime import of typing (start-up time)
if TYPE_CHECKING:
    from typing import Any


def _get(obj: Any, *names: str, default: Any = None) -> Any:
    """Return the first of `names` found on obj (a Mapping key or an attribute)."""
    for name in names:
        if isinstance(obj, Mapping):
            if name in obj:
                return obj[name]
        elif hasattr(obj, name):
            return getattr(obj, name)
    return default


# ---------------------------------------------------------------------------------------------
# Errors, warnings, global failures (§1.1)
# ---------------------------------------------------------------------------------------------
NODES_NOT_SET = ("nodes are not set for the command: please use `--nodes` flag or configuration "
                 "file to set the nodes to run the command against")
APID_PORT = 50000


def unavailable_error(addr: str, reason: str = "connect: connection refused",
                      port: int = APID_PORT) -> str:
    """Return the dial error of a node whose apid is down, as grpc-go words it."""
    host = f"[{addr}]" if ":" in addr and not addr.startswith("[") else addr
    detail = f"transport: Error while dialing: dial tcp {host}:{port}: {reason}"
    return rpc_error("Unavailable", f"connection error: desc = {go_quote(detail)}")


def multi_node_error(command: str) -> str:
    """Return `command "etcd snapshot" is not supported with multiple nodes`."""
    return f"command {go_quote(command)} is not supported with multiple nodes"


def context_not_found(name: str, default: bool = False) -> str:
    """Return `context "X" not found in config` (or `default context ...`)."""
    return f"{'default context' if default else 'context'} {go_quote(name)} not found in config"


def warning_line(message: str) -> str:
    """Return a cli.Warning line: `WARNING: <msg>\\n`."""
    return f"WARNING: {message}" + ("" if message.endswith("\n") else "\n")


def client_version_warning(servers: Iterable[tuple[str, str]], client_version: str) -> str:
    """Return the ClientVersionCheck warning line for servers older than the client, or "".

    `servers` are (node, server tag) pairs; all warnings go on one line joined with ", ".
    """
    client = semver_key(client_version)
    warnings = [f"{node}: server version {semver(v)} is older than client version "
                f"{semver(client_version)}" for node, v in servers if semver_key(v) < client]
    return warning_line(", ".join(warnings)) if warnings else ""


def needs_usage(error: str) -> bool:
    """Return True when talosctl prints the usage after this error (root.go's heuristic)."""
    return any(word in error for word in ("arg(s)", "flag", "command"))


def cli_error_output(error: str, usage: str = "") -> str:
    """Return what talosctl writes to stderr for a failed command (error, then usage if due).

    `usage` is the command's UsageString() (it ends with "\\n"); Println adds one more.
    """
    out = error + "\n"
    if usage and needs_usage(error):
        out += "\n" + usage + "\n"
    return out


# ---------------------------------------------------------------------------------------------
# version (§2.1)
# ---------------------------------------------------------------------------------------------
def version_long(info: Mapping[str, Any]) -> str:
    """Return the tab-indented Tag/SHA/Built/Go version/OS/Arch block (Built: keeps its spaces)."""
    return (f"\tTag:         {_get(info, 'tag', default='')}\n"
            f"\tSHA:         {_get(info, 'sha', default='')}\n"
            f"\tBuilt:       {_get(info, 'built', default='')}\n"
            f"\tGo version:  {_get(info, 'go_version', 'go', default='')}\n"
            f"\tOS/Arch:     {_get(info, 'os', default='linux')}/"
            f"{_get(info, 'arch', default='amd64')}\n")


def version_text(client: Mapping[str, Any], servers: Sequence[tuple[str, Mapping[str, Any]]] | None,
                 short: bool = False) -> str:
    """Return `talosctl version` output; servers=None is `--client` (no Server: part).

    `--short` only shortens the client part to `Talos <tag>`.
    """
    out = "Client:\n"
    out += f"Talos {_get(client, 'tag', default='')}\n" if short else version_long(client)
    if servers is None:
        return out
    out += "Server:\n"
    for node, info in servers:
        out += f"\tNODE:        {node}\n" + version_long(info)
        out += f"\tEnabled:     {'RBAC' if _get(info, 'rbac', default=True) else ''}\n"
    return out


def version_json(servers: Sequence[tuple[str, Mapping[str, Any]]]) -> str:
    """Return `version --json`: one compact protojson machine.Version per node and line."""
    lines = []
    for node, info in servers:
        ver = {k: str(v) for k, v in (
            ("tag", _get(info, "tag")), ("sha", _get(info, "sha")),
            ("built", _get(info, "built")), ("goVersion", _get(info, "go_version", "go")),
            ("os", _get(info, "os", default="linux")),
            ("arch", _get(info, "arch", default="amd64"))) if v}
        msg: dict[str, Any] = {"metadata": {"hostname": node}, "version": ver,
                               "platform": {"name": _get(info, "platform", default="nocloud"),
                                            "mode": _get(info, "mode", default="cloud")},
                               "features": {"rbac": True} if _get(info, "rbac", default=True)
                               else {}}
        lines.append(_protojson(msg))
    return "".join(line + "\n" for line in lines)


def _protojson(v: Any) -> str:
    if isinstance(v, Mapping):  # proto field order, not sorted
        return "{" + ",".join(f'"{k}":{_protojson(x)}' for k, x in v.items()) + "}"
    return go_json_compact(v)


# ---------------------------------------------------------------------------------------------
# etcd (§2.4)
# ---------------------------------------------------------------------------------------------
ETCD_MEMBERS_HEADER = ["NODE", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"]
ETCD_ALARMS_HEADER = ["NODE", "MEMBER", "ALARM"]


def etcd_members_rows(rows: Sequence[tuple[str, Any]]) -> list[list[str]]:
    """`etcd members` cells: rows are (node, member) with id/name/peer_urls/client_urls/
    is_learner."""
    return [[node, member_id_hex(int(_get(m, "id", "member_id", default=0))),
             str(_get(m, "name", "hostname", default="")),
             ",".join(_get(m, "peer_urls", default=()) or ()),
             ",".join(_get(m, "client_urls", default=()) or ()),
             go_value(bool(_get(m, "is_learner", default=False)))] for node, m in rows]


def etcd_members_table(rows: Sequence[tuple[str, Any]]) -> str:
    """Return `etcd members` (empty without rows: up to v1.13 the header comes with the first
    member)."""
    return tabwriter([ETCD_MEMBERS_HEADER, *etcd_members_rows(rows)]) if rows else ""


ETCD_STATUS_HEADER = ["MEMBER", "DB SIZE", "IN USE", "LEADER", "RAFT INDEX", "RAFT TERM",
                      "RAFT APPLIED INDEX", "LEARNER", "PROTOCOL", "STORAGE", "ERRORS"]


def etcd_status_has_protocol(talos_version: str) -> bool:
    """Return True when talosctl of this version prints PROTOCOL/STORAGE columns (v1.11+)."""
    return version_minor(talos_version) >= (1, 11)


def etcd_status_header(client_version: str) -> list[str]:
    """`etcd status`'s header for this talosctl: PROTOCOL/STORAGE from v1.11 (etcd.go)."""
    header = ["NODE", *ETCD_STATUS_HEADER]
    if not etcd_status_has_protocol(client_version):
        header = [h for h in header if h not in ("PROTOCOL", "STORAGE")]
    return header


def etcd_status_rows(rows: Sequence[tuple[str, Any]], client_version: str) -> list[list[str]]:
    """`etcd status` cells: rows are (node, status); columns as etcd_status_header."""
    full = etcd_status_has_protocol(client_version)
    out = []
    for node, st in rows:
        db = int(_get(st, "db_size", default=0))
        in_use = int(_get(st, "db_size_in_use", default=0))
        ratio = in_use / db * 100.0 if db > 0 else 0.0
        row = [node, member_id_hex(int(_get(st, "member_id", default=0))), humanize_bytes(db),
               f"{humanize_bytes(in_use)} ({ratio:.2f}%)",
               member_id_hex(int(_get(st, "leader", default=0))),
               str(_get(st, "raft_index", default=0)), str(_get(st, "raft_term", default=0)),
               str(_get(st, "raft_applied_index", default=0)),
               go_value(bool(_get(st, "is_learner", default=False)))]
        if full:
            row += [str(_get(st, "protocol_version", "version", default="")),
                    str(_get(st, "storage_version", default=""))]
        row.append(", ".join(_get(st, "errors", default=()) or ()))
        out.append(row)
    return out


def etcd_status_table(rows: Sequence[tuple[str, Any]], talos_version: str) -> str:
    """Return `etcd status`: rows are (node, status); the column set follows talos_version
    (the client's: upstream the talosctl binary's code prints the columns)."""
    if not rows:
        return ""
    return tabwriter([etcd_status_header(talos_version), *etcd_status_rows(rows, talos_version)])


def snapshot_saved_line(path: str, size: int) -> str:
    """Return `etcd snapshot saved to "db.snapshot" (2015264 bytes)`."""
    return f"etcd snapshot saved to {go_quote(path)} ({size} bytes)"


def snapshot_info_line(hash_: int, revision: int, total_keys: int, total_size: int) -> str:
    """Return `snapshot info: hash c25fd181, revision 4193, total keys 1287, total size 3035136`."""
    return (f"snapshot info: hash {hash_:08x}, revision {revision}, total keys {total_keys}, "
            f"total size {total_size}")


def snapshot_lines(path: str, info: Any) -> str:
    """Return both stdout lines of a successful `etcd snapshot <path>` (path as typed)."""
    return (snapshot_saved_line(path, int(_get(info, "size_bytes", "size", default=0))) + "\n"
            + snapshot_info_line(int(_get(info, "hash", default=0)),
                                 int(_get(info, "revision", default=0)),
                                 int(_get(info, "total_keys", default=0)),
                                 int(_get(info, "total_size", default=0))) + "\n")


def snapshot_checksum_error(size: int) -> str:
    """Return the error for a stream whose size is not 512*n+32."""
    return f"sha256 checksum not found (size {size})"


def etcd_alarms_rows(rows: Sequence[tuple[str, int, str]]) -> list[list[str]]:
    """`etcd alarm list` cells: rows are (node, member id, alarm type)."""
    return [[n, member_id_hex(m), a] for n, m, a in rows]


def etcd_alarms_table(rows: Sequence[tuple[str, int, str]]) -> str:
    """Return `etcd alarm list`: rows are (node, member id, alarm type)."""
    return tabwriter([ETCD_ALARMS_HEADER, *etcd_alarms_rows(rows)]) if rows else ""


def member_id_parse_error(text: str) -> str:
    """Return the `etcd remove-member` error for an ID that is not hex."""
    return ("error parsing member ID: error parsing etcd member id: strconv.ParseUint: "
            f"parsing {go_quote(text)}: invalid syntax")


# ---------------------------------------------------------------------------------------------
# health (§2.5, §2.6)
# ---------------------------------------------------------------------------------------------
HEALTH_CHECKS: tuple[str, ...] = (
    "etcd to be healthy",
    "etcd members to be consistent across nodes",
    "etcd members to be control plane nodes",
    "apid to be ready",
    "all nodes memory sizes",
    "all nodes disk sizes",
    "no diagnostics",
    "kubelet to be healthy",
    "all nodes to finish boot sequence",
    "all k8s nodes to report",
    "all control plane static pods to be running",
    "all control plane components to be ready",
    "all k8s nodes to report ready",
    "kube-proxy to report ready",
    "coredns to report ready",
    "all k8s nodes to report schedulable",
)
CHECK_WAITING, CHECK_OK, CHECK_SKIP = "...", "OK", "SKIP"


def discovered_nodes_line(nodes: Iterable[str]) -> str:
    """Return the first server-mode health line: `discovered nodes: ["a" "b"]`."""
    return f"discovered nodes: {go_quote_list(nodes)}"


def health_line(check: str, state: str = CHECK_WAITING, server: bool = True) -> str:
    """Return `waiting for <check>: <state>` (server mode trims surrounding whitespace)."""
    line = f"waiting for {check}: {state}"
    return line.strip() if server else line


def health_error_text(errors: Sequence[str]) -> str:
    """Return a check's error state as it appears in a line: a multierror without the blank."""
    return multierror(errors).rstrip("\n")


__all__ = [
    "APID_PORT", "BY_TYPE", "CHECK_OK", "CHECK_SKIP", "CHECK_WAITING", "DurationError",
    "ETCD_STATUS_HEADER", "EVENTS_CONDITION_MET", "GoMap", "HEALTH_CHECKS", "K8S_IMAGES",
    "K8S_STATIC_PODS", "NODES_NOT_SET", "POST_CHECK_PASSED", "REGISTRY", "ResourceDefinition",
    "ResourceLookupError", "STOP_ALL_SERVICES_ERROR", "UNAVAILABLE_RETRYING", "UPGRADE_ACK",
    "WAITING_FOR_ACTOR", "WAIT_INSECURE_ERROR", "actor_message", "cli_error_output",
    "client_version_warning", "context_not_found", "discovered_nodes_line", "emit_document",
    "etcd_alarms_table", "etcd_members_table", "etcd_not_started_refusal", "etcd_quorum_refusal",
    "etcd_status_has_protocol", "etcd_status_table", "etcd_unhealthy_refusal",
    "etcd_validation_error", "format_duration", "format_float", "format_seconds", "go_json",
    "go_json_compact", "go_list", "go_now", "go_quote", "go_quote_list", "go_quote_rune",
    "go_time_string", "go_value", "health_error_text", "health_line", "humanize_bytes",
    "k8s_checks_lines", "k8s_compat_error", "k8s_compat_line", "k8s_config_mismatch",
    "k8s_detected_line", "k8s_discovered_lines", "k8s_kube_proxy_lines", "k8s_kubelet_header",
    "k8s_kubelet_lines", "k8s_manifest_lines", "k8s_manifest_path", "k8s_node_line", "k8s_path",
    "k8s_path_supported", "k8s_prepull_lines", "k8s_static_pod_header", "k8s_static_pod_lines",
    "k8s_unsupported_path_error", "machine_status_message", "member_id_hex",
    "member_id_parse_error", "multi_node_error", "multierror", "needs_usage", "parse_duration",
    "phase_message", "preflight_error", "registry_for", "resolve_resource",
    "ETCD_MEMBERS_HEADER", "ETCD_ALARMS_HEADER", "etcd_members_rows", "etcd_status_header",
    "etcd_status_rows", "etcd_alarms_rows", "resource_data", "resources_json",
    "resources_table", "resources_yaml", "rpc_error", "semver", "semver_key",
    "sequence_failure_messages", "sequence_message", "service_message", "snapshot_checksum_error",
    "snapshot_info_line", "snapshot_lines", "snapshot_saved_line", "tabwriter", "tabwriter_text",
    "task_message", "tracker_line", "unavailable_error", "upgrade_ack_table",
    "upgrade_after_reboot_messages", "upgrade_before_reboot_messages", "upgrade_phases",
    "value_node", "version_json", "version_long", "version_minor", "version_text", "warning_line",
]
