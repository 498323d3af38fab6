"""Fidelity of the lab's talosctl, read-only commands (reference §1, §2, §8), through the real
DIR/bin/talosctl wrapper as a subprocess. One lab (v1.9.2 nodes, talosctl v1.11.6) serves the
whole module; nothing here changes it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from emulator.api import Lab
from tests.emulator.lab_helpers import HEX16, addresses, objects, talosctl

NODES_NOT_SET = ("nodes are not set for the command: please use `--nodes` flag or configuration "
                 "file to set the nodes to run the command against")
OLDER = "server version 1.9.2 is older than client version 1.11.6"


@pytest.fixture(scope="module")
def lab(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab(lab={"talosctl": "v1.11.6"})


@pytest.fixture(scope="module")
def ip(lab: Lab) -> dict[str, str]:
    return addresses(lab)


def _client_block(short: bool) -> str:
    if short:
        return "Client:\nTalos v1.11.6\n"
    return ("Client:\n\tTag:         v1.11.6\n\tSHA:         1db40e1d\n\tBuilt:       \n"
            "\tGo version:  go1.23.4\n\tOS/Arch:     linux/amd64\n")


def _server_block(node: str) -> str:
    return (f"\tNODE:        {node}\n\tTag:         v1.9.2\n\tSHA:         09758b3f\n"
            "\tBuilt:       \n\tGo version:  go1.23.4\n\tOS/Arch:     linux/amd64\n"
            "\tEnabled:     RBAC\n")


# ---- version (§2.1) ---------------------------------------------------------------------------
@pytest.mark.parametrize("short", [False, True])
def test_version_prints_client_then_one_server_block_per_node(lab: Lab, ip: dict[str, str],
                                                              short: bool) -> None:
    done = talosctl(lab, "version", "-n", f"{ip['cp1']},{ip['w1']}",
                    *(["--short"] if short else []))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (_client_block(short) + "Server:\n" + _server_block(ip["cp1"])
                           + _server_block(ip["w1"]))


def test_version_client_needs_no_server(lab: Lab) -> None:
    done = talosctl(lab, "version", "--client")
    assert (done.returncode, done.stdout, done.stderr) == (0, _client_block(False), "")


def test_version_hidden_json_is_one_compact_protojson_per_node(lab: Lab,
                                                               ip: dict[str, str]) -> None:
    done = talosctl(lab, "version", "--json", "-n", f"{ip['cp1']},{ip['w2']}")
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and "Client:" not in done.stdout and "Server:" not in done.stdout
    msgs = [json.loads(line) for line in lines]
    assert [m["metadata"]["hostname"] for m in msgs] == [ip["cp1"], ip["w2"]]
    assert msgs[0]["version"] == {"tag": "v1.9.2", "sha": "09758b3f", "goVersion": "go1.23.4",
                                  "os": "linux", "arch": "amd64"}  # empty `built` left out
    assert msgs[0]["platform"] == {"name": "nocloud", "mode": "cloud"}
    assert msgs[0]["features"] == {"rbac": True}


def test_version_has_no_output_flag(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "version", "-o", "json", "-n", ip["cp1"])
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("unknown shorthand flag: 'o' in -o\n\nUsage:\n"
                                  "  talosctl version [flags]\n\nFlags:\n")
    assert "--json" not in done.stderr  # hidden flag


# ---- get (§2.2, §2.3, §8.2-8.4) --------------------------------------------------------------
RESOURCES = {  # get arg -> (full type, namespace, owner, table columns after VERSION)
    "members": ("Members.cluster.talos.dev", "cluster", "cluster.MemberController",
                ["HOSTNAME", "MACHINE TYPE", "OS", "ADDRESSES"]),
    "extensions": ("ExtensionStatuses.runtime.talos.dev", "runtime",
                   "runtime.ExtensionStatusController", ["NAME", "VERSION"]),
    "machinestatus": ("MachineStatuses.runtime.talos.dev", "runtime",
                      "runtime.MachineStatusController", ["STAGE", "READY"]),
    "nodename": ("Nodenames.kubernetes.talos.dev", "k8s", "k8s.NodenameController",
                 ["NODENAME"]),
    # `version` (Versions.runtime.talos.dev) does not exist on these v1.9 nodes: it is tested
    # on v1.10+ nodes in test_lab_clients.py
    "etcdmember": ("EtcdMembers.etcd.talos.dev", "etcd", "etcd.MemberController",
                   ["MEMBER ID"]),
}


def _cells(line: str, header: str) -> list[str]:
    """Split a tabwriter row at the header's column starts (3-space padding)."""
    starts = [m.start() for m in re.finditer(r"(?:(?<=^)|(?<=   ))\S", header)]
    return [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]


