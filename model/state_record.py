"""The cluster's state in words, as the rebuild records it before anything is torn down (the
seed's step 5: `talosctl version`, `kubectl get nodes -o wide`, `talosctl get members`, and the
Flux objects): what to compare the rebuilt cluster with, and what a rollback goes back to. Pure."""

from __future__ import annotations

from model.snapshot import ClusterSnapshot, EtcdMember


def describe_state(snap: ClusterSnapshot, primary: str) -> str:
    """Nodes (Talos, kubelet, address, Ready, schematic), the etcd members as the primary sees
    them, the Flux objects; each section says when it could not be read."""
    lines = [f"cluster state at {snap.taken_at}", ""]
    lines.append(f"Kubernetes API server: {snap.api_server_version or 'unknown'}")
    lines.append(
        f"{'NODE':<12} {'TALOS':<10} {'KUBELET':<10} {'INTERNAL-IP':<16} {'READY':<8} SCHEMATIC"
    )
    names = [n.name for n in snap.nodes] + [
        k.name for k in snap.k8s_nodes if snap.node(k.name) is None
    ]
    for name in names:
        obs, k8s = snap.node(name), snap.k8s_node(name)
        talos = str(obs.talos_version) if obs is not None and obs.talos_version else "?"
        schematic = ",".join(obs.schematic_ids)[:12] if obs is not None else ""
        kubelet = str(k8s.kubelet_version) if k8s is not None and k8s.kubelet_version else "?"
        ip = (k8s.internal_ip if k8s is not None else None) or "?"
        ready = k8s.ready if k8s is not None else "absent"
        lines.append(f"{name:<12} {talos:<10} {kubelet:<10} {ip:<16} {ready:<8} {schematic}")
    if snap.kube_error:
        lines.append(f"(Kubernetes not read: {snap.kube_error})")
    lines += ["", f"etcd members (as {primary} sees them):"]
    members = snap.etcd.members_by_node.get(primary)
    if isinstance(members, str) or members is None:
        lines.append(f"  not read: {members or 'no answer'}")
    else:
        lines += [_member(m) for m in members]
    lines += ["", "Flux:"]
    if snap.flux_error:
        lines.append(f"  not read: {snap.flux_error}")
    elif not snap.flux:
        lines.append("  none")
    for f in snap.flux:
        lines.append(f"  {f.kind} {f.namespace}/{f.name}: Ready={f.ready}")
    return "\n".join(lines) + "\n"


def _member(m: EtcdMember) -> str:
    learner = " (learner)" if m.learner else ""
    return f"  {m.hex_id} {m.hostname or '(no hostname)'} {','.join(m.peer_urls)}{learner}"
