"""Judging what a template's throwaway clone answered in maintenance mode (check_boot), on the
resource shapes of reference §2.3: ExtensionStatus specs carry `metadata.name`/`version` (the
`schematic` extension's version is the schematic ID), the Versions resource (Talos v1.10+)
`spec.version`."""

from __future__ import annotations

from fixtures.procedures.template import check_boot
from model.schematic import Image
from model.versions import TalosVersion

SID = "dc7b152cb3ea99b821fcb7340ce7168313ce393d663740b791c36f6e95fc8586"
IMAGE = Image(SID, ("siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent"))


def _ext(name: str, version: str) -> dict:  # type: ignore[type-arg]
    return {"metadata": {"namespace": "runtime", "type": "ExtensionStatuses.runtime.talos.dev"},
            "spec": {"image": "0.sqsh", "metadata": {"name": name, "version": version}}}


EXTS = [_ext("iscsi-tools", "v0.1.6"), _ext("qemu-guest-agent", "9.2.0"), _ext("schematic", SID)]


def test_the_target_passes() -> None:
    versions = [{"spec": {"version": "v1.12.4"}}]
    assert check_boot(TalosVersion.parse("v1.12.4"), IMAGE, versions, EXTS) == []


def test_every_difference_is_named() -> None:
    versions = [{"spec": {"version": "v1.11.2"}}]
    other = [_ext("qemu-guest-agent", "9.2.0"), _ext("schematic", "0" * 64)]
    assert check_boot(TalosVersion.parse("v1.12.4"), IMAGE, versions, other) == [
        "runs Talos v1.11.2, not v1.12.4",
        f"schematic {'0' * 64}, not {SID}",
        "lacks siderolabs/iscsi-tools (has qemu-guest-agent, schematic)",
    ]


def test_before_v1_10_there_is_no_version_resource_to_read() -> None:
    # Versions.runtime.talos.dev is new in v1.10.0: the schematic and extensions still count
    assert check_boot(TalosVersion.parse("v1.9.6"), IMAGE, [], EXTS) == []
