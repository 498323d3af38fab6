"""drivers/talosctl.py against a fake talosctl (a script in tmp_path that records its argv and
prints canned output): explicit flags, one process for many nodes, per-node errors, typed
errors, redaction, and the read-only refusal. Nothing here contacts any address."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from drivers.errors import (
    CommandFailed,
    CommandTimeout,
    ParseError,
    ReadOnlyViolation,
    ToolNotFound,
)
from drivers.kube import Kube
from drivers.process import Runner
from drivers.talosctl import Talosctl, mutating_verb, probe_client
from tests.harness.test_harness_parse import tabwrite

FAKE = """#!{python}
import json, sys, time
argv = sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps(argv) + "\\n")
line = " ".join(argv)
for rule in json.load(open({rules!r})):
    if rule["match"] in line:
        if rule.get("touch"):
            open(rule["touch"], "w").close()
        if rule.get("wait_for"):  # rendezvous: only met if the other process runs meanwhile
            deadline = time.monotonic() + 10
            while not __import__("os").path.exists(rule["wait_for"]):
                if time.monotonic() > deadline:
                    sys.stderr.write("fake talosctl: nobody ran alongside me\\n")
                    sys.exit(9)
                time.sleep(0.01)
        time.sleep(rule.get("sleep", 0))
        sys.stdout.write(rule.get("stdout", ""))
        sys.stderr.write(rule.get("stderr", ""))
        sys.exit(rule.get("exit", 0))
sys.stderr.write("fake talosctl: no rule for " + line + "\\n")
sys.exit(3)
"""
A, B, C = "192.0.2.10", "192.0.2.11", "192.0.2.12"  # TEST-NET: only ever strings here


class Fake:
    """A fake talosctl: `rules` decide its output, `calls` are the argv lists it got."""

    def __init__(self, tmp_path: Path) -> None:
        self.path = tmp_path / "talosctl"
        self.log = tmp_path / "calls.jsonl"
        self.rules_file = tmp_path / "rules.json"
        self.rules_file.write_text("[]")
        self.path.write_text(FAKE.format(python=sys.executable, log=str(self.log),
                                         rules=str(self.rules_file)))
        self.path.chmod(0o755)
        self.talosconfig = tmp_path / "talosconfig"

    def rules(self, *rules: dict[str, Any]) -> None:
        self.rules_file.write_text(json.dumps(list(rules)))

    @property
    def calls(self) -> list[list[str]]:
        return [json.loads(x) for x in self.log.read_text().splitlines()] \
            if self.log.exists() else []

    def driver(self, *, read_only: bool = False, secrets: tuple[str, ...] = (),
               timeout: float = 30.0) -> Talosctl:
        return Talosctl(str(self.path), self.talosconfig, [A, B], Runner(secrets),
                        read_only=read_only, timeout=timeout)


@pytest.fixture
def fake(tmp_path: Path) -> Fake:
    return Fake(tmp_path)


def resource(node: str, version: str) -> str:
    return json.dumps({"metadata": {"id": "version", "namespace": "runtime"}, "node": node,
                       "spec": {"version": version}}, indent=4) + "\n"


def test_many_nodes_in_one_call_with_explicit_talosconfig_and_endpoints(fake: Fake) -> None:
    fake.rules({"match": "get version", "stdout": resource(A, "v1.9.2") + resource(B, "v1.9.2")
                + resource(C, "v1.9.4")})
    talos = fake.driver()
    result = talos.get("version", [A, B, C])
    assert fake.calls == [["--talosconfig", str(fake.talosconfig), "-e", f"{A},{B}",
                           "-n", f"{A},{B},{C}", "get", "version", "-o", "json"]]
    assert talos.runner.calls == 1
    assert {n: [r["spec"]["version"] for r in v] for n, v in result.values.items()} == {
        A: ["v1.9.2"], B: ["v1.9.2"], C: ["v1.9.4"]}
    assert result.errors == {}


REFUSED = ('rpc error: code = Unavailable desc = connection error: desc = "transport: Error while '
           'dialing: dial tcp {}:50000: connect: connection refused"')


def test_a_node_that_does_not_answer_is_an_error_of_that_node_not_an_exception(
        fake: Fake) -> None:
    """`get` names no node in its error lines (reference §2.2): the address in the text does."""
    fake.rules({"match": "get version", "exit": 1,
                "stdout": resource(A, "v1.9.2") + resource(C, "v1.9.2"),
                "stderr": f"1 error occurred:\n\t* {REFUSED.format(B)}\n\n"})
    result = fake.driver().get("version", [A, B, C])
    assert len(fake.calls) == 1
    assert set(result.values) == {A, C}
    assert result.errors == {B: REFUSED.format(B)}


def test_unnamed_errors_that_cannot_be_attributed_ask_the_silent_nodes_one_by_one(
        fake: Fake) -> None:
    fake.rules(
        {"match": f"-n {A},{B} get members", "exit": 1,
         "stderr": "2 errors occurred:\n\t* rpc error: code = NotFound desc = x doesn't exist\n"
                   "\t* rpc error: code = Unknown desc = boom\n\n"},
        {"match": f"-n {A} get members", "exit": 1,
         "stderr": "1 error occurred:\n\t* rpc error: code = NotFound desc = x doesn't exist\n\n"},
        {"match": f"-n {B} get members", "exit": 1,
         "stderr": "1 error occurred:\n\t* rpc error: code = Unknown desc = boom\n\n"})
    result = fake.driver().get("members", [A, B])
    asked = [c[c.index("-n") + 1] for c in fake.calls]
    assert asked[0] == f"{A},{B}" and sorted(asked[1:]) == [A, B]  # the two asked at once
    assert result.values == {}
    assert result.errors == {A: "rpc error: code = NotFound desc = x doesn't exist",
                             B: "rpc error: code = Unknown desc = boom"}


def _machinestatus(node: str) -> str:
    return json.dumps({"metadata": {"id": "machine"}, "node": node,
                       "spec": {"stage": "running", "status": {"ready": True}}}, indent=4) + "\n"


DOWN = ('rpc error: code = Unavailable desc = connection error: desc = "transport: Error while '
        'dialing: dial tcp {0}:50000: connect: connection refused"')


def test_a_get_whose_first_node_is_down_costs_only_that_node(fake: Fake) -> None:
    """v1.9-v1.13 resolve the resource type on the first node (helpers/resources.go): when it
    is down the whole call fails with its bare error. Once every node was then recorded as
    failed; now the others are asked on their own."""
    fake.rules(
        {"match": f"-n {A},{B},{C} get", "exit": 1, "stderr": DOWN.format(A) + "\n"},
        {"match": f"-n {B} get", "stdout": _machinestatus(B)},
        {"match": f"-n {C} get", "stdout": _machinestatus(C)})
    result = fake.driver().get("machinestatus", [A, B, C])
    assert result.errors == {A: DOWN.format(A)}
    assert sorted(result.values) == [B, C]
    assert [c[c.index("-n") + 1] for c in fake.calls].count(A) == 0  # A is not asked again


def test_a_v1_14_get_stopped_by_one_nodes_version_check_asks_the_others(fake: Fake) -> None:
    """v1.14 get.go runs helpers.ClientVersionCheck first and stops on any node's error."""
    fake.rules(
        {"match": f"-n {A},{B},{C} get", "exit": 1,
         "stderr": f"{B}: error getting server version: {DOWN.format(B)}\n"},
        {"match": f"-n {A} get", "stdout": _machinestatus(A)},
        {"match": f"-n {C} get", "stdout": _machinestatus(C)})
    result = fake.driver().get("machinestatus", [A, B, C])
    assert result.errors == {B: f"error getting server version: {DOWN.format(B)}"}
    assert sorted(result.values) == [A, C]


