"""emulator.talos.formats against the samples of reference/talos-interfaces.md (§1, §2, §3, §8).

Samples quoted from the reference are compared byte for byte; where a sample was captured with
other data (wider columns, elided rows) the same data is rebuilt so the bytes can be compared.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, timedelta, timezone

import pytest

from emulator.talos import formats as f
from emulator.talos.gojson import go_json, json_string
from emulator.talos.gotext import format_float, go_log, json_float, tabwriter_text
from emulator.talos.goyaml import GoMap, MappingNode, emit_document, raw_scalar, value_node


# ---------------------------------------------------------------------------------------------
# Go primitives
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("raw", "quoted"), [
    ("db.snapshot", '"db.snapshot"'),
    ('node "x" is not ready', '"node \\"x\\" is not ready"'),
    ("a\\b\n\t\x01\x7f", '"a\\\\b\\n\\t\\x01\\x7f"'),
    ("héllo 本", '"héllo 本"'),
    ("\u2028\u00a0", '"\\u2028\\u00a0"'),
    ("\U0001F600", '"\U0001F600"'),
])
def test_go_quote(raw: str, quoted: str) -> None:
    assert f.go_quote(raw) == quoted


def test_go_quote_rune_and_lists() -> None:
    assert f.go_quote_rune("o") == "'o'"
    assert f.go_quote_rune("'") == "'\\''"
    assert f.go_quote_list(["10.0.1.180", "10.0.0.91"]) == '["10.0.1.180" "10.0.0.91"]'
    assert f.go_quote_list([]) == "[]"
    assert f.go_list(["a", "b"]) == "[a b]"


@pytest.mark.parametrize(("text", "ns", "back"), [
    ("5m", 300 * 10**9, "5m0s"), ("1m30s", 90 * 10**9, "1m30s"),
    ("300ms", 3 * 10**8, "300ms"), ("20m0s", 1200 * 10**9, "20m0s"),
    ("30m", 1800 * 10**9, "30m0s"), ("1h", 3600 * 10**9, "1h0m0s"),
    ("1.5h", 5400 * 10**9, "1h30m0s"), ("0", 0, "0s"), ("1us", 1000, "1µs"),
    ("1µs", 1000, "1µs"), ("2.5ms", 2_500_000, "2.5ms"), ("-1.5s", -1_500_000_000, "-1.5s"),
    ("1h2m3.004s", 3723004000000, "1h2m3.004s"),
])
def test_duration_parse_and_format(text: str, ns: int, back: str) -> None:
    assert f.parse_duration(text) == ns
    assert f.format_duration(ns) == back


@pytest.mark.parametrize(("text", "message"), [
    ("x", 'time: invalid duration "x"'),
    ("", 'time: invalid duration ""'),
    ("1", 'time: missing unit in duration "1"'),
    ("1x", 'time: unknown unit "x" in duration "1x"'),
    (".s", 'time: invalid duration ".s"'),
    ("5 m", 'time: unknown unit " m" in duration "5 m"'),
])
def test_duration_errors(text: str, message: str) -> None:
    with pytest.raises(f.DurationError) as e:
        f.parse_duration(text)
    assert str(e.value) == message


@pytest.mark.parametrize(("n", "text"), [
    # go-humanize v1.0.1 bytes_test.go, plus the sizes in the reference's etcd samples
    (0, "0 B"), (1, "1 B"), (803, "803 B"), (999, "999 B"), (1024, "1.0 kB"), (9999, "10 kB"),
    (10**6 - 1, "1000 kB"), (1024 * 1024, "1.0 MB"), (10**9 - 10**3, "1000 MB"),
    (10**9, "1.0 GB"), (10**12 - 10**6, "1000 GB"), (9999 * 1000, "10 MB"), (10**12, "1.0 TB"),
    (10**15 - 10**12, "999 TB"), (10**15, "1.0 PB"), (10**18 - 10**15, "999 PB"),
    (10**18, "1.0 EB"), (int(5.5 * 10**9), "5.5 GB"), (512, "512 B"), (4_500_000, "4.5 MB"),
    (21_000_000, "21 MB"), (1_000_000, "1.0 MB"),
])
def test_humanize_bytes(n: int, text: str) -> None:
    assert f.humanize_bytes(n) == text


def test_go_log_is_not_libm_log() -> None:
    # math.log(1e6)/math.log(1000) is 1.9999999999999996 in C; Go's log gives exactly 2
    assert go_log(1e6) / go_log(1000.0) == 2.0


@pytest.mark.parametrize(("value", "g", "js"), [
    (0.0, "0", "0"), (1.0, "1", "1"), (3.5, "3.5", "3.5"), (1e6, "1e+06", "1000000"),
    (123456.0, "123456", "123456"), (1234567.0, "1.234567e+06", "1234567"),
    (1e-5, "1e-05", "0.00001"), (1e-7, "1e-07", "1e-7"), (0.0001, "0.0001", "0.0001"),
    (1e21, "1e+21", "1e+21"), (-2.5, "-2.5", "-2.5"), (0.1 + 0.2, "0.30000000000000004",
                                                       "0.30000000000000004"),
])
def test_float_formats(value: float, g: str, js: str) -> None:
    assert format_float(value, "g") == g
    assert json_float(value) == js


def test_go_time_string_matches_the_upgrade_sample() -> None:
    cdt = timezone(timedelta(hours=-5), "CDT")
    epoch_ns = 1661368111 * 10**9 + 152577842  # 2022-08-24 14:08:31.152577842 -0500
    assert f.go_time_string(epoch_ns, 5_464_175_834, cdt) == \
        "2022-08-24 14:08:31.152577842 -0500 CDT m=+5.464175834"
    assert f.go_time_string(1661368111 * 10**9 + 150_000_000, None, UTC) == \
        "2022-08-24 19:08:31.15 +0000 UTC"


def test_multierror() -> None:
    assert f.multierror(["boom"]) == "1 error occurred:\n\t* boom\n\n"
    assert f.multierror(["a", "b"]) == "2 errors occurred:\n\t* a\n\t* b\n\n"


# Go's own text/tabwriter test vectors (tabwriter_test.go): (minwidth, padding, padchar, in, out)
TABWRITER_VECTORS = [
    (8, 1, ".", "*\t*", "*.......*"),
    (8, 1, ".", "*\t*\n", "*.......*\n"),
    (8, 1, ".", "*\t*\t", "*.......*"),
    (8, 1, ".", "\t\n", "........\n"),
    (8, 1, ".", "e) foo\tbar\t\n", "e) foo..bar.....\n"),
    (8, 1, ".", "d) foo\tbar\n", "d) foo..bar\n"),
    (1, 0, ".", "1\t2\t3\t4\n11\t222\t3333\t44444\n", "1.2..3...4\n11222333344444\n"),
    (5, 0, ".", "1\t2\t3\t4\t\n", "1....2....3....4....\n"),
    (8, 1, ".", "本\tb\tc\naa\t本本本\tcccc\tddddd\naaa\tbbbb\n",
     "本.......b.......c\naa......本本本.....cccc....ddddd\naaa.....bbbb\n"),
    (2, 0, " ", "a\tb\tc\naa\tbbb\tcccc\naaa\tbbbb\n", "a  b  c\naa bbbcccc\naaabbbb\n"),
    (4, 3, ".", "4444\t333\t22\t1\t333\n999999999\t22\n7\t22\n\t\t\t88888888\n\n"
                "666666\t666666\t666666\t4444\n1\t1\t999999999\t0000000000\n",
     "4444........333...22...1...333\n999999999...22\n7...........22\n"
     "....................88888888\n\n666666...666666...666666......4444\n"
     "1........1........999999999...0000000000\n"),
    (8, 1, ".", "\t", ""),
    (8, 1, ".", "\n\n\n", "\n\n\n"),
]


@pytest.mark.parametrize(("minwidth", "padding", "padchar", "src", "out"), TABWRITER_VECTORS)
def test_tabwriter_go_vectors(minwidth: int, padding: int, padchar: str, src: str, out: str
                              ) -> None:
    assert tabwriter_text(src, padding, minwidth, padchar) == out


def test_tabwriter_last_cell_unpadded_and_trailing_tab_padded() -> None:
    assert f.tabwriter([["A", "BB"], ["CCC", "D"]]) == "A     BB\nCCC   D\n"
    # "%s\t%s\t%s\t\n": the third column is tab-terminated, so it is padded too
    assert f.tabwriter([["N", "ACK", "T"], ["node", "ok", "tt", ""]]) == \
        "N      ACK   T\nnode   ok    tt   \n"


# ---------------------------------------------------------------------------------------------
# get: YAML / JSON / table (§2.2, §2.3)
# ---------------------------------------------------------------------------------------------
def member(rid: str, version: int, addr: str, os_: str, machine_type: str = "controlplane"
           ) -> dict[str, object]:
    spec: dict[str, object] = {"nodeId": "8XuV9TZHW08DOk3bVxQjH9ih2lfFzD5iKdIa8uLbkZ9",
                               "addresses": [addr], "hostname": rid,
                               "machineType": machine_type, "operatingSystem": os_}
    if machine_type == "controlplane":
        spec["controlPlane"] = {"port": 6443}
    return {"metadata": {"namespace": "cluster", "type": "Members.cluster.talos.dev", "id": rid,
                         "version": version, "owner": "cluster.MemberController",
                         "phase": "running", "created": "2025-01-10T10:00:00Z",
                         "updated": "2025-01-10T10:05:00Z"},
            "spec": spec}


CP1 = member("talos-default-controlplane-1", 2, "10.5.0.2", "Talos (v1.11.0)")

MEMBERS_YAML = """\
node: 10.5.0.2
metadata:
    namespace: cluster
    type: Members.cluster.talos.dev
    id: talos-default-controlplane-1
    version: 2
    owner: cluster.MemberController
    phase: running
    created: 2025-01-10T10:00:00Z
    updated: 2025-01-10T10:05:00Z
