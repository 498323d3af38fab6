"""Per-node images: mid-way through an image change, the nodes already moved are held to the
new schematic and extension list (and must have lost the dropped extensions), the others to the
profile's."""

from __future__ import annotations

from checks import extensions
from model.schematic import Image, schematic_id
from model.snapshot import ExtensionObservation
from tests.snapshot_builder import SCHEMATIC, TALOS, expectation, healthy_snapshot, with_node

NEW_EXTS = ("siderolabs/qemu-guest-agent", "siderolabs/util-linux-tools")
NEW = Image(schematic_id(NEW_EXTS), NEW_EXTS, without=("siderolabs/iscsi-tools",))
NEW_INSTALLER = f"factory.talos.dev/installer/{NEW.schematic}:{TALOS}"


def _booted_new(snap, name, *exts):  # type: ignore[no-untyped-def]
    obs = [ExtensionObservation(str(i), e.rsplit("/", 1)[-1], "1") for i, e in enumerate(exts)]
    obs.append(ExtensionObservation(str(len(exts)), "schematic", NEW.schematic))
    return with_node(snap, name, extensions=obs)


def test_a_moved_node_is_held_to_the_new_image_the_others_to_the_old() -> None:
    exp = expectation().with_talos(TALOS, ["w1"], NEW)
    snap = _booted_new(healthy_snapshot(), "w1", *NEW_EXTS)
    assert extensions.check_schematic(snap, exp) == []
    assert extensions.check_extensions(snap, exp) == []
    # w2 still on the profile's image passes too; but w2 on the new one does not
    snap2 = _booted_new(snap, "w2", *NEW_EXTS)
    [finding] = extensions.check_schematic(snap2, exp)
    assert str(finding) == (
        f"[schematic-matches] node w2: expected schematic {SCHEMATIC}, observed schematic "
        f"{NEW.schematic} — hint: upgrade w2 with factory.talos.dev/installer/{SCHEMATIC}:{TALOS}"
    )


def test_a_dropped_extension_still_there_is_a_finding() -> None:
    exp = expectation().with_talos(TALOS, ["w1"], NEW)
    snap = _booted_new(healthy_snapshot(), "w1", "siderolabs/iscsi-tools", *NEW_EXTS)
    [finding] = extensions.check_extensions(snap, exp)
    assert str(finding) == (
        "[extensions-present] node w1: expected extensions siderolabs/qemu-guest-agent, "
        "siderolabs/util-linux-tools (not siderolabs/iscsi-tools), observed still has "
        "siderolabs/iscsi-tools (installed: iscsi-tools, qemu-guest-agent, util-linux-tools, "
        "schematic) — hint: w1 booted an image that still has them: upgrade it with "
        f"{NEW_INSTALLER}"
    )


def test_a_new_extension_missing_is_named() -> None:
    exp = expectation().with_talos(TALOS, ["w1"], NEW)
    snap = _booted_new(healthy_snapshot(), "w1", "siderolabs/qemu-guest-agent")
    [finding] = extensions.check_extensions(snap, exp)
    assert (
        "observed missing siderolabs/util-linux-tools (installed: qemu-guest-agent, schematic)"
        in (str(finding))
    )