def _go_json(doc: object) -> str:
    text = json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_get_json_is_concatenated_sorted_four_space_objects(lab: Lab, ip: dict[str, str],
                                                            resource: str) -> None:
    rtype, ns, owner, _ = RESOURCES[resource]
    done = talosctl(lab, "get", resource, "-n", f"{ip['cp1']},{ip['w1']}", "-o", "json")
    assert done.returncode == 0
    assert done.stderr == f"WARNING: {ip['cp1']}: {OLDER}, {ip['w1']}: {OLDER}\n"
    assert not done.stdout.lstrip().startswith("[")
    docs = objects(done.stdout)
    # byte for byte what Go's json.Encoder with SetIndent("", "    ") writes: map keys sorted,
    # <, > and & escaped
    assert done.stdout == "".join(_go_json(d) + "\n" for d in docs)
    assert all(list(d) == ["metadata", "node", "spec"] for d in docs)
    assert {d["node"] for d in docs} <= {ip["cp1"], ip["w1"]}
    for d in docs:
        meta = d["metadata"]
        assert (meta["type"], meta["namespace"], meta["owner"], meta["phase"]) == \
            (rtype, ns, owner, "running")
        assert isinstance(meta["version"], int)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["created"])
    if resource == "etcdmember":  # control planes only
        assert [d["node"] for d in docs] == [ip["cp1"]]
        assert re.fullmatch(HEX16, docs[0]["spec"]["memberID"])
    elif resource == "members":
        assert len(docs) == 12
        cp1 = next(d for d in docs if d["metadata"]["id"] == "cp1")
        assert cp1["spec"]["operatingSystem"] == "Talos (v1.9.2)"
        assert cp1["spec"]["controlPlane"] == {"port": 6443}
        assert cp1["spec"]["addresses"] == [ip["cp1"]]
    else:
        assert [d["node"] for d in docs].count(ip["w1"]) == len(docs) // 2


def test_get_json_numeric_ids_are_numbers(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "get", "extensions", "-n", ip["w1"], "-o", "json")
    docs = objects(done.stdout)
    assert [d["metadata"]["id"] for d in docs] == [0, 1, 2]
    assert '"id": 0,' in done.stdout
    assert [d["spec"]["metadata"]["name"] for d in docs] == \
        ["iscsi-tools", "qemu-guest-agent", "schematic"]
    assert docs[2]["spec"]["metadata"]["version"] == \
        "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_get_yaml_has_node_first_and_dash_separators(lab: Lab, ip: dict[str, str],
                                                     resource: str) -> None:
    rtype, ns, _, _ = RESOURCES[resource]
    done = talosctl(lab, "get", resource, "-n", f"{ip['cp2']},{ip['w2']}", "-o", "yaml")
    assert done.returncode == 0
    parts = done.stdout.split("---\n")
    assert not done.stdout.startswith("---") and not done.stdout.rstrip().endswith("---")
    for part in parts:
        lines = part.splitlines()
        assert lines[0] in (f"node: {ip['cp2']}", f"node: {ip['w2']}")
        assert lines[1] == "metadata:"
        keys = [ln.split(":", 1)[0].strip() for ln in lines[2:10]]
        assert keys == ["namespace", "type", "id", "version", "owner", "phase", "created",
                        "updated"]
        assert lines[2] == f"    namespace: {ns}" and lines[3] == f"    type: {rtype}"
        assert "spec:" in lines
        doc = yaml.safe_load(part)
        assert doc["metadata"]["type"] == rtype
    if resource == "members":
        assert f"    addresses:\n        - {ip['cp1']}\n" in done.stdout


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_get_table_has_node_first_and_three_space_padding(lab: Lab, ip: dict[str, str],
                                                          resource: str) -> None:
    _, ns, _, columns = RESOURCES[resource]
    done = talosctl(lab, "get", resource, "-n", f"{ip['cp3']},{ip['w3']}")
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    header = lines[0]
    assert re.split(r"\s{3,}", header.strip()) == ["NODE", "NAMESPACE", "TYPE", "ID", "VERSION",
                                                    *columns]
    assert header.startswith("NODE   ")
    for line in lines[1:]:
        cells = _cells(line, header)
        assert cells[0] in (ip["cp3"], ip["w3"]) and cells[1] == ns
    if resource == "extensions":
        rows = [_cells(line, header) for line in lines[1:]]
        assert header.count("VERSION") == 2
        assert rows[0][2:] == ["ExtensionStatus", "0", "1", "iscsi-tools", "v0.1.6"]
    if resource == "members":
        row = _cells(lines[1], header)
        assert row[2:] == ["Member", "cp1", "1", "cp1", "controlplane", "Talos (v1.9.2)",
                           f'["{ip["cp1"]}"]']


