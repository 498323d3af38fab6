"""Boot-asset paths (`/image/<schematic>/<version>/<path>`) as upstream parses them.

Follows image-factory `internal/profile/profile.go ParseFromPath` and `internal/mime`: the kinds
kernel, cmdline, initramfs, iso, uki, installer and disk image, the arch and platform checks, and
the error texts (wrapped by the HTTP handler as "error parsing profile from path: ...").
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.factory.errors import InvalidProfile

ARCHES = {"amd64": "amd64", "arm64": "arm64", "x86_64": "amd64", "i386": "amd64"}
OUT_FORMATS = (".tar.gz", ".gz", ".xz", ".zst")
DISK_FORMATS = ("raw", "qcow2", "vhd", "ova")
CHECKSUM_SUFFIXES = (".sha512", ".sha256")
SIGNATURE_SUFFIX = ".sigstore.json"
_MIME = {".efi": "application/efi", ".iso": "application/x-iso9660-image",
         ".xz": "application/x-xz", ".gz": "application/gzip", ".qcow2": "application/x-qemu-disk",
         ".json": "application/json"}


@dataclass(frozen=True)
class ImageProfile:
    """What a path asks for: kind (kernel, cmdline, initramfs, iso, uki, installer, image)."""

    kind: str
    platform: str
    arch: str
    secureboot: bool = False
    disk_format: str = ""
    out_format: str = ""

    @property
    def takes_extensions(self) -> bool:
        """Kernel and cmdline outputs skip extensions (upstream EnhanceFromSchematic)."""
        return self.kind not in ("kernel", "cmdline")


def _arch(text: str) -> str:
    if text not in ARCHES:
        raise InvalidProfile(f'invalid architecture: "{text}"')
    return ARCHES[text]


def _platform_arch(text: str) -> tuple[str, str, bool]:
    secureboot = text.endswith("-secureboot")
    text = text.removesuffix("-secureboot")
    platform, sep, rest = text.partition("-")
    if not sep:
        raise InvalidProfile(f'invalid platform-arch: "{text}"')
    if platform == "digital" and rest.startswith("ocean-"):
        platform, rest = "digital-ocean", rest.removeprefix("ocean-")
    return platform, _arch(rest), secureboot


def parse_path(path: str) -> ImageProfile:
    """Return the profile a path names; raise InvalidProfile with upstream's text otherwise."""
    if path.startswith("kernel-"):
        return ImageProfile("kernel", "metal", _arch(path.removeprefix("kernel-")))
    if path.startswith("cmdline-"):
        return ImageProfile("cmdline", *_platform_arch(path.removeprefix("cmdline-")))
    if path.startswith("initramfs-") and path.endswith(".xz"):
        return ImageProfile("initramfs", "metal", _arch(path[len("initramfs-"):-len(".xz")]))
    if path.endswith(".iso"):
        return ImageProfile("iso", *_platform_arch(path.removesuffix(".iso")))
    if path.endswith("-uki.efi"):
        return ImageProfile("uki", *_platform_arch(path.removesuffix("-uki.efi")))
    if path.startswith("installer-") and path.endswith(".tar"):
        rest = path[len("installer-"):-len(".tar")]
        secureboot = rest.endswith("-secureboot")
        return ImageProfile("installer", "metal", _arch(rest.removesuffix("-secureboot")),
                            secureboot)
    platform, sep, rest = path.partition("-installer-")
    if sep and rest.endswith(".tar"):
        return ImageProfile("installer", *_platform_arch(platform + "-" + rest[:-len(".tar")]))
    out_format = next((f for f in OUT_FORMATS if path.endswith(f)), "")
    stem = path.removesuffix(out_format) if out_format else path
    disk_format = next((d for d in DISK_FORMATS if stem.endswith("." + d)), "")
    if not disk_format:
        raise InvalidProfile(f'invalid profile path: "{stem}"')
    platform, arch, secureboot = _platform_arch(stem.removesuffix("." + disk_format))
    return ImageProfile("image", platform, arch, secureboot, disk_format, out_format)


def content_type(path: str) -> str:
    """Return the Content-Type upstream sends for a file name (by its last extension)."""
    dot = path.rfind(".")
    ext = path[dot:] if dot > path.rfind("/") and dot != -1 else ""
    return _MIME.get(ext, "application/octet-stream")
