"""The release catalog: which Talos and Kubernetes releases exist and which combinations work.

The catalog is data shipped with the project (``model/data/talos-releases.json``), gathered from
the upstream sources named in its ``sources`` field and refreshed with
``scripts/refresh_catalog.py``; nothing here touches the network. Rules mirror Talos's own
``pkg/machinery/compatibility`` package:

* Kubernetes support: ``min.0 <= k8s < max.99`` on the core version (pre-release ignored).
* Installer pre-flight (``UpgradeableFrom``): ``min_host <= host < max_host`` for the target's
  minor line, core versions compared; the refusal texts are the installer's own.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from model.versions import KubeVersion, TalosVersion, VersionError

DEFAULT_PATH = Path(__file__).resolve().parent / "data" / "talos-releases.json"
SCHEMA = 1

Line = tuple[int, int]
_V = TypeVar("_V", TalosVersion, KubeVersion)


class CatalogError(ValueError):
    """The catalog file is unreadable or malformed, or a question names a release it lacks."""


class K8sSupport(NamedTuple):
    """Kubernetes versions a Talos line supports: ``min <= k8s < max`` (max is ``1.N.99``)."""

    min: KubeVersion
    max: KubeVersion

    @property
    def min_line(self) -> Line:
        """The oldest supported Kubernetes minor, e.g. (1, 27)."""
        return self.min.minor_line

    @property
    def max_line(self) -> Line:
        """The newest supported Kubernetes minor, e.g. (1, 32)."""
        return self.max.minor_line

    def __contains__(self, item: object) -> bool:
        if not isinstance(item, KubeVersion):
            return False
        return _core(self.min) <= _core(item) < _core(self.max)

    def __str__(self) -> str:
        return f"{self.min.minor_str}–{self.max.minor_str}"


@dataclass(frozen=True)
class _TalosLine:
    line: Line
    k8s: K8sSupport
    host_min: TalosVersion
    host_max: TalosVersion  # exclusive
    releases: Mapping[TalosVersion, KubeVersion | None]


def _core(v: TalosVersion | KubeVersion) -> tuple[int, int, int]:
    return (v.major, v.minor, v.patch)


def _core_str(v: TalosVersion | KubeVersion) -> str:
    """The version as Go's semver prints it (no ``v``), which is what the installer shows."""
    return str(v).removeprefix("v")


def _line_str(line: Line) -> str:
    return f"{line[0]}.{line[1]}"


def _parse_line(text: object, where: str) -> Line:
    parts = str(text).removeprefix("v").split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise CatalogError(f"{where}: {text!r} is not a minor line (expected e.g. 1.9)")
    return (int(parts[0]), int(parts[1]))


def _as_line(value: TalosVersion | KubeVersion | Line | str) -> Line:
    if isinstance(value, TalosVersion | KubeVersion):
        return value.minor_line
    if isinstance(value, tuple):
        return value
    return _parse_line(value, "minor line")


