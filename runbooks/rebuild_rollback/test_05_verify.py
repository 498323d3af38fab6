"""Phase 5, verify: every check but Flux's against the old versions and image; the ConfigMap
the rebuild wrote before its snapshot is back (the old cluster's etcd, recovered)."""

from __future__ import annotations

import pytest

from fixtures.procedures.redeploy import attach
from fixtures.procedures.run import Run
from fixtures.rebuild import MARKER
from fixtures.rebuild_rollback import FORWARD
from runbooks.rebuild.test_06_verify import test_verify_everything_but_flux  # noqa: F401


def test_object_from_before_the_rebuild_is_back(run: Run, pytestconfig: pytest.Config) -> None:
    """The ConfigMap written before the pre-rebuild snapshot is back, naming the rebuild"""
    forward = pytestconfig.stash[FORWARD].current.run_id
    have = run.kube.get_configmap(*MARKER)
    assert have is not None, (
        f"[restore] configmap {'/'.join(MARKER)}, written by {forward} before its snapshot, "
        "is not in the cluster: etcd was not recovered from the pre-rebuild snapshot"
    )
    got = (have.get("data") or {}).get("run")
    assert got == forward, f"[restore] configmap {'/'.join(MARKER)} names {got}, not {forward}"
    attach(str(have.get("data")), "recovered configmap")
