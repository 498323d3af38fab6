"""The cluster lock (issue 4, Safety): a second concurrent session is refused naming the holder,
the lease is renewed while the session runs and released at its end; a lease held by another
identity is refused; an expired one is taken over with a warning. One lab, four sessions."""

from __future__ import annotations

import getpass
import json
import socket
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from drivers.kube import Kube
from drivers.lock import LEASE_NAME, NAMESPACE
from tests.runbooks.runbook_run import finish, lab_counts, run_runbook, start_runbook

pytestmark = pytest.mark.lab

LOCK_SECONDS = 10  # renewed every ~3.3 s: several renewals during one upgrade


def _poll(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """The first truthy probe() result; AssertionError naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)  # polling a condition with a deadline
    raise AssertionError(f"after {timeout} s still no {what}")


def _holder(kube: Kube) -> dict[str, Any] | None:
    lease = kube.get_lease(NAMESPACE, LEASE_NAME)
    if lease is None:
        return None
    return {"who": json.loads(lease["spec"]["holderIdentity"]),
            "renew": lease["spec"]["renewTime"]}


def _stamp(seconds_ago: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds_ago, UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def _alices_lease(kube: Kube, *, renewed_ago: float, duration: int) -> None:
    identity = {"user": "alice", "host": "bastion", "runbook": "in_place", "change": "CHG-9",
                "started": "2026-01-01T00:00:00Z", "pid": "4242"}
    body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": LEASE_NAME, "namespace": NAMESPACE},
            "spec": {"holderIdentity": json.dumps(identity), "leaseDurationSeconds": duration,
                     "acquireTime": _stamp(renewed_ago), "renewTime": _stamp(renewed_ago)}}
    existing = kube.get_lease(NAMESPACE, LEASE_NAME)
    if existing is None:
        kube.create_lease(NAMESPACE, body)
    else:
        body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]
        kube.replace_lease(NAMESPACE, body)


def test_lock_held_renewed_released_refused_and_taken_over(make_lab: Callable[..., Any],
                                                           tmp_path: Path) -> None:
    lab = make_lab(extra={"upgrade": _upgrade_section(lock_seconds=LOCK_SECONDS)})
    kube = Kube(lab.dir / "kubeconfig")
    try:
        # session A: the upgrade, holding the lock
        proc, junit = start_runbook(lab, tmp_path, "--change-ref=CHG-1", name="a")
        first = _poll(lambda: _holder(kube), "lease taken by session A")
        me = f"{getpass.getuser()}@{socket.gethostname()}"
        assert first["who"]["pid"] == str(proc.pid)
        assert first["who"]["change"] == "CHG-1" and first["who"]["runbook"] == "in_place"

        # session B, concurrent: refused at the lock, naming A; nothing after it runs
        b = run_runbook(lab, tmp_path, name="b")
        assert b.exit_code == 1, b.tail()
        assert b.failed == ["test_take_cluster_lock"], b.tail()
        text = b.step("test_take_cluster_lock").text
        assert f"[cluster-lock] cluster is locked by {me} (runbook in_place, change CHG-1, " \
               f"pid {proc.pid}, since {first['who']['started']})" in text, text
        assert b.passed == [
            "test_change_is_approved", "test_plan_is_valid", "test_target_image_is_known"]
        assert all(s.outcome == "skipped" for s in b.after("test_take_cluster_lock"))
        assert "refused: cluster is locked by" in b.stdout

        # A renews while it runs (B did not release A's lease)
        renewed = _poll(lambda: (h := _holder(kube)) and h["renew"] != first["renew"] and h,
                        "renewal of the lease", timeout=30)
        assert renewed["who"] == first["who"]
        a = finish(proc, junit)
        assert a.exit_code == 0, a.tail()
        assert kube.get_lease(NAMESPACE, LEASE_NAME) is None, "the lease is released at the end"
        assert "renewed 0 time(s)" not in a.stdout and "; released" in a.stdout, a.stdout
        record = json.loads(next((lab.dir / "backups" / "runs").glob("*.json")).read_text())
        session = record["sessions"][-1]
        assert session["renewals"] >= 1 and session["released"] is True, session
        assert session["holder"]["change"] == "CHG-1"

        # a fresh lease of another identity: refused, naming it, and left in place
        _alices_lease(kube, renewed_ago=0, duration=300)
        c = run_runbook(lab, tmp_path, name="c")
        assert c.exit_code == 1 and c.failed == ["test_take_cluster_lock"], c.tail()
        assert ("cluster is locked by alice@bastion (runbook in_place, change CHG-9, pid 4242, "
                "since 2026-01-01T00:00:00Z); the lease kube-system/talos-runbooks-lock expires "
                "in ") in c.step("test_take_cluster_lock").text
        assert (_holder(kube) or {}).get("who", {}).get("user") == "alice"

        # the same lease, expired: taken over with a warning, released at the end
        before = lab_counts(lab)
        _alices_lease(kube, renewed_ago=3600, duration=LOCK_SECONDS)
        d = run_runbook(lab, tmp_path, name="d")
        assert d.exit_code == 0, d.tail()
        assert "WARNING: took over an expired lock held by alice@bastion (runbook in_place, " \
               "change CHG-9, pid 4242" in d.stdout, d.stdout
        assert kube.get_lease(NAMESPACE, LEASE_NAME) is None
        assert lab_counts(lab) == before, "the upgraded cluster is left as it is"
        records = [json.loads(p.read_text()) for p in (lab.dir / "backups" / "runs").glob("*.json")]
        rerun = [r for r in records if r["run_id"] != record["run_id"]]
        assert len(rerun) == 1 and rerun[0]["finished"] and rerun[0]["nodes"] == {}, \
            "a new run that found every node done records no node change"
    finally:
        kube.close()


def _upgrade_section(**changes: Any) -> dict[str, Any]:
    import yaml

    from emulator.api import DEFAULT_PROFILE

    raw = yaml.safe_load(DEFAULT_PROFILE.read_text())
    return {**raw["upgrade"], **changes}
