"""Profile loading and validation: every bad profile stops with one line naming file, field, why."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from model.plan import node_order_from_profile
from model.profile import (
    Profile,
    ProfileError,
    load_profile,
    parse_duration,
    resolve_cluster,
)
from model.roles import Role
from model.secrets import SecretRef
from model.versions import KubeVersion, TalosVersion

REPO = Path(__file__).resolve().parents[2]
SCHEMATIC = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"

BASE: dict[str, Any] = {
    "name": "home",
    "talos": {
        "version": "v1.9.2",
        "kubernetes": "1.32.0",
        "talosconfig": "generated/talosconfig",
        "kubeconfig": "generated/kubeconfig",
        "factory": {"schematic": SCHEMATIC, "extensions": ["siderolabs/iscsi-tools"]},
    },
    "nodes": {
        "control_plane": [
            {"name": "cp1", "address": "192.168.1.70", "vmid": 201},
            {"name": "cp2", "address": "192.168.1.71", "vmid": 202},
            {"name": "cp3", "address": "192.168.1.72", "vmid": 203},
        ],
        "workers": [
            {"name": "w1", "address": "192.168.1.80", "vmid": 301},
            {"name": "w2", "address": "192.168.1.81", "vmid": 302},
        ],
    },
    "upgrade": {"target": {"talos": "v1.9.4", "kubernetes": "1.32.2"}},
    "proxmox": {
        "api": "https://pve.example:8006",
        "node": "pve",
        "token": {"pass": "infra/pve-token"},
        "template_vmid": 9000,
    },
}


@pytest.fixture
def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Write text to <tmp>/clusters/home.yaml, with <tmp> the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clusters").mkdir()

    def _write(text: str) -> Path:
        path = tmp_path / "clusters" / "home.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return _write


Change = Callable[[dict[str, Any]], object]


def profile_with(change: Change) -> str:
    data = copy.deepcopy(BASE)
    change(data)
    return yaml.safe_dump(data, sort_keys=False)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change setting dotted `path` (list indexes as numbers) to `value`."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return change


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        del node[last]

    return change


INVALID: list[tuple[str, Change, str]] = [
    ("unknown-top-field", _set("nodez", []), "unknown field 'nodez'"),
    ("unknown-nested-field", _set("talos.versoin", "v1.9.2"), "talos: unknown field 'versoin'"),
    (
        "invalid-ip",
        _set("nodes.workers.1.address", "192.168.1.300"),
        "nodes.workers[1].address: '192.168.1.300' is not a valid IP address",
    ),
    (
        "talos-version-minor-only",
        _set("talos.version", 1.9),
        "talos.version: '1.9' is not a valid Talos version (expected e.g. v1.9.4)",
    ),
    (
        "talos-version-x",
        _set("talos.version", "v1.x"),
        "talos.version: 'v1.x' is not a valid Talos version (expected e.g. v1.9.4)",
    ),
    (
        "kubernetes-version",
        _set("talos.kubernetes", "v1.32"),
        "talos.kubernetes: 'v1.32' is not a valid Kubernetes version (expected e.g. 1.32.2)",
    ),
    (
        "target-version",
        _set("upgrade.target.talos", "latest"),
        "upgrade.target.talos: 'latest' is not a valid Talos version (expected e.g. v1.9.4)",
    ),
    (
        "schematic-not-hex",
        _set("talos.factory.schematic", SCHEMATIC.upper()),
        "talos.factory.schematic: must be 64 lower-case hex characters",
    ),
    (
        "schematic-short",
        _set("talos.factory.schematic", "abc123"),
        "talos.factory.schematic: must be 64 lower-case hex characters",
    ),
    (
        "factory-url",
        _set("talos.factory.url", "factory.talos.dev"),
        "talos.factory.url: 'factory.talos.dev' is not an http(s) URL",
    ),
    (
        "inline-secret",
        _set("proxmox.token", "root@pam!ci=0b5f0a8e-1111-2222-3333-444455556666"),
        "proxmox.token: inline secret not allowed; use {env: NAME}, {file: PATH} or {pass: PATH}",
    ),
    (
        "secret-two-kinds",
        _set("proxmox.token", {"env": "A", "file": "b"}),
        "proxmox.token: a secret reference has exactly one of env, file or pass (got env, file)",
    ),
    (
        "secret-unknown-kind",
        _set("proxmox.token", {"vault": "kv/pve"}),
        "proxmox.token: unknown secret kind 'vault'; use {env: NAME}, {file: PATH} or {pass: PATH}",
    ),
    (
        "no-control-plane-list",
        _delete("nodes.control_plane"),
        "nodes.control_plane: at least one control plane is required",
    ),
    (
        "empty-control-plane-list",
        _set("nodes.control_plane", []),
        "nodes.control_plane: at least one control plane is required",
    ),
    ("no-nodes", _delete("nodes"), "nodes: is required"),
    (
        "duplicate-name",
        _set("nodes.workers.1.name", "w1"),
        "nodes: duplicate node name 'w1'",
    ),
    (
        "duplicate-name-across-roles",
        _set("nodes.workers.0.name", "cp1"),
        "nodes: duplicate node name 'cp1'",
    ),
    (
        "duplicate-address",
        _set("nodes.workers.1.address", "192.168.1.80"),
        "nodes: duplicate address '192.168.1.80' (w1 and w2)",
    ),
    (
        "duplicate-vmid",
        _set("nodes.workers.1.vmid", 301),
        "nodes: duplicate vmid 301 (w1 and w2)",
    ),
    (
        "two-primaries",
        lambda d: [c.update(primary=True) for c in d["nodes"]["control_plane"][:2]],
        "nodes.control_plane: more than one primary control plane: 'cp1', 'cp2'",
    ),
    (
        "primary-worker",
        _set("nodes.workers.0.primary", True),
        "nodes.workers: 'w1' is marked primary; only a control plane can be",
    ),
    (
        "role-contradicts-list",
        _set("nodes.workers.0.role", "controlplane"),
        "nodes: 'w1' is listed under workers but has role 'controlplane' (leave role out: the "
        "list gives it)",
    ),
    (
        "address-required-without-lab",
        _delete("nodes.workers.0.address"),
        "nodes.workers[0].address: is required (only a profile with a lab: section may leave "
        "addresses out)",
    ),
    (
        "bad-node-name",
        _set("nodes.workers.0.name", "Worker 1"),
        "nodes.workers[0].name: 'Worker 1' is not a valid node name (lower-case letters, "
        "digits, '-' and '.')",
    ),
    (
        "vmid-not-int",
        _set("nodes.workers.0.vmid", "abc"),
        "nodes.workers[0].vmid: expected an integer, got 'abc'",
    ),
    (
        "nodes-not-a-mapping",
        _set("nodes", ["cp1"]),
        "nodes: expected a mapping of fields, got a list",
    ),
    (
        "bad-duration",
        _set("upgrade.timeouts", {"reboot": "10 minutes"}),
        "upgrade.timeouts.reboot: '10 minutes' is not a duration (expected e.g. 90s, 10m, "
        "1h30m or seconds)",
    ),
    (
        "zero-duration",
        _set("upgrade.timeouts", {"etcd": 0}),
        "upgrade.timeouts.etcd: 0: a duration must be positive",
    ),
    (
        "velero-ttl",
        _set("backups", {"velero": {"ttl": "30 days"}}),
        "backups.velero.ttl: '30 days' is not a Go duration (expected e.g. 720h0m0s)",
    ),
    (
        "allowlist-entry",
        _set("health", {"pod_allowlist": ["flaky-exporter"]}),
        "health.pod_allowlist: 'flaky-exporter' is not of the form namespace/name-prefix "
        "(globs allowed)",
    ),
    ("path-is-not-a-field", _set("path", "/etc"), "unknown field 'path'"),
    (
        "worker-batch-zero",
        _set("upgrade", {"workers": {"batch": 0}}),
        "upgrade.workers.batch: input should be greater than or equal to 1 (got 0)",
    ),
    (
        "target-extension-name",
        _set("upgrade", {"target": {"extensions": ["iscsi-tools"]}}),
        "upgrade.target.extensions: extension: 'iscsi-tools' is not an official extension name "
        "(owner/name, e.g. siderolabs/iscsi-tools)",
    ),
    (
        "target-schematic-not-hex",
        _set("upgrade", {"target": {"schematic": "abc"}}),
        "upgrade.target.schematic: must be 64 lower-case hex characters (an Image Factory "
        "schematic ID)",
    ),
    (
        "target-extensions-and-schematic",
        _set("upgrade", {"target": {"extensions": [], "schematic": "a" * 64}}),
        "upgrade.target: give extensions or schematic, not both (a schematic fixes its own)",
    ),
    (
        "change-jira-without-states",
        _set("change", {"system": "jira", "url": "https://jira.example.com",
                        "credentials": {"env": "JIRA_TOKEN"}}),
        "change: allowed_states: is required for jira (the statuses in which a change may be "
        "implemented, as your workflow names them)",
    ),
    (
        "change-unknown-system",
        _set("change", {"system": "remedy", "url": "https://x.example.com",
                        "credentials": {"env": "T"}}),
        "change.system: input should be 'servicenow' or 'jira' (got 'remedy')",
    ),
    (
        "change-inline-credentials",
        _set("change", {"system": "servicenow", "url": "https://x.service-now.com",
                        "credentials": "hunter2"}),
        "change.credentials: inline secret not allowed; use {env: NAME}, {file: PATH} or "
        "{pass: PATH}",
    ),
    (
        "change-url",
        _set("change", {"system": "servicenow", "url": "x.service-now.com",
                        "credentials": {"env": "T"}}),
        "change.url: 'x.service-now.com' is not an http(s) URL",
    ),
]


@pytest.mark.parametrize(("change", "message"), [pytest.param(c, m, id=i) for i, c, m in INVALID])
def test_invalid_profile_names_file_field_and_reason(
    write: Callable[[str], Path], change: Change, message: str
) -> None:
    path = write(profile_with(change))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value) == f"clusters/home.yaml: {message}"
    assert "\n" not in str(info.value)


def test_several_problems_are_all_listed_each_with_its_field(
    write: Callable[[str], Path]
) -> None:
    path = write(profile_with(lambda d: (_set("talos.version", "v1")(d), _set("nodez", 1)(d))))
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value) == (
        "clusters/home.yaml: 2 problems:\n"
        "  talos.version: 'v1' is not a valid Talos version (expected e.g. v1.9.4)\n"
        "  unknown field 'nodez'"
    )
    assert info.value.problems == [
        ("talos.version", "'v1' is not a valid Talos version (expected e.g. v1.9.4)"),
        ("", "unknown field 'nodez'"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "file is empty", id="empty"),
        pytest.param("  \n\n", "file is empty", id="blank"),
        pytest.param("# only a comment\n", "file is empty", id="comment-only"),
        pytest.param(
            "name: home\ntalos: [unclosed\n",
            "not valid YAML: expected ',' or ']', but got '<stream end>' (line 3, column 1)",
            id="not-yaml",
        ),
        pytest.param(
            "name: home\n  nodes: 1\n",
            "not valid YAML: mapping values are not allowed here (line 2, column 8)",
            id="bad-indent",
        ),
        pytest.param(
            "- cp1\n- cp2\n",
            "expected a mapping of profile fields at the top level, got a list",
            id="a-list",
        ),
        pytest.param(
            "just text\n",
            "expected a mapping of profile fields at the top level, got a string",
            id="a-string",
        ),
        pytest.param(
            "name: home\nname: other\n", "duplicate key 'name' (line 2, column 1)", id="dup-key"
        ),
    ],
)
def test_unusable_files(write: Callable[[str], Path], text: str, message: str) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile(write(text))
    assert str(info.value) == f"clusters/home.yaml: {message}"


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ProfileError) as info:
        load_profile(Path("clusters/nope.yaml"))
    assert str(info.value) == "clusters/nope.yaml: no such file"


def test_a_directory_is_not_a_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clusters" / "home.yaml").mkdir(parents=True)
    with pytest.raises(ProfileError, match=r"^clusters/home.yaml: is a directory, not a profile"):
        load_profile(Path("clusters/home.yaml"))


def test_a_valid_profile(write: Callable[[str], Path], tmp_path: Path) -> None:
    profile = load_profile(write(profile_with(lambda d: None)))
    assert profile.name == "home"
    assert profile.path == tmp_path / "clusters" / "home.yaml"
    assert profile.talos.version == TalosVersion.parse("v1.9.2")
    assert profile.talos.kubernetes == KubeVersion.parse("1.32.0")
    assert profile.upgrade.target.talos == TalosVersion.parse("v1.9.4")
    assert profile.talos.talosctl == "talosctl"
    # relative paths resolve against the profile's directory, not the working directory
    assert profile.talos.talosconfig == tmp_path / "clusters" / "generated" / "talosconfig"
    assert profile.backups.etcd_snapshot_dir == tmp_path / "clusters" / "backups"
    assert profile.talos.endpoints == ("192.168.1.70", "192.168.1.71", "192.168.1.72")
    assert profile.talos.factory.url == "https://factory.talos.dev"
    assert [n.name for n in profile.all_nodes] == ["cp1", "cp2", "cp3", "w1", "w2"]
    assert {n.role for n in profile.nodes.control_plane} == {Role.CONTROL_PLANE}
    assert {n.role for n in profile.nodes.workers} == {Role.WORKER}
    assert profile.primary.name == "cp1"  # the first control plane when none is marked
    assert [n.name for n in node_order_from_profile(profile).control_planes] == [
        "cp2", "cp3", "cp1"]
    assert profile.proxmox is not None
    assert profile.proxmox.token == SecretRef("pass", "infra/pve-token")
    assert repr(profile.proxmox.token) == "SecretRef(pass:infra/pve-token)"
    assert profile.upgrade.timeouts.reboot == 600.0
    assert profile.flux.enabled is False
    assert profile.health.max_raft_index_spread == 50
    assert profile.lab is None


def test_marked_primary_is_upgraded_last(write: Callable[[str], Path]) -> None:
    profile = load_profile(write(profile_with(_set("nodes.control_plane.1.primary", True))))
    assert profile.primary.name == "cp2"
    assert [n.name for n in node_order_from_profile(profile).control_planes] == [
        "cp1", "cp3", "cp2"]
    assert [n.primary for n in profile.nodes.control_plane] == [False, True, False]


def test_explicit_endpoints_absolute_paths_and_ipv6(
    write: Callable[[str], Path], tmp_path: Path
) -> None:
    def change(d: dict[str, Any]) -> None:
        d["talos"]["endpoints"] = ["cp.home.example:50000"]
        d["talos"]["kubeconfig"] = "/etc/kube/config"
        d["talos"]["talosconfig"] = "~/.talos/config"
        d["nodes"]["workers"][0]["address"] = "FD00:0::80"

    profile = load_profile(write(profile_with(change)))
    assert profile.talos.endpoints == ("cp.home.example:50000",)
    assert profile.talos.kubeconfig == Path("/etc/kube/config")
    assert profile.talos.talosconfig == Path("~/.talos/config").expanduser()
    assert profile.node("w1").address == "fd00::80"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        (90, 90.0),
        (2.5, 2.5),
        ("60s", 60.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("45", 45.0),
        ("1m30s", 90.0),
        ("0.5s", 0.5),
    ],
)
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10 minutes", "1d", "m", "-5", True, "30m1h"])
def test_bad_durations(text: object) -> None:
    with pytest.raises(ValueError, match="is not a duration|must be positive"):
        parse_duration(text)


def test_node_lookup_names_the_known_nodes(write: Callable[[str], Path]) -> None:
    profile = load_profile(write(profile_with(lambda d: None)))
    assert profile.node("w2").vmid == 302
    with pytest.raises(KeyError) as info:
        profile.node("w9")
    assert str(info.value) == "no node 'w9' in profile 'home' (known: cp1, cp2, cp3, w1, w2)"


def test_profile_is_frozen(write: Callable[[str], Path]) -> None:
    profile = load_profile(write(profile_with(lambda d: None)))
    with pytest.raises(ValidationError, match="frozen"):
        profile.name = "other"
    with pytest.raises(ValidationError, match="frozen"):
        profile.nodes.workers[0].address = "10.0.0.1"


def test_the_lab_profile_loads_without_addresses() -> None:
    profile = load_profile(REPO / "clusters" / "lab.yaml")
    assert profile.name == "lab"
    assert [n.name for n in profile.all_nodes] == ["cp1", "cp2", "cp3", "w1", "w2", "w3"]
    assert all(n.address is None for n in profile.all_nodes)
    assert profile.talos.endpoints == ()
    assert profile.upgrade.timeouts.reboot == 60.0
    assert profile.lab is not None
    assert profile.lab.timings["boot"] == 0.5
    assert profile.lab.scale == 1.0
    assert profile.proxmox is not None and profile.proxmox.token == SecretRef("env", "PVE_TOKEN")
    assert profile.talos.talosconfig == REPO / "clusters" / "talosconfig"


def test_lab_section_accepts_extra_keys_but_only_there(write: Callable[[str], Path]) -> None:
    def change(d: dict[str, Any]) -> None:
        d["lab"] = {"timings": {"boot": 1}, "faults": ["etcd-slow"], "workers": 4}
        del d["nodes"]["workers"][0]["address"]

    profile = load_profile(write(profile_with(change)))
    assert profile.lab is not None
    assert profile.lab.workers == 4
    assert profile.lab.model_extra == {"faults": ["etcd-slow"]}
    assert profile.node("w1").address is None


def test_example_home_profile_loads() -> None:
    profile = load_profile(REPO / "clusters" / "example-home.yaml")
    assert profile.name == "example-home"
    assert profile.flux.enabled is True
    assert profile.backups.velero is not None
    assert profile.backups.velero.exclude_namespaces == (
        "kube-system",
        "kube-public",
        "kube-node-lease",
    )
    assert profile.upgrade.timeouts.kubernetes == 1800.0
    assert profile.health.pod_allowlist == ("monitoring/flaky-exporter-",)


def test_resolve_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    clusters = tmp_path / "clusters"
    clusters.mkdir()
    for name in ("lab", "home"):
        (clusters / f"{name}.yaml").write_text("name: x\n")
    (clusters / "README.md").write_text("not a profile\n")
    assert resolve_cluster("home", clusters) == clusters / "home.yaml"
    assert resolve_cluster("clusters/lab.yaml", clusters) == Path("clusters/lab.yaml")
    with pytest.raises(ProfileError) as info:
        resolve_cluster("foo", clusters)
    assert str(info.value) == "unknown cluster 'foo': no clusters/foo.yaml (known: home, lab)"
    with pytest.raises(ProfileError) as info:
        resolve_cluster("elsewhere/foo.yaml", clusters)
    assert str(info.value) == "elsewhere/foo.yaml: no such profile file"


def test_profile_models_can_be_built_in_code() -> None:
    """Without a file: paths stay as given, defaults apply."""
    data = copy.deepcopy(BASE)
    profile = Profile.model_validate({**data, "path": Path("memory.yaml")})
    assert profile.talos.talosconfig == Path("generated/talosconfig")
    assert profile.backups.etcd_snapshot_dir == Path("backups")
