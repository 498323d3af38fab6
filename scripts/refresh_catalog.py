#!/usr/bin/env python3
"""Refresh the shipped release catalog (model/data/talos-releases.json) from the network.

    python scripts/refresh_catalog.py [--from-factory URL] [--from-github URL]
                                      [--kubernetes-from URL] [--catalog PATH] [--output PATH]
                                      [--timeout SECONDS] [--dry-run]

* ``--from-factory URL``: an Image Factory; its ``/versions`` lists every Talos release
  (default ``https://factory.talos.dev`` when no other Talos source is given).
* ``--from-github URL``: a GitHub tags/releases API URL, e.g.
  ``https://api.github.com/repos/siderolabs/talos/tags?per_page=100`` (``Link: next`` is followed).
* ``--kubernetes-from URL``: a JSON list of Kubernetes versions (strings, or GitHub tag/release
  objects), e.g. ``https://api.github.com/repos/kubernetes/kubernetes/releases?per_page=100``.

Only additions are made: new releases of Talos minor lines the catalog already describes (their
default Kubernetes is left null, to be filled in by hand), and new Kubernetes releases. A new Talos
minor line needs its support matrix and installer rule written by hand (from
``pkg/machinery/compatibility/talosNN``); the script says so. The file is written atomically and
the changes are printed. Nothing in the harness runs this at run time. Exit codes: 0 done (changed
or not), 1 a source could not be read or the result is invalid, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from model.catalog import DEFAULT_PATH, Catalog, CatalogError  # noqa: E402
from model.versions import KubeVersion, TalosVersion, VersionError  # noqa: E402

DEFAULT_FACTORY = "https://factory.talos.dev"
MAX_PAGES = 50


class RefreshError(RuntimeError):
    """A source could not be fetched or understood."""


def fetch_names(client: httpx.Client, url: str) -> list[str]:
    """Return the version names a JSON list endpoint gives, following ``Link: next`` pages."""
    names: list[str] = []
    next_url: str | None = url
    for _ in range(MAX_PAGES):
        if next_url is None:
            break
        try:
            resp = client.get(next_url)
        except httpx.HTTPError as exc:
            raise RefreshError(f"cannot fetch {next_url}: {exc}") from exc
        if resp.status_code != 200:
            raise RefreshError(f"cannot fetch {next_url}: HTTP {resp.status_code}")
        try:
            body = resp.json()
        except ValueError as exc:
            raise RefreshError(f"{next_url} did not return JSON: {exc}") from exc
        if not isinstance(body, list):
            raise RefreshError(f"{next_url} did not return a JSON list")
        for item in body:
            name = item.get("tag_name", item.get("name")) if isinstance(item, dict) else item
            if isinstance(name, str):
                names.append(name)
        nxt = resp.links.get("next", {}).get("url")
        next_url = str(resp.url.join(nxt)) if nxt else None
    return names


def factory_versions_url(url: str) -> str:
    """The ``/versions`` URL of an Image Factory given its base URL (or the full URL)."""
    url = url.rstrip("/")
    return url if url.endswith("/versions") else f"{url}/versions"


def merge_talos(data: dict[str, Any], names: Iterable[str]) -> list[str]:
    """Add unknown releases of described Talos lines to `data`; return report lines."""
    report: list[str] = []
    added: list[TalosVersion] = []
    skipped_lines: dict[str, list[str]] = {}
    unparsed: list[str] = []
    lines = data["talos"]
    for name in names:
        try:
            v = TalosVersion.parse(name)
        except VersionError:
            unparsed.append(name)
            continue
        key = v.minor_str
        if key not in lines:
            skipped_lines.setdefault(key, []).append(str(v))
            continue
        releases = lines[key]["releases"]
        if str(v) not in releases:
            releases[str(v)] = None
            added.append(v)
    for entry in lines.values():
        entry["releases"] = dict(
            sorted(entry["releases"].items(), key=lambda kv: TalosVersion.parse(kv[0]))
        )
    for v in sorted(set(added)):
        report.append(
            f"Talos: added {v} (default Kubernetes not recorded: set "
            f'talos["{v.minor_str}"].releases["{v}"] by hand)'
        )
    for key, vs in sorted(skipped_lines.items(), key=lambda kv: _line_key(kv[0])):
        nn = key.replace(".", "")
        report.append(
            f"Talos: skipped {', '.join(sorted(set(vs), key=TalosVersion.parse))}: the catalog "
            f'has no talos["{key}"] entry; add its Kubernetes range and host rule by hand '
            f"(pkg/machinery/compatibility/talos{nn})"
        )
    if unparsed:
        report.append(f"Talos: ignored names that are not versions: {', '.join(unparsed[:10])}")
    return report


def merge_kubernetes(data: dict[str, Any], names: Iterable[str]) -> list[str]:
    """Add unknown Kubernetes releases (minors from the catalog's oldest on) to `data`."""
    kube: dict[str, list[str]] = data["kubernetes"]
    oldest = min((_line_key(k) for k in kube), default=(0, 0))
    added: list[KubeVersion] = []
    for name in names:
        try:
            v = KubeVersion.parse(name)
        except VersionError:
            continue
        if v.minor_line < oldest:
            continue
        versions = kube.setdefault(v.minor_str, [])
        if str(v) not in versions:
            versions.append(str(v))
            added.append(v)
    report: list[str] = []
    for key in list(kube):
        parsed = sorted(KubeVersion.parse(x) for x in kube[key])
        stable = [x for x in parsed if not x.is_prerelease]
        if stable and len(stable) < len(parsed):
            report.append(f"Kubernetes: dropped the {key} pre-releases (stable {key}.x exist)")
        kube[key] = [str(x) for x in (stable or parsed)]
    data["kubernetes"] = dict(sorted(kube.items(), key=lambda kv: _line_key(kv[0])))
    kept = [v for v in sorted(set(added)) if str(v) in data["kubernetes"][v.minor_str]]
    if kept:
        report.append(f"Kubernetes: added {', '.join(str(v) for v in kept)}")
    return report


def _line_key(key: str) -> tuple[int, int]:
    major, minor = key.split(".")
    return (int(major), int(minor))


def dump(data: dict[str, Any]) -> str:
    """The catalog's canonical text form (2-space JSON, trailing newline)."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def refresh(
    data: dict[str, Any],
    talos_urls: list[str],
    kubernetes_urls: list[str],
    client: httpx.Client,
) -> tuple[dict[str, Any], list[str]]:
    """Return the refreshed copy of `data` and report lines; raise RefreshError on bad sources."""
    new = copy.deepcopy(data)
    report: list[str] = []
    for url in talos_urls:
        names = fetch_names(client, url)
        report.append(f"read {len(names)} Talos versions from {url}")
        report += merge_talos(new, names)
    for url in kubernetes_urls:
        names = fetch_names(client, url)
        report.append(f"read {len(names)} Kubernetes versions from {url}")
        report += merge_kubernetes(new, names)
    return new, report


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface described in the module docstring."""
    p = argparse.ArgumentParser(
        prog="python scripts/refresh_catalog.py",
        description="Refresh the Talos/Kubernetes release catalog shipped with the project.",
    )
    p.add_argument(
        "--from-factory",
        metavar="URL",
        action="append",
        default=[],
        help=f"Image Factory base URL (its /versions is read); default {DEFAULT_FACTORY}"
        " when no --from-github is given",
    )
    p.add_argument(
        "--from-github",
        metavar="URL",
        action="append",
        default=[],
        help="GitHub API tags/releases URL listing Talos versions",
    )
    p.add_argument(
        "--kubernetes-from",
        metavar="URL",
        action="append",
        default=[],
        help="URL of a JSON list of Kubernetes versions (strings or tag objects)",
    )
    p.add_argument(
        "--catalog",
        metavar="PATH",
        type=Path,
        default=DEFAULT_PATH,
        help="catalog to start from (default: the shipped one)",
    )
    p.add_argument(
        "--output",
        metavar="PATH",
        type=Path,
        default=None,
        help="where to write the result (default: the --catalog path)",
    )
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=float,
        default=30.0,
        help="per-request timeout (default 30)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the changes, write nothing")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command; return the process exit code."""
    args = build_parser().parse_args(argv)
    output: Path = args.output or args.catalog
    talos_urls = [factory_versions_url(u) for u in args.from_factory] + list(args.from_github)
    if not talos_urls and not args.kubernetes_from:
        talos_urls = [factory_versions_url(DEFAULT_FACTORY)]
    try:
        data = json.loads(Path(args.catalog).read_text(encoding="utf-8"))
        Catalog.from_dict(data, source=str(args.catalog))
    except (OSError, ValueError) as exc:
        print(f"refresh_catalog: cannot use catalog {args.catalog}: {exc}", file=sys.stderr)
        return 1
    headers = {"Accept": "application/json", "User-Agent": "talos-runbooks/refresh_catalog"}
    try:
        with httpx.Client(timeout=args.timeout, follow_redirects=True, headers=headers) as client:
            new, report = refresh(data, talos_urls, list(args.kubernetes_from), client)
    except RefreshError as exc:
        print(f"refresh_catalog: {exc}; nothing written", file=sys.stderr)
        return 1
    for line in report:
        print(line)
    changed = dump(new) != dump(data)
    if changed:
        new["updated"] = dt.datetime.now(dt.UTC).date().isoformat()
        try:
            Catalog.from_dict(new, source="refreshed catalog")
        except CatalogError as exc:
            print(
                f"refresh_catalog: the result is invalid: {exc}; nothing written", file=sys.stderr
            )
            return 1
    if args.dry_run:
        print(f"dry run: {output} not written" + ("" if changed else " (no changes)"))
        return 0
    if not changed and output.resolve() == Path(args.catalog).resolve():
        print(f"no changes: {output} already lists every release the sources know")
        return 0
    write_atomically(output, dump(new))
    print(f"wrote {output}" + ("" if changed else " (no changes)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
