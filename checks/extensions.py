"""Extension checks: each node has its image's extensions and runs its schematic (the profile's,
or the target's once an image change moved it)."""

from __future__ import annotations

from checks._common import talos_side
from checks.expectation import Expectation
from model.findings import Category, Finding
from model.snapshot import ClusterSnapshot

EXTENSIONS = "extensions-present"
SCHEMATIC = "schematic-matches"

_CAT = Category.EXTENSIONS


def _same_extension(wanted: str, installed: str) -> bool:
    """``siderolabs/iscsi-tools`` (schematic) matches ``iscsi-tools`` (ExtensionStatus name)."""
    return wanted == installed or wanted.rsplit("/", 1)[-1] == installed.rsplit("/", 1)[-1]


def check_extensions(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every node's extensions include all of its image's; after an image change, the ones the
    new image dropped are gone."""
    findings = []
    for node in expectation.nodes:
        image = expectation.image_of(node)
        if not image.extensions and not image.without:
            continue
        expected = "extensions " + (", ".join(image.extensions) or "none")
        if image.without:
            expected += f" (not {', '.join(image.without)})"
        obs, problem = talos_side(EXTENSIONS, _CAT, snapshot, node, expected)
        if problem is not None:
            findings.append(problem)
            continue
        assert obs is not None
        names = [e.name for e in obs.extensions]
        missing = [w for w in image.extensions if not any(_same_extension(w, n) for n in names)]
        kept = [w for w in image.without if any(_same_extension(w, n) for n in names)]
        wrong = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"still has {', '.join(kept)}"] if kept else []
        )
        if wrong:
            findings.append(
                Finding(
                    EXTENSIONS,
                    f"node {node.name}",
                    expected,
                    f"{'; '.join(wrong)} (installed: {', '.join(names) or 'none'})",
                    f"{node.name} booted an image "
                    f"{'without them' if missing else 'that still has them'}: upgrade it with "
                    f"{expectation.installer_image(node)}",
                    _CAT,
                )
            )
    return findings


def check_schematic(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every node's ``schematic`` extension carries the schematic ID of its image."""
    findings = []
    for node in expectation.nodes:
        want = expectation.image_of(node).schematic
        expected = f"schematic {want}"
        obs, problem = talos_side(SCHEMATIC, _CAT, snapshot, node, expected)
        if problem is not None:
            findings.append(problem)
            continue
        assert obs is not None
        ids = obs.schematic_ids
        if ids == [want]:
            continue
        observed = (
            "no 'schematic' extension (not an Image Factory image?)"
            if not ids
            else "schematic " + ", ".join(ids)
        )
        findings.append(
            Finding(
                SCHEMATIC,
                f"node {node.name}",
                expected,
                observed,
                f"upgrade {node.name} with {expectation.installer_image(node)}",
                _CAT,
            )
        )
    return findings
