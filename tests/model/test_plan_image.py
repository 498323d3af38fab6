"""Image changes in the planner: a new schematic on the same Talos is one hop of its own; with a
version change every hop installs the new schematic's installer."""

from __future__ import annotations

import pytest

from model.catalog import Catalog
from model.planner import plan
from model.schematic import schematic_id
from tests.model.test_plan import FACTORY, NODES, SCHEMATIC, K, T

NEW = schematic_id(["siderolabs/qemu-guest-agent", "siderolabs/util-linux-tools"])


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def test_same_version_new_image_is_one_hop(catalog: Catalog) -> None:
    p = plan(
        T("v1.9.2"), K("1.32.0"), None, None, catalog, NODES, FACTORY, SCHEMATIC,
        target_schematic=NEW,
    )  # fmt: skip
    assert p.changes_image and not p.is_empty
    [hop] = p.talos_hops
    assert (hop.from_version, hop.to_version, hop.schematic) == (T("v1.9.2"), T("v1.9.2"), NEW)
    assert hop.image == f"factory.talos.dev/installer/{NEW}:v1.9.2"
    assert hop.title == f"Talos v1.9.2, new image {NEW[:12]}"
    text = p.describe()
    assert text.splitlines()[0] == (
        "Upgrade plan: Talos v1.9.2 (unchanged), Kubernetes 1.32.0 (unchanged), image "
        f"{SCHEMATIC[:12]} -> {NEW[:12]} (1 hop)"
    )
    assert f"talosctl upgrade --image factory.talos.dev/installer/{NEW}:v1.9.2" in text
    assert p.to_dict()["image"] == {"from": SCHEMATIC, "to": NEW}


def test_version_and_image_every_hop_takes_the_new_image(catalog: Catalog) -> None:
    p = plan(
        T("v1.8.3"), K("1.31.4"), T("v1.9.4"), None, catalog, NODES, FACTORY, SCHEMATIC,
        target_schematic=NEW,
    )  # fmt: skip
    assert [h.title for h in p.hops] == ["Talos v1.8.3 -> v1.8.4", "Talos v1.8.4 -> v1.9.4"]
    assert [h.image for h in p.talos_hops] == [
        f"factory.talos.dev/installer/{NEW}:v1.8.4",
        f"factory.talos.dev/installer/{NEW}:v1.9.4",
    ]
    assert all(h.schematic == NEW for h in p.talos_hops)


def test_the_same_schematic_is_no_image_change(catalog: Catalog) -> None:
    p = plan(
        T("v1.9.2"), K("1.32.0"), None, None, catalog, NODES, FACTORY, SCHEMATIC,
        target_schematic=SCHEMATIC,
    )  # fmt: skip
    assert p.is_empty and not p.changes_image
    assert p.describe() == (
        "Nothing to do: the cluster already runs Talos v1.9.2 and Kubernetes 1.32.0."
    )
