"""The talosctl driver: explicit --talosconfig, endpoints and nodes on every call.

Reads take many nodes in one process (`-n a,b,c`) and return per-node results plus per-node
errors (a node that does not answer is data, not an exception). Mutations are refused in
read-only mode (the health gate). Every call has a timeout and is an Allure step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers import parse
from drivers.errors import CommandFailed, ParseError, ReadOnlyViolation
from drivers.process import Completed, Runner

MUTATING = frozenset({"upgrade", "upgrade-k8s", "reboot", "rollback", "etcd remove-member",
                      "etcd leave", "etcd forfeit-leadership", "etcd snapshot", "apply-config",
                      "reset", "shutdown", "bootstrap"})


@dataclass(frozen=True)
class PerNode:
    """Results of a multi-node read: values by node address, and errors by node address."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class Talosctl:
    """One cluster's talosctl. `read_only=True` refuses every mutating command."""

    def __init__(self, binary: str, talosconfig: Path, endpoints: Sequence[str], runner: Runner,
                 *, read_only: bool = False, timeout: float = 60.0) -> None:
        self.binary = binary
        self.talosconfig = talosconfig
        self.endpoints = list(endpoints)
        self.runner = runner
        self.read_only = read_only
        self.timeout = timeout

    # ---- plumbing -----------------------------------------------------------------------------
    def argv(self, args: Sequence[str], nodes: Sequence[str] = ()) -> list[str]:
        """The full command line for args against nodes."""
        argv = [self.binary, "--talosconfig", str(self.talosconfig)]
        if self.endpoints:
            argv += ["-e", ",".join(self.endpoints)]
        if nodes:
            argv += ["-n", ",".join(nodes)]
        return argv + list(args)

    def run(self, args: Sequence[str], nodes: Sequence[str] = (), *, timeout: float | None = None,
            check: bool = True, title: str | None = None) -> Completed:
        """Run one talosctl command; refuse mutations in read-only mode."""
        verb = " ".join(a for a in args[:2] if not a.startswith("-"))
        if self.read_only and (verb in MUTATING or verb.split(" ")[0] in MUTATING):
            raise ReadOnlyViolation(f"read-only run: refusing mutating command `talosctl {verb}`")
        return self.runner.run(self.argv(args, nodes), timeout=timeout or self.timeout,
                               check=check, title=title)

    def _multi(self, args: Sequence[str], nodes: Sequence[str]) -> Completed:
        """Run a read over many nodes; a non-zero exit with per-node errors is not raised."""
        done = self.run(args, nodes, check=False)
        if done.exit_code != 0 and not parse.node_errors(done.stderr):
            raise CommandFailed(done.command, done.exit_code, done.stderr, done.stdout)
        return done

    # ---- reads --------------------------------------------------------------------------------
    def get(self, resource: str, nodes: Sequence[str]) -> PerNode:
        """`talosctl get <resource> -o json` on many nodes: node -> list of {metadata, spec}."""
        done = self._multi(["get", resource, "-o", "json"], nodes)
        what = f"talosctl get {resource} -o json"
        values: dict[str, Any] = {n: [] for n in nodes}
        for obj in parse.concatenated_json(done.stdout, what):
            node = parse.resource_node(obj, what)
            if "metadata" not in obj or "spec" not in obj:
                raise ParseError(what, "resource without metadata/spec", done.stdout)
            values.setdefault(node, []).append(obj)
        errors = parse.node_errors(done.stderr)
        for node in errors:
            values.pop(node, None)
        return PerNode(values, errors)

    def etcd_members(self, nodes: Sequence[str]) -> PerNode:
        """`talosctl etcd members` per node: node -> list of row dicts (by header name)."""
        done = self._multi(["etcd", "members"], nodes)
        rows = parse.table(done.stdout, "talosctl etcd members",
                           ("ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"))
        return self._by_node(rows, nodes, done, "talosctl etcd members")

    def etcd_status(self, nodes: Sequence[str]) -> PerNode:
        """`talosctl etcd status` per node (both column sets): node -> row dict."""
        done = self._multi(["etcd", "status"], nodes)
        rows = parse.table(done.stdout, "talosctl etcd status",
                           ("MEMBER", "LEADER", "RAFT INDEX", "RAFT TERM", "RAFT APPLIED INDEX",
                            "LEARNER", "ERRORS"))
        result = self._by_node(rows, nodes, done, "talosctl etcd status")
        return PerNode({n: (v[0] if v else None) for n, v in result.values.items()}, result.errors)

    def etcd_alarms(self, nodes: Sequence[str]) -> PerNode:
        """`talosctl etcd alarm list`: node -> list of {MEMBER, ALARM} rows."""
        done = self._multi(["etcd", "alarm", "list"], nodes)
        rows = parse.table(done.stdout, "talosctl etcd alarm list", ("MEMBER", "ALARM"))
        return self._by_node(rows, nodes, done, "talosctl etcd alarm list")

    def _by_node(self, rows: list[dict[str, str]], nodes: Sequence[str], done: Completed,
                 what: str) -> PerNode:
        values: dict[str, Any] = {n: [] for n in nodes}
        for row in rows:
            node = row.get("NODE") or (nodes[0] if len(nodes) == 1 else "")
            if not node:
                raise ParseError(what, "no NODE column with several nodes", done.stdout)
            values.setdefault(node, []).append(row)
        errors = parse.node_errors(done.stderr)
        for node in errors:
            values.pop(node, None)
        return PerNode(values, errors)

    def boot_ids(self, nodes: Sequence[str]) -> PerNode:
        """`talosctl read /proc/sys/kernel/random/boot_id` per node (one call per node: the
        output carries no node name)."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for node in nodes:
            done = self.run(["read", "/proc/sys/kernel/random/boot_id"], [node], check=False)
            if done.exit_code == 0 and done.stdout.strip():
                values[node] = done.stdout.strip()
            else:
                errors[node] = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return PerNode(values, errors)

    def client_version(self) -> str:
        """The talosctl client's tag (`talosctl version --client --short` → `Talos v1.9.4`)."""
        done = self.run(["version", "--client", "--short"])
        for line in done.stdout.splitlines():
            if line.strip().startswith("Talos "):
                return line.strip().split(" ", 1)[1]
        raise ParseError("talosctl version --client --short", "no 'Talos vX.Y.Z' line",
                         done.stdout)

    def dmesg_tail(self, node: str, lines: int = 50) -> str:
        done = self.run(["dmesg", "--tail", str(lines)], [node], check=False)
        return done.stdout or done.stderr

    # ---- mutations (refused in read-only mode) ------------------------------------------
    def upgrade(self, node: str, image: str, *, preserve: bool, timeout: float) -> Completed:
        """`talosctl upgrade --image I [--preserve] --wait` on one node; raises CommandFailed."""
        args = ["upgrade", "--image", image, "--wait", "--timeout", f"{int(timeout)}s"]
        if preserve:
            args.append("--preserve")
        return self.run(args, [node], timeout=timeout + 30)

    def reboot(self, node: str, timeout: float) -> Completed:
        return self.run(["reboot", "--wait", "--timeout", f"{int(timeout)}s"], [node],
                        timeout=timeout + 30)

    def rollback(self, node: str) -> Completed:
        return self.run(["rollback"], [node])

    def upgrade_k8s(self, node: str, to: str, *, dry_run: bool, timeout: float) -> Completed:
        args = ["upgrade-k8s", "--to", to] + (["--dry-run"] if dry_run else [])
        return self.run(args, [node], timeout=timeout)

    def etcd_snapshot(self, node: str, dest: Path, timeout: float) -> Completed:
        return self.run(["etcd", "snapshot", str(dest)], [node], timeout=timeout)

    def etcd_forfeit_leadership(self, node: str) -> Completed:
        return self.run(["etcd", "forfeit-leadership"], [node])
