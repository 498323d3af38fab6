"""The emulated Image Factory: schematic IDs, strict decoding, and the HTTP API over loopback."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator

import httpx
import pytest

from emulator.factory.catalog import ExtensionCatalog, OfficialExtension
from emulator.factory.errors import (
    ExtensionNotAvailable,
    InstallerBuildRefused,
    InstallerSchematicNotFound,
    InstallerVersionNotFound,
    InvalidInstallerRef,
    InvalidSchematic,
    SchematicNotFound,
)
from emulator.factory.goyaml import format_float, sorted_keys
from emulator.factory.models import FactoryModel
from emulator.factory.routes import build_app
from emulator.factory.schematic import Customization, MetaValue, Overlay, Schematic, schematic_id
from tests.emulator.serving import serve

VERSIONS = ["v1.6.0", "v1.9.2", "v1.9.4", "v1.10.0", "v1.14.0-rc.1", "v1.9.10"]
QGA = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
ISCSI_QGA = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"
VANILLA = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
REQUIRED_EXTENSIONS = {"siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent",
                       "siderolabs/amd-ucode", "siderolabs/intel-ucode",
                       "siderolabs/util-linux-tools", "siderolabs/nut-client",
                       "siderolabs/tailscale"}

# reference §5: the canonical text and its ID (the last two also in Talos docs / computed)
VECTORS = [
    (Schematic(), "customization: {}\n", VANILLA),
    (Schematic(Customization(extra_kernel_args=("noapic", "nolapic"))),
     "customization:\n    extraKernelArgs:\n        - noapic\n        - nolapic\n",
     "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c"),
    (Schematic(Customization(meta=(MetaValue(10, "foo"),))),
     "customization:\n    meta:\n        - key: 10\n          value: foo\n",
     "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f"),
    (Schematic(overlay=Overlay(image="siderolabs/sbc-raspberrypi", name="rpi_generic")),
     "overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_generic\ncustomization: {}\n",
     "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9"),
    (Schematic.with_extensions(["siderolabs/qemu-guest-agent"]),
     "customization:\n    systemExtensions:\n        officialExtensions:\n"
     "            - siderolabs/qemu-guest-agent\n", QGA),
    (Schematic.with_extensions(["siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent"]),
     "customization:\n    systemExtensions:\n        officialExtensions:\n"
     "            - siderolabs/iscsi-tools\n            - siderolabs/qemu-guest-agent\n",
     ISCSI_QGA),
]




@pytest.fixture
def model() -> FactoryModel:
    m = FactoryModel(VERSIONS)
    m.register_extensions(["siderolabs/qemu-guest-agent"])
    return m


@pytest.fixture
def client(model: FactoryModel) -> Iterator[httpx.Client]:
    with serve(build_app(model)) as url, httpx.Client(base_url=url) as c:
        yield c


# ---- schematic IDs ----------------------------------------------------------------------------
@pytest.mark.parametrize(("schematic", "text", "sid"), VECTORS,
                         ids=["vanilla", "kernel-args", "meta", "overlay", "qga", "iscsi+qga"])
def test_reference_vectors(schematic: Schematic, text: str, sid: str) -> None:
    assert schematic.canonical_yaml() == text
    assert schematic.id == sid == schematic_id(text)
    parsed = Schematic.parse(text)
    assert parsed == schematic, "the canonical text must decode back to the same schematic"
    assert parsed.id == sid


@pytest.mark.parametrize(("body", "sid"), [
    ("{}", VANILLA),
    ('customization: {"extraKernelArgs": []}', VANILLA),
    ('{"customization": {"extraKernelArgs": ["noapic", "nolapic"], "systemExtensions": {}}}',
     "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c"),
    ('{"customization": {"meta": [{"key": 10, "value": "foo"}], "extraKernelArgs": []}}',
     "d308a2a5ee2277bed5fbaa104fcbc8d59122abfa737df987a95b4ca763459a7f"),
    ('{"overlay": {"name": "rpi_generic", "image": "siderolabs/sbc-raspberrypi"},'
     '"customization":{}}', "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9"),
    ('{"customization":{"secureboot": {"includeWellKnownCertificates": true}}}',
     "fa8e05f142a851d3ee568eb0a8e5841eaf6b0ebc8df9a63df16ac5ed2c04f3e6"),
    ("customization:\n  diskImage:\n    sectorSize: 4096\n",
     "92833e9ddd9bb9e11b2464fa5525429f01866306d52ebd882ee08d7918f6d1ea"),
])
def test_upstream_unmarshal_vectors(body: str, sid: str) -> None:
    """pkg/schematic/schematic_test.go: equivalent inputs (JSON, empty fields) share an ID."""
    assert Schematic.parse(body).id == sid


def test_extension_order_changes_the_id() -> None:
    a = Schematic.with_extensions(["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools"])
    assert a.id != ISCSI_QGA
    assert "- siderolabs/qemu-guest-agent\n            - siderolabs/iscsi-tools" in \
        a.canonical_yaml()


def test_canonical_quoting_follows_go_yaml() -> None:
    s = Schematic(Customization(
        extra_kernel_args=("10", "yes", "", "console=ttyS0", "a: b", "-x", "talos.dashboard=0"),
        embedded_machine_configuration="machine:\n  type: worker\n",
        meta=(MetaValue(0x0A, "true"),),
        bootloader="sd-boot"))
    assert s.canonical_yaml() == (
        "customization:\n"
        "    embeddedMachineConfiguration: |\n"
        "        machine:\n"
        "          type: worker\n"
        "    extraKernelArgs:\n"
        '        - "10"\n'
        "        - 'yes'\n"
        '        - ""\n'
        "        - console=ttyS0\n"
        "        - 'a: b'\n"
        "        - -x\n"
        "        - talos.dashboard=0\n"
        "    meta:\n"
        "        - key: 10\n"
        '          value: "true"\n'
        "    bootloader: sd-boot\n"
    )


def test_overlay_options_are_a_sorted_go_map() -> None:
    s = Schematic(overlay=Overlay("siderolabs/sbc-rockchip", "turingrk1",
                                  {"b": 1, "a10": True, "a9": [1.5, None]}))
    assert s.canonical_yaml() == (
        "overlay:\n    image: siderolabs/sbc-rockchip\n    name: turingrk1\n    options:\n"
        "        a9:\n            - 1.5\n            - null\n        a10: true\n        b: 1\n"
        "customization: {}\n")
    assert sorted_keys(["x10", "x9", "X1", "a"]) == ["X1", "a", "x9", "x10"]


def test_floats_print_as_go_does() -> None:
    assert [format_float(v) for v in (1e6, 123456.0, 1.0, 0.0001, 1e-05)] == [
        "1e+06", "123456", "1", "0.0001", "1e-05"]


@pytest.mark.parametrize(("body", "message"), [
    ("foo: 1\n", "yaml: construct errors: line 1: field foo not found in type "
                 "schematic.Schematic"),
    ("customization:\n  systemExtension: {}\n", "yaml: construct errors: line 2: field "
     "systemExtension not found in type schematic.Customization"),
    ("customization:\n  extraKernelArgs: noapic\n", "yaml: construct errors: line 2: cannot "
     "construct !!str `noapic` into []string"),
    ("customization:\n  meta:\n    - key: 300\n      value: x\n", "yaml: construct errors: "
     "line 3: cannot construct !!int `300` into uint8"),
    ("customization: {}\ncustomization: {}\n", 'yaml: construct errors: line 2: mapping key '
     '"customization" already defined at line 1'),
    ("customization:\n  bootloader: lilo\n", "yaml: construct errors: line 2: lilo does not "
     "belong to BootloaderKind values"),
    ("", "EOF"),
])
def test_decoding_rejects_what_upstream_rejects(body: str, message: str) -> None:
    with pytest.raises(InvalidSchematic) as e:
        Schematic.parse(body)
    assert e.value.message == message
    assert e.value.status == 400


# ---- HTTP: schematics -------------------------------------------------------------------------
def test_post_schematic_answers_201_with_id_and_canonical_yaml(client: httpx.Client,
                                                               model: FactoryModel) -> None:
    body = ("customization:\n  systemExtensions:\n    officialExtensions:\n"
            "      - siderolabs/iscsi-tools\n      - siderolabs/qemu-guest-agent\n")
    r = client.post("/schematics", content=body)
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json"
    assert r.content == (b'{"id":"' + ISCSI_QGA.encode() + b'","schematic":"customization:\\n'
                         b'    systemExtensions:\\n        officialExtensions:\\n'
                         b'            - siderolabs/iscsi-tools\\n'
                         b'            - siderolabs/qemu-guest-agent\\n"}\n')
    assert ISCSI_QGA in model.schematics
    again = client.post("/schematics", content=json.dumps(
        {"customization": {"systemExtensions": {"officialExtensions": [
            "siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent"]}}}))
    assert again.json()["id"] == ISCSI_QGA, "JSON is YAML: the same schematic, the same ID"


def test_post_schematic_errors_are_plain_text(client: httpx.Client) -> None:
    r = client.post("/schematics", content="customization:\n  extraKernelArg: [a]\n")
    assert r.status_code == 400
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text == ("yaml: construct errors: line 2: field extraKernelArg not found in type "
                      "schematic.Customization\n")
    owner = client.post("/schematics", content="owner: alice\n")
    assert (owner.status_code, owner.text) == (
        400, "owner field is only supported in Enterprise edition\n")


def test_get_schematic(client: httpx.Client) -> None:
    r = client.get(f"/schematics/{QGA}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/yaml"
    assert r.text == VECTORS[4][1]
    missing = client.get(f"/schematics/{'0' * 64}")
    assert (missing.status_code, missing.text) == (404, "schematic not found\n")


# ---- HTTP: versions and extensions ------------------------------------------------------------
def test_versions_in_semver_order(client: httpx.Client) -> None:
    r = client.get("/versions")
    assert r.status_code == 200
    assert r.text == ('["v1.6.0","v1.9.2","v1.9.4","v1.9.10","v1.10.0","v1.14.0-rc.1"]\n')
    assert client.get("/versions", params={"broken": "true"}).json() == []


def test_official_extensions(client: httpx.Client) -> None:
    r = client.get("/version/v1.9.4/extensions/official")
    assert r.status_code == 200
    items = r.json()
    assert {i["name"] for i in items} >= REQUIRED_EXTENSIONS
    qga = next(i for i in items if i["name"] == "siderolabs/qemu-guest-agent")
    assert list(qga) == ["name", "ref", "digest", "author", "description"]
    assert qga["ref"] == "ghcr.io/siderolabs/qemu-guest-agent:9.1.3"
    assert qga["digest"].startswith("sha256:") and len(qga["digest"]) == 71
    assert qga["author"] == "Markus Reiter"
    assert client.get("/version/1.9.4/extensions/official").json() == items, "v is optional"
    other = client.get("/version/v1.10.0/extensions/official").json()
    assert next(i["ref"] for i in other if i["name"] == "siderolabs/qemu-guest-agent") == \
        "ghcr.io/siderolabs/qemu-guest-agent:9.2.0", "versions follow the Talos version"


def test_extensions_of_bad_versions(client: httpx.Client) -> None:
    bad = client.get("/version/v1.9/extensions/official")
    assert (bad.status_code, bad.text) == (500, "internal server error\n")
    unknown = client.get("/version/v1.99.0/extensions/official")
    assert (unknown.status_code, unknown.text) == (404, "version 1.99.0 is not available\n")


# ---- HTTP: images -----------------------------------------------------------------------------
def test_image_head_headers(client: httpx.Client) -> None:
    r = client.head(f"/image/{QGA}/v1.9.4/nocloud-amd64.raw.xz")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/x-xz"
    assert r.headers["content-disposition"] == 'attachment; filename="nocloud-amd64.raw.xz"'
    assert r.content == b""
    got = client.get(f"/image/{QGA}/v1.9.4/nocloud-amd64.raw.xz")
    assert int(r.headers["content-length"]) == len(got.content) > 0
    assert got.content == client.get(f"/image/{QGA}/v1.9.4/nocloud-amd64.raw.xz").content
    iso = client.head(f"/image/{QGA}/v1.9.4/metal-amd64.iso", params={"filename": "x.iso"})
    assert iso.headers["content-type"] == "application/x-iso9660-image"
    assert iso.headers["content-disposition"] == 'attachment; filename="x.iso"'


@pytest.mark.parametrize(("path", "ctype"), [
    ("kernel-amd64", "application/octet-stream"), ("initramfs-arm64.xz", "application/x-xz"),
    ("metal-amd64-secureboot-uki.efi", "application/efi"),
    ("installer-amd64.tar", "application/octet-stream"),
    ("metal-installer-arm64.tar", "application/octet-stream"),
    ("nocloud-amd64.qcow2", "application/x-qemu-disk"), ("aws-amd64.raw.tar.gz",
                                                        "application/gzip"),
    ("digital-ocean-amd64.raw.gz", "application/gzip"), ("metal-arm64.raw.zst",
                                                        "application/octet-stream"),
])
def test_image_paths_accepted(client: httpx.Client, path: str, ctype: str) -> None:
    r = client.head(f"/image/{QGA}/v1.9.4/{path}")
    assert (r.status_code, r.headers["content-type"]) == (200, ctype)


@pytest.mark.parametrize(("path", "message"), [
    ("foo.bar", 'error parsing profile from path: invalid profile path: "foo.bar"'),
    ("metal-riscv64.iso", 'error parsing profile from path: invalid architecture: "riscv64"'),
    ("metal.iso", 'error parsing profile from path: invalid platform-arch: "metal"'),
])
def test_image_paths_rejected(client: httpx.Client, path: str, message: str) -> None:
    r = client.get(f"/image/{QGA}/v1.9.4/{path}")
    assert (r.status_code, r.text) == (400, message + "\n")


def test_image_errors(client: httpx.Client, model: FactoryModel) -> None:
    unknown = client.head(f"/image/{'ab' * 32}/v1.9.4/metal-amd64.iso")
    assert unknown.status_code == 404
    missing = client.get(f"/image/{'ab' * 32}/v1.9.4/metal-amd64.iso")
    assert missing.text == f'schematic ID "{"ab" * 32}" not found\n'
    version = client.get(f"/image/{QGA}/v1.99.0/metal-amd64.iso")
    assert (version.status_code, version.text) == (
        404, "error enhancing profile from schematic: error getting official extensions: "
             "version 1.99.0 is not available\n")
    model.catalog.withdraw("siderolabs/qemu-guest-agent", "v1.9.4")
    gone = client.get(f"/image/{QGA}/v1.9.4/metal-amd64.iso")
    assert (gone.status_code, gone.text) == (
        400, 'error enhancing profile from schematic: official extension '
             '"siderolabs/qemu-guest-agent" is not available for Talos version v1.9.4\n')
    assert client.get(f"/image/{QGA}/v1.9.4/kernel-amd64").status_code == 200, \
        "kernel assets do not carry extensions"


def test_overlay_needs_talos_1_7(client: httpx.Client, model: FactoryModel) -> None:
    sid = model.register(VECTORS[3][0])
    r = client.get(f"/image/{sid}/v1.6.0/metal-arm64.raw.xz")
    assert (r.status_code, r.text) == (400, "error enhancing profile from schematic: overlay is "
                                            "not supported for Talos version v1.6.0\n")


# ---- HTTP: installer registry -----------------------------------------------------------------
def test_registry_ping_and_health(client: httpx.Client) -> None:
    r = client.get("/v2/")
    assert (r.status_code, r.text) == (200, "{}")
    assert client.get("/healthz").status_code == 200


def test_installer_manifest(client: httpx.Client) -> None:
    url = f"/v2/installer/{QGA}/manifests/v1.9.4"
    head = client.head(url, headers={"Accept": "application/vnd.oci.image.index.v1+json"})
    assert head.status_code == 200
    assert head.headers["content-type"] == "application/vnd.oci.image.index.v1+json"
    got = client.get(url)
    digest = "sha256:" + hashlib.sha256(got.content).hexdigest()
    assert head.headers["docker-content-digest"] == got.headers["docker-content-digest"] == digest
    index = got.json()
    assert [m["platform"]["architecture"] for m in index["manifests"]] == ["amd64", "arm64"]
    latest = client.head(f"/v2/installer/{QGA}/manifests/latest")
    assert latest.headers["docker-content-digest"] == client.head(
        f"/v2/installer/{QGA}/manifests/v1.10.0").headers["docker-content-digest"], \
        "latest is the newest stable version, not the rc"
    assert client.head(f"/v2/installer/{QGA}/manifests/{digest}").status_code == 200
    assert client.head(f"/v2/metal-installer-secureboot/{QGA}/manifests/v1.9.4").status_code \
        == 200


@pytest.mark.parametrize(("path", "status", "code", "message"), [
    (f"/v2/installer/{'0' * 64}/manifests/v1.9.4", 404, "MANIFEST_UNKNOWN",
     f'schematic ID "{"0" * 64}" not found'),
    (f"/v2/installer/{QGA}/manifests/v1.9.9", 404, "MANIFEST_UNKNOWN",
     "error enhancing profile from schematic: failed to get base installer: version 1.9.9 "
     "is not available"),
    (f"/v2/installer/{QGA}/manifests/v1.9", 500, "UNKNOWN",
     "error parsing version: invalid semver 'v1.9'"),
    (f"/v2/imager/{QGA}/manifests/v1.9.4", 400, "MANIFEST_INVALID", "invalid image: imager"),
])
def test_installer_manifest_errors(client: httpx.Client, path: str, status: int, code: str,
                                   message: str) -> None:
    r = client.get(path)
    assert r.status_code == status
    assert r.json() == {"errors": [{"code": code, "message": message, "detail": None}]}


def test_not_emulated(client: httpx.Client) -> None:
    r = client.get("/pxe/x/v1.9.4/metal-amd64")
    assert (r.status_code, r.text) == (501, "not emulated: GET /pxe/x/v1.9.4/metal-amd64\n")
    assert client.delete(f"/schematics/{QGA}").text == f"not emulated: DELETE /schematics/{QGA}\n"


# ---- what the lab asks --------------------------------------------------------------------------
def test_installer_ref_round_trip(model: FactoryModel) -> None:
    ref = model.installer_ref(QGA, "v1.9.4", "127.0.0.2:8080")
    assert ref == f"127.0.0.2:8080/installer/{QGA}:v1.9.4"
    assert model.installer_ref(Schematic.with_extensions(["siderolabs/qemu-guest-agent"]),
                               "1.9.4") == f"factory.talos.dev/installer/{QGA}:v1.9.4"
    assert model.resolve_installer(ref) == (QGA, "v1.9.4")
    assert model.resolve_installer(f"factory.talos.dev/installer/{QGA}") == (QGA, "v1.10.0")


def test_resolve_installer_failures_read_like_a_pull_failure(model: FactoryModel) -> None:
    ref = f"factory.talos.dev/installer/{'0' * 64}:v1.9.4"
    with pytest.raises(InstallerSchematicNotFound) as e:
        model.resolve_installer(ref)
    assert str(e.value) == (f'failed to pull image "{ref}": failed to resolve reference '
                            f'"{ref}": {ref}: not found')
    assert isinstance(e.value.cause, SchematicNotFound)
    ref = f"factory.talos.dev/installer/{QGA}:v1.9.9"
    with pytest.raises(InstallerVersionNotFound, match=r": not found$"):
        model.resolve_installer(ref)
    model.catalog.withdraw("siderolabs/qemu-guest-agent", "v1.9.4")
    ref = f"factory.talos.dev/installer/{QGA}:v1.9.4"
    with pytest.raises(InstallerBuildRefused) as refused:
        model.resolve_installer(ref)
    assert str(refused.value).endswith(
        f"unexpected status from HEAD request to https://factory.talos.dev/v2/installer/{QGA}/"
        "manifests/v1.9.4: 400 Bad Request")
    with pytest.raises(InvalidInstallerRef):
        model.resolve_installer("ghcr.io/siderolabs/installer:v1.9.4")


def test_extension_statuses(model: FactoryModel) -> None:
    sid = model.register_extensions(["siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent"])
    specs = model.extension_statuses(sid, "http://127.0.0.2:8080", talos_version="v1.9.4")
    assert [s["image"] for s in specs] == ["0.sqsh", "1.sqsh", "2.sqsh"]
    assert [s["metadata"]["name"] for s in specs] == ["iscsi-tools", "qemu-guest-agent",
                                                      "schematic"]
    assert specs[1]["metadata"] == {
        "name": "qemu-guest-agent", "version": "9.1.3", "author": "Markus Reiter",
        "description": "[extra] This system extension provides the QEMU Guest Agent service.\n",
        "compatibility": {"talos": {"version": ">= v1.5.0"}}}
    last = specs[-1]["metadata"]
    assert last["version"] == sid == ISCSI_QGA
    assert last["author"] == "Image Factory (http://127.0.0.2:8080)"
    assert last["compatibility"] == {"talos": {"version": ">= 1.0.0"}}
    assert last["extraInfo"] == VECTORS[5][1]
    old = model.extension_statuses(sid, "http://f", talos_version="v1.6.0")[-1]["metadata"]
    assert "extraInfo" not in old, "before Talos 1.7 the schematic is not embedded"
    vanilla = model.register(Schematic())
    assert [s["image"] for s in model.extension_statuses(vanilla)] == ["0.sqsh"]


def test_extension_statuses_refuses_what_cannot_boot(model: FactoryModel) -> None:
    sid = model.register_extensions(["siderolabs/does-not-exist"])
    with pytest.raises(ExtensionNotAvailable, match='official extension "siderolabs/does-not-'
                                                    'exist" is not available for Talos version '
                                                    "v1.9.4"):
        model.extension_statuses(sid, talos_version="v1.9.4")
    with pytest.raises(SchematicNotFound, match="not found"):
        model.extension_statuses("f" * 64)


def test_aliases_resolve_renamed_extensions() -> None:
    """upstream ExtensionNameAlias: an old name in a schematic finds the renamed extension."""
    xen = OfficialExtension("siderolabs/xen-guest-agent", "Sidero Labs", "[extra] Xen.\n",
                            ">= v1.5.0", {"1.9": "v0.1.{p}"})
    model = FactoryModel(["v1.9.4"], catalog=ExtensionCatalog((xen,)))
    sid = model.register_extensions(["siderolabs/xe-guest-utilities"])
    assert model.image(sid, "v1.9.4", "metal-amd64.iso").filename == "metal-amd64.iso"
    spec = model.extension_statuses(sid, talos_version="v1.9.4")[0]["metadata"]
    assert (spec["name"], spec["version"]) == ("xen-guest-agent", "v0.1.3")
