"""The template-based rebuild runbook (Proxmox VE), as data for the upgrade plugin: its plan is
a RebuildPlan (fixtures/rebuild.py, model/rebuild.py) from the profile's versions and image to
--talos-version/--k8s-version and --extensions/--schematic, with the new template's VMID."""

from fixtures.rebuild import compute_rebuild, describe_rebuild, open_rebuild_record
from fixtures.upgrade import UpgradeRunbook

UPGRADE_RUNBOOK = UpgradeRunbook(
    name="rebuild",
    direction="upgrade",
    compute=compute_rebuild,
    record=open_rebuild_record,
    describe=describe_rebuild,
    plan_section="rebuild plan (nothing was changed)",
)