def test_get_missing_id_prints_header_then_multierror(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "get", "machinestatus", "nope", "-n", ip["cp1"])
    assert done.returncode == 1
    assert done.stdout.split() == ["NODE", "NAMESPACE", "TYPE", "ID", "VERSION", "STAGE", "READY"]
    assert done.stderr.endswith(
        "1 error occurred:\n\t* rpc error: code = NotFound desc = resource "
        "MachineStatuses.runtime.talos.dev(runtime/nope@undefined) doesn't exist\n\n\n")


def test_get_unknown_type_is_not_registered(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "get", "foo", "-n", ip["cp1"])
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.endswith('rpc error: code = NotFound desc = resource "foo" is not '
                                "registered\n")


def test_get_bad_output_format(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "get", "members", "-n", ip["cp1"], "-o", "xml")
    assert done.returncode == 1
    assert done.stderr.endswith('output format "xml" is not supported\n')


# ---- global flags and config resolution (§1) -------------------------------------------------
def test_nodes_not_set_error_and_usage(lab: Lab) -> None:
    done = talosctl(lab, "get", "members")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(NODES_NOT_SET + "\n\nUsage:\n  talosctl get <type> [<id>] ")


def test_unknown_context(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "--context", "nope", "get", "members", "-n", ip["cp1"])
    assert (done.returncode, done.stdout, done.stderr) == \
        (1, "", 'context "nope" not found in config\n')


def _env(lab: Lab, home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in lab.env().items() if k != "TALOSCONFIG"}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def test_config_resolution_order(lab: Lab, ip: dict[str, str], tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".talos").mkdir(parents=True)
    # nothing anywhere: no endpoints
    done = talosctl(lab, "version", "-n", ip["cp1"], env=_env(lab, home))
    assert (done.returncode, done.stderr) == (1, "failed to determine endpoints\n")
    # $HOME/.talos/config is used when TALOSCONFIG is unset
    shutil.copy(lab.dir / "talosconfig", home / ".talos" / "config")
    done = talosctl(lab, "get", "nodename", "-n", ip["w1"], "-o", "json", env=_env(lab, home))
    assert done.returncode == 0 and objects(done.stdout)[0]["spec"]["nodename"] == "w1"
    # TALOSCONFIG wins over $HOME/.talos/config ...
    broken = yaml.safe_load((lab.dir / "talosconfig").read_text())
    broken["context"] = "gone"
    (tmp_path / "broken").write_text(yaml.safe_dump(broken))
    env = _env(lab, home, TALOSCONFIG=str(tmp_path / "broken"))
    done = talosctl(lab, "get", "nodename", "-n", ip["w1"], env=env)
    assert (done.returncode, done.stderr) == (1, 'default context "gone" not found in config\n')
    # ... and --talosconfig wins over TALOSCONFIG
    done = talosctl(lab, "--talosconfig", str(lab.dir / "talosconfig"), "get", "nodename", "-n",
                    ip["w1"], env=env)
    assert done.returncode == 0 and "   nodename   " in done.stdout


