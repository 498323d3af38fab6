"""Talos versions and the official system extensions the emulated factory offers for each.

The extension names, authors, descriptions and Talos constraints are those of the real manifests
(siderolabs/extensions `*/manifest.yaml.tmpl`); the per-version extension versions are plausible
values derived deterministically from the Talos minor and patch (not the real release history).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.factory.errors import InvalidVersion

_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)

# upstream internal/profile ExtensionNameAlias: old or wrong names still resolve
ALIASES: Mapping[str, str] = {
    "siderolabs/v4l-uvc": "siderolabs/v4l-uvc-drivers",
    "siderolabs/usb-modem": "siderolabs/usb-modem-drivers",
    "siderolabs/gasket": "siderolabs/gasket-driver",
    "siderolabs/talos-vmtoolsd": "siderolabs/vmtoolsd-guest-agent",
    "siderolabs/xe-guest-utilities": "siderolabs/xen-guest-agent",
    "siderolabs/nvidia-container-toolkit": "siderolabs/nvidia-container-toolkit-lts",
    "siderolabs/nvidia-open-gpu-kernel-modules": "siderolabs/nvidia-open-gpu-kernel-modules-lts",
    "siderolabs/nonfree-kmod-nvidia": "siderolabs/nonfree-kmod-nvidia-lts",
    "siderolabs/nvidia-fabricmanager": "siderolabs/nvidia-fabric-manager-lts",
    "siderolabs/i915-ucode": "siderolabs/i915",
    "siderolabs/amdgpu-firmware": "siderolabs/amdgpu",
}


@dataclass(frozen=True)
class Version:
    """A semver Talos version; str() is "vX.Y.Z[-pre]"."""

    major: int
    minor: int
    patch: int
    pre: tuple[Any, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse "v1.9.4" or "1.9.4" strictly (blang/semver); raise InvalidVersion otherwise."""
        m = _SEMVER.match(text[1:] if text.startswith("v") else text)
        if not m:
            raise InvalidVersion(f"error parsing version: invalid semver {text!r}")
        pre: tuple[Any, ...] = ()
        if m.group(4):
            pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                        for p in m.group(4).split("."))
        return cls(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)

    @property
    def stable(self) -> bool:
        """True for a release without a pre-release suffix."""
        return not self.pre

    def sort_key(self) -> tuple[int, int, int, int, tuple[Any, ...]]:
        """Semver precedence: a pre-release sorts before its release."""
        return (self.major, self.minor, self.patch, 0 if self.pre else 1, self.pre)

    def __str__(self) -> str:
        pre = ".".join(str(p[1]) if p[0] == 0 else p[2] for p in self.pre)
        return f"v{self.major}.{self.minor}.{self.patch}" + (f"-{pre}" if pre else "")

    @property
    def bare(self) -> str:
        """The version without "v", as Go's semver.Version.String() prints it."""
        return str(self)[1:]


@dataclass(frozen=True)
class ExtensionInfo:
    """One official extension for one Talos version (upstream pkg/client ExtensionInfo)."""

    name: str
    ref: str
    digest: str
    author: str
    description: str
    version: str
    talos_constraint: str

    def to_json(self) -> dict[str, str]:
        """Return the /version/{v}/extensions/official item, keys in Go struct order."""
        return {"name": self.name, "ref": self.ref, "digest": self.digest,
                "author": self.author, "description": self.description}


@dataclass(frozen=True)
class OfficialExtension:
    """An extension and its version per Talos minor ("1.9" -> "9.1.{p}", {p} = min(patch, 3))."""

    name: str
    author: str
    description: str
    talos_constraint: str
    versions: Mapping[str, str]
    since: str = "v1.5.0"

    def version_for(self, talos: Version) -> str | None:
        """Return this extension's version for a Talos version, or None if not offered."""
        if talos.sort_key() < Version.parse(self.since).sort_key():
            return None
        minor = f"{talos.major}.{talos.minor}"
        template = self.versions.get(minor) or self.versions[max(
            self.versions, key=lambda k: tuple(int(x) for x in k.split(".")))]
        return template.format(p=min(talos.patch, 3))


def _ext(name: str, author: str, tier: str, text: str, constraint: str,
         versions: Mapping[str, str]) -> OfficialExtension:
    return OfficialExtension(f"siderolabs/{name}", author, f"[{tier}] {text}\n", constraint,
                             versions)


