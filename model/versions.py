"""Ordered version types: parse once, compare as tuples, never as strings.

`TalosVersion` is always written with a leading ``v`` (``v1.9.4``); `KubeVersion` is written
without it (``1.32.2``) but accepts one on input, because kubelet and the API server report
``v1.32.2`` while talosctl ``--to`` takes ``1.32.2``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering

_SEMVER = re.compile(
    r"^v?(?P<major>0|[1-9]\d*)\.(?P<minor>0|[1-9]\d*)\.(?P<patch>0|[1-9]\d*)"
    r"(?:-(?P<pre>(?:alpha|beta|rc)\.(?:0|[1-9]\d*)))?$"
)
_PRE_RANK = {"alpha": 0, "beta": 1, "rc": 2}


class VersionError(ValueError):
    """A version string that is not of the form vX.Y.Z (optionally -alpha.N/-beta.N/-rc.N)."""


@total_ordering
@dataclass(frozen=True)
class _Version:
    major: int
    minor: int
    patch: int
    pre: str = ""  # "", or e.g. "rc.1"

    _prefix = ""
    _kind = "version"

    @classmethod
    def parse(cls, text: object) -> _Version:
        """Return the parsed version; raise VersionError naming the bad text."""
        if isinstance(text, cls):
            return text
        s = str(text).strip() if text is not None else ""
        m = _SEMVER.match(s)
        if not m:
            example = f"{cls._prefix}1.9.4" if cls._prefix else "1.32.2"
            raise VersionError(f"{s!r} is not a valid {cls._kind} (expected e.g. {example})")
        return cls(int(m["major"]), int(m["minor"]), int(m["patch"]), m["pre"] or "")

    def _key(self) -> tuple[int, int, int, int, int]:
        if not self.pre:
            return (self.major, self.minor, self.patch, 9, 0)
        kind, num = self.pre.split(".")
        return (self.major, self.minor, self.patch, _PRE_RANK[kind], int(num))

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, _Version) or type(other) is not type(self):
            return NotImplemented
        return self._key() < other._key()

    @property
    def minor_line(self) -> tuple[int, int]:
        """(major, minor): the release line, e.g. (1, 9)."""
        return (self.major, self.minor)

    @property
    def minor_str(self) -> str:
        """'1.9' for v1.9.4."""
        return f"{self.major}.{self.minor}"

    @property
    def is_prerelease(self) -> bool:
        return bool(self.pre)

    def __str__(self) -> str:
        core = f"{self._prefix}{self.major}.{self.minor}.{self.patch}"
        return f"{core}-{self.pre}" if self.pre else core


@dataclass(frozen=True, order=False)
class TalosVersion(_Version):
    """A Talos release, printed as ``v1.9.4``."""

    _prefix = "v"
    _kind = "Talos version"

    @classmethod
    def parse(cls, text: object) -> TalosVersion:
        v = super().parse(text)
        assert isinstance(v, TalosVersion)
        return v

    def __lt__(self, other: object) -> bool:
        return super().__lt__(other)

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.pre))


@dataclass(frozen=True, order=False)
class KubeVersion(_Version):
    """A Kubernetes release, printed as ``1.32.2``; ``.tag`` gives ``v1.32.2``."""

    _prefix = ""
    _kind = "Kubernetes version"

    @classmethod
    def parse(cls, text: object) -> KubeVersion:
        v = super().parse(text)
        assert isinstance(v, KubeVersion)
        return v

    @property
    def tag(self) -> str:
        """The image-tag form, ``v1.32.2``."""
        return f"v{self}"

    def __lt__(self, other: object) -> bool:
        return super().__lt__(other)

    def __hash__(self) -> int:
        return hash((self.major, self.minor, self.patch, self.pre))
