"""The shipped release catalog: facts from talos-interfaces.md §4, errors, refresh script."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from model.catalog import DEFAULT_PATH, Catalog, CatalogError
from model.versions import KubeVersion, TalosVersion

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "refresh_catalog.py"

T = TalosVersion.parse
K = KubeVersion.parse

# talos-interfaces.md §4.1/§4.2/§4.3: line -> (last patch, k8s min, k8s max, host min, host max)
MATRIX = {
    "1.5": (6, "1.26", "1.28", "v1.2.0", "v1.7.0"),
    "1.6": (8, "1.24", "1.29", "v1.3.0", "v1.8.0"),
    "1.7": (7, "1.25", "1.30", "v1.4.0", "v1.9.0"),
    "1.8": (4, "1.26", "1.31", "v1.5.0", "v1.10.0"),
    "1.9": (6, "1.27", "1.32", "v1.8.0", "v1.11.0"),
    "1.10": (9, "1.28", "1.33", "v1.8.0", "v1.12.0"),
    "1.11": (6, "1.29", "1.34", "v1.9.0", "v1.13.0"),
    "1.12": (11, "1.30", "1.35", "v1.10.0", "v1.14.0"),
    "1.13": (9, "1.31", "1.36", "v1.11.0", "v1.15.0"),
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    return data


# ------------------------------------------------------------------------------ releases
def test_stable_releases_are_every_patch_of_every_line_sorted(catalog: Catalog) -> None:
    expected = [T(f"v{line}.{p}") for line, row in MATRIX.items() for p in range(row[0] + 1)]
    releases = catalog.talos_releases()
    assert list(releases) == sorted(expected)
    assert releases[0] == T("v1.5.0") and releases[-1] == T("v1.13.9")
    assert T("v1.10.0") > T("v1.9.6") and releases.index(T("v1.10.0")) > releases.index(T("v1.9.6"))
    assert not any(v.is_prerelease for v in releases)


def test_prereleases_only_when_asked(catalog: Catalog) -> None:
    assert T("v1.14.0-rc.1") in catalog.talos_releases(include_prereleases=True)
    assert T("v1.14.0-rc.1") not in catalog.talos_releases()
    assert catalog.is_known_talos(T("v1.14.0-rc.1"))
    assert catalog.newest_talos() == T("v1.13.9")
    assert catalog.newest_talos(include_prereleases=True) == T("v1.14.0-rc.1")


def test_is_known_talos(catalog: Catalog) -> None:
    assert catalog.is_known_talos(T("v1.9.4"))
    assert not catalog.is_known_talos(T("v1.9.9"))
    assert not catalog.is_known_talos(T("v1.4.0"))


@pytest.mark.parametrize(
    ("line", "latest"),
    [((1, 9), "v1.9.6"), ("1.12", "v1.12.11"), (T("v1.10.2"), "v1.10.9"), ((1, 5), "v1.5.6")],
)
def test_latest_patch(catalog: Catalog, line: Any, latest: str) -> None:
    assert catalog.latest_patch(line) == T(latest)


def test_latest_patch_of_a_line_without_stable_release(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as exc:
        catalog.latest_patch((1, 14))
    assert str(exc.value) == (
        "no stable Talos 1.14.x release in the release catalog (newest stable is v1.13.9)"
    )


def test_unknown_talos_message_names_the_nearest_release(catalog: Catalog) -> None:
    assert catalog.unknown_talos_message(T("v1.9.9")) == (
        "unknown Talos version v1.9.9: not in the release catalog (latest v1.9.x is v1.9.6)"
    )
    assert catalog.unknown_talos_message(T("v1.20.0")) == (
        "unknown Talos version v1.20.0: not in the release catalog (newest is v1.13.9)"
    )
    assert catalog.unknown_talos_message(T("v1.14.0")) == (
        "unknown Talos version v1.14.0: not in the release catalog "
        "(v1.14 has only pre-releases, newest v1.14.0-rc.1)"
    )


# ------------------------------------------------------------------------------ support matrix
@pytest.mark.parametrize("line", list(MATRIX))
def test_support_matrix_edges(catalog: Catalog, line: str) -> None:
    _, kmin, kmax, _, _ = MATRIX[line]
    talos = T(f"v{line}.0")
    support = catalog.k8s_support(talos)
    assert (str(support.min), str(support.max)) == (f"{kmin}.0", f"{kmax}.99")
    assert str(support) == f"{kmin}–{kmax}"
    lo, hi = K(f"{kmin}.0"), K(f"{kmax}.98")
    below = K(f"{lo.major}.{lo.minor - 1}.99")
    above = K(f"{hi.major}.{hi.minor + 1}.0")
    assert catalog.supports(talos, lo) and catalog.supports(talos, hi)
    assert not catalog.supports(talos, below), f"{line} must not support {below}"
    assert not catalog.supports(talos, above), f"{line} must not support {above}"


def test_talos_1_9_supports_1_27_to_1_32_not_1_33(catalog: Catalog) -> None:
    v = T("v1.9.4")
    assert catalog.k8s_support(v) == (K("1.27.0"), K("1.32.99"))
    assert catalog.supports(v, K("1.27.0"))
    assert catalog.supports(v, K("1.32.13"))
    assert not catalog.supports(v, K("1.33.0"))
    assert not catalog.supports(v, K("1.26.15"))


def test_prerelease_kubernetes_is_judged_on_its_core_version(catalog: Catalog) -> None:
    assert catalog.supports(T("v1.14.0-rc.1"), K("1.37.0-rc.0"))
    assert not catalog.supports(T("v1.13.9"), K("1.37.0-rc.0"))


def test_support_of_an_unknown_line_is_an_error(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as exc:
        catalog.k8s_support(T("v1.20.0"))
    assert str(exc.value) == "Talos 1.20 is not in the release catalog (it knows 1.5–1.14)"


def test_talos_lines_supporting(catalog: Catalog) -> None:
    assert catalog.talos_lines_supporting(K("1.33.0")) == (
        (1, 10),
        (1, 11),
        (1, 12),
        (1, 13),
        (1, 14),
    )


# ------------------------------------------------------------------------------ default k8s
@pytest.mark.parametrize(
    ("talos", "k8s"),
    [
        ("v1.9.4", "1.32.2"),
        ("v1.9.2", "1.32.0"),
        ("v1.5.0", "1.28.0"),
        ("v1.6.8", "1.29.7"),
        ("v1.8.0", "1.31.1"),
        ("v1.10.9", "1.33.6"),
        ("v1.11.6", "1.34.1"),
        ("v1.12.11", "1.35.4"),
        ("v1.13.9", "1.36.3"),
        ("v1.14.0-rc.1", "1.37.0-rc.0"),
    ],
)
def test_default_kubernetes(catalog: Catalog, talos: str, k8s: str) -> None:
    assert catalog.default_kubernetes(T(talos)) == K(k8s)


def test_every_stable_default_is_supported_and_a_known_release(catalog: Catalog) -> None:
    for v in catalog.talos_releases():
        d = catalog.default_kubernetes(v)
        assert catalog.supports(v, d), f"{v} defaults to {d}, outside its support range"
        assert catalog.known_k8s(d), f"{v} defaults to {d}, not in the Kubernetes lists"


def test_default_kubernetes_errors(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match=r"^unknown Talos version v1\.9\.9: "):
        catalog.default_kubernetes(T("v1.9.9"))
    data = shipped()
    data["talos"]["1.13"]["releases"]["v1.13.10"] = None
    with pytest.raises(CatalogError) as exc:
        Catalog.from_dict(data).default_kubernetes(T("v1.13.10"))
    assert str(exc.value) == (
        "the release catalog does not record the default Kubernetes of Talos v1.13.10"
    )


# ------------------------------------------------------------------------------ installer rule
@pytest.mark.parametrize(
    ("host", "target", "message"),
    [
        ("v1.7.0", "v1.9.4", "host version 1.7.0 is too old to upgrade to Talos 1.9.4"),
        ("v1.7.7", "v1.9.0", "host version 1.7.7 is too old to upgrade to Talos 1.9.0"),
        ("v1.8.0", "v1.9.4", None),
        ("v1.10.9", "v1.9.4", None),
        ("v1.11.0", "v1.9.4", "host version 1.11.0 is too new to downgrade to Talos 1.9.4"),
        (
            "v1.11.0-alpha.0",
            "v1.9.4",
            "host version 1.11.0-alpha.0 is too new to downgrade to Talos 1.9.4",
        ),
        ("v1.8.4", "v1.10.9", None),
        ("v1.9.6", "v1.11.6", None),
        ("v1.8.4", "v1.11.6", "host version 1.8.4 is too old to upgrade to Talos 1.11.6"),
        ("v1.12.11", "v1.14.0-rc.1", None),
        ("v1.9.4", "v1.20.0", "upgrades to version 1.20.0 are not supported"),
    ],
)
def test_can_upgrade_host(catalog: Catalog, host: str, target: str, message: str | None) -> None:
    assert catalog.can_upgrade_host(T(host), T(target)) == message


def test_one_minor_hops_between_latest_patches_always_pass_the_installer(catalog: Catalog) -> None:
    lines = [ln for ln in catalog.talos_lines() if ln != (1, 14)]
    for older, newer in zip(lines, lines[1:], strict=False):
        host, target = catalog.latest_patch(older), catalog.latest_patch(newer)
        assert catalog.can_upgrade_host(host, target) is None, f"{host} -> {target}"


# ------------------------------------------------------------------------------ kubernetes
def test_kubernetes_patch_lists(catalog: Catalog) -> None:
    assert catalog.k8s_lines()[0] == (1, 26) and (1, 36) in catalog.k8s_lines()
    for line in [(1, n) for n in range(26, 37)]:
        releases = catalog.k8s_releases(line)
        assert [v.patch for v in releases] == list(range(len(releases))), line
    assert catalog.latest_k8s_patch("1.32") == K("1.32.13")
    assert catalog.latest_k8s_patch((1, 34)) == K("1.34.7")
    assert catalog.latest_k8s_patch(K("1.36.0")) == K("1.36.3")


def test_known_k8s(catalog: Catalog) -> None:
    assert catalog.known_k8s(K("1.32.2"))
    assert catalog.known_k8s(K("v1.33.11"))
    assert not catalog.known_k8s(K("1.32.14"))
    assert not catalog.known_k8s(K("1.40.0"))
    assert catalog.known_k8s(K("1.37.0-rc.1"))


def test_latest_k8s_patch_without_stable_release(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as exc:
        catalog.latest_k8s_patch("1.37")
    assert str(exc.value) == "no stable Kubernetes 1.37.x release in the release catalog"


# ------------------------------------------------------------------------------ loading errors
def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(CatalogError) as exc:
        Catalog.load(path)
    assert str(exc.value) == f"cannot read release catalog {path}: No such file or directory"


def test_load_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(CatalogError, match=rf"^release catalog {path} is not valid JSON: "):
        Catalog.load(path)


def test_load_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "copy.json"
    path.write_text(DEFAULT_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    assert Catalog.load(path).talos_releases() == Catalog.load().talos_releases()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema=2), "release catalog <dict>: schema must be 1, got 2"),
        (lambda d: d.pop("talos"), "release catalog <dict>: 'talos' must be a non-empty object"),
        (
            lambda d: d["talos"]["1.9"]["releases"].update({"v1.9.x": "1.32.0"}),
            "release catalog <dict>: talos['1.9'].releases['v1.9.x']: 'v1.9.x' is not a valid "
            "Talos version (expected e.g. v1.9.4)",
        ),
        (
            lambda d: d["talos"]["1.9"]["releases"].update({"v1.10.0": "1.33.0"}),
            "release catalog <dict>: talos['1.9'].releases['v1.10.0']: "
            "v1.10.0 is not a 1.9 release",
        ),
        (
            lambda d: d["talos"]["1.9"].update(kubernetes={"min": "1.27"}),
            "release catalog <dict>: talos['1.9'].kubernetes: must be {'min': '1.N', 'max': '1.M'}",
        ),
        (
            lambda d: d["talos"]["1.9"]["kubernetes"].update(max="1.20"),
            "release catalog <dict>: talos['1.9'].kubernetes: max 1.20 is below min 1.27",
        ),
        (
            lambda d: d["talos"]["1.9"]["host"].update(min="one"),
            "release catalog <dict>: talos['1.9'].host.min: 'one' is not a valid Talos version "
            "(expected e.g. v1.9.4)",
        ),
        (
            lambda d: d["kubernetes"]["1.32"].append("1.33.0"),
            "release catalog <dict>: kubernetes['1.32']: 1.33.0 is not a 1.32 release",
        ),
        (
            lambda d: d["talos"].update({"x": {}}),
            "release catalog <dict>: talos['x']: 'x' is not a minor line (expected e.g. 1.9)",
        ),
    ],
)
def test_from_dict_names_the_bad_field(mutate: Any, message: str) -> None:
    data = shipped()
    mutate(data)
    with pytest.raises(CatalogError) as exc:
        Catalog.from_dict(data)
    assert str(exc.value) == message


def test_data_file_says_where_kubernetes_patches_come_from() -> None:
    notes = " ".join(shipped()["notes"])
    assert "1.36 only goes up to 1.36.3" in notes
    assert "endoflife.date" in notes


# ------------------------------------------------------------------------------ refresh script
def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("refresh_catalog_under_test", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _FakeUpstream:
    """Loopback HTTP server: an Image Factory /versions and GitHub-style paginated tags."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, Any, dict[str, str]]] = {}
        self.hits: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                outer.hits.append(self.path)
                status, body, headers = outer.routes.get(self.path, (404, "not found", {}))
                raw = (body if isinstance(body, str) else json.dumps(body)).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> _FakeUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[_FakeUpstream]:
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with _FakeUpstream() as up:
        yield up


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    path = tmp_path / "talos-releases.json"
    path.write_text(DEFAULT_PATH.read_text(encoding="utf-8"), encoding="utf-8")
    return path