def _table(*values: str) -> dict[str, str]:
    """Map minors 1.5 ... 1.13 (and later, by the last value) to the given version templates."""
    return {f"1.{5 + i}": v for i, v in enumerate(values)}


DEFAULT_EXTENSIONS: tuple[OfficialExtension, ...] = (
    _ext("amd-ucode", "Sidero Labs", "core", "This system extension provides AMD microcode "
         "binaries.", ">= v1.0.0", _table("20230804", "20231111", "20240312", "20240909",
                                           "20241210", "20250410", "20250808", "20251111",
                                           "20260309")),
    _ext("intel-ucode", "Sidero Labs", "core", "This system extension provides Intel microcode "
         "binaries.", ">= v1.0.0", _table("20230808", "20231114", "20240312", "20240813",
                                           "20241112", "20250211", "20250812", "20251111",
                                           "20260227")),
    _ext("iscsi-tools", "Sidero Labs", "core", "This system extension provides iscsi-tools.",
         ">= v1.1.0", _table("v0.1.4", "v0.1.4", "v0.1.5", "v0.1.5", "v0.1.6", "v0.1.6",
                             "v0.2.0", "v0.2.0", "v0.2.{p}")),
    _ext("nut-client", "Sidero Labs", "contrib", "This system extension provides the "
         "network-ups-tools upsmon service.", ">= v1.5.0",
         _table("2.8.0", "2.8.1", "2.8.1", "2.8.2", "2.8.2", "2.8.2", "2.8.3", "2.8.3", "2.8.4")),
    _ext("qemu-guest-agent", "Markus Reiter", "extra", "This system extension provides the "
         "QEMU Guest Agent service.", ">= v1.5.0",
         _table("8.0.{p}", "8.1.{p}", "8.2.{p}", "9.0.{p}", "9.1.{p}", "9.2.{p}", "10.0.{p}",
                "10.1.{p}", "10.2.{p}")),
    _ext("tailscale", "Beau Trepp", "extra", "Tailscale connects your team's devices and "
         "development environments for easy access to remote resources.", ">= v1.5.0",
         _table("1.46.{p}", "1.54.{p}", "1.62.{p}", "1.74.{p}", "1.78.{p}", "1.82.{p}",
                "1.86.{p}", "1.90.{p}", "1.94.{p}")),
    _ext("util-linux-tools", "Sidero Labs", "core", "This system extension provides a minimal "
         "util-linux package.", ">= v1.0.0",
         _table("2.39.1", "2.39.2", "2.39.3", "2.40.2", "2.40.2", "2.40.4", "2.41.1", "2.41.2",
                "2.42.1")),
)


@dataclass
class ExtensionCatalog:
    """The official extensions per Talos version; `withdraw` removes one for a version."""

    extensions: tuple[OfficialExtension, ...] = DEFAULT_EXTENSIONS
    withdrawn: set[tuple[str, str]] = field(default_factory=set)

    def for_version(self, version: Version) -> list[ExtensionInfo]:
        """Return the extensions offered for this Talos version, sorted by name."""
        out = []
        for ext in sorted(self.extensions, key=lambda e: e.name):
            tag = ext.version_for(version)
            if tag is None or (ext.name, str(version)) in self.withdrawn:
                continue
            ref = f"ghcr.io/{ext.name}:{tag}"
            digest = "sha256:" + hashlib.sha256(f"{ref}@{version}".encode()).hexdigest()
            out.append(ExtensionInfo(ext.name, ref, digest, ext.author, ext.description, tag,
                                     ext.talos_constraint))
        return out

    def find(self, name: str, version: Version) -> ExtensionInfo | None:
        """Return the extension by name (or its upstream alias) for a version, or None."""
        offered = {e.name: e for e in self.for_version(version)}
        return offered.get(name) or offered.get(ALIASES.get(name, ""))

    def withdraw(self, name: str, version: str) -> None:
        """Make an extension unavailable for one Talos version (fault injection)."""
        self.withdrawn.add((name, str(Version.parse(version))))


def parse_versions(versions: Iterable[str]) -> list[Version]:
    """Parse and sort (semver precedence, duplicates dropped) a list of Talos versions."""
    parsed = {Version.parse(v) for v in versions}
    return sorted(parsed, key=Version.sort_key)