def test_v1_14_error_lines_keep_the_answers_of_the_others(fake: Fake) -> None:
    """v1.14 etcd.go: `error from node <n>: ...` after the other nodes' rows, exit 1."""
    fake.rules({"match": "etcd status", "exit": 1, "stdout": ETCD_1_11,
                "stderr": f"error from node {B}: {DOWN.format(B)}\n"})
    result = fake.driver().etcd_status([A, B])
    assert result.errors == {B: DOWN.format(B)}
    assert result.values[A]["MEMBER"] == "a49c021e76e707db"
    assert len(fake.calls) == 1


def test_versions_come_from_talosctl_version(fake: Fake) -> None:
    from tests.harness.test_harness_parse import VERSION_V191

    fake.rules({"match": "version", "stdout": VERSION_V191.replace("10.4.64.2", A)
                .replace("10.4.64.1", B)})
    assert fake.driver().versions([A, B]).values == {A: ["v1.9.1"], B: ["v1.9.1"]}


def test_talosctl_refusing_the_command_line_is_not_a_node_failure(fake: Fake) -> None:
    fake.rules({"match": "get", "exit": 1,
                "stderr": "unknown flag: --bogus\n\nUsage:\n  talosctl get <type> [flags]\n"})
    with pytest.raises(CommandFailed, match=r"failed \(exit 1\): talosctl refused the command "
                                             r"line: unknown flag: --bogus$"):
        fake.driver().get("machinestatus", [A, B])
    assert len(fake.calls) == 1  # no node is asked on its own for a harness bug