def test_context_nodes_and_endpoint_override(lab: Lab, ip: dict[str, str],
                                             tmp_path: Path) -> None:
    cfg = yaml.safe_load((lab.dir / "talosconfig").read_text())
    ctx = cfg["contexts"][cfg["context"]]
    ctx["nodes"] = [ip["w2"]]
    ctx["endpoints"] = ["127.0.0.1"]  # nothing listens there: -e must override it
    (tmp_path / "cfg").write_text(yaml.safe_dump(cfg))
    done = talosctl(lab, "--talosconfig", str(tmp_path / "cfg"), "-e", ip["cp2"], "get",
                    "nodename", "-o", "json")
    assert done.returncode == 0, done.stderr
    assert [d["node"] for d in objects(done.stdout)] == [ip["w2"]]
    done = talosctl(lab, "--talosconfig", str(tmp_path / "cfg"), "get", "nodename")
    assert done.returncode == 1
    assert done.stderr.endswith('dial tcp 127.0.0.1:50000: connect: connection refused"\n')


# ---- etcd (§2.4, §8.8) -----------------------------------------------------------------------
def test_etcd_members_table(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "etcd", "members", "-n", f"{ip['cp1']},{ip['cp2']}")
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert re.split(r"\s{3,}", lines[0]) == ["NODE", "ID", "HOSTNAME", "PEER URLS",
                                              "CLIENT URLS", "LEARNER"]
    rows = [_cells(line, lines[0]) for line in lines[1:]]
    assert [r[0] for r in rows] == [ip["cp1"]] * 3 + [ip["cp2"]] * 3
    by_name = {r[2]: r for r in rows[:3]}
    assert sorted(by_name) == ["cp1", "cp2", "cp3"]
    for name, row in by_name.items():
        assert re.fullmatch(HEX16, row[1])
        assert row[3:] == [f"http://{ip[name]}:2380", f"http://{ip[name]}:2379", "false"]
    member = objects(talosctl(lab, "get", "etcdmember", "-n", ip["cp2"], "-o", "json").stdout)
    assert by_name["cp2"][1] == member[0]["spec"]["memberID"]


def test_etcd_members_on_a_worker_is_refused(lab: Lab, ip: dict[str, str]) -> None:
    worker_error = (f"{ip['w1']}: rpc error: code = Unimplemented desc = member list is only "
                    "available on control plane nodes")
    done = talosctl(lab, "etcd", "members", "-n", ip["w1"])
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"error getting members: 1 error occurred:\n\t* {worker_error}\n\n\n"
    done = talosctl(lab, "etcd", "members", "-n", f"{ip['cp1']},{ip['w1']}")
    assert done.returncode == 0 and done.stdout.count(ip["cp1"]) == 3 + 2  # NODE + own URLs
    assert done.stderr == f"WARNING: 1 error occurred:\n\t* {worker_error}\n\n\n"


def test_etcd_status_columns_follow_the_client_values_the_node(lab: Lab,
                                                               ip: dict[str, str]) -> None:
    done = talosctl(lab, "etcd", "status", "-n", f"{ip['cp1']},{ip['cp2']},{ip['cp3']}")
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert re.split(r"\s{3,}", lines[0].strip()) == [
        "NODE", "MEMBER", "DB SIZE", "IN USE", "LEADER", "RAFT INDEX", "RAFT TERM",
        "RAFT APPLIED INDEX", "LEARNER", "PROTOCOL", "STORAGE", "ERRORS"]
    rows = [_cells(line, lines[0]) for line in lines[1:]]
    assert [r[0] for r in rows] == [ip["cp1"], ip["cp2"], ip["cp3"]]
    leaders = {r[4] for r in rows}
    assert len(leaders) == 1 and leaders <= {r[1] for r in rows}
    for r in rows:
        assert re.fullmatch(HEX16, r[1])
        assert re.fullmatch(r"\d+(\.\d)? [kMG]?B", r[2])
        assert re.fullmatch(r"\d+(\.\d)? [kMG]?B \(\d+\.\d\d%\)", r[3])
        assert r[5].isdigit() and r[6].isdigit() and r[7].isdigit() and r[8] == "false"
        assert r[9:] == ["", "", ""]  # Talos v1.9 machined does not fill PROTOCOL/STORAGE