spec:
    nodeId: 8XuV9TZHW08DOk3bVxQjH9ih2lfFzD5iKdIa8uLbkZ9
    addresses:
        - 10.5.0.2
    hostname: talos-default-controlplane-1
    machineType: controlplane
    operatingSystem: Talos (v1.11.0)
    controlPlane:
        port: 6443
"""

MEMBERS_JSON = """\
{
    "metadata": {
        "created": "2025-01-10T10:00:00Z",
        "id": "talos-default-controlplane-1",
        "namespace": "cluster",
        "owner": "cluster.MemberController",
        "phase": "running",
        "type": "Members.cluster.talos.dev",
        "updated": "2025-01-10T10:05:00Z",
        "version": 2
    },
    "node": "10.5.0.2",
    "spec": {
        "addresses": [
            "10.5.0.2"
        ],
        "controlPlane": {
            "port": 6443
        },
        "hostname": "talos-default-controlplane-1",
        "machineType": "controlplane",
        "nodeId": "8XuV9TZHW08DOk3bVxQjH9ih2lfFzD5iKdIa8uLbkZ9",
        "operatingSystem": "Talos (v1.11.0)"
    }
}
"""


def test_members_yaml_matches_reference() -> None:
    assert f.resources_yaml([("10.5.0.2", CP1)]) == MEMBERS_YAML


def test_yaml_documents_are_separated_by_dashes_only_between() -> None:
    out = f.resources_yaml([("10.5.0.2", CP1), ("10.5.0.3", CP1)])
    assert out == MEMBERS_YAML + "---\n" + MEMBERS_YAML.replace("node: 10.5.0.2",
                                                                "node: 10.5.0.3")
    assert f.resources_yaml([]) == ""


def test_members_json_matches_reference() -> None:
    assert f.resources_json([("10.5.0.2", CP1)]) == MEMBERS_JSON
    two = f.resources_json([("10.5.0.2", CP1), ("10.5.0.3", CP1)])
    assert two == MEMBERS_JSON + MEMBERS_JSON.replace('"node": "10.5.0.2"', '"node": "10.5.0.3"')
    assert f.resources_json([]) == ""


FLAVOR = {"metadata": {"namespace": "runtime", "type": "ExtensionStatuses.runtime.talos.dev",
                       "id": "0", "version": 1, "owner": "runtime.ExtensionStatusController",
                       "phase": "running", "created": "2023-09-07T14:06:03Z",
                       "updated": "2023-09-07T14:06:03Z"},
          "spec": {"image": "0.sqsh", "metadata": {
              "name": "flavor",
              "version": "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba",
              "author": "Image Service",
              "description": "Virtual extension which specifies the flavor of the image built "
                             "with Image Service.",
              "compatibility": {"talos": {"version": ">= 1.0.0"}}}}}

# image-factory PR #17 (the real output printed `node:` for a local node; here it is 10.5.0.2)
FLAVOR_YAML = """\
node: 10.5.0.2
metadata:
    namespace: runtime
    type: ExtensionStatuses.runtime.talos.dev
    id: 0
    version: 1
    owner: runtime.ExtensionStatusController
    phase: running
    created: 2023-09-07T14:06:03Z
    updated: 2023-09-07T14:06:03Z
