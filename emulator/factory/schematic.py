"""A schematic as Image Factory stores it: decoded strictly, written canonically, hashed to its ID.

Mirrors `pkg/schematic/schematic.go`: the struct order (owner, overlay, customization{...}),
`omitempty` rules, `yaml.Marshal` text (see goyaml.py) and `ID() = sha256(Marshal())`. Decoding
follows go-yaml's `KnownFields(true)` decoder: unknown fields, duplicate keys and type mismatches
are rejected with go-yaml's wording ("yaml: construct errors: line N: ...").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import yaml

from emulator.factory import goyaml
from emulator.factory.errors import InvalidSchematic

BOOTLOADERS = ("none", "dual-boot", "sd-boot", "grub")
_PLAIN = "!goyaml/plain"
_STD = "tag:yaml.org,2002:"


@dataclass(frozen=True)
class MetaValue:
    """One initial META entry: key is a uint8."""

    key: int
    value: str = ""


@dataclass(frozen=True)
class Overlay:
    """Overlay (SBC) options; options is a Go map[string]any."""

    image: str = ""
    name: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Customization:
    """Talos image customization, flattened (systemExtensions, secureboot, diskImage inline)."""

    embedded_machine_configuration: str = ""
    extra_kernel_args: tuple[str, ...] = ()
    meta: tuple[MetaValue, ...] = ()
    official_extensions: tuple[str, ...] = ()
    bootloader: str = ""  # "" is BootLoaderKindNone (omitted)
    secureboot_enroll_keys: str = ""
    include_well_known_certificates: bool = False
    disk_image_sector_size: int = 0


@dataclass(frozen=True)
class Schematic:
    """An image schematic; `canonical_yaml()` is what upstream stores and hashes."""

    customization: Customization = field(default_factory=Customization)
    overlay: Overlay = field(default_factory=Overlay)
    owner: str = ""

    @classmethod
    def with_extensions(cls, extensions: Iterable[str]) -> Schematic:
        """Return a schematic that only lists these official extensions, order kept."""
        return cls(Customization(official_extensions=tuple(extensions)))

    @classmethod
    def parse(cls, data: bytes | str) -> Schematic:
        """Decode YAML or JSON as upstream does; raise InvalidSchematic with go-yaml's text."""
        return _decode(data)

    def validate(self) -> None:
        """Raise InvalidSchematic for what the non-enterprise factory refuses (an owner)."""
        if self.owner:
            raise InvalidSchematic("owner field is only supported in Enterprise edition")

    def document(self) -> dict[str, Any]:
        """Return the fields yaml.Marshal writes, in struct order, zero values omitted."""
        doc: dict[str, Any] = {}
        if self.owner:
            doc["owner"] = self.owner
        ov = self.overlay
        if ov.image or ov.name or ov.options:
            overlay: dict[str, Any] = {"image": ov.image, "name": ov.name}
            if ov.options:
                overlay["options"] = goyaml.go_map(ov.options)
            doc["overlay"] = overlay
        c = self.customization
        cust: dict[str, Any] = {}
        if c.embedded_machine_configuration:
            cust["embeddedMachineConfiguration"] = c.embedded_machine_configuration
        if c.extra_kernel_args:
            cust["extraKernelArgs"] = list(c.extra_kernel_args)
        if c.meta:
            cust["meta"] = [{"key": m.key, "value": m.value} for m in c.meta]
        if c.official_extensions:
            cust["systemExtensions"] = {"officialExtensions": list(c.official_extensions)}
        if c.bootloader and c.bootloader != "none":
            cust["bootloader"] = c.bootloader
        secureboot: dict[str, Any] = {}
        if c.secureboot_enroll_keys:
            secureboot["enrollKeys"] = c.secureboot_enroll_keys
        if c.include_well_known_certificates:
            secureboot["includeWellKnownCertificates"] = True
        if secureboot:
            cust["secureboot"] = secureboot
        if c.disk_image_sector_size:
            cust["diskImage"] = {"sectorSize": c.disk_image_sector_size}
        doc["customization"] = cust
        return doc

    def canonical_yaml(self) -> str:
        """Return the canonical text (Go yaml.Marshal of the struct)."""
        return goyaml.dump(self.document())

    @property
    def id(self) -> str:
        """Return the schematic ID: sha256 hex of the canonical YAML."""
        return schematic_id(self.canonical_yaml())


