"""Phase 7, Flux (the seed's step 11; rebuild.md §4): `flux bootstrap git` with the profile's
repository, path and branch, then the GitRepository and every Kustomization and HelmRelease
Ready (the health gate's Flux check)."""

from __future__ import annotations

import pytest

from checks import ALL_CHECKS, run_checks
from drivers.errors import DriverError
from drivers.flux import bootstrap_git, failure_line
from fixtures.procedures.redeploy import attach
from fixtures.procedures.run import Run, not_applicable
from fixtures.rebuild import target_image
from fixtures.waiting import wait_until
from model.findings import Category, Finding
from model.rebuild import RebuildPlan
from model.snapshot import ClusterSnapshot


@pytest.mark.mutating
def test_flux_bootstrapped(run: Run) -> None:
    """flux bootstrap git --url --path --branch (the profile's flux section)"""
    flux = run.profile.flux
    if not flux.enabled:
        not_applicable("flux.enabled is false")
        return
    missing = [k for k in ("url", "path") if getattr(flux, k) is None]
    assert not missing, (
        f"[flux] {run.profile.path}: flux.{' and flux.'.join(missing)} not set: the rebuilt "
        "cluster cannot be bootstrapped (flux bootstrap git --url --path)"
    )
    assert flux.url is not None and flux.path is not None
    run.before_change()
    try:
        done = bootstrap_git(
            run.talos.runner,
            flux.cli,
            run.profile.talos.kubeconfig,
            url=flux.url,
            path=flux.path,
            branch=flux.branch,
            private_key_file=flux.private_key_file,
            timeout=run.timeouts.kubernetes,
        )
    except DriverError as e:
        stderr = getattr(e, "stderr", "") or ""
        raise AssertionError(
            f"[flux] flux bootstrap git failed: {failure_line(stderr) if stderr else e}"
        ) from None
    attach(done.stderr, "flux bootstrap")


def test_flux_ready(run: Run, rebuild_plan: RebuildPlan) -> None:
    """The GitRepository and every Kustomization and HelmRelease Ready"""
    if not run.profile.flux.enabled:
        not_applicable("flux.enabled is false")
        return
    exp = run.expectation.with_talos(
        rebuild_plan.target_talos, image=target_image(run, rebuild_plan)
    ).with_kubernetes(rebuild_plan.target_kubernetes)
    specs = [c for c in ALL_CHECKS if c.category == Category.FLUX and not c.advisory]

    def judge(snap: ClusterSnapshot) -> list[Finding]:
        return [f for fs in run_checks(snap, exp, specs).values() for f in fs]

    wait_until(run.observer.look, judge, timeout=run.timeouts.kubernetes, what="Flux Ready")