spec:
    image: 0.sqsh
    metadata:
        name: flavor
        version: 376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba
        author: Image Service
        description: Virtual extension which specifies the flavor of the image built with Image Service.
        compatibility:
            talos:
                version: '>= 1.0.0'
"""  # noqa: E501


def test_extension_status_yaml_matches_image_factory_sample() -> None:
    assert f.resources_yaml([("10.5.0.2", FLAVOR)]) == FLAVOR_YAML


def test_extension_status_json_has_numeric_id_and_go_escaping() -> None:
    out = f.resources_json([("10.5.0.2", FLAVOR)])
    assert '"id": 0,' in out
    assert '"version": "\\u003e= 1.0.0"' in out
    assert json.loads(out)["spec"]["metadata"]["compatibility"]["talos"]["version"] == ">= 1.0.0"


def test_machinestatus_json_layout() -> None:
    res = {"metadata": {"namespace": "runtime", "type": "MachineStatuses.runtime.talos.dev",
                        "id": "machine", "version": 7, "owner": "runtime.MachineStatusController",
                        "phase": "running", "created": "2025-01-10T10:00:00Z",
                        "updated": "2025-01-10T10:00:00Z"},
           "spec": {"stage": "running", "status": {"ready": True, "unmetConditions": []}}}
    out = f.resources_json([("10.5.0.2", res)])
    assert out.endswith('    "node": "10.5.0.2",\n    "spec": {\n        "stage": "running",\n'
                        '        "status": {\n            "ready": true,\n'
                        '            "unmetConditions": []\n        }\n    }\n}\n')
    assert "    unmetConditions: []\n" in f.resources_yaml([("n", res)])


@pytest.mark.parametrize(("meta_id", "json_id"), [
    ("0", "0"), ("12", "12"), ("1e3", "1000"), ("0x10", "16"), ("true", "true"),
    ("machine", '"machine"'), ("1.5", "1.5"), ("08", "8"), ("2023-01-01", '"2023-01-01"'),
])
def test_json_id_goes_through_a_yaml_round_trip(meta_id: str, json_id: str) -> None:
    res = {"metadata": dict(CP1["metadata"], id=meta_id), "spec": {}}  # type: ignore[arg-type]
    assert f'"id": {json_id},' in f.resources_json([("n", res)])
    assert f"    id: {meta_id}\n" in f.resources_yaml([("n", res)])


def test_empty_owner_is_null_in_json_and_bare_in_yaml() -> None:
    res = {"metadata": dict(CP1["metadata"], owner=""), "spec": {}}  # type: ignore[arg-type]
    assert '"owner": null,' in f.resources_json([("n", res)])
    assert "    owner:\n" in f.resources_yaml([("n", res)])


def test_labels_annotations_finalizers_follow_updated() -> None:
    meta = dict(CP1["metadata"], labels={"b": "2", "a": "1"}, finalizers=["x"])  # type: ignore[arg-type]
    out = f.resources_yaml([("n", {"metadata": meta, "spec": {}})])
    assert ("    updated: 2025-01-10T10:05:00Z\n    labels:\n        a: 1\n        b: 2\n"
            "    finalizers:\n        - x\nspec: {}\n") in out


@pytest.mark.parametrize(("value", "yaml_text"), [
    ("plain text", "plain text"), ("1.0", '"1.0"'), ("10", '"10"'), ("yes", '"yes"'),
    ("y", '"y"'), ("", '""'), ("null", '"null"'), ("~", '"~"'), ("true", '"true"'),
    ("2023-09-07T14:06:03Z", '"2023-09-07T14:06:03Z"'), ("0x1F", '"0x1F"'), ("1_000", '"1_000"'),
    ("1:20", '"1:20"'), ("a: b", "'a: b'"), ("#x", "'#x'"), ("x #y", "'x #y'"),
    ("x#y", "x#y"), ("- x", "'- x'"), ("-", "'-'"), ("-x", "-x"), (" lead", "' lead'"),
    ("trail ", "'trail '"), ("it's", "it's"), ("'q", "'''q'"), ("tab\there", '"tab\\there"'),
    ("Talos (v1.11.0)", "Talos (v1.11.0)"), ("[x]", "'[x]'"), ("a, b", "a, b"),
    ("héllo", "héllo"), ("\U0001F600", '"\\U0001F600"'), ("%x", "'%x'"), ("@x", "'@x'"),
    ("v1.9.4", "v1.9.4"), ("10.5.0.2", "10.5.0.2"), ("node \"x\"", 'node "x"'),
])
def test_spec_string_quoting_like_yaml_v3(value: str, yaml_text: str) -> None:
    assert emit_document(MappingNode([(raw_scalar("k"), value_node(value))])) == \
        f"k: {yaml_text}\n"


def test_spec_scalars_lists_maps_and_literals() -> None:
    spec = {"num": 3, "f": 1.0, "b": False, "none": None, "seq": [{"key": 10, "value": "foo"}],
            "nested": [[1, 2], "x"], "empty": {}, "text": "line1\nline2\n", "raw": "a\nb",
            "m": GoMap({"b": 1, "a10": 2, "a2": 3, "A": 4})}
    assert emit_document(value_node({"n": 1, "y": 2})) == "\"n\": 1\n\"y\": 2\n"  # YAML 1.1 bools
    assert emit_document(value_node(spec)) == (
        "num: 3\nf: 1\nb: false\nnone: null\nseq:\n    - key: 10\n      value: foo\n"
        "nested:\n    - - 1\n      - 2\n    - x\nempty: {}\ntext: |\n    line1\n    line2\n"
        "raw: |-\n    a\n    b\nm:\n    A: 4\n    a2: 3\n    a10: 2\n    b: 1\n")


def test_go_json_escaping() -> None:
    assert json_string("<a&b>\x01\u2028é") == '"\\u003ca\\u0026b\\u003e\\u0001\\u2028é"'
    assert go_json({"b": [], "a": {}}) == '{\n    "a": {},\n    "b": []\n}'


MEMBERS_TABLE = """\
NODE       NAMESPACE   TYPE     ID                             VERSION   HOSTNAME                       MACHINE TYPE   OS               ADDRESSES
10.5.0.2   cluster     Member   talos-default-controlplane-1   1         talos-default-controlplane-1   controlplane   Talos (v1.2.3)   ["10.5.0.2"]
10.5.0.2   cluster     Member   talos-default-worker-1         1         talos-default-worker-1         worker         Talos (v1.2.3)   ["10.5.0.3"]
"""  # noqa: E501


def test_members_table_matches_discovery_docs() -> None:
    items = [("10.5.0.2", member("talos-default-controlplane-1", 1, "10.5.0.2", "Talos (v1.2.3)")),
             ("10.5.0.2", member("talos-default-worker-1", 1, "10.5.0.3", "Talos (v1.2.3)",
                                 "worker"))]
    assert f.resources_table(items, f.resolve_resource("members")) == MEMBERS_TABLE


def test_extensions_table_has_two_version_columns() -> None:
    schematic = {"metadata": dict(FLAVOR["metadata"]), "spec": {  # type: ignore[call-overload]
        "image": "0.sqsh", "metadata": {"name": "schematic", "version": "376567988ad370138ad8b"
                                        "2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"}}}
    out = f.resources_table([("10.5.0.2", schematic)], f.resolve_resource("extensions"))
    assert out == (
        "NODE       NAMESPACE   TYPE              ID   VERSION   NAME        VERSION\n"
        "10.5.0.2   runtime     ExtensionStatus   0    1         schematic   376567988ad37013"
        "8ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba\n")


def test_version_table_matches_tuppr_sample() -> None:
    res = {"metadata": {"namespace": "runtime", "type": "Versions.runtime.talos.dev",
                        "id": "version", "version": 1, "owner": "runtime.VersionController",
                        "phase": "running", "created": "x", "updated": "x"},
           "spec": {"version": "v1.12.7"}}
    assert f.resources_table([("10.0.10.12", res)], f.resolve_resource("version")) == (
        "NODE         NAMESPACE   TYPE      ID        VERSION   VERSION\n"
        "10.0.10.12   runtime     Version   version   1         v1.12.7\n")


def test_table_columns_bools_and_empty_list() -> None:
    res = {"metadata": dict(CP1["metadata"], id="machine", version=7),  # type: ignore[arg-type]
           "spec": {"stage": "running", "status": {"ready": True, "unmetConditions": []}}}
    rd = f.resolve_resource("machinestatus")
    assert f.resources_table([("n1", res)], rd) == (
        "NODE   NAMESPACE   TYPE            ID        VERSION   STAGE     READY\n"
        "n1     cluster     MachineStatus   machine   7         running   true\n")
    assert f.resources_table([], rd) == \
        "NODE   NAMESPACE   TYPE   ID   VERSION   STAGE   READY\n"


@pytest.mark.parametrize(("name", "rtype"), [
    ("members", "Members.cluster.talos.dev"), ("member", "Members.cluster.talos.dev"),
    ("Members", "Members.cluster.talos.dev"), ("members.cluster", "Members.cluster.talos.dev"),
    ("MEMBERS.CLUSTER.TALOS.DEV", "Members.cluster.talos.dev"),
    ("extensions", "ExtensionStatuses.runtime.talos.dev"),
    ("extensionstatus", "ExtensionStatuses.runtime.talos.dev"),
    ("machinestatus", "MachineStatuses.runtime.talos.dev"),
    ("machinestatuses", "MachineStatuses.runtime.talos.dev"),
    ("nodename", "Nodenames.kubernetes.talos.dev"), ("version", "Versions.runtime.talos.dev"),
    ("etcdmember", "EtcdMembers.etcd.talos.dev"), ("em", "EtcdMembers.etcd.talos.dev"),
    ("rd", "ResourceDefinitions.meta.cosi.dev"), ("svc", "Services.v1alpha1.talos.dev"),
])
def test_resource_aliases(name: str, rtype: str) -> None:
    assert f.resolve_resource(name).type == rtype


def test_display_types_and_namespaces() -> None:
    assert [(rd.display_type, rd.namespace) for rd in map(f.resolve_resource, (
        "members", "extensions", "machinestatus", "nodename", "version", "etcdmember"))] == [
        ("Member", "cluster"), ("ExtensionStatus", "runtime"), ("MachineStatus", "runtime"),
        ("Nodename", "k8s"), ("Version", "runtime"), ("EtcdMember", "etcd")]
    assert f.resolve_resource("etcdmember").headers[-1] == "MEMBER ID"


def test_resource_lookup_errors() -> None:
    with pytest.raises(f.ResourceLookupError) as e:
        f.resolve_resource("foo")
    assert str(e.value) == 'rpc error: code = NotFound desc = resource "foo" is not registered'
    with pytest.raises(LookupError) as e2:
        f.resolve_resource("es")  # initials of six registered types in v1.11
    assert str(e2.value) == (
        'rpc error: code = InvalidArgument desc = resource type "es" is ambiguous: '
        "[encryptionsalts.secrets.talos.dev etcdsecrets.secrets.talos.dev "
        "etcdspecs.etcd.talos.dev ethernetspecs.net.talos.dev ethernetstatuses.net.talos.dev "
        "extensionstatuses.runtime.talos.dev]")


# ---------------------------------------------------------------------------------------------
# version (§2.1)
# ---------------------------------------------------------------------------------------------
V191 = {"tag": "v1.9.1", "sha": "348472f9", "built": "", "go": "go1.23.4", "os": "linux",
        "arch": "arm64"}

VERSION_SAMPLE = (
    "Client:\n\tTag:         v1.9.1\n\tSHA:         348472f9\n\tBuilt:       \n"
    "\tGo version:  go1.23.4\n\tOS/Arch:     linux/arm64\n"
    "Server:\n"
    "\tNODE:        10.4.64.2\n\tTag:         v1.9.1\n\tSHA:         348472f9\n\tBuilt:       \n"
    "\tGo version:  go1.23.4\n\tOS/Arch:     linux/arm64\n\tEnabled:     RBAC\n"
    "\tNODE:        10.4.64.1\n\tTag:         v1.9.1\n\tSHA:         348472f9\n\tBuilt:       \n"
    "\tGo version:  go1.23.4\n\tOS/Arch:     linux/arm64\n\tEnabled:     RBAC\n")


def test_version_text_matches_hcloud_sample() -> None:
    assert f.version_text(V191, [("10.4.64.2", V191), ("10.4.64.1", V191)]) == VERSION_SAMPLE


def test_version_short_and_client_only() -> None:
    out = f.version_text(dict(V191, tag="v1.11.0"), [("n", V191)], short=True)
    assert out.startswith("Client:\nTalos v1.11.0\nServer:\n\tNODE:        n\n\tTag:")
    assert f.version_text(V191, None) == VERSION_SAMPLE.split("Server:")[0]
    assert f.version_text(V191, None, short=True) == "Client:\nTalos v1.9.1\n"
    assert "\tEnabled:     \n" in f.version_text(V191, [("n", dict(V191, rbac=False))])


def test_version_json_is_one_compact_object_per_node() -> None:
    out = f.version_json([("10.5.0.2", dict(V191, tag="v1.11.0", sha="abcd1234",
                                            go="go1.24.6", arch="amd64")), ("10.5.0.3", V191)])
    lines = out.splitlines()
    assert len(lines) == 2 and out.endswith("\n")
    assert lines[0] == (
        '{"metadata":{"hostname":"10.5.0.2"},"version":{"tag":"v1.11.0","sha":"abcd1234",'
        '"goVersion":"go1.24.6","os":"linux","arch":"amd64"},"platform":{"name":"nocloud",'
        '"mode":"cloud"},"features":{"rbac":true}}')
    assert json.loads(lines[1])["metadata"]["hostname"] == "10.5.0.3"


# ---------------------------------------------------------------------------------------------
# etcd (§2.4)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Member:
    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool


@dataclass(frozen=True)
class Status:
    member_id: int
    db_size: int
    db_size_in_use: int
    leader: int
    raft_index: int
    raft_term: int
    raft_applied_index: int
    is_learner: bool
    errors: tuple[str, ...] = ()
    version: str = ""
    storage_version: str = ""


def test_etcd_members_table_matches_sample_row() -> None:
    rows = [("172.20.0.2", Member(0xA49C021E76E707DB, "talos-cp-1", ("https://172.20.0.2:2380",),
                                  ("https://172.20.0.2:2379",), False)),
            # a 13-character hostname in the elided rows is what made the sample's column 16 wide
            ("172.20.0.2", {"id": 0xECEBB05B59A776F1, "name": "talos-default",
                            "peer_urls": ["https://172.20.0.3:2380"],
                            "client_urls": ["https://172.20.0.3:2379"], "is_learner": True})]
    assert f.etcd_members_table(rows) == (
        "NODE         ID                 HOSTNAME        PEER URLS                 CLIENT URLS"
        "               LEARNER\n"
        "172.20.0.2   a49c021e76e707db   talos-cp-1      https://172.20.0.2:2380   "
        "https://172.20.0.2:2379   false\n"
        "172.20.0.2   ecebb05b59a776f1   talos-default   https://172.20.0.3:2380   "
        "https://172.20.0.3:2379   true\n")
    assert f.etcd_members_table([]) == ""
    assert f.member_id_hex(0x1) == "0000000000000001"


LEADER = 0xECEBB05B59A776F1
STATUS_ROWS = [
    ("172.20.0.3", Status(LEADER, 20_633_000, 6_000_000, LEADER, 53391, 4, 53391, False,
                          version="3.5.16", storage_version="3.5.0")),
    ("172.20.0.2", Status(0xA49C021E76E707DB, 17_241_379, 4_500_000, LEADER, 53391, 4, 53391,
                          False, version="3.5.16", storage_version="3.5.0")),
]


def test_etcd_status_pre_1_11_matches_docs() -> None:
    out = f.etcd_status_table(STATUS_ROWS, "v1.10.6")
    sample = [
        "NODE         MEMBER             DB SIZE   IN USE            LEADER             RAFT INDEX"
        "   RAFT TERM   RAFT APPLIED INDEX   LEARNER   ERRORS",
        "172.20.0.3   ecebb05b59a776f1   21 MB     6.0 MB (29.08%)   ecebb05b59a776f1   53391"
        "        4           53391                false",
        "172.20.0.2   a49c021e76e707db   17 MB     4.5 MB (26.10%)   ecebb05b59a776f1   53391"
        "        4           53391                false",
    ]
    # the docs dropped the trailing padding; LEARNER is tab-terminated so tabwriter pads it
    assert out == sample[0] + "\n" + sample[1] + "     \n" + sample[2] + "     \n"


def test_etcd_status_1_11_adds_protocol_and_storage() -> None:
    rows = [STATUS_ROWS[0], ("172.20.0.2", Status(1, 0, 0, 0, 0, 0, 0, True,
                                                  ("NOSPACE", "CORRUPT")))]
    assert f.etcd_status_table(rows, "v1.11.0") == (
        "NODE         MEMBER             DB SIZE   IN USE            LEADER             RAFT INDEX"
        "   RAFT TERM   RAFT APPLIED INDEX   LEARNER   PROTOCOL   STORAGE   ERRORS\n"
        "172.20.0.3   ecebb05b59a776f1   21 MB     6.0 MB (29.08%)   ecebb05b59a776f1   53391"
        "        4           53391                false     3.5.16     3.5.0     \n"
        "172.20.0.2   0000000000000001   0 B       0 B (0.00%)       0000000000000000   0"
        "            0           0                    true                           "
        "NOSPACE, CORRUPT\n")
    assert not f.etcd_status_has_protocol("v1.10.9") and f.etcd_status_has_protocol("v1.12.0")


def test_snapshot_lines_match_reference() -> None:
    info = {"size_bytes": 2015264, "hash": 0xC25FD181, "revision": 4193, "total_keys": 1287,
            "total_size": 3035136}
    assert f.snapshot_lines("db.snapshot", info) == (
        'etcd snapshot saved to "db.snapshot" (2015264 bytes)\n'
        "snapshot info: hash c25fd181, revision 4193, total keys 1287, total size 3035136\n")
    assert f.snapshot_info_line(0xABC, 1, 2, 3).startswith("snapshot info: hash 00000abc,")
    assert f.snapshot_checksum_error(100) == "sha256 checksum not found (size 100)"
    assert f.member_id_parse_error("zz") == (
        "error parsing member ID: error parsing etcd member id: strconv.ParseUint: "
        'parsing "zz": invalid syntax')


def test_etcd_alarms_table() -> None:
    assert f.etcd_alarms_table([("10.5.0.2", 1, "NOSPACE")]) == (
        "NODE       MEMBER             ALARM\n10.5.0.2   0000000000000001   NOSPACE\n")


# ---------------------------------------------------------------------------------------------
# health (§2.5, §2.6)
# ---------------------------------------------------------------------------------------------
HEALTH_SAMPLE_NAMES = """\
etcd to be healthy
etcd members to be consistent across nodes
etcd members to be control plane nodes
apid to be ready
all nodes memory sizes
all nodes disk sizes
no diagnostics
kubelet to be healthy
all nodes to finish boot sequence
all k8s nodes to report
all control plane static pods to be running
all control plane components to be ready
all k8s nodes to report ready
kube-proxy to report ready
coredns to report ready
all k8s nodes to report schedulable""".splitlines()


def test_health_checks_and_server_sample() -> None:
    assert list(f.HEALTH_CHECKS) == HEALTH_SAMPLE_NAMES
    lines = [f.discovered_nodes_line(["10.0.1.180", "10.0.0.91"])]
    for check in f.HEALTH_CHECKS:
        lines += [f.health_line(check), f.health_line(check, f.CHECK_OK)]
    assert lines[:5] == [
        'discovered nodes: ["10.0.1.180" "10.0.0.91"]',
        "waiting for etcd to be healthy: ...",
        "waiting for etcd to be healthy: OK",
        "waiting for etcd members to be consistent across nodes: ...",
        "waiting for etcd members to be consistent across nodes: OK"]
    assert lines[-1] == "waiting for all k8s nodes to report schedulable: OK"
    assert len(lines) == 33


def test_health_error_line_is_trimmed_multierror() -> None:
    err = f.health_error_text(['10.5.0.2: service "etcd" not in expected state "Running": '
                               "current state [Preparing] Running pre state"])
    assert f.health_line("etcd to be healthy", err) == (
        "waiting for etcd to be healthy: 1 error occurred:\n\t* 10.5.0.2: service \"etcd\" not "
        'in expected state "Running": current state [Preparing] Running pre state')
    assert f.health_line("kube-proxy to report ready", f.CHECK_SKIP).endswith(": SKIP")


# ---------------------------------------------------------------------------------------------
# upgrade (§3.1) and global errors (§1.1)
# ---------------------------------------------------------------------------------------------
UPGRADE_SAMPLE = """\
"192.168.1.181": phase: upgrade action: START
"192.168.1.181": task: upgrade action: START
"192.168.1.181": task: upgrade action: STOP
"192.168.1.181": phase: upgrade action: STOP
"192.168.1.181": phase: meta action: START
"192.168.1.181": task: reloadMeta action: START
"192.168.1.181": task: reloadMeta action: STOP
"192.168.1.181": phase: meta action: STOP
"192.168.1.181": phase: kexec action: START
"192.168.1.181": task: kexecPrepare action: START
"192.168.1.181": task: kexecPrepare action: STOP
"192.168.1.181": phase: kexec action: STOP
"192.168.1.181": phase: stopEverything action: START
"192.168.1.181": task: stopAllServices action: START
"192.168.1.181": error: stopAllServices task completed
"192.168.1.181": unavailable, retrying...
"192.168.1.181": unavailable, retrying...""".splitlines()


def test_upgrade_progress_contains_the_real_sequence() -> None:
    node = "192.168.1.181"
    lines = [f.tracker_line(node, m) for m in
             f.upgrade_before_reboot_messages("6f1c6b26") + [f.UNAVAILABLE_RETRYING] * 2]
    assert lines[:5] == [
        '"192.168.1.181": waiting for actor ID', '"192.168.1.181": actor ID: 6f1c6b26',
        '"192.168.1.181": sequence: upgrade action: START',
        '"192.168.1.181": phase: drain action: START',
        '"192.168.1.181": task: cordonAndDrainNode action: START']
    assert lines[-len(UPGRADE_SAMPLE):] == UPGRADE_SAMPLE
    after = [f.tracker_line(node, m) for m in f.upgrade_after_reboot_messages("k8s-control-1")]
    assert after[0] == '"192.168.1.181": unavailable, retrying...'
    assert after[-3:] == [
        '"192.168.1.181": stage: RUNNING ready: false unmetCond: [name:"nodeReady" '
        'reason:"node \\"k8s-control-1\\" status is not available yet"]',
        '"192.168.1.181": events check condition met', '"192.168.1.181": post check passed']
    assert '"192.168.1.181": stage: BOOTING ready: true unmetCond: []' in after


def test_upgrade_phases_follow_reboot_mode_and_drain() -> None:
    names = [p for p, _ in f.upgrade_phases()]
    assert names == ["drain", "cleanup", "dbus", "stopServices", "unmount", "unmountBind",
                     "unmountSystem", "volumeFinalize", "upgrade", "meta", "kexec",
                     "stopEverything", "reboot"]
    assert "kexec" not in [p for p, _ in f.upgrade_phases("powercycle")]
    assert f.upgrade_phases(drain=False)[0][0] == "cleanup"


def test_upgrade_event_messages_match_samples() -> None:
    assert f.tracker_line("10.0.1.180", f.machine_status_message(
        "booting", False, [("nodeReady", 'node "ip-10-0-1-180" is not ready')])) == (
        '"10.0.1.180": stage: BOOTING ready: false unmetCond: [name:"nodeReady" '
        'reason:"node \\"ip-10-0-1-180\\" is not ready"]')
    assert f.machine_status_message("booting", True) == "stage: BOOTING ready: true unmetCond: []"
    assert f.service_message("kubelet", "Health check successful", True) == \
        "service: kubelet message: Health check successful healthy: true"
    assert f.sequence_message("upgrade", "STOP", "boom", "FATAL") == \
        "sequence: upgrade action: STOP error: [code: boom message: FATAL]"
    assert f.sequence_failure_messages("upgrade", "boom")[1:] == \
        ["error: sequence error: boom", "sequence error: boom"]


def test_upgrade_ack_table_pads_the_started_column() -> None:
    started = "2022-08-24 14:08:31.152577842 -0500 CDT m=+5.464175834"
    assert f.upgrade_ack_table(["172.30.223.121"], [started]) == (
        "NODE             ACK                        STARTED\n"
        f"172.30.223.121   Upgrade request received   {started}   \n")
    assert f.upgrade_ack_table(["n"]).splitlines()[1].endswith("   ")


def test_upgrade_refusals_and_errors() -> None:
    assert f.tracker_line("10.0.64.1", f.etcd_validation_error(
        f.etcd_unhealthy_refusal(0xAC3FBB15F6A9A774), "DeadlineExceeded")) == (
        '"10.0.64.1": rpc error: code = DeadlineExceeded desc = error validating etcd for '
        "upgrade: etcd member ac3fbb15f6a9a774 is not healthy; all members must be healthy to "
        "perform an upgrade: context deadline exceeded")
    assert f.etcd_quorum_refusal(2) == \
        "etcd member count(2) is insufficient to maintain quorum if upgrade commences"
    assert f.etcd_not_started_refusal(1) == ("etcd member 0000000000000001 is not started, all "
                                             "members must be running to perform an upgrade")
    assert f.preflight_error("v1.7.7", "v1.9.4") == \
        "pre-flight checks failed: host version 1.7.7 is too old to upgrade to Talos 1.9.4"
    assert f.preflight_error("v1.12.0", "v1.9.4") == \
        "pre-flight checks failed: host version 1.12.0 is too new to downgrade to Talos 1.9.4"
    assert f.WAIT_INSECURE_ERROR == "cannot use --wait and --insecure together"


def test_global_error_texts() -> None:
    assert f.unavailable_error("192.168.1.172") == (
        'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while '
        'dialing: dial tcp 192.168.1.172:50000: connect: connection refused"')
    assert f.unavailable_error("::1").endswith('dial tcp [::1]:50000: connect: connection refused"')
    assert f.multi_node_error("etcd snapshot") == \
        'command "etcd snapshot" is not supported with multiple nodes'
    assert f.NODES_NOT_SET == (
        "nodes are not set for the command: please use `--nodes` flag or configuration file to "
        "set the nodes to run the command against")
    assert f.context_not_found("prod") == 'context "prod" not found in config'
    assert f.context_not_found("x", default=True) == 'default context "x" not found in config'
    assert f.rpc_error("NotFound", "gone") == "rpc error: code = NotFound desc = gone"


def test_warnings() -> None:
    assert f.client_version_warning([("10.5.0.2", "v1.8.4")], "v1.9.5") == \
        "WARNING: 10.5.0.2: server version 1.8.4 is older than client version 1.9.5\n"
    assert f.client_version_warning([("a", "v1.8.4"), ("b", "v1.9.5"), ("c", "v1.9.0-beta.0")],
                                    "v1.9.0") == (
        "WARNING: a: server version 1.8.4 is older than client version 1.9.0, c: server version "
        "1.9.0-beta.0 is older than client version 1.9.0\n")
    assert f.client_version_warning([("a", "v1.9.5")], "v1.9.5") == ""
    assert f.warning_line("x") == "WARNING: x\n"


def test_cli_error_output_adds_usage_only_when_due() -> None:
    usage = "Usage:\n  talosctl upgrade [flags]\n"
    assert f.cli_error_output("unknown flag: --foo", usage) == \
        "unknown flag: --foo\n\nUsage:\n  talosctl upgrade [flags]\n\n"
    assert f.cli_error_output(f.NODES_NOT_SET, usage).endswith("\n\n" + usage + "\n")
    assert f.cli_error_output("boom", usage) == "boom\n"


# ---------------------------------------------------------------------------------------------
# upgrade-k8s (§3.4)
# ---------------------------------------------------------------------------------------------
def test_upgrade_k8s_line_sequence() -> None:
    cp, wk = "10.0.0.235", "10.0.1.50"
    lines = [f.k8s_detected_line("1.29.1"), *f.k8s_discovered_lines([cp, "10.0.1.139"], [wk]),
             f.k8s_compat_line(cp, "v1.11.0", "1.30.1"), *f.k8s_checks_lines("1.29.1", "1.30.1")]
    assert lines == [
        "automatically detected the lowest Kubernetes version 1.29.1",
        'discovered controlplane nodes ["10.0.0.235" "10.0.1.139"]',
        'discovered worker nodes ["10.0.1.50"]',
        '> "10.0.0.235": Talos version 1.11.0 is compatible with Kubernetes version 1.30.1',
        "checking for removed Kubernetes component flags",
        "checking for removed Kubernetes API resource versions"]
    assert f.k8s_discovered_lines([cp], []) == ['discovered controlplane nodes ["10.0.0.235"]',
                                               "discovered worker nodes []"]
    assert f.k8s_prepull_lines([cp], [cp, wk], "1.30.1") == [
        ' > "10.0.0.235": pre-pulling registry.k8s.io/kube-apiserver:v1.30.1',
        ' > "10.0.0.235": pre-pulling registry.k8s.io/kube-controller-manager:v1.30.1',
        ' > "10.0.0.235": pre-pulling registry.k8s.io/kube-scheduler:v1.30.1',
        ' > "10.0.0.235": pre-pulling ghcr.io/siderolabs/kubelet:v1.30.1',
        ' > "10.0.1.50": pre-pulling ghcr.io/siderolabs/kubelet:v1.30.1']
    block = [f.k8s_static_pod_header("kube-apiserver", "1.30.1"), *f.k8s_static_pod_lines(
        "kube-apiserver", cp, "registry.k8s.io/kube-apiserver:v1.29.1", "1.30.1", waiting=[
            f.k8s_config_mismatch("kube-apiserver", "1", "2"),
            "kube-apiserver: pod is not ready, waiting"])]
    assert block == [
        'updating "kube-apiserver" to version "1.30.1"',
        ' > "10.0.0.235": starting update',
        " > update kube-apiserver: v1.29.1 -> 1.30.1",
        ' > "10.0.0.235": machine configuration patched',
        ' > "10.0.0.235": waiting for kube-apiserver pod update',
        ' > "10.0.0.235": kube-apiserver: waiting, config version mismatch: got "1", '
        'expected "2"',
        ' > "10.0.0.235": kube-apiserver: pod is not ready, waiting',
        ' < "10.0.0.235": successfully updated']
    assert f.k8s_kube_proxy_lines([cp], "1.30.1") == [
        'updating kube-proxy to version "1.30.1"', ' > "10.0.0.235": starting update']
    assert [f.k8s_kubelet_header("1.30.1"), *f.k8s_kubelet_lines(wk, "v1.29.1", "1.30.1")] == [
        'updating kubelet to version "1.30.1"',
        ' > "10.0.1.50": starting update',
        " > update kubelet: 1.29.1 -> 1.30.1",
        ' > "10.0.1.50": machine configuration patched',
        ' > "10.0.1.50": waiting for kubelet restart',
        ' > "10.0.1.50": waiting for node update',
        ' < "10.0.1.50": successfully updated']
    path = f.k8s_manifest_path("apps/v1", "DaemonSet", "kube-proxy", "kube-system")
    assert f.k8s_manifest_lines([(path, "--- a/x\n+++ b/x")]) == [
        "updating manifests",
        " > processing manifest apps/v1.DaemonSet/kube-system/kube-proxy",
        "--- a/x\n+++ b/x",
        " < applied successfully",
        "waiting for all manifests to be applied",
        " > waiting for apps/v1.DaemonSet/kube-system/kube-proxy"]


def test_upgrade_k8s_dry_run_and_already_updated_nodes() -> None:
    cp = "10.0.0.235"
    assert f.k8s_static_pod_lines("kube-scheduler", cp, "", "1.30.1", "1.29.1",
                                  dry_run=True) == [
        ' > "10.0.0.235": starting update', " > update kube-scheduler: 1.29.1 -> 1.30.1",
        " > skipped in dry-run"]
    at_target = "registry.k8s.io/kube-scheduler:v1.30.1"
    assert f.k8s_static_pod_lines("kube-scheduler", cp, at_target, "1.30.1")[1:3] == [
        ' > "10.0.0.235": machine configuration patched',
        ' > "10.0.0.235": waiting for kube-scheduler pod update']
    assert f.k8s_static_pod_lines("kube-scheduler", cp, at_target, "1.30.1", dry_run=True) == \
        [' > "10.0.0.235": starting update']
    assert f.k8s_kubelet_lines(cp, "1.30.1", "1.30.1", already=True) == [
        ' > "10.0.0.235": starting update', ' > "10.0.0.235": machine configuration patched',
        ' > "10.0.0.235": waiting for node update', ' < "10.0.0.235": successfully updated']
    assert f.k8s_kube_proxy_lines([cp], "1.30.1", dry_run=True)[-1] == " > skipped in dry-run"
    assert f.k8s_manifest_lines([("v1.ServiceAccount/kube-system/x", None),
                                 ("apps/v1.DaemonSet/kube-system/kube-proxy", "diff")],
                                dry_run=True) == [
        "updating manifests", " > processing manifest v1.ServiceAccount/kube-system/x",
        " < no changes", " > processing manifest apps/v1.DaemonSet/kube-system/kube-proxy",
        "diff", " < dry run, change skipped"]
    assert f.k8s_kubelet_header("1.30.1", upgrade_kubelet=False) == "skipped updating kubelet"


def test_upgrade_k8s_path_rules_and_errors() -> None:
    assert f.k8s_unsupported_path_error("1.32.12", "1.34.4") == \
        'unsupported upgrade path 1.32->1.34 (from "1.32.12" to "1.34.4")'
    assert f.k8s_unsupported_path_error("v1.32.0", "v1.34.1") == \
        'unsupported upgrade path 1.32->1.34 (from "1.32.0" to "1.34.1")'
    assert [f.k8s_path_supported(a, b) for a, b in (
        ("1.32.0", "1.33.1"), ("1.32.0", "1.32.4"), ("1.32.0", "1.34.0"), ("1.33.0", "1.32.0"),
        ("1.18.0", "1.19.0"))] == [True, True, False, False, False]
    assert not f.k8s_path_supported("1.34.0", "1.35.0", max_minor=34)
    assert f.k8s_checks_lines("1.32.0", "1.32.4") == []
    assert f.k8s_compat_error("X", "1.35.0", "v1.11.0", too_new=True) == (
        'compatibility check failed on node "X": version of Kubernetes 1.35.0 is too new to be '
        "used with Talos 1.11.0")