ETCD_1_11 = tabwrite(
    ["NODE", "MEMBER", "DB SIZE", "IN USE", "LEADER", "RAFT INDEX", "RAFT TERM",
     "RAFT APPLIED INDEX", "LEARNER", "PROTOCOL", "STORAGE", "ERRORS"],
    [A, "a49c021e76e707db", "4.5 MB", "1.2 MB (26.10%)", "a49c021e76e707db", "1201", "3", "1201",
     "false", "3.6.0", "3.6.0", ""])


def test_etcd_status_rows_by_node_and_named_errors(fake: Fake) -> None:
    fake.rules({"match": "etcd status", "stdout": ETCD_1_11,
                "stderr": f"WARNING: 1 error occurred:\n\t* {B}: {REFUSED.format('127.0.0.1')}"
                          "\n\n"})
    result = fake.driver().etcd_status([A, B])
    assert fake.calls[0][-2:] == ["etcd", "status"] and len(fake.calls) == 1
    assert result.values[A]["RAFT INDEX"] == "1201" and result.values[A]["PROTOCOL"] == "3.6.0"
    assert result.errors == {B: REFUSED.format("127.0.0.1")}


def test_a_call_that_failed_as_a_whole_is_command_failed_with_command_and_stderr(
        fake: Fake) -> None:
    fake.rules({"match": "get version", "exit": 1, "stderr": "failed to determine endpoints\n"})
    with pytest.raises(CommandFailed) as e:
        fake.driver().get("version", [A])
    assert str(e.value) == (f"`{fake.path} --talosconfig {fake.talosconfig} -e {A},{B} -n {A} "
                            "get version -o json` failed (exit 1): failed to determine endpoints")
    assert e.value.exit_code == 1 and e.value.stderr == "failed to determine endpoints\n"


def test_output_that_cannot_be_parsed_is_a_parse_error(fake: Fake) -> None:
    fake.rules({"match": "etcd members", "stdout": "<html>502 Bad Gateway</html>\n"})
    with pytest.raises(ParseError, match=r"^cannot parse talosctl etcd members: missing "
                                         r"column\(s\) ID, HOSTNAME, PEER URLS, CLIENT URLS, "
                                         r"LEARNER in header"):
        fake.driver().etcd_members([A, B])


def test_every_call_has_a_timeout(fake: Fake) -> None:
    fake.rules({"match": "get version", "sleep": 30})
    with pytest.raises(CommandTimeout) as e:
        fake.driver(timeout=0.3).get("version", [A])
    assert str(e.value).endswith("get version -o json` did not finish within 0.3 s (killed)")


def test_secrets_are_redacted_from_command_lines_output_and_errors(fake: Fake) -> None:
    fake.rules({"match": "get version", "exit": 1, "stderr": "bad token hunter2-secret\n"})
    talos = Talosctl(str(fake.path), Path("/etc/hunter2-secret/talosconfig"), [A],
                     Runner(["hunter2-secret"]))
    with pytest.raises(CommandFailed) as e:
        talos.get("version", [A])
    assert "hunter2-secret" not in str(e.value) and "hunter2-secret" not in e.value.stderr
    assert str(e.value) == (f"`{fake.path} --talosconfig /etc/****/talosconfig -e {A} -n {A} get "
                            "version -o json` failed (exit 1): bad token ****")
    assert all("hunter2-secret" not in c.command + c.stderr for c in talos.runner.history)


def test_client_version_and_the_start_up_probe(fake: Fake, tmp_path: Path) -> None:
    fake.rules({"match": "version", "stdout": "Client:\nTalos v1.11.6\n"})
    assert fake.driver().client_version() == "v1.11.6"
    assert probe_client(str(fake.path), fake.talosconfig) == "v1.11.6"
    fake.rules({"match": "version", "stdout": "Usage: something else\n"})
    with pytest.raises(ParseError, match="no 'Talos vX.Y.Z' line"):
        probe_client(str(fake.path), fake.talosconfig)
    with pytest.raises(ToolNotFound, match="not found"):
        probe_client(str(tmp_path / "no-such-talosctl"), fake.talosconfig)


# ---- read-only mode --------------------------------------------------------------------------
MUTATIONS = {
    "upgrade": lambda t: t.run(["upgrade", "--image", "factory.talos.dev/installer/x:v1.9.4",
                                "--wait=false"], [A]),
    "reboot": lambda t: t.run(["reboot", "--wait=false"], [A]),
    "rollback": lambda t: t.rollback(A),
    "upgrade-k8s": lambda t: t.upgrade_k8s(A, "1.32.2", dry_run=True, timeout=60),
    "etcd snapshot": lambda t: t.etcd_snapshot(A, Path("db.snapshot"), timeout=60),
    "etcd forfeit-leadership": lambda t: t.etcd_forfeit_leadership(A),
    "etcd remove-member": lambda t: t.run(["etcd", "remove-member", "a49c021e76e707db"], [A]),
    "etcd alarm disarm": lambda t: t.run(["etcd", "alarm", "disarm"], [A]),
    "apply-config": lambda t: t.run(["apply-config", "-f", "x.yaml"], [A]),
    "service etcd restart": lambda t: t.run(["service", "etcd", "restart"], [A]),
    "reset": lambda t: t.run(["reset", "--graceful"], [A]),
    "patch": lambda t: t.run(["patch", "machineconfig", "-p", "[]"], [A]),
    "image pull": lambda t: t.run(["image", "pull", "x"], [A]),
}


