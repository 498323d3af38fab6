"""The first screen of a runbook's report: what ran, under which change, by whom, when, how it
ended, and what changed on each node (before -> after). Pure: built from the snapshots taken
at the start and the end of the session and from how the session ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from model.snapshot import ClusterSnapshot


@dataclass(frozen=True)
class NodeRow:
    name: str
    role: str
    talos: tuple[str, str]  # before, after
    schematic: tuple[str, str]
    kubelet: tuple[str, str]
    rebooted: bool = False  # the run record has a change of this node (it was rebooted)
    took: float | None = None  # seconds its changes took (command sent -> Talos API back)

    @property
    def state(self) -> str:
        """changed (a version or the schematic moved), rebooted (the run changed it but it runs
        what it ran: e.g. it fell back to its previous A/B image), untouched, or unknown (not
        observed at one end)."""
        values = (self.talos, self.schematic, self.kubelet)
        if any("?" in pair for pair in values):
            return "unknown"
        if any(a != b for a, b in values):
            return "changed"
        return "rebooted" if self.rebooted else "untouched"


@dataclass(frozen=True)
class RunSummary:
    runbook: str
    cluster: str
    change: str
    operator: str
    started: datetime
    ended: datetime
    outcome: str  # "passed", or "failed at <step>: <one line>"
    nodes: tuple[NodeRow, ...]
    kubernetes: tuple[str, str]  # the API server before, after

    @property
    def title(self) -> str:
        """One line: `in_place on home (CHG-1): passed`."""
        change = f" ({self.change})" if self.change else ""
        return f"{self.runbook} on {self.cluster}{change}: {self.outcome}"

    def text(self) -> str:
        seconds = (self.ended - self.started).total_seconds()
        lines = [
            self.title,
            f"operator {self.operator}; started {self.started:%Y-%m-%d %H:%M:%S}Z, ended "
            f"{self.ended:%Y-%m-%d %H:%M:%S}Z ({seconds:.0f} s)",
            f"Kubernetes API server: {self.kubernetes[0]} -> {self.kubernetes[1]}",
            "",
            f"{'node':<8} {'role':<13} {'Talos':<22} {'kubelet':<22} {'state':<9} "
            f"{'took':>6}  schematic",
        ]
        for row in self.nodes:
            schematic = (
                row.schematic[0][:12]
                if row.schematic[0] == row.schematic[1]
                else f"{row.schematic[0][:12]} -> {row.schematic[1][:12]}"
            )
            took = f"{row.took:.0f} s" if row.took is not None else "-"
            lines.append(
                f"{row.name:<8} {row.role:<13} {_pair(row.talos):<22} {_pair(row.kubelet):<22} "
                f"{row.state:<9} {took:>6}  {schematic}"
            )
        by_state: dict[str, list[str]] = {}
        for row in self.nodes:
            by_state.setdefault(row.state, []).append(row.name)
        lines.append("")
        lines.append(
            "; ".join(f"{state}: {', '.join(names)}" for state, names in sorted(by_state.items()))
        )
        return "\n".join(lines)


def _pair(pair: tuple[str, str]) -> str:
    return pair[0] if pair[0] == pair[1] else f"{pair[0]} -> {pair[1]}"


def _talos(snap: ClusterSnapshot | None, name: str) -> str:
    obs = snap.node(name) if snap is not None else None
    return str(obs.talos_version) if obs is not None and obs.talos_version else "?"


def _schematic(snap: ClusterSnapshot | None, name: str) -> str:
    obs = snap.node(name) if snap is not None else None
    ids = obs.schematic_ids if obs is not None else []
    return ids[0] if ids else "?"


def _kubelet(snap: ClusterSnapshot | None, name: str) -> str:
    k8s = snap.k8s_node(name) if snap is not None else None
    return str(k8s.kubelet_version) if k8s is not None and k8s.kubelet_version else "?"


def node_rows(
    names_roles: list[tuple[str, str]],
    before: ClusterSnapshot | None,
    after: ClusterSnapshot | None,
    took: Mapping[str, float] | None = None,
) -> tuple[NodeRow, ...]:
    """Before -> after of each node (`?` where a snapshot did not see it); `took`: the nodes
    the run record says were changed, with the seconds their changes took."""
    took = took or {}
    return tuple(
        NodeRow(
            name,
            role,
            (_talos(before, name), _talos(after, name)),
            (_schematic(before, name), _schematic(after, name)),
            (_kubelet(before, name), _kubelet(after, name)),
            name in took,
            took.get(name),
        )
        for name, role in names_roles
    )


def api_server(snap: ClusterSnapshot | None) -> str:
    return str(snap.api_server_version) if snap is not None and snap.api_server_version else "?"
