"""The talosctl driver: explicit --talosconfig, endpoints and nodes on every call.

Reads take many nodes in one process (`-n a,b,c`) and return per-node results plus per-node
errors (a node that does not answer is data, not an exception). Mutations are refused in
read-only mode (the health gate). Every call has a timeout and is an Allure step.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers import parse
from drivers.errors import CommandFailed, ParseError, ReadOnlyViolation
from drivers.process import Completed, Runner, execute
from model.upgrade_call import UpgradeCall

# Read-only mode is an allow-list: anything not known to only read is refused.
READ_ONLY_VERBS = frozenset(
    {
        "get",
        "version",
        "read",
        "dmesg",
        "logs",
        "health",
        "containers",
        "stats",
        "processes",
        "ls",
        "list",
        "time",
        "memory",
        "mounts",
        "disks",
        "netstat",
        "usage",
        "events",
        "cgroups",
        "inspect",
    }
)
READ_ONLY_COMMANDS = frozenset(
    {  # commands of verbs that also have mutating sub-commands
        ("etcd", "members"),
        ("etcd", "status"),
        ("etcd", "alarm", "list"),
        ("image", "list"),
        ("image", "ls"),
        ("config", "info"),
        ("config", "contexts"),
    }
)
_GROUPS = {c[0] for c in READ_ONLY_COMMANDS}
_SUBGROUPS = {"alarm", "downgrade"}  # etcd alarm <x>, etcd downgrade <x>


def mutating_verb(args: Sequence[str]) -> str | None:
    """The command words of args when they are not known to only read, else None."""
    words = [a for a in args if not a.startswith("-")]
    if not words or words[0] in READ_ONLY_VERBS:
        return None
    if words[0] == "service":  # `service [<id> [status]]` reads; start/stop/restart do not
        return None if len(words) <= 2 or words[2] == "status" else " ".join(words[:3])
    if any(tuple(words[: len(c)]) == c for c in READ_ONLY_COMMANDS):
        return None
    if words[0] not in _GROUPS:
        return words[0]
    return " ".join(words[:3] if words[1:2] and words[1] in _SUBGROUPS else words[:2])


def client_tag(stdout: str) -> str:
    """The tag in `talosctl version --client --short` output (`Talos v1.9.4` → `v1.9.4`)."""
    for line in stdout.splitlines():
        if line.strip().startswith("Talos "):
            return line.strip().split(" ", 1)[1]
    raise ParseError("talosctl version --client --short", "no 'Talos vX.Y.Z' line", stdout)


def probe_client(binary: str, talosconfig: Path, timeout: float = 15.0) -> str:
    """The talosctl client's tag, asked before any test runs (contacts no node).

    Raises ToolNotFound, CommandTimeout, CommandFailed, or ParseError for a binary whose
    output is not talosctl's.
    """
    argv = [binary, "--talosconfig", str(talosconfig), "version", "--client", "--short"]
    done = execute(argv, timeout=timeout)
    if done.exit_code != 0:
        raise CommandFailed(done.command, done.exit_code, done.stderr, done.stdout)
    return client_tag(done.stdout)


@dataclass(frozen=True)
class PerNode:
    """Results of a multi-node read: values by node address, and errors by node address."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