FACTORY_VERSIONS = ["v1.9.6", "v1.13.9", "v1.13.10", "v1.14.0-rc.2", "v1.15.0-alpha.0", "latest"]


def test_refresh_from_factory_adds_new_patches_and_reports(
    upstream: _FakeUpstream,
    catalog_copy: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream.routes["/versions"] = (200, FACTORY_VERSIONS, {})
    out = tmp_path / "out" / "catalog.json"
    code = _load_script().main(
        ["--from-factory", upstream.url, "--catalog", str(catalog_copy), "--output", str(out)]
    )
    printed = capsys.readouterr().out.splitlines()
    assert code == 0
    assert upstream.hits == ["/versions"]
    assert printed == [
        f"read 6 Talos versions from {upstream.url}/versions",
        "Talos: added v1.13.10 (default Kubernetes not recorded: set "
        'talos["1.13"].releases["v1.13.10"] by hand)',
        "Talos: added v1.14.0-rc.2 (default Kubernetes not recorded: set "
        'talos["1.14"].releases["v1.14.0-rc.2"] by hand)',
        'Talos: skipped v1.15.0-alpha.0: the catalog has no talos["1.15"] entry; add its '
        "Kubernetes range and host rule by hand (pkg/machinery/compatibility/talos115)",
        "Talos: ignored names that are not versions: latest",
        f"wrote {out}",
    ]
    refreshed = Catalog.load(out)
    assert refreshed.latest_patch("1.13") == T("v1.13.10")
    assert refreshed.is_known_talos(T("v1.14.0-rc.2"))
    assert not refreshed.is_known_talos(T("v1.15.0-alpha.0"))
    assert refreshed.default_kubernetes(T("v1.13.9")) == K("1.36.3")
    assert catalog_copy.read_text(encoding="utf-8") == DEFAULT_PATH.read_text(encoding="utf-8")
    assert [p.name for p in out.parent.iterdir()] == ["catalog.json"], "temp file left behind"
    keys = list(json.loads(out.read_text(encoding="utf-8"))["talos"]["1.13"]["releases"])
    assert keys[-2:] == ["v1.13.9", "v1.13.10"], "releases stay in version order"


def test_refresh_follows_github_pages_and_kubernetes_lists(
    upstream: _FakeUpstream,
    catalog_copy: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    page2 = f"{upstream.url}/repos/siderolabs/talos/tags?page=2"
    upstream.routes["/repos/siderolabs/talos/tags"] = (
        200,
        [{"name": "v1.12.12"}, {"name": "pkg/machinery/v1.12.12"}],
        {"Link": f'<{page2}>; rel="next"'},
    )
    upstream.routes["/repos/siderolabs/talos/tags?page=2"] = (200, [{"name": "v1.5.6"}], {})
    upstream.routes["/k8s"] = (200, [{"tag_name": "v1.36.4"}, "1.36.5", "v1.37.0", "1.20.0"], {})
    data = shipped()
    data["updated"] = "2000-01-01"
    catalog_copy.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    code = _load_script().main(
        [
            "--from-github",
            f"{upstream.url}/repos/siderolabs/talos/tags",
            "--kubernetes-from",
            f"{upstream.url}/k8s",
            "--catalog",
            str(catalog_copy),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "read 3 Talos versions from" in printed
    assert "Talos: added v1.12.12 (" in printed
    assert "Kubernetes: added 1.36.4, 1.36.5, 1.37.0" in printed
    assert "Kubernetes: dropped the 1.37 pre-releases (stable 1.37.x exist)" in printed
    assert "1.20.0" not in printed, "minors older than the catalog's oldest are ignored"
    refreshed = Catalog.load(catalog_copy)
    assert refreshed.latest_k8s_patch("1.36") == K("1.36.5")
    assert refreshed.k8s_releases("1.37") == (K("1.37.0"),)
    assert refreshed.is_known_talos(T("v1.12.12"))
    assert json.loads(catalog_copy.read_text(encoding="utf-8"))["updated"] != "2000-01-01"


def test_refresh_without_changes_leaves_the_file_alone(
    upstream: _FakeUpstream,
    catalog_copy: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream.routes["/versions"] = (200, ["v1.9.4", "v1.13.9"], {})
    before = catalog_copy.stat().st_mtime_ns
    code = _load_script().main(["--from-factory", upstream.url, "--catalog", str(catalog_copy)])
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"no changes: {catalog_copy} already lists every release the sources know"
    )
    assert catalog_copy.stat().st_mtime_ns == before


def test_refresh_dry_run_writes_nothing(
    upstream: _FakeUpstream,
    catalog_copy: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream.routes["/versions"] = (200, ["v1.13.10"], {})
    text = catalog_copy.read_text(encoding="utf-8")
    code = _load_script().main(
        ["--from-factory", upstream.url, "--catalog", str(catalog_copy), "--dry-run"]
    )
    assert code == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"dry run: {catalog_copy} not written"
    assert catalog_copy.read_text(encoding="utf-8") == text


def test_refresh_reports_an_unreachable_source_and_writes_nothing(
    upstream: _FakeUpstream,
    catalog_copy: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream.routes["/versions"] = (500, "internal server error", {})
    text = catalog_copy.read_text(encoding="utf-8")
    code = _load_script().main(["--from-factory", upstream.url, "--catalog", str(catalog_copy)])
    assert code == 1
    assert capsys.readouterr().err.strip() == (
        f"refresh_catalog: cannot fetch {upstream.url}/versions: HTTP 500; nothing written"
    )
    assert catalog_copy.read_text(encoding="utf-8") == text


def test_refresh_command_line_as_documented(
    upstream: _FakeUpstream, catalog_copy: Path, tmp_path: Path
) -> None:
    upstream.routes["/versions"] = (200, ["v1.11.7"], {})
    out = tmp_path / "new.json"
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    proc = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--from-factory",
            upstream.url + "/",
            "--catalog",
            str(catalog_copy),
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Talos: added v1.11.7 (" in proc.stdout
    assert proc.stdout.splitlines()[-1] == f"wrote {out}"
    assert Catalog.load(out).latest_patch("1.11") == T("v1.11.7")


def test_shipped_file_is_in_the_scripts_canonical_form() -> None:
    module = _load_script()
    assert module.dump(copy.deepcopy(shipped())) == DEFAULT_PATH.read_text(encoding="utf-8")
