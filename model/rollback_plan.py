"""Planning a rollback: back to the versions before an upgrade. Pure.

From the upgrade's run record, the rollback undoes its hops in reverse order (so every
intermediate state is one the upgrade already went through, and Kubernetes goes back before the
Talos that made it possible); with explicit versions, Kubernetes goes first, one minor per step,
then Talos in one hop. Per node, `talosctl rollback` is used when the record shows its other A/B
slot holds the wanted version, an explicit `talosctl upgrade --image <installer:wanted>` otherwise.
Refused (PlanError): a target that is not older, a Kubernetes step down across a minor (talosctl
upgrade-k8s refuses it and Kubernetes does not support it: restore the etcd snapshot instead),
Kubernetes the target Talos cannot run.
"""

from __future__ import annotations

from model.catalog import Catalog
from model.plan import (
    KubeHop,
    NodeOrder,
    NodeRef,
    PlanError,
    TalosHop,
    UpgradePlan,
    installer_image,
)
from model.run_record import RunRecord
from model.upgrade_call import DEFAULT_STYLE, UpgradeStyle
from model.versions import KubeVersion, TalosVersion


def _k8s_down(cur: KubeVersion, tgt: KubeVersion) -> None:
    if tgt.minor_line < cur.minor_line:
        raise PlanError(
            f"Kubernetes {cur} -> {tgt} goes down a minor: talosctl upgrade-k8s only moves "
            "within a minor or one minor up, and Kubernetes does not support minor downgrades; "
            "restore the etcd snapshot taken before the upgrade instead (see the run record's "
            "backups), or keep Kubernetes at "
            f"{cur.minor_str}.x (--k8s-version {cur})"
        )


def plan_from_record(
    rec: RunRecord, nodes: NodeOrder, factory: str, schematic: str, catalog: Catalog
) -> UpgradePlan:
    """Undo the recorded upgrade's hops in reverse order; raise PlanError when impossible."""
    if rec.source is None or rec.target is None:
        raise PlanError(
            f"run record {rec.run_id}: not an upgrade's record (no versions to go back to)"
        )
    if rec.rebuild is not None and rec.rebuild.torn_down:
        vms = ", ".join(str(v) for v in rec.rebuild.destroyed or rec.rebuild.stopped)
        raise PlanError(
            f"run record {rec.run_id} is a template rebuild that stopped or destroyed the "
            f"cluster's VMs ({vms}): the rollback runbook moves Talos versions on running "
            "nodes and cannot undo it; "
            "the way back is `pytest runbooks/rebuild_rollback` (the old template and the "
            "pre-rebuild etcd snapshot named in the record)"
        )
    hops: list[TalosHop | KubeHop] = []
    for i, raw in reversed(list(enumerate(rec.planned, 1))):
        back = f"undo hop {i} ({raw.source} -> {raw.to})"
        if raw.kind == "kubernetes":
            cur, to = KubeVersion.parse(raw.to), KubeVersion.parse(raw.source)
            _k8s_down(cur, to)
            hops.append(KubeHop(cur, to, nodes.primary, raw.talos, back))
        else:
            cur_t, to_t = TalosVersion.parse(raw.to), TalosVersion.parse(raw.source)
            new_image = raw.raw.get("schematic")
            if cur_t == to_t and new_image:
                old = (rec.plan.get("image") or {}).get("from") or schematic
                raise PlanError(
                    f"run record {rec.run_id} changed only the image of Talos {cur_t} (schematic "
                    f"{old} -> {new_image}); a rollback moves Talos versions: take the image "
                    f"back with the in_place runbook and --schematic {old}"
                )
            image = installer_image(factory, schematic, to_t)
            hops.append(TalosHop(cur_t, to_t, image, nodes.in_order, raw.kubernetes, back))
    now_on, back_to = rec.target, rec.source
    return UpgradePlan(
        now_on.talos, now_on.kubernetes, back_to.talos, back_to.kubernetes, nodes, tuple(hops)
    )


def plan_explicit(
    cur_t: TalosVersion,
    cur_k: KubeVersion,
    tgt_t: TalosVersion,
    tgt_k: KubeVersion,
    nodes: NodeOrder,
    factory: str,
    schematic: str,
    catalog: Catalog,
) -> UpgradePlan:
    """Kubernetes down first (one step per minor), then Talos in one hop; raise PlanError."""
    if tgt_t > cur_t or tgt_k > cur_k:
        raise PlanError(
            f"Talos {cur_t} -> {tgt_t}, Kubernetes {cur_k} -> {tgt_k} is not a "
            "rollback: use the in_place runbook to go up"
        )
    for v in (tgt_t, cur_t):
        if not catalog.is_known_talos(v):
            raise PlanError(catalog.unknown_talos_message(v))
    _k8s_down(cur_k, tgt_k)
    if not catalog.supports(tgt_t, tgt_k):
        raise PlanError(
            f"Talos {tgt_t} does not support Kubernetes {tgt_k} (supports "
            f"{catalog.k8s_support(tgt_t)})"
        )
    hops: list[TalosHop | KubeHop] = []
    if tgt_k != cur_k:
        if not catalog.supports(cur_t, tgt_k):
            raise PlanError(
                f"Talos {cur_t} does not support Kubernetes {tgt_k} (supports "
                f"{catalog.k8s_support(cur_t)}): roll Talos back in steps first"
            )
        hops.append(KubeHop(cur_k, tgt_k, nodes.primary, cur_t, "explicit target"))
    if tgt_t != cur_t:
        refusal = catalog.can_upgrade_host(cur_t, tgt_t)
        if refusal:
            raise PlanError(f"no way back from Talos {cur_t} to {tgt_t} by reinstalling: {refusal}")
        image = installer_image(factory, schematic, tgt_t)
        hops.append(TalosHop(cur_t, tgt_t, image, nodes.in_order, tgt_k, "explicit target"))
    return UpgradePlan(cur_t, cur_k, tgt_t, tgt_k, nodes, tuple(hops))


def predicted_action(rec: RunRecord, p: UpgradePlan, hop: TalosHop, node: str) -> str:
    """'rollback' when the node's other slot should hold hop.to_version when this hop starts."""
    first = next(h for h in p.talos_hops)
    if hop is not first:
        return "reinstall"  # after the first change the other slot holds what the node left
    other = rec.other_slot(node, hop.from_version)
    return "rollback" if other == hop.to_version else "reinstall"


def describe(
    p: UpgradePlan,
    rec: RunRecord,
    client: TalosVersion | None = None,
    style: UpgradeStyle = DEFAULT_STYLE,
) -> str:
    """The rollback plan for --plan and the report: steps, node order, command per node."""
    undoing = rec.run_id if rec.kind == "upgrade" else "explicit targets"

    def command(hop: TalosHop, node: NodeRef) -> str:
        if predicted_action(rec, p, hop, node.name) == "rollback":
            return f"talosctl rollback -n {node.address}   (other A/B slot holds {hop.to_version})"
        return f"{hop.command_for(node, client, style)}   (explicit reinstall)"

    heading = f"Rollback plan (undoing {undoing})"
    return p.describe(client, heading=heading, node_command=command, style=style)
