"""`talosctl services [<id>]`: the machined services of a node and their two renderings.

The service set follows the node (control planes run etcd and trustd, auditd exists from
Talos v1.9, each extension with a service adds `ext-<name>`); states follow the world (etcd
stopped by a fault or a reboot, kubelet not Ready). Renderers follow
pkg/machinery/formatters/formatters.go (RenderServicesInfo, ServiceInfoWrapper).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from emulator.talos.gotext import format_duration, tabwriter, version_minor

if TYPE_CHECKING:
    from emulator.world import EmulatedCluster, NodeState

HEALTHY = "Health check successful"
# extension -> the services it runs (ext-<name>)
EXTENSION_SERVICES = {
    "siderolabs/qemu-guest-agent": ("qemu-guest-agent",),
    "siderolabs/iscsi-tools": ("iscsid", "tgtd"),
}


@dataclass(frozen=True)
class Service:
    """One service as ServiceList reports it: id, state, health ("OK"|"Fail"|"?"), events."""

    id: str
    state: str
    health: str
    events: tuple[tuple[str, str, float], ...]  # (state, message, unix time), oldest first
    health_message: str = ""


def _container(name: str, pid: int) -> str:
    return f"Started task {name} (PID {pid}) for container {name}"


def services(world: EmulatedCluster, node: NodeState) -> list[Service]:
    """Return the node's services sorted by id (as machined lists them)."""
    t0 = node.booted_at
    ids: dict[str, tuple[str, bool]] = {  # id -> (start message, has a health check)
        "apid": (_container("apid", 1201), True),
        "containerd": ("Process Process([\"/bin/containerd\" \"--address\" "
                       "\"/system/run/containerd/containerd.sock\"]) started with PID 1101", True),
        "cri": ("Process Process([\"/bin/containerd\" \"--address\" "
                "\"/run/containerd/containerd.sock\"]) started with PID 1301", True),
        "dashboard": ("Process Process([\"/sbin/dashboard\"]) started with PID 1401", False),
        "kubelet": (_container("kubelet", 1501), True),
        "machined": ("Service started as goroutine", False),
        "syslogd": ("Service started as goroutine", False),
        "udevd": ("Process Process([\"/sbin/udevd\" \"--resolve-names=never\"]) started with "
                  "PID 1001", True),
    }
    if version_minor(node.talos_version) >= (1, 9):
        ids["auditd"] = ("Service started as goroutine", False)
    if node.is_control_plane:
        ids["etcd"] = (_container("etcd", 1601), True)
        ids["trustd"] = (_container("trustd", 1701), True)
    for ext in world.extension_names(node):
        for name in EXTENSION_SERVICES.get(ext, ()):
            ids[f"ext-{name}"] = (_container(f"ext-{name}", 1801 + len(ids)), False)
    out = []
    for sid in sorted(ids):
        started, checked = ids[sid]
        events = [("Preparing", "Running pre state", t0 + 0.1), ("Preparing", "Creating service "
                  "runner", t0 + 0.1), ("Running", started, t0 + 0.2)]
        state, health, message = "Running", "?", ""
        if checked:
            health, message = "OK", ""
            events.append(("Running", HEALTHY, t0 + 0.4))
        if sid == "etcd" and not world.etcd.member(node.name).running:
            state, health = "Preparing", "?"
            events = [("Preparing", "Running pre state", world_time(node))]
        elif sid == "kubelet" and not node.kubelet_running:
            state, health = "Finished", "?"
            events.append(("Finished", "Service finished successfully", world_time(node)))
        out.append(Service(sid, state, health, tuple(events), message))
    return out


def world_time(node: NodeState) -> float:
    """When the node last changed state (its last boot, or now-ish while it runs)."""
    return node.booted_at + 0.5


def _ago(now: float, ts: float) -> str:
    return format_duration(int(round(max(0.0, now - ts))) * 1_000_000_000)


def list_table(answers: list[tuple[str, list[Service]]], now: float) -> str:
    """`talosctl services`: NODE SERVICE STATE HEALTH LAST CHANGE LAST EVENT."""
    rows = [["NODE", "SERVICE", "STATE", "HEALTH", "LAST CHANGE", "LAST EVENT"]]
    for node, svcs in answers:
        for s in svcs:
            last = s.events[-1] if s.events else ("", "<none>", now)
            rows.append([node, s.id, s.state, s.health, f"{_ago(now, last[2])} ago", last[1]])
    return tabwriter(rows)


def info_text(wanted: list[tuple[str, Service]], now: float) -> str:
    """`talosctl service <id>`: NODE/ID/STATE/HEALTH/[LAST HEALTH MESSAGE]/EVENTS rows."""
    rows: list[list[str]] = []
    for node, s in wanted:
        rows += [["NODE", node], ["ID", s.id], ["STATE", s.state], ["HEALTH", s.health]]
        if s.health_message:
            rows.append(["LAST HEALTH MESSAGE", s.health_message])
        label = "EVENTS"
        for state, msg, ts in reversed(s.events):
            rows.append([label, f"[{state}]: {msg} ({_ago(now, ts)} ago)"])
            label = ""
    return tabwriter(rows)