class Catalog:
    """Read-only questions about releases; build with `Catalog.load` or `Catalog.from_dict`."""

    def __init__(
        self,
        talos_lines: Mapping[Line, _TalosLine],
        kubernetes: Mapping[Line, tuple[KubeVersion, ...]],
        source: str,
        metadata: Mapping[str, Any],
    ) -> None:
        self._lines = dict(sorted(talos_lines.items()))
        self._k8s = {line: tuple(sorted(vs)) for line, vs in sorted(kubernetes.items())}
        self._releases: dict[TalosVersion, _TalosLine] = {
            v: tl for tl in self._lines.values() for v in tl.releases
        }
        self.source = source
        self.metadata = dict(metadata)

    # ---------------------------------------------------------------- construction
    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalog:
        """Return the catalog read from `path` (default: the shipped file); raise CatalogError."""
        p = Path(path) if path is not None else DEFAULT_PATH
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise CatalogError(f"cannot read release catalog {p}: {exc.strerror or exc}") from exc
        except json.JSONDecodeError as exc:
            raise CatalogError(f"release catalog {p} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, source=str(p))

    @classmethod
    def from_dict(cls, data: object, source: str = "<dict>") -> Catalog:
        """Return the catalog described by `data`; raise CatalogError naming the bad field."""
        where = f"release catalog {source}"
        if not isinstance(data, Mapping):
            raise CatalogError(f"{where}: top level must be an object")
        if data.get("schema") != SCHEMA:
            raise CatalogError(f"{where}: schema must be {SCHEMA}, got {data.get('schema')!r}")
        talos = data.get("talos")
        kube = data.get("kubernetes")
        if not isinstance(talos, Mapping) or not talos:
            raise CatalogError(f"{where}: 'talos' must be a non-empty object")
        if not isinstance(kube, Mapping):
            raise CatalogError(f"{where}: 'kubernetes' must be an object")
        lines = {}
        for key, entry in talos.items():
            tl = _parse_talos_line(key, entry, f"{where}: talos[{key!r}]")
            lines[tl.line] = tl
        k8s: dict[Line, tuple[KubeVersion, ...]] = {}
        for key, versions in kube.items():
            at = f"{where}: kubernetes[{key!r}]"
            line = _parse_line(key, at)
            if not isinstance(versions, list):
                raise CatalogError(f"{at}: must be a list of versions")
            parsed = tuple(_parse(KubeVersion, v, at) for v in versions)
            for v in parsed:
                if v.minor_line != line:
                    raise CatalogError(f"{at}: {v} is not a {_line_str(line)} release")
            k8s[line] = parsed
        meta = {k: v for k, v in data.items() if k not in ("talos", "kubernetes")}
        return cls(lines, k8s, source, meta)

    # ---------------------------------------------------------------- Talos
    def talos_releases(self, include_prereleases: bool = False) -> tuple[TalosVersion, ...]:
        """All known Talos releases, oldest first; stable only unless asked."""
        return tuple(
            sorted(v for v in self._releases if include_prereleases or not v.is_prerelease)
        )

    def talos_lines(self) -> tuple[Line, ...]:
        """The Talos minor lines in the catalog, oldest first, e.g. ((1, 5), ..., (1, 14))."""
        return tuple(self._lines)

    def is_known_talos(self, v: TalosVersion) -> bool:
        """True if `v` (stable or pre-release) is a release in the catalog."""
        return v in self._releases

    def latest_patch(self, minor_line: TalosVersion | Line | str) -> TalosVersion:
        """The newest stable release of a Talos minor line; raise CatalogError if it has none."""
        line = _as_line(minor_line)
        tl = self._lines.get(line)
        stable = sorted(v for v in tl.releases if not v.is_prerelease) if tl else []
        if not stable:
            raise CatalogError(
                f"no stable Talos {_line_str(line)}.x release in the release catalog "
                f"(newest stable is {self.newest_talos()})"
            )
        return stable[-1]

    def newest_talos(self, include_prereleases: bool = False) -> TalosVersion:
        """The newest Talos release in the catalog (stable unless asked)."""
        return self.talos_releases(include_prereleases)[-1]

    def k8s_support(self, talos: TalosVersion) -> K8sSupport:
        """Kubernetes versions the minor line of `talos` supports; raise CatalogError if unknown."""
        return self._line(talos).k8s

    def supports(self, talos: TalosVersion, k8s: KubeVersion) -> bool:
        """True if Talos `talos` can run Kubernetes `k8s` (Talos's own min/max rule)."""
        return k8s in self.k8s_support(talos)

    def default_kubernetes(self, talos: TalosVersion) -> KubeVersion:
        """The DefaultKubernetesVersion of a Talos release; raise CatalogError if not recorded."""
        tl = self._releases.get(talos)
        if tl is None:
            raise CatalogError(self.unknown_talos_message(talos))
        default = tl.releases[talos]
        if default is None:
            raise CatalogError(
                f"the release catalog does not record the default Kubernetes of Talos {talos}"
            )
        return default

    def can_upgrade_host(self, host: TalosVersion, target: TalosVersion) -> str | None:
        """None if the target's installer accepts `host`, else the installer's refusal text."""
        tl = self._lines.get(target.minor_line)
        if tl is None:
            return f"upgrades to version {_core_str(target)} are not supported"
        if _core(host) < _core(tl.host_min):
            return (
                f"host version {_core_str(host)} is too old to upgrade to Talos {_core_str(target)}"
            )
        if _core(host) >= _core(tl.host_max):
            return (
                f"host version {_core_str(host)} is too new to downgrade to Talos "
                f"{_core_str(target)}"
            )
        return None

    def unknown_talos_message(self, v: TalosVersion) -> str:
        """One line saying `v` is not in the catalog, naming the nearest release that is."""
        return f"unknown Talos version {v}: not in the release catalog ({self.talos_hint(v)})"

    def talos_hint(self, v: TalosVersion) -> str:
        """The nearest known release to `v`: 'latest v1.9.x is v1.9.6' or 'newest is v1.13.9'."""
        tl = self._lines.get(v.minor_line)
        known = sorted(tl.releases) if tl else []
        stable = [r for r in known if not r.is_prerelease]
        if stable:
            hint = f"latest v{v.minor_str}.x is {stable[-1]}"
        elif known:
            hint = f"v{v.minor_str} has only pre-releases, newest {known[-1]}"
        else:
            hint = f"newest is {self.newest_talos()}"
        return hint

    # ---------------------------------------------------------------- Kubernetes
    def k8s_lines(self) -> tuple[Line, ...]:
        """The Kubernetes minors the catalog lists patches for, oldest first."""
        return tuple(self._k8s)

    def k8s_releases(self, minor: KubeVersion | Line | str) -> tuple[KubeVersion, ...]:
        """Every known release of a Kubernetes minor, oldest first (empty if none)."""
        return self._k8s.get(_as_line(minor), ())

    def known_k8s(self, v: KubeVersion) -> bool:
        """True if Kubernetes `v` is a release the catalog lists."""
        return v in self._k8s.get(v.minor_line, ())

    def latest_k8s_patch(self, minor: KubeVersion | Line | str) -> KubeVersion:
        """The newest stable Kubernetes release of a minor; raise CatalogError if none is known."""
        line = _as_line(minor)
        stable = [v for v in self._k8s.get(line, ()) if not v.is_prerelease]
        if not stable:
            raise CatalogError(
                f"no stable Kubernetes {_line_str(line)}.x release in the release catalog"
            )
        return stable[-1]

    def talos_lines_supporting(self, k8s: KubeVersion) -> tuple[Line, ...]:
        """The Talos minor lines whose support range includes `k8s`, oldest first."""
        return tuple(line for line, tl in self._lines.items() if k8s in tl.k8s)

    # ---------------------------------------------------------------- helpers
    def _line(self, talos: TalosVersion) -> _TalosLine:
        tl = self._lines.get(talos.minor_line)
        if tl is None:
            raise CatalogError(
                f"Talos {talos.minor_str} is not in the release catalog "
                f"(it knows {_line_str(self.talos_lines()[0])}–{_line_str(self.talos_lines()[-1])})"
            )
        return tl

    def __repr__(self) -> str:
        return (
            f"Catalog({self.source}: Talos {len(self._releases)} releases, "
            f"Kubernetes {sum(len(v) for v in self._k8s.values())} releases)"
        )


def _parse(kind: type[_V], text: object, where: str) -> _V:
    try:
        return kind.parse(text)
    except VersionError as exc:
        raise CatalogError(f"{where}: {exc}") from exc


def _parse_talos_line(key: object, entry: object, where: str) -> _TalosLine:
    line = _parse_line(key, where)
    if not isinstance(entry, Mapping):
        raise CatalogError(f"{where}: must be an object")
    k8s, host, releases = entry.get("kubernetes"), entry.get("host"), entry.get("releases")
    if not isinstance(k8s, Mapping) or "min" not in k8s or "max" not in k8s:
        raise CatalogError(f"{where}.kubernetes: must be {{'min': '1.N', 'max': '1.M'}}")
    kmin = _parse_line(k8s["min"], f"{where}.kubernetes.min")
    kmax = _parse_line(k8s["max"], f"{where}.kubernetes.max")
    if kmax < kmin:
        raise CatalogError(f"{where}.kubernetes: max {k8s['max']} is below min {k8s['min']}")
    if not isinstance(host, Mapping) or "min" not in host or "max" not in host:
        raise CatalogError(f"{where}.host: must be {{'min': 'vX.Y.Z', 'max': 'vX.Y.Z'}}")
    hmin = _parse(TalosVersion, host["min"], f"{where}.host.min")
    hmax = _parse(TalosVersion, host["max"], f"{where}.host.max")
    if not isinstance(releases, Mapping) or not releases:
        raise CatalogError(f"{where}.releases: must be a non-empty object of version -> default")
    parsed: dict[TalosVersion, KubeVersion | None] = {}
    for ver, default in releases.items():
        at = f"{where}.releases[{ver!r}]"
        v = _parse(TalosVersion, ver, at)
        if v.minor_line != line:
            raise CatalogError(f"{at}: {v} is not a {_line_str(line)} release")
        parsed[v] = None if default is None else _parse(KubeVersion, default, at)
    return _TalosLine(
        line=line,
        k8s=K8sSupport(KubeVersion(kmin[0], kmin[1], 0), KubeVersion(kmax[0], kmax[1], 99)),
        host_min=hmin,
        host_max=hmax,
        releases=parsed,
    )
