"""Phase 8, record (the seed's steps 7 and 12, and its cleanup): the profile updated in place
(written only now, with the rebuilt cluster verified: until then it names the cluster the run
started from, so a rerun after a kill finds its record) and committed in the
profile's git repository with the seed's message (never pushed); the old template kept and
protected (rebuild.keep_old_template) or removed; the pre-rebuild snapshot kept; the run
record closed."""

from __future__ import annotations

import pytest

from drivers.proxmox import Pve
from fixtures.procedures.pve_tasks import pve_task
from fixtures.procedures.redeploy import attach, commit_profile, update_profile
from fixtures.procedures.run import Run, already_done
from fixtures.rebuild import proxmox_of, target_image
from model.rebuild import RebuildPlan
from model.run_record import now


@pytest.mark.mutating
def test_profile_updated(run: Run, rebuild_plan: RebuildPlan) -> None:
    """The profile file holds the new versions, schematic, extensions and template (a YAML
    round trip: comments, order and styles kept)"""
    diff = update_profile(run, rebuild_plan, target_image(run, rebuild_plan))
    attach(diff or "(unchanged)", "profile diff")


@pytest.mark.mutating
def test_profile_committed(run: Run, rebuild_plan: RebuildPlan) -> None:
    """git commit of the profile: feat(talos): upgrade to Talos v<version> with K8s <version>"""
    version = str(rebuild_plan.target_talos).lstrip("v")
    commit_profile(
        run, f"feat(talos): upgrade to Talos v{version} with K8s {rebuild_plan.target_kubernetes}"
    )


@pytest.mark.mutating
def test_cleanup(run: Run, pve: Pve, rebuild_plan: RebuildPlan) -> None:
    """The old template kept (protected: the way back) or removed as the profile says; the
    pre-rebuild snapshot kept"""
    old = rebuild_plan.old_template_vmid
    lines = []
    backup = run.record.current.etcd
    if backup is not None:
        lines.append(f"etcd snapshot {backup.path} kept (sha256 {backup.sha256})")
    if old is None:
        lines.append("no old template")
    elif run.profile.rebuild.keep_old_template:
        lines.append(f"template {old} kept and protected: the way back")
    else:
        have = pve.vm(old)
        if have is None:
            already_done(f"template {old} removed")
        else:
            assert have.get("template"), f"VM {old} is not a template: not removing it"
            run.before_change()
            conf = proxmox_of(run.profile)
            base = f"/nodes/{pve.node}/qemu/{old}"
            pve.call("PUT", f"{base}/config", {"protection": 0})
            pve_task(pve, "DELETE", base, f"destroy template {old}", conf.task_timeout, purge=1)
            lines.append(f"template {old} removed (rebuild.keep_old_template: false)")
    attach("\n".join(lines), "cleanup")
    run.record.apply(lambda r: r.finished_at(now()))
