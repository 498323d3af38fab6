"""The in-place upgrade runbook, as data for the upgrade plugin (fixtures/upgrade.py): its plan
goes from the profile's versions to --talos-version/--k8s-version (else upgrade.target), and its
run record is resumed by a later session of the same upgrade."""

from fixtures.upgrade import UpgradeRunbook, compute_plan, describe_plan, open_record

UPGRADE_RUNBOOK = UpgradeRunbook(
    name="in_place",
    direction="upgrade",
    compute=compute_plan,
    record=open_record,
    describe=describe_plan,
    plan_section="upgrade plan (nothing was changed)",
)
