"""The lab's status, as a stable JSON document (`python -m emulator status --json`).

Keys (stable; tests and benchmarks read them): name, dir, nodes[] {name, address, role, primary,
vmid, talos_version, active_slot, slots{A,B}, schematic, extensions, boot_id, boot_count,
upgrade_count, stage, machine_ready, apid, busy, kubernetes{ready, cordoned, kubelet_version,
os_image}}, etcd{members[] {id, name, peer_urls, client_urls, learner, started}, error},
kubernetes{api, version, available, proxy_version}, faults[] {kind, node, <its params>,
fired}, disruption{tracked, samples, min_ready, pdb_min_healthy, pdb_violated} (sampled every
50 ms with lab.track_disruption), endpoints{factory, proxmox, control}. Slots are {version,
schematic, [missing_extensions]} or null; `busy` names a running sequence or is null;
`kubernetes.ready` is "True", "False" or "Unknown". tests/emulator/test_lab_cli.py pins these keys.
"""

from __future__ import annotations

from typing import Any

from emulator.world import EmulatedCluster


async def lab_status(world: EmulatedCluster) -> dict[str, Any]:
    """Return the status document of the world."""
    from emulator.etcd import EtcdError

    nodes = []
    k8s_nodes = world.k8s.node_summaries()
    for n in world.nodes.values():
        k = k8s_nodes.get(n.name, {})
        nodes.append({
            "name": n.name, "address": n.address, "role": n.role, "primary": n.primary,
            "vmid": n.vmid, "talos_version": n.talos_version, "active_slot": n.active,
            "slots": {k_: (s.to_dict() if s else None) for k_, s in n.slots.items()},
            "schematic": n.slot.schematic, "extensions": world.extension_names(n),
            "boot_id": n.boot_id, "boot_count": n.boot_count, "upgrade_count": n.upgrade_count,
            "stage": n.stage, "machine_ready": n.machine_ready, "apid": n.apid_up, "busy": n.busy,
            "kubernetes": {
                "ready": k.get("ready", "Unknown"), "cordoned": k.get("cordoned", False),
                "kubelet_version": k.get("kubelet_version", n.kubelet_version),
                "os_image": k.get("os_image", ""),
            },
        })
    etcd: dict[str, Any] = {"members": [], "error": None}
    errors = []
    for cp in world.control_planes:
        try:
            members = await world.etcd.amembers(cp.name)
        except EtcdError as e:
            errors.append(f"{cp.name}: {e}")
            continue
        etcd["members"] = [
            {"id": f"{m.id:016x}", "name": m.name, "peer_urls": list(m.peer_urls),
             "client_urls": list(m.client_urls), "learner": m.is_learner, "started": m.started}
            for m in members
        ]
        break
    if errors and not etcd["members"]:
        etcd["error"] = "; ".join(errors)
    return {
        "name": world.spec.name,
        "dir": str(world.dir),
        "nodes": nodes,
        "etcd": etcd,
        "kubernetes": {
            "api": f"http://{world.primary.address}:6443",
            "version": world.api_server_version,
            "available": world.api_available() and world.api_listener_up,
            "proxy_version": world.proxy_version,
        },
        "faults": [f.to_dict() for f in world.faults],
        "disruption": world.k8s.disruption(),
        "endpoints": {"factory": world.factory_url,
                      "proxmox": f"http://{world.plan.pve}:8006",
                      "control": f"http://{world.plan.control}:7777"},
    }
