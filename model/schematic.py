"""Image Factory schematics as the harness needs them: the ID of an extension set, computed the
way the Factory computes it, and the extension list read back from a schematic's YAML. Pure.

The ID is ``sha256(yaml.Marshal(schematic))`` in lower-case hex (siderolabs/image-factory
``pkg/schematic/schematic.go: ID()``): Go yaml, 4-space indent, keys in struct order, empty fields
omitted, an empty customization written ``customization: {}``. List order is kept, so the order
of the extensions changes the ID (reference §5). Only schematics made of official extensions are
built here; any other schematic is named by its ID (``--schematic``) and read from the Factory.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

SCHEMATIC_ID = re.compile(r"^[0-9a-f]{64}$")
# an official extension's name: <owner>/<name>, e.g. siderolabs/iscsi-tools. Go yaml writes such
# a name unquoted; anything needing quotes is refused rather than guessed at.
EXTENSION_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*/[a-z0-9][a-z0-9._-]*$")


class SchematicError(ValueError):
    """An extension list or a schematic that cannot be used; the message names the entry."""


@dataclass(frozen=True)
class Image:
    """What a node boots, as far as the checks care: the schematic ID, its extensions, and the
    extensions that must be gone (those an image change dropped)."""

    schematic: str
    extensions: tuple[str, ...]
    without: tuple[str, ...] = ()

    def short(self) -> str:
        """'dc7b152cb3ea (iscsi-tools, qemu-guest-agent)' for messages."""
        names = ", ".join(e.rsplit("/", 1)[-1] for e in self.extensions) or "no extensions"
        return f"{self.schematic[:12]} ({names})"


def check_extensions(names: Iterable[str], where: str = "extensions") -> tuple[str, ...]:
    """The names as given (order kept: it is part of the ID); raise SchematicError naming a
    malformed or repeated one."""
    out: list[str] = []
    for raw in names:
        name = raw.strip()
        if not EXTENSION_NAME.match(name):
            raise SchematicError(
                f"{where}: {raw!r} is not an official extension name (owner/name, e.g. "
                "siderolabs/iscsi-tools)"
            )
        if name in out:
            raise SchematicError(f"{where}: {name} is listed twice")
        out.append(name)
    return tuple(out)


def canonical_yaml(extensions: Iterable[str]) -> str:
    """The Factory's canonical YAML of a schematic listing only these official extensions."""
    names = check_extensions(extensions)
    if not names:
        return "customization: {}\n"
    items = "".join(f"            - {n}\n" for n in names)
    return f"customization:\n    systemExtensions:\n        officialExtensions:\n{items}"


def schematic_id(extensions: Iterable[str]) -> str:
    """The schematic ID the Factory gives this extension list (order matters)."""
    return yaml_id(canonical_yaml(extensions))


def yaml_id(text: str) -> str:
    """The ID of a schematic from its canonical YAML."""
    return hashlib.sha256(text.encode()).hexdigest()


def extensions_of(text: str, where: str) -> tuple[str, ...]:
    """The official extensions a schematic's YAML lists (GET /schematics/<id>); raise
    SchematicError naming `where` when it is not a schematic."""
    try:
        doc: Any = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise SchematicError(f"{where}: not YAML: {e}") from None
    if not isinstance(doc, dict) or "customization" not in doc and "overlay" not in doc:
        raise SchematicError(f"{where}: not a schematic (no customization)")
    custom = doc.get("customization") or {}
    system = custom.get("systemExtensions") or {} if isinstance(custom, dict) else {}
    names = system.get("officialExtensions") or [] if isinstance(system, dict) else []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise SchematicError(f"{where}: officialExtensions is not a list of names")
    return tuple(names)


@dataclass(frozen=True)
class ImageChoice:
    """The image an upgrade is asked to move the nodes to, and where it was asked for."""

    schematic: str
    extensions: tuple[str, ...] | None  # None: an explicit schematic (the Factory has the list)
    source: str  # e.g. "--extensions", "upgrade.target.schematic in clusters/home.yaml"

    @classmethod
    def of_extensions(cls, names: Iterable[str], source: str) -> ImageChoice:
        exts = check_extensions(names, source)
        return cls(schematic_id(exts), exts, source)

    @classmethod
    def of_schematic(cls, sid: str, source: str) -> ImageChoice:
        if not SCHEMATIC_ID.match(sid):
            raise SchematicError(
                f"{source}: {sid!r} is not a schematic ID (64 lower-case hex characters)"
            )
        return cls(sid, None, source)


class TargetImage:
    """The image this run moves nodes to (none: the nodes keep theirs). Its extension list is
    the one asked for, or for an explicit schematic the one the Factory returns (`learn`, in
    the preflight); the extensions of the current image it lacks must be gone afterwards."""

    def __init__(self, choice: ImageChoice | None, current: tuple[str, ...]) -> None:
        self.choice = choice
        self.current = current
        self.extensions = choice.extensions if choice is not None else None

    def learn(self, extensions: tuple[str, ...]) -> None:
        self.extensions = extensions

    def image(self) -> Image:
        """The target image; AssertionError while an explicit schematic's list is unknown."""
        if self.choice is None:
            raise AssertionError("this run changes no image")
        if self.extensions is None:
            raise AssertionError(
                f"the extensions of schematic {self.choice.schematic} were not read from the "
                "Image Factory (the preflight reads them)"
            )
        dropped = tuple(e for e in self.current if e not in self.extensions)
        return Image(self.choice.schematic, self.extensions, dropped)
