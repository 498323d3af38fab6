"""Fixtures for the harness's own tests: a lab shared by the tests of one module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.api import Lab


@pytest.fixture(scope="module")
def module_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A default lab for every test of a module that only reads it (stopped afterwards)."""
    lab = Lab.start(tmp_path_factory.mktemp("module-lab") / "run")
    try:
        yield lab
    finally:
        lab.stop(discard_data=True)