@pytest.mark.parametrize("verb", list(MUTATIONS))
def test_read_only_driver_refuses_every_mutating_command(fake: Fake, verb: str) -> None:
    talos = fake.driver(read_only=True)
    with pytest.raises(ReadOnlyViolation) as e:
        MUTATIONS[verb](talos)
    assert str(e.value) == f"read-only run: refusing mutating command `talosctl {verb}`"
    assert fake.calls == [] and talos.runner.calls == 0  # nothing was run


@pytest.mark.parametrize("args", [
    ["get", "version", "-o", "json"], ["etcd", "members"], ["etcd", "status"],
    ["etcd", "alarm", "list"], ["service", "etcd"], ["service", "etcd", "status"],
    ["version", "--client"], ["read", "/proc/sys/kernel/random/boot_id"], ["dmesg", "--tail"],
    ["image", "list"], ["logs", "kubelet"], ["health", "--server=false"], ["config", "info"]])
def test_read_only_allows_reads(args: list[str]) -> None:
    assert mutating_verb(args) is None


def test_a_verb_not_known_to_only_read_is_refused() -> None:
    assert mutating_verb(["wipe", "disk", "sda"]) == "wipe"
    assert mutating_verb(["etcd", "defrag"]) == "etcd defrag"
    assert mutating_verb(["etcd", "downgrade", "enable", "3.5"]) == "etcd downgrade enable"
    assert mutating_verb(["config", "merge", "talosconfig"]) == "config merge"


def test_read_only_kubernetes_driver_refuses_writes(tmp_path: Path) -> None:
    """The kubeconfig names a loopback server that is never contacted: refusal comes first."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "x", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "x", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "x", "user": "x"}}]}))
    kube = Kube(kubeconfig, read_only=True)
    try:
        with pytest.raises(ReadOnlyViolation,
                           match=r"^read-only run: refusing Kubernetes write `create lease`$"):
            kube.create_lease("kube-system", {"metadata": {"name": "talos-upgrade"}})
        with pytest.raises(ReadOnlyViolation, match="create backups.velero.io"):
            kube.create_backup("velero", {"metadata": {"name": "b"}})
        assert kube.requests == 0
    finally:
        kube.close()


def test_prefetched_reads_run_concurrently_once_and_are_used_by_the_next_read(
        fake: Fake, tmp_path: Path) -> None:
    one, two = tmp_path / "one-started", tmp_path / "two-started"
    # each read waits for the other to have started: sequential reads would fail (exit 9)
    fake.rules({"match": "get version", "touch": str(one), "wait_for": str(two),
                "stdout": resource(A, "v1.9.2")},
               {"match": "etcd members", "touch": str(two), "wait_for": str(one), "exit": 1,
                "stderr": "boom\n"})
    talos = fake.driver()
    talos.prefetch([(["get", "version", "-o", "json"], [A]), (["etcd", "members"], [A])])
    assert len(fake.calls) == 2
    result = talos.get("version", [A])  # served from the prefetch: no new process
    assert len(fake.calls) == 2
    assert result.values[A][0]["spec"]["version"] == "v1.9.2"
    with pytest.raises(CommandFailed, match="boom"):  # a failed read keeps its failure
        talos.run(["etcd", "members"], [A])
    assert len(fake.calls) == 2
    talos.get("version", [A])  # the cache is one-shot: this read starts a process
    assert len(fake.calls) == 3


def test_prefetch_refuses_mutating_commands(fake: Fake) -> None:
    with pytest.raises(ReadOnlyViolation, match="prefetch is for reads only"):
        fake.driver().prefetch([(["reboot"], [A])])
    assert fake.calls == []


def test_a_call_is_titled_by_what_it_asks_with_node_names_and_no_secrets(fake: Fake) -> None:
    talos = Talosctl(str(fake.path), fake.talosconfig, [A], Runner(["hunter2-secret"]),
                     names={A: "cp1", B: "w1"})
    assert talos.asks(["get", "machinestatus", "-o", "json"], [A, B]) == (
        "talosctl get machinestatus -o json -n cp1,w1")
    assert talos.asks(["etcd", "snapshot", "/b/hunter2-secret.db"], ["10.9.9.9"]) == (
        "talosctl etcd snapshot /b/****.db -n 10.9.9.9")  # no name known: the address
    assert talos.asks(["version", "--client"]) == "talosctl version --client"