class Talosctl:
    """One cluster's talosctl. `read_only=True` refuses every mutating command."""

    def __init__(
        self,
        binary: str,
        talosconfig: Path,
        endpoints: Sequence[str],
        runner: Runner,
        *,
        read_only: bool = False,
        timeout: float = 60.0,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.names = dict(names or {})  # address -> node name, for the evidence's step titles
        self.binary = binary
        self.talosconfig = talosconfig
        self.endpoints = list(endpoints)
        self.runner = runner
        self.read_only = read_only
        self.timeout = timeout
        self._prefetched: dict[tuple[tuple[str, ...], tuple[str, ...]], Completed] = {}

    # ---- plumbing -----------------------------------------------------------------------------
    def argv(self, args: Sequence[str], nodes: Sequence[str] = ()) -> list[str]:
        """The full command line for args against nodes."""
        argv = [self.binary, "--talosconfig", str(self.talosconfig)]
        if self.endpoints:
            argv += ["-e", ",".join(self.endpoints)]
        if nodes:
            argv += ["-n", ",".join(nodes)]
        return argv + list(args)

    def asks(self, args: Sequence[str], nodes: Sequence[str] = ()) -> str:
        """What a call asks, as an operator would type it: `talosctl get machinestatus -o json
        -n w1,w2` (node names where the profile gives them; the talosconfig, the endpoints and
        the binary's path stay in the step's attachment)."""
        shown = self.runner.redact(shlex.join(args))
        if not nodes:
            return f"talosctl {shown}"
        return f"talosctl {shown} -n {','.join(self.names.get(n, n) for n in nodes)}"

    def run(
        self,
        args: Sequence[str],
        nodes: Sequence[str] = (),
        *,
        timeout: float | None = None,
        check: bool = True,
        title: str | None = None,
    ) -> Completed:
        """Run one talosctl command; refuse mutations in read-only mode."""
        verb = mutating_verb(args) if self.read_only else None
        if verb is not None:
            raise ReadOnlyViolation(f"read-only run: refusing mutating command `talosctl {verb}`")
        done = self._prefetched.pop((tuple(args), tuple(nodes)), None)
        if done is None:
            return self.runner.run(
                self.argv(args, nodes),
                timeout=timeout or self.timeout,
                check=check,
                title=title or self.asks(args, nodes),
            )
        if check and done.exit_code != 0:
            raise CommandFailed(done.command, done.exit_code, done.stderr, done.stdout)
        return done

    def prefetch(
        self,
        reads: Sequence[tuple[Sequence[str], Sequence[str]]],
        meanwhile: Callable[[], None] | None = None,
    ) -> None:
        """Run several reads at once (one process each, concurrently; `meanwhile` in this
        thread while they run); the next `run` of the same args and nodes takes its result
        instead of starting a process. Only reads: a mutating command is refused whatever the
        mode. A read that could not run is simply not cached, so the normal call raises its
        error."""
        for args, _ in reads:
            if mutating_verb(args) is not None:
                raise ReadOnlyViolation(
                    f"prefetch is for reads only, not `talosctl {' '.join(args)}`"
                )
        results = self.runner.run_many(
            [self.argv(a, n) for a, n in reads],
            timeout=self.timeout,
            titles=[self.asks(a, n) for a, n in reads],
            meanwhile=meanwhile,
        )
        for (args, nodes), done in zip(reads, results, strict=True):
            if isinstance(done, Completed):
                self._prefetched[(tuple(args), tuple(nodes))] = done

    def drop_prefetched(self, args: Sequence[str], nodes: Sequence[str]) -> None:
        """Forget a prefetched read that will not be used (so no later call takes it stale)."""
        self._prefetched.pop((tuple(args), tuple(nodes)), None)

    def _read(
        self,
        args: Sequence[str],
        nodes: Sequence[str],
        decode: Callable[[Completed, Sequence[str]], dict[str, list[Any]]],
    ) -> PerNode:
        """Run a read over many nodes in one process: node -> decoded values, node -> error.

        A node's error is taken from a line naming it (every talosctl version's form, see
        drivers/parse.py), or from an unnamed error that mentions its address. A failed call
        can stop before reaching some nodes (v1.9-v1.13 `get` resolves the type on the first
        node; v1.14 `get` stops when any node misses its version check): each node that then
        has neither an answer nor an error is asked on its own, so one down node costs only
        its own verdict. A healthy cluster costs one process.
        Raises CommandFailed when talosctl refused the command line itself (a harness bug) or
        failed without naming any node (no endpoints, a bad talosconfig).
        """
        done = self.run(args, nodes, check=False)
        refused = parse.usage_error(done.stderr) if done.exit_code != 0 else None
        if refused:
            raise CommandFailed(
                done.command,
                done.exit_code,
                done.stderr,
                done.stdout,
                reason=f"talosctl refused the command line: {refused}",
            )
        errors, unnamed = parse.error_items(done.stderr, nodes)
        if done.exit_code != 0 and not errors and not unnamed:  # not about any node
            raise CommandFailed(done.command, done.exit_code, done.stderr, done.stdout)
        values = {n: [] for n in nodes} | decode(done, nodes)
        silent = [n for n in nodes if not values.get(n) and n not in errors]
        for text in list(unnamed):
            named = [n for n in silent if parse.mentions(text, n)]
            if len(named) == 1:
                errors[named[0]] = text
                silent.remove(named[0])
                unnamed.remove(text)
        failed = done.exit_code != 0 or bool(unnamed)
        if failed and len(nodes) == 1 and silent:
            errors[nodes[0]] = "; ".join(dict.fromkeys(unnamed))
        elif failed and silent:
            self.prefetch_reads([(args, [n]) for n in silent])
            for node in silent:
                alone = self._read(args, [node], decode)
                errors.update(alone.errors)
                values.update(alone.values)
        for node in errors:
            values.pop(node, None)
        return PerNode(values, errors)

    def prefetch_reads(self, reads: Sequence[tuple[Sequence[str], Sequence[str]]]) -> None:
        """`prefetch` when there is more than one read to start, else nothing (one process)."""
        if len(reads) > 1:
            self.prefetch(reads)

    # ---- reads --------------------------------------------------------------------------------
    def versions(self, nodes: Sequence[str]) -> PerNode:
        """`talosctl version` on many nodes: node -> [Talos tag]. Every Talos version answers
        it (the Versions resource of `get version` only exists from v1.10.0)."""
        what = "talosctl version"

        def decode(done: Completed, asked: Sequence[str]) -> dict[str, list[Any]]:
            return {n: [tag] for n, tag in parse.server_versions(done.stdout, what).items()}

        return self._read(["version"], nodes, decode)

    def get(self, resource: str, nodes: Sequence[str]) -> PerNode:
        """`talosctl get <resource> -o json` on many nodes: node -> list of {metadata, spec}."""
        what = f"talosctl get {resource} -o json"

        def decode(done: Completed, asked: Sequence[str]) -> dict[str, list[Any]]:
            values: dict[str, list[Any]] = {}
            for obj in parse.concatenated_json(done.stdout, what):
                node = parse.resource_node(obj, what)
                if "metadata" not in obj or "spec" not in obj:
                    raise ParseError(what, "resource without metadata/spec", done.stdout)
                values.setdefault(node, []).append(obj)
            return values

        return self._read(["get", resource, "-o", "json"], nodes, decode)

    def maintenance_get(
        self, address: str, resource: str, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """`talosctl get <resource> --insecure -n <address> -o json`: a machine in maintenance
        mode (no config yet) answers an insecure client only, and only for non-sensitive
        resources (rebuild.md §3.2); CommandFailed when it does not answer."""
        what = f"talosctl get {resource} --insecure -o json"
        done = self.run(["get", resource, "--insecure", "-o", "json"], [address], timeout=timeout)
        out = []
        for obj in parse.concatenated_json(done.stdout, what):
            if not isinstance(obj, dict) or "spec" not in obj:
                raise ParseError(what, "resource without spec", done.stdout)
            out.append(obj)
        return out

    def _table(
        self, args: Sequence[str], nodes: Sequence[str], required: tuple[str, ...]
    ) -> PerNode:
        """A table read: node -> list of rows (dicts by header name)."""
        what = f"talosctl {' '.join(args)}"

        def decode(done: Completed, asked: Sequence[str]) -> dict[str, list[Any]]:
            values: dict[str, list[Any]] = {}
            for row in parse.table(done.stdout, what, required):
                node = row.get("NODE") or (asked[0] if len(asked) == 1 else "")
                if not node:
                    raise ParseError(what, "no NODE column with several nodes", done.stdout)
                values.setdefault(node, []).append(row)
            return values

        return self._read(args, nodes, decode)

    def etcd_members(self, nodes: Sequence[str]) -> PerNode:
        """`talosctl etcd members` per node: node -> list of row dicts (by header name)."""
        return self._table(
            ["etcd", "members"], nodes, ("ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER")
        )

    def etcd_status(self, nodes: Sequence[str]) -> PerNode:
        """`talosctl etcd status` per node (both column sets): node -> row dict."""
        result = self._table(
            ["etcd", "status"],
            nodes,
            (
                "MEMBER",
                "LEADER",
                "RAFT INDEX",
                "RAFT TERM",
                "RAFT APPLIED INDEX",
                "LEARNER",
                "ERRORS",
            ),
        )
        return PerNode({n: (v[0] if v else None) for n, v in result.values.items()}, result.errors)

    def etcd_alarms(self, nodes: Sequence[str]) -> PerNode:
        """`talosctl etcd alarm list`: node -> list of {MEMBER, ALARM} rows."""
        return self._table(["etcd", "alarm", "list"], nodes, ("MEMBER", "ALARM"))

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
        return client_tag(self.run(["version", "--client", "--short"]).stdout)

    # ---- mutations (refused in read-only mode) ------------------------------------------
    def upgrade(self, node: str, call: UpgradeCall) -> Completed:
        """`talosctl upgrade` of one node as the plan built it (model/upgrade_call.py); a
        blocking call (client-side drain) is bounded by its own timeout."""
        return self.run(list(call.args), [node], timeout=call.timeout)

    def upgrade_many(self, calls: Sequence[tuple[str, UpgradeCall]]) -> list[Completed | Exception]:
        """Several nodes' `talosctl upgrade` at once (a batch of workers), one process each;
        per call its Completed (any exit code: the caller judges) or the error that kept it
        from running. Each is recorded as its own evidence step, in order."""
        if self.read_only:
            raise ReadOnlyViolation("read-only run: refusing mutating command `talosctl upgrade`")
        return self.runner.run_many(
            [self.argv(list(call.args), [node]) for node, call in calls],
            timeout=max(call.timeout for _, call in calls),
            titles=[self.asks(list(call.args), [node]) for node, call in calls],
        )

    def rollback(self, node: str) -> Completed:
        return self.run(["rollback"], [node])

    def upgrade_k8s(self, node: str, to: str, *, dry_run: bool, timeout: float) -> Completed:
        args = ["upgrade-k8s", "--to", to] + (["--dry-run"] if dry_run else [])
        return self.run(args, [node], timeout=timeout)

    def etcd_snapshot(self, node: str, dest: Path, timeout: float) -> Completed:
        return self.run(["etcd", "snapshot", str(dest)], [node], timeout=timeout)

    def etcd_forfeit_leadership(self, node: str) -> Completed:
        return self.run(["etcd", "forfeit-leadership"], [node])

    # ---- a cluster built anew (the template rebuild) -------------------------------------
    def through(self, endpoints: Sequence[str], talosconfig: Path | None = None) -> Talosctl:
        """The same client, talking through other endpoints (none: a local command such as
        `gen`) or with another talosconfig (a rebuilt cluster's)."""
        return Talosctl(
            self.binary,
            talosconfig or self.talosconfig,
            endpoints,
            self.runner,
            read_only=self.read_only,
            timeout=self.timeout,
            names=self.names,
        )

    def services(self, nodes: Sequence[str]) -> PerNode:
        """`talosctl service` per node: node -> rows {SERVICE, STATE, HEALTH, ...}."""
        return self._table(["service"], nodes, ("SERVICE", "STATE", "HEALTH"))

    def gen_secrets(self, dest: Path) -> Completed:
        """`talosctl gen secrets -o <dest>` (a local command: no endpoint)."""
        return self.through([]).run(["gen", "secrets", "-o", str(dest)])

    def gen_config(
        self,
        cluster: str,
        endpoint: str,
        secrets: Path,
        installer: str,
        kubernetes: str,
        out: Path,
        patches: Sequence[Path] = (),
    ) -> Completed:
        """`talosctl gen config <cluster> <endpoint> --with-secrets ... -o <out> --force`: the
        machine configs (controlplane.yaml, worker.yaml) and a talosconfig, local files."""
        args = [
            "gen",
            "config",
            cluster,
            endpoint,
            "--with-secrets",
            str(secrets),
            "--install-image",
            installer,
            "--kubernetes-version",
            kubernetes,
            "-o",
            str(out),
            "--force",
        ]
        for patch in patches:
            args += ["--config-patch", f"@{patch}"]
        return self.through([]).run(args)

    def apply_config_insecure(self, address: str, config: Path, timeout: float) -> Completed:
        """`talosctl apply-config --insecure -n <address> --file <config>`: one machine in
        maintenance mode (with several nodes only the first is configured: talos#11773)."""
        return self.run(
            ["apply-config", "--insecure", "--file", str(config)], [address], timeout=timeout
        )

    def bootstrap(self, node: str, recover_from: Path | None, timeout: float) -> Completed:
        """`talosctl bootstrap [--recover-from=<snapshot>] -n <node> -e <node>`."""
        args = ["bootstrap"] + ([f"--recover-from={recover_from}"] if recover_from else [])
        return self.through([node]).run(args, [node], timeout=timeout)

    def kubeconfig(self, node: str, dest: Path) -> Completed:
        """`talosctl kubeconfig <dest> --force -n <node>`: the admin kubeconfig, overwritten."""
        return self.run(["kubeconfig", str(dest), "--force"], [node])
