"""Extension checks: each node has the profile's extensions and runs the profile's schematic."""

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
    """Every node's extensions include all of the profile's."""
    if not expectation.extensions:
        return []
    expected = "extensions " + ", ".join(expectation.extensions)
    findings = []
    for node in expectation.nodes:
        obs, problem = talos_side(EXTENSIONS, _CAT, snapshot, node, expected)
        if problem is not None:
            findings.append(problem)
            continue
        assert obs is not None
        names = [e.name for e in obs.extensions]
        missing = [
            w for w in expectation.extensions if not any(_same_extension(w, n) for n in names)
        ]
        if missing:
            findings.append(
                Finding(
                    EXTENSIONS,
                    f"node {node.name}",
                    expected,
                    f"missing {', '.join(missing)} (installed: {', '.join(names) or 'none'})",
                    f"{node.name} booted an image without them: upgrade it with "
                    f"{expectation.installer_image(node.talos_version)}",
                    _CAT,
                )
            )
    return findings


def check_schematic(snapshot: ClusterSnapshot, expectation: Expectation) -> list[Finding]:
    """Every node's ``schematic`` extension carries the profile's schematic ID."""
    expected = f"schematic {expectation.schematic}"
    findings = []
    for node in expectation.nodes:
        obs, problem = talos_side(SCHEMATIC, _CAT, snapshot, node, expected)
        if problem is not None:
            findings.append(problem)
            continue
        assert obs is not None
        ids = obs.schematic_ids
        if ids == [expectation.schematic]:
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
                f"upgrade {node.name} with {expectation.installer_image(node.talos_version)}",
                _CAT,
            )
        )
    return findings