def schematic_id(canonical_yaml: str) -> str:
    """Return the lower-case sha256 hex of the canonical YAML text."""
    return hashlib.sha256(canonical_yaml.encode()).hexdigest()


# ---- strict decoding ----------------------------------------------------------------------------
class _Loader(yaml.SafeLoader):
    """Composes nodes only; plain scalars keep a marker so Go's resolution rules can apply."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:  # noqa: D102
        if kind is yaml.ScalarNode:
            return _PLAIN if implicit[0] else _STD + "str"
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def _tag(node: yaml.Node) -> str:
    """Return the go-yaml short tag of a node: str, int, float, bool, null, seq, map, ..."""
    if isinstance(node, yaml.SequenceNode):
        return "seq"
    if isinstance(node, yaml.MappingNode):
        return "map"
    if node.tag == _PLAIN:
        return goyaml.resolve(node.value)
    if node.tag.startswith(_STD):
        return node.tag[len(_STD):]
    return node.tag


class _Decoder:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, node: yaml.Node, message: str) -> None:
        self.errors.append(f"line {node.start_mark.line + 1}: {message}")

    def tag_error(self, node: yaml.Node, type_name: str) -> None:
        tag = _tag(node)
        shown = ""
        if tag not in ("seq", "map"):
            v = node.value
            shown = f" `{v[:7]}...`" if len(v) > 10 else f" `{v}`"
        self.fail(node, f"cannot construct !!{tag}{shown} into {type_name}")

    # -- scalars
    def string(self, node: yaml.Node) -> str:
        if not isinstance(node, yaml.ScalarNode):
            self.tag_error(node, "string")
            return ""
        return "" if _tag(node) == "null" else str(node.value)

    def uint(self, node: yaml.Node, bits: int, type_name: str) -> int:
        tag = _tag(node)
        if tag == "null":
            return 0
        if isinstance(node, yaml.ScalarNode) and tag in ("int", "float"):
            value: float | int | None
            if tag == "int":
                value = goyaml.parse_go_int(node.value)
            else:
                value = float(node.value.replace("_", ""))
                value = int(value) if value.is_integer() else None
            if value is not None and 0 <= value < 2**bits:
                return int(value)
        self.tag_error(node, type_name)
        return 0

    def boolean(self, node: yaml.Node) -> bool:
        tag = _tag(node)
        if tag == "null":
            return False
        if isinstance(node, yaml.ScalarNode):
            text = str(node.value)
            if tag == "bool":
                return text.lower() == "true"
            if tag == "str" and text in goyaml.OLD_BOOLS:
                return text.lower() in ("y", "yes", "on")
        self.tag_error(node, "bool")
        return False

    def bootloader(self, node: yaml.Node) -> str:
        if _tag(node) == "null":
            return ""
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, f"cannot construct !!{_tag(node)} into imageropts.BootloaderKind "
                            "(TextUnmarshaler)")
            return ""
        for candidate in (node.value, node.value.lower()):
            if candidate in BOOTLOADERS:
                return "" if candidate == "none" else candidate
        self.fail(node, f"{node.value} does not belong to BootloaderKind values")
        return ""

    def any(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.SequenceNode):
            return [self.any(item) for item in node.value]
        if isinstance(node, yaml.MappingNode):
            if not self.unique(node):
                return {}
            return {self.string(k): self.any(v) for k, v in node.value}
        tag, text = _tag(node), node.value
        if tag == "null":
            return None
        if tag == "bool":
            return text.lower() == "true"
        if tag == "int":
            return goyaml.parse_go_int(text)
        if tag == "float":
            return float(text.replace("_", "").replace(".inf", "inf").replace(".Inf", "inf")
                         .replace(".INF", "inf").replace(".nan", "nan").replace(".NaN", "nan")
                         .replace(".NAN", "nan"))
        if tag == "timestamp":
            stamp = datetime.fromisoformat(text.replace("t", "T").replace("Z", "+00:00"))
            return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
        return text

    # -- collections
    def strings(self, node: yaml.Node) -> tuple[str, ...]:
        if _tag(node) == "null":
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self.tag_error(node, "[]string")
            return ()
        return tuple(self.string(item) for item in node.value)

    def options(self, node: yaml.Node) -> dict[str, Any]:
        if _tag(node) == "null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.tag_error(node, "map[string]interface {}")
            return {}
        value = self.any(node)
        return value if isinstance(value, dict) else {}

    def unique(self, node: yaml.MappingNode) -> bool:
        before = len(self.errors)
        pairs = node.value
        for i, (ki, _) in enumerate(pairs):
            for kj, _ in pairs[i + 1:]:
                if type(ki) is type(kj) and ki.value == kj.value:
                    self.fail(kj, f"mapping key {json.dumps(kj.value)} already defined at line "
                                  f"{ki.start_mark.line + 1}")
        return len(self.errors) == before

    def struct(self, node: yaml.Node, type_name: str,
               fields: Mapping[str, Callable[[yaml.Node], Any]]) -> dict[str, Any]:
        """Decode a mapping into {yaml field name: value}; record go-yaml's errors."""
        if _tag(node) == "null":
            return {}
        if not isinstance(node, yaml.MappingNode):
            self.tag_error(node, type_name)
            return {}
        if not self.unique(node):
            return {}
        out: dict[str, Any] = {}
        for key, value in node.value:
            name = self.string(key)
            if name in fields:
                out[name] = fields[name](value)
            else:
                self.fail(key, f"field {name} not found in type {type_name}")
        return out

    # -- the schematic types
    def schematic(self, node: yaml.Node) -> Schematic:
        d = self.struct(node, "schematic.Schematic", {
            "owner": self.string, "overlay": self.overlay, "customization": self.customization})
        return Schematic(customization=d.get("customization", Customization()),
                         overlay=d.get("overlay", Overlay()), owner=d.get("owner", ""))

    def overlay(self, node: yaml.Node) -> Overlay:
        d = self.struct(node, "schematic.Overlay", {
            "image": self.string, "name": self.string, "options": self.options})
        return Overlay(image=d.get("image", ""), name=d.get("name", ""),
                       options=d.get("options", {}))

    def customization(self, node: yaml.Node) -> Customization:
        d = self.struct(node, "schematic.Customization", {
            "embeddedMachineConfiguration": self.string,
            "extraKernelArgs": self.strings,
            "meta": self.meta,
            "systemExtensions": lambda n: self.struct(
                n, "schematic.SystemExtensions", {"officialExtensions": self.strings}),
            "bootloader": self.bootloader,
            "secureboot": lambda n: self.struct(n, "schematic.SecureBootCustomization", {
                "enrollKeys": self.string, "includeWellKnownCertificates": self.boolean}),
            "diskImage": lambda n: self.struct(n, "schematic.DiskImageCustomization", {
                "sectorSize": lambda v: self.uint(v, 64, "uint")}),
        })
        ext = d.get("systemExtensions", {})
        sb = d.get("secureboot", {})
        return Customization(
            embedded_machine_configuration=d.get("embeddedMachineConfiguration", ""),
            extra_kernel_args=d.get("extraKernelArgs", ()),
            meta=d.get("meta", ()),
            official_extensions=ext.get("officialExtensions", ()),
            bootloader=d.get("bootloader", ""),
            secureboot_enroll_keys=sb.get("enrollKeys", ""),
            include_well_known_certificates=sb.get("includeWellKnownCertificates", False),
            disk_image_sector_size=d.get("diskImage", {}).get("sectorSize", 0),
        )

    def meta(self, node: yaml.Node) -> tuple[MetaValue, ...]:
        if _tag(node) == "null":
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self.tag_error(node, "[]schematic.MetaValue")
            return ()
        out = []
        for item in node.value:
            d = self.struct(item, "schematic.MetaValue", {
                "key": lambda v: self.uint(v, 8, "uint8"), "value": self.string})
            out.append(MetaValue(d.get("key", 0), d.get("value", "")))
        return tuple(out)


def _decode(data: bytes | str) -> Schematic:
    try:
        documents = yaml.compose_all(data, Loader=_Loader)
        root = next(documents, None)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"L{mark.line + 1}.C{mark.column + 1}" if mark else "<unknown position>"
        stage = type(e).__name__.removesuffix("Error").lower()
        raise InvalidSchematic(f"go-yaml load error in {stage} at {where}: {e.problem}") from None
    except yaml.YAMLError as e:
        raise InvalidSchematic(f"yaml: {e}") from None
    if root is None:
        raise InvalidSchematic("EOF")
    decoder = _Decoder()
    schematic = decoder.schematic(root)
    if decoder.errors:
        raise InvalidSchematic("yaml: construct errors: " + "; ".join(decoder.errors))
    return schematic
