"""The emulated Image Factory: registered schematics, offered Talos versions and extensions.

State and rules only (no HTTP; routes.py serves this). Mirrors upstream's checks and their order:
schematic lookup, version parse, path parse, overlay/installer/extension checks, version offered.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from emulator.factory.catalog import ExtensionCatalog, ExtensionInfo, Version, parse_versions
from emulator.factory.errors import (
    EnterpriseOnly,
    ExtensionNotAvailable,
    FactoryError,
    InstallerBuildRefused,
    InstallerSchematicNotFound,
    InstallerVersionNotFound,
    InvalidImage,
    InvalidInstallerRef,
    InvalidProfile,
    InvalidVersion,
    SchematicNotFound,
    VersionNotAvailable,
)
from emulator.factory.profile import (
    CHECKSUM_SUFFIXES,
    SIGNATURE_SUFFIX,
    ImageProfile,
    content_type,
    parse_path,
)
from emulator.factory.schematic import Schematic, schematic_id

__all__ = ["DEFAULT_BASE_URL", "FactoryModel", "ImageAsset", "InstallerManifest", "Schematic",
           "schematic_id"]

DEFAULT_BASE_URL = "https://factory.talos.dev"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OVERLAY_SINCE = Version(1, 7, 0)  # quirks.SupportsOverlay
SCHEMATIC_DESCRIPTION = ("Virtual extension which specifies the schematic of the image built "
                         "with schematic.")


@dataclass(frozen=True)
class ImageAsset:
    """A boot asset answer: the file name, Content-Type and a small deterministic body."""

    filename: str
    content_type: str
    body: bytes


@dataclass(frozen=True)
class InstallerManifest:
    """An installer image index: its digest (sha256 of body), media type and JSON body."""

    digest: str
    media_type: str
    body: bytes


def installer_image_ok(image: str) -> bool:
    """True for installer, installer-secureboot, <platform>-installer[-secureboot]."""
    return image in ("installer", "installer-secureboot") or image.endswith(
        ("-installer", "-installer-secureboot"))


class FactoryModel:
    """Schematics, versions and extensions of one emulated factory (upstream's rules)."""

    def __init__(self, versions: Iterable[str], *, schematics: Iterable[Schematic] = (),
                 catalog: ExtensionCatalog | None = None,
                 base_url: str = DEFAULT_BASE_URL) -> None:
        self._versions = parse_versions(versions)
        self.catalog = catalog or ExtensionCatalog()
        self.base_url = base_url.rstrip("/")
        self.schematics: dict[str, Schematic] = {}
        for s in schematics:
            self.register(s)

    # ---- schematics ------------------------------------------------------------------------
    def register(self, schematic: Schematic) -> str:
        """Store a schematic (idempotent); return its ID. Raise InvalidSchematic for an owner."""
        schematic.validate()
        sid = schematic.id
        self.schematics.setdefault(sid, schematic)
        return sid

    def register_yaml(self, data: bytes | str) -> Schematic:
        """Decode a POSTed body and register it; raise InvalidSchematic as upstream does."""
        schematic = Schematic.parse(data)
        self.register(schematic)
        return schematic

    def register_extensions(self, extensions: Iterable[str]) -> str:
        """Register the schematic listing only these official extensions; return its ID."""
        return self.register(Schematic.with_extensions(extensions))

    def get(self, sid: str) -> Schematic:
        """Return a registered schematic; raise SchematicNotFound."""
        try:
            return self.schematics[sid]
        except KeyError:
            raise SchematicNotFound(sid) from None

    # ---- versions and extensions -------------------------------------------------------------
    def versions(self) -> list[str]:
        """Return the offered Talos versions, "vX.Y.Z", in semver order."""
        return [str(v) for v in self._versions]

    def latest(self) -> str:
        """Return the newest stable version (what the tag "latest" means)."""
        stable = [v for v in self._versions if v.stable]
        if not stable:
            raise VersionNotAvailable("no stable Talos version is available")
        return str(stable[-1])

    def version(self, text: str) -> Version:
        """Parse and check a version; raise InvalidVersion (500) or VersionNotAvailable (404)."""
        v = Version.parse(text)
        self._offered(v)
        return v

    def _offered(self, v: Version, context: str = "") -> None:
        if v not in self._versions:
            raise VersionNotAvailable(f"{context}version {v.bare} is not available")

    def extensions(self, version: str) -> list[ExtensionInfo]:
        """Return the official extensions of a version (upstream /version/{v}/extensions)."""
        return self.catalog.for_version(self.version(version))

    # ---- building --------------------------------------------------------------------------
    def _enhance(self, schematic: Schematic, version: Version, prof: ImageProfile) -> None:
        """Upstream EnhanceFromSchematic checks, in its order; raise FactoryError."""
        prefix = "error enhancing profile from schematic: "
        if schematic.overlay.name and version.sort_key() < OVERLAY_SINCE.sort_key():
            raise InvalidProfile(f"{prefix}overlay is not supported for Talos version {version}")
        if prof.kind == "installer":
            self._offered(version, prefix + "failed to get base installer: ")
        names = schematic.customization.official_extensions
        if prof.takes_extensions and names:
            self._offered(version, prefix + "error getting official extensions: ")
            for name in names:
                if self.catalog.find(name, version) is None:
                    raise ExtensionNotAvailable(
                        f'{prefix}official extension "{name}" is not available for Talos '
                        f"version {version}")

    def image(self, sid: str, version: str, path: str, filename: str | None = None) -> ImageAsset:
        """Return the boot asset at /image/{sid}/{version}/{path}; raise FactoryError."""
        if path.endswith(SIGNATURE_SUFFIX):
            raise EnterpriseOnly("enterprise signing is not enabled: signature endpoint is not "
                                 "available")
        if path.endswith(CHECKSUM_SUFFIXES):
            raise EnterpriseOnly("enterprise not enabled: checksum endpoint is not available")
        schematic = self.get(sid)
        v = Version.parse(version)
        try:
            prof = parse_path(path)
        except InvalidProfile as e:
            raise InvalidProfile(f"error parsing profile from path: {e.message}") from None
        self._enhance(schematic, v, prof)
        self._offered(v)
        name = filename or path
        body = (f"emulated Talos boot asset\nschematic: {sid}\nversion: {v}\npath: {path}\n"
                f"kind: {prof.kind}\nplatform: {prof.platform}\narch: {prof.arch}\n").encode()
        return ImageAsset(name, content_type(path), body)

    def installer_manifest(self, image: str, sid: str, tag: str) -> InstallerManifest:
        """Return the index of <image>/<sid>:<tag> (tag, "latest" or digest); raise FactoryError."""
        schematic = self.get(sid)
        if not installer_image_ok(image):
            raise InvalidImage(f"invalid image: {image}")
        if tag == "latest":
            tag = self.latest()
        if tag.startswith("sha256:"):
            for v in self._versions:
                manifest = self._manifest(image, sid, v)
                if manifest.digest == tag:
                    return manifest
            raise VersionNotAvailable(f"manifest unknown: {tag}")
        if not tag.startswith("v"):
            raise VersionNotAvailable(f"manifest unknown: {tag}")
        v = Version.parse(tag)
        platform = image.removesuffix("-secureboot").removesuffix("-installer") or "metal"
        self._enhance(schematic, v, ImageProfile("installer", platform, "amd64",
                                                 image.endswith("-secureboot")))
        return self._manifest(image, sid, v)

    def _manifest(self, image: str, sid: str, v: Version) -> InstallerManifest:
        manifests = []
        for arch in ("amd64", "arm64"):
            seed = f"{image}/{sid}:{v}/{arch}".encode()
            manifests.append({"mediaType": OCI_MANIFEST, "size": 1000 + seed[-1],
                              "digest": "sha256:" + hashlib.sha256(seed).hexdigest(),
                              "platform": {"architecture": arch, "os": "linux"}})
        body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests},
                          separators=(",", ":")).encode()
        return InstallerManifest("sha256:" + hashlib.sha256(body).hexdigest(), OCI_INDEX, body)

    # ---- what the lab asks -----------------------------------------------------------------
    def installer_ref(self, schematic: Schematic | str, version: str,
                      host: str | None = None) -> str:
        """Return "<host>/installer/<id>:<version>" (host defaults to the base URL's)."""
        sid = schematic if isinstance(schematic, str) else schematic.id
        host = host or urlsplit(self.base_url).netloc
        return f"{host}/installer/{sid}:{Version.parse(version)}"

    def resolve_installer(self, ref: str) -> tuple[str, str]:
        """Return (schematic ID, "vX.Y.Z") of an installer ref a node would pull.

        Raise an InstallerPullError subclass whose text reads like containerd's pull failure:
        InstallerSchematicNotFound, InstallerVersionNotFound, InstallerBuildRefused (400, e.g. an
        extension missing for the version) or InvalidInstallerRef.
        """
        host, image, sid, tag = _split_ref(ref)
        url = f"https://{host}/v2/{image}/{sid}/manifests/{tag}"
        try:
            manifest = self.installer_manifest(image, sid, tag)
        except SchematicNotFound as e:
            raise InstallerSchematicNotFound(ref, _reason(ref, url, e), e) from None
        except FactoryError as e:
            if isinstance(e, (VersionNotAvailable, InvalidVersion)):
                raise InstallerVersionNotFound(ref, _reason(ref, url, e), e) from None
            raise InstallerBuildRefused(ref, _reason(ref, url, e), e) from None
        if tag == "latest" or tag.startswith("sha256:"):
            for v in self._versions:
                if self._manifest(image, sid, v).digest == manifest.digest:
                    return sid, str(v)
        return sid, str(Version.parse(tag))

    def extension_statuses(self, sid: str, factory_url: str | None = None,
                           talos_version: str | None = None) -> list[dict[str, Any]]:
        """Return the ExtensionStatus specs of a node booted from this schematic.

        Official extensions in schematic order ("0.sqsh", ...), then the virtual `schematic`
        extension. talos_version picks extension versions (default: the latest stable); raise
        SchematicNotFound or ExtensionNotAvailable.
        """
        schematic = self.get(sid)
        v = Version.parse(talos_version) if talos_version else Version.parse(self.latest())
        out: list[dict[str, Any]] = []
        for name in schematic.customization.official_extensions:
            info = self.catalog.find(name, v)
            if info is None:
                raise ExtensionNotAvailable(
                    f'official extension "{name}" is not available for Talos version {v}')
            out.append({"image": f"{len(out)}.sqsh", "metadata": {
                "name": info.name.split("/")[-1], "version": info.version, "author": info.author,
                "description": info.description,
                "compatibility": {"talos": {"version": info.talos_constraint}}}})
        meta: dict[str, Any] = {
            "name": "schematic", "version": sid,
            "author": f"Image Factory ({(factory_url or self.base_url)})",
            "description": SCHEMATIC_DESCRIPTION,
            "compatibility": {"talos": {"version": ">= 1.0.0"}},
        }
        if v.sort_key() >= OVERLAY_SINCE.sort_key():
            meta["extraInfo"] = schematic.canonical_yaml()
        out.append({"image": f"{len(out)}.sqsh", "metadata": meta})
        return out


def _split_ref(ref: str) -> tuple[str, str, str, str]:
    """Split "<host>/<image>/<schematic>[:tag|@digest]"; raise InvalidInstallerRef."""
    parts = ref.split("/")
    if len(parts) < 3:
        raise InvalidInstallerRef(ref, f"{ref}: not an Image Factory installer reference")
    host, image, last = parts[0], parts[-2], parts[-1]
    if "@" in last:
        sid, _, tag = last.partition("@")
    else:
        sid, _, tag = last.partition(":")
        tag = tag or "latest"
    if not installer_image_ok(image) or len(parts) != 3:
        raise InvalidInstallerRef(ref, f"{ref}: not an Image Factory installer reference")
    return host, image, sid, tag


def _reason(ref: str, url: str, e: FactoryError) -> str:
    if e.status == 404:
        return f"{ref}: not found"
    phrase = {400: "Bad Request", 402: "Payment Required"}.get(e.status, "Internal Server Error")
    return f"unexpected status from HEAD request to {url}: {e.status} {phrase}"

