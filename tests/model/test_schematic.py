"""Schematic IDs computed as the Image Factory computes them, and extension lists read back.

Vectors: siderolabs/image-factory pkg/schematic/schematic_test.go (TestID), recomputed in
../shared/reference/talos-interfaces.md §5; the qemu-guest-agent ID also appears in the Talos
v1.10 docs (talos-guides/install/virtualized-platforms/proxmox.md).
"""

from __future__ import annotations

import pytest

from model.schematic import (
    SchematicError,
    canonical_yaml,
    extensions_of,
    schematic_id,
    yaml_id,
)

VANILLA = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
QEMU = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
ISCSI_QEMU = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"


def test_upstream_vectors() -> None:
    # schematic_test.go: the vanilla schematic, and two non-extension ones hashed from their YAML
    assert yaml_id("customization: {}\n") == VANILLA
    assert (
        yaml_id("customization:\n    extraKernelArgs:\n        - noapic\n        - nolapic\n")
        == "9cba8e32753f91a16c1837ab8abf356af021706ef284aef07380780177d9a06c"
    )
    overlay = "overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_generic\n"
    assert (
        yaml_id(overlay + "customization: {}\n")
        == "ee21ef4a5ef808a9b7484cc0dda0f25075021691c8c09a276591eedb638ea1f9"
    )


def test_extension_sets() -> None:
    assert schematic_id([]) == VANILLA
    assert schematic_id(["siderolabs/qemu-guest-agent"]) == QEMU
    assert schematic_id(["siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent"]) == ISCSI_QEMU
    # order is part of the ID (the Factory keeps list order)
    assert schematic_id(["siderolabs/qemu-guest-agent", "siderolabs/iscsi-tools"]) != ISCSI_QEMU


def test_canonical_yaml_is_go_yaml_with_four_spaces() -> None:
    assert canonical_yaml(["siderolabs/qemu-guest-agent"]) == (
        "customization:\n    systemExtensions:\n        officialExtensions:\n"
        "            - siderolabs/qemu-guest-agent\n"
    )


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["iscsi-tools"], "'iscsi-tools' is not an official extension name \\(owner/name"),
        (["siderolabs/Foo"], "'siderolabs/Foo' is not an official extension name"),
        (["a/b", "a/b"], "a/b is listed twice"),
        (["siderolabs/x: y"], "is not an official extension name"),
    ],
)
def test_bad_names_are_refused(names: list[str], message: str) -> None:
    with pytest.raises(SchematicError, match=message):
        schematic_id(names)


def test_extensions_read_back_from_the_factory_yaml() -> None:
    # GET /schematics/<id> answers the canonical YAML (image-factory internal/frontend/http)
    text = canonical_yaml(["siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent"])
    assert extensions_of(text, "x") == ("siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent")
    assert extensions_of("customization: {}\n", "x") == ()
    # an overlay schematic (schematic_test.go) has no extensions
    overlay = "overlay:\n    image: siderolabs/sbc-raspberrypi\n    name: rpi_generic\n"
    assert extensions_of(overlay + "customization: {}\n", "x") == ()
    with pytest.raises(SchematicError, match="GET /schematics/abc: not a schematic"):
        extensions_of("schematic not found\n", "GET /schematics/abc")
