"""pytest fixtures for a fresh lab per test (the same code path as `python -m emulator up`).

    def test_x(make_lab):
        lab = make_lab(faults=[{"kind": "cordoned", "node": "w2"}],
                       timeouts={"node_ready": "5s"})
        assert lab.talosctl("version", "-n", lab.address("cp1")).returncode == 0

`lab` is a default lab; `make_lab(...)` takes a profile variant (upgrade timeouts, lab timings,
extra workers, a different version, `lab={...}` lab options) and faults applied at start-up.
Every lab started is stopped at the end of the test, whatever happened; `make_module_lab`
does the same for labs shared by the tests of one module.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.api import DEFAULT_PROFILE, Lab


def write_profile(dest: Path, *, timeouts: dict[str, str] | None = None,
                  timings: dict[str, float] | None = None, talos: str | None = None,
                  kubernetes: str | None = None, target: dict[str, str] | None = None,
                  extra: dict[str, Any] | None = None,
                  lab: dict[str, Any] | None = None) -> Path:
    """A copy of clusters/lab.yaml with some fields changed; return its path."""
    raw = yaml.safe_load(DEFAULT_PROFILE.read_text())
    raw = copy.deepcopy(raw)
    if timeouts:
        raw.setdefault("upgrade", {}).setdefault("timeouts", {}).update(timeouts)
    if timings:
        raw.setdefault("lab", {}).setdefault("timings", {}).update(timings)
    if talos:
        raw["talos"]["version"] = talos
    if kubernetes:
        raw["talos"]["kubernetes"] = kubernetes
    if target:
        raw.setdefault("upgrade", {})["target"] = target
    if lab:
        raw.setdefault("lab", {}).update(lab)
    for key, value in (extra or {}).items():
        raw[key] = value
    dest.write_text(yaml.safe_dump(raw, sort_keys=False))
    return dest


class LabStarter:
    """Starts labs from profile variants and stops every one of them at close()."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self.labs: list[Lab] = []

    def __call__(self, *, faults: list[dict[str, Any]] | None = None,
                 extra_workers: int | None = None, in_process: bool = False,
                 **profile_changes: Any) -> Lab:
        base = self._tmp.mktemp("lab")
        profile = write_profile(base / "lab.yaml", **profile_changes) if profile_changes \
            else DEFAULT_PROFILE
        faults_file = None
        if faults:
            faults_file = base / "faults.yaml"
            faults_file.write_text(yaml.safe_dump(faults))
        lab = Lab.start(base / "run", profile, faults_file, extra_workers=extra_workers,
                        in_process=in_process)
        self.labs.append(lab)
        return lab

    def close(self) -> None:
        for lab in self.labs:
            lab.stop(discard_data=True)


@pytest.fixture
def make_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Lab]]:
    """A function that starts a lab (profile variant, faults); all are stopped after the test."""
    starter = LabStarter(tmp_path_factory)
    yield starter
    starter.close()


@pytest.fixture(scope="module")
def make_module_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Lab]]:
    """Like make_lab, but the labs live until the end of the test module (read-only tests
    share one lab to save time)."""
    starter = LabStarter(tmp_path_factory)
    yield starter
    starter.close()


@pytest.fixture
def lab(make_lab: Callable[..., Lab]) -> Lab:
    """A fresh default lab (3 control planes, 3 workers, v1.9.2 / 1.32.0)."""
    return make_lab()