def test_etcd_alarm_list_prints_nothing_without_alarms(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "etcd", "alarm", "list", "-n", ip["cp1"])
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_etcd_snapshot_is_real_and_prints_the_two_lines(lab: Lab, ip: dict[str, str],
                                                        tmp_path: Path) -> None:
    done = talosctl(lab, "etcd", "snapshot", "db.snapshot", "-n", ip["cp1"], cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    saved, info = done.stdout.splitlines()
    size = (tmp_path / "db.snapshot").stat().st_size
    assert saved == f'etcd snapshot saved to "db.snapshot" ({size} bytes)'
    assert size % 512 == 32  # the sha256 trailer talosctl checks
    m = re.fullmatch(r"snapshot info: hash ([0-9a-f]{8}), revision (\d+), total keys (\d+), "
                     r"total size (\d+)", info)
    assert m, info
    status = subprocess.run(["etcdctl", "snapshot", "status", "-w", "json",
                             str(tmp_path / "db.snapshot")], capture_output=True, text=True,
                            env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"}, check=True)
    real = json.loads(status.stdout)
    assert (f"{real['hash']:08x}", real["revision"], real["totalKey"], real["totalSize"]) == \
        (m[1], int(m[2]), int(m[3]), int(m[4]))
    assert int(m[3]) > 1


def test_etcd_snapshot_needs_exactly_one_node(lab: Lab, ip: dict[str, str],
                                              tmp_path: Path) -> None:
    done = talosctl(lab, "etcd", "snapshot", str(tmp_path / "x.db"), "-n",
                    f"{ip['cp1']},{ip['cp2']}")
    assert done.returncode == 1 and not (tmp_path / "x.db").exists()
    assert done.stderr.startswith('command "etcd snapshot" is not supported with multiple '
                                  "nodes\n\nUsage:\n  talosctl etcd snapshot <path> [flags]\n")
    done = talosctl(lab, "etcd", "snapshot", "-n", ip["cp1"])
    assert done.returncode == 1
    assert done.stderr.startswith("accepts 1 arg(s), received 0\n\nUsage:\n")


def test_etcd_remove_member_rejects_a_bad_id(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "etcd", "remove-member", "xyz", "-n", ip["cp1"])
    assert done.returncode == 1
    assert done.stderr == ("error parsing member ID: error parsing etcd member id: "
                           'strconv.ParseUint: parsing "xyz": invalid syntax\n')


# ---- health (§2.5, §2.6, §8.5) ---------------------------------------------------------------
CHECKS = ["etcd to be healthy", "etcd members to be consistent across nodes",
          "etcd members to be control plane nodes", "apid to be ready", "all nodes memory sizes",
          "all nodes disk sizes", "no diagnostics", "kubelet to be healthy",
          "all nodes to finish boot sequence", "all k8s nodes to report",
          "all control plane static pods to be running",
          "all control plane components to be ready", "all k8s nodes to report ready",
          "kube-proxy to report ready", "coredns to report ready",
          "all k8s nodes to report schedulable"]


def _healthy_lines() -> list[str]:
    return [f"waiting for {c}: {s}" for c in CHECKS for s in ("...", "OK")]


def test_health_server_mode_on_stderr_only(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "health", "-n", ip["cp1"])
    assert (done.returncode, done.stdout) == (0, "")
    nodes = " ".join(f'"{ip[n]}"' for n in ("cp1", "cp2", "cp3", "w1", "w2", "w3"))
    assert done.stderr.splitlines() == [f"discovered nodes: [{nodes}]", *_healthy_lines()]


def test_health_client_mode_and_explicit_nodes(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "health", "--server=false", "--control-plane-nodes",
                    f"{ip['cp1']},{ip['cp2']},{ip['cp3']}", "--worker-nodes",
                    f"{ip['w1']},{ip['w2']},{ip['w3']}")
    assert (done.returncode, done.stdout) == (0, "")
    assert done.stderr.splitlines() == _healthy_lines()


def test_health_server_mode_is_single_node(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "health", "-n", f"{ip['cp1']},{ip['cp2']}")
    assert done.returncode == 1
    assert done.stderr.startswith('command "health" is not supported with multiple nodes\n\n'
                                  "Usage:\n  talosctl health [flags]\n")


# ---- services, dmesg, read ---------------------------------------------------------------------
def test_services_list_and_one_service(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "services", "-n", f"{ip['cp1']},{ip['w1']}")
    assert (done.returncode, done.stderr) == (0, "")
    lines = done.stdout.splitlines()
    assert re.split(r"\s{3,}", lines[0]) == ["NODE", "SERVICE", "STATE", "HEALTH",
                                              "LAST CHANGE", "LAST EVENT"]
    rows = [_cells(line, lines[0]) for line in lines[1:]]
    cp1 = {r[1]: r for r in rows if r[0] == ip["cp1"]}
    w1 = {r[1]: r for r in rows if r[0] == ip["w1"]}
    assert {"apid", "etcd", "kubelet", "trustd", "machined", "ext-qemu-guest-agent"} <= set(cp1)
    assert "etcd" not in w1 and "kubelet" in w1
    assert cp1["etcd"][2:4] == ["Running", "OK"] and re.fullmatch(r"\d+[hms0-9]* ago",
                                                                    cp1["etcd"][4])
    assert cp1["etcd"][5] == "Health check successful"
    done = talosctl(lab, "service", "etcd", "-n", ip["cp1"])
    assert done.returncode == 0
    assert re.split(r"\s{3,}", done.stdout.splitlines()[0]) == ["NODE", ip["cp1"]]
    assert [re.split(r"\s{3,}", x)[0] for x in done.stdout.splitlines()[1:5]] == \
        ["ID", "STATE", "HEALTH", "EVENTS"]
    done = talosctl(lab, "service", "nope", "-n", ip["w1"])
    assert (done.returncode, done.stderr) == (1, 'service "nope" is not registered on any '
                                                 "nodes\n")


def test_dmesg_lines_carry_the_node(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "dmesg", "-n", ip["w2"])
    assert done.returncode == 0 and done.stdout
    for line in done.stdout.splitlines():
        assert re.fullmatch(rf"{re.escape(ip['w2'])}: (kern|user): +\w+: "
                            r"\[\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z\]: .+", line), line


def test_read_boot_id_single_node(lab: Lab, ip: dict[str, str]) -> None:
    done = talosctl(lab, "read", "/proc/sys/kernel/random/boot_id", "-n", ip["w3"])
    assert done.returncode == 0
    assert re.fullmatch(r"[0-9a-f]{8}-([0-9a-f]{4}-){3}[0-9a-f]{12}\n", done.stdout)
    assert done.stdout.strip() == next(n["boot_id"] for n in lab.status()["nodes"]
                                       if n["name"] == "w3")
    done = talosctl(lab, "read", "/proc/sys/kernel/random/boot_id", "-n",
                    f"{ip['w3']},{ip['w2']}")
    assert done.returncode == 1
    assert done.stderr.startswith('command "read" is not supported with multiple nodes\n')


# ---- what is not emulated ------------------------------------------------------------------
@pytest.mark.parametrize("argv", [["dashboard"], ["etcd", "defrag"], ["logs", "kubelet"],
                                  ["reset"]])
def test_not_emulated_fails_loudly(lab: Lab, ip: dict[str, str], argv: list[str]) -> None:
    done = talosctl(lab, *argv, "-n", ip["cp1"])
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"not emulated: talosctl {' '.join(argv)} -n {ip['cp1']}\n"


def test_unknown_command_suggests(lab: Lab) -> None:
    done = talosctl(lab, "verison")
    assert done.returncode == 1
    assert done.stderr.startswith('unknown command "verison" for "talosctl"\n\nDid you mean '
                                  "this?\n\tversion\n")


def test_help_goes_to_stdout(lab: Lab) -> None:
    done = talosctl(lab, "etcd", "--help")
    assert (done.returncode, done.stderr) == (0, "")
    assert "Available Commands:" in done.stdout and "  snapshot " in done.stdout
