"""COSI resources as a node's apid would serve them, built from the world's state.

Each builder returns {"metadata": {...}, "spec": {...}} dicts with the real envelope (reference
§2.2/§2.3); emulator.talos.formats renders them as table, JSON or YAML.
"""

from __future__ import annotations

import time
from typing import Any

from emulator.world import EmulatedCluster, NodeState


def _ts(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _meta(node: NodeState, namespace: str, rtype: str, rid: str, owner: str, version: int = 1
          ) -> dict[str, Any]:
    return {
        "namespace": namespace, "type": rtype, "id": rid, "version": version, "owner": owner,
        "phase": "running", "created": _ts(node.booted_at), "updated": _ts(node.booted_at),
    }


def node_id(node: NodeState) -> str:
    """A stable 43-character discovery node ID per node name."""
    import base64
    import hashlib

    return base64.b64encode(hashlib.sha256(node.name.encode()).digest()).decode()[:43].replace(
        "+", "A").replace("/", "B")


def members(world: EmulatedCluster, via: NodeState) -> list[dict[str, Any]]:
    out = []
    for n in world.nodes.values():
        spec: dict[str, Any] = {
            "nodeId": node_id(n), "addresses": [n.address], "hostname": n.hostname,
            "machineType": n.role, "operatingSystem": f"Talos ({n.talos_version})",
        }
        if n.is_control_plane:
            spec["controlPlane"] = {"port": 6443}
        out.append({"metadata": _meta(via, "cluster", "Members.cluster.talos.dev", n.hostname,
                                      "cluster.MemberController", n.boot_count),
                    "spec": spec})
    return out


def extensions(world: EmulatedCluster, node: NodeState) -> list[dict[str, Any]]:
    specs = world.factory.extension_statuses(node.slot.schematic, world.factory_url,
                                             talos_version=node.slot.version)
    missing = {m.rsplit("/", 1)[-1] for m in node.slot.missing_extensions}
    out: list[dict[str, Any]] = []
    for spec in (s for s in specs if s["metadata"]["name"] not in missing):
        rid = str(len(out))  # the imager numbers the extensions it unpacked: 0, 1, ...
        spec = {**spec, "image": f"{rid}.sqsh"}
        out.append({"metadata": _meta(node, "runtime", "ExtensionStatuses.runtime.talos.dev", rid,
                                      "runtime.ExtensionStatusController"), "spec": spec})
    return out


def machine_status(world: EmulatedCluster, node: NodeState) -> list[dict[str, Any]]:
    unmet = []
    if not node.machine_ready:
        reason = (f'node "{node.name}" is not ready' if node.stage == "running"
                  else f'node "{node.name}" status is not available yet')
        unmet.append({"name": "nodeReady", "reason": reason})
    spec = {"stage": node.stage, "status": {"ready": node.machine_ready, "unmetConditions": unmet}}
    return [{"metadata": _meta(node, "runtime", "MachineStatuses.runtime.talos.dev", "machine",
                               "runtime.MachineStatusController", node.boot_count + 4),
             "spec": spec}]


def nodename(world: EmulatedCluster, node: NodeState) -> list[dict[str, Any]]:
    spec = {"nodename": node.name, "hostnameVersion": "1", "skipNodeRegistration": False}
    return [{"metadata": _meta(node, "k8s", "Nodenames.kubernetes.talos.dev", "nodename",
                               "k8s.NodenameController"), "spec": spec}]


def version(world: EmulatedCluster, node: NodeState) -> list[dict[str, Any]]:
    """runtime.Version (v1.10.0+); v1.13.0 adds `name` (version.Name, "Talos")."""
    from emulator.talos.gotext import semver_key

    spec = {"version": node.talos_version}
    if semver_key(node.talos_version) >= semver_key("v1.13.0-alpha.0"):
        spec = {"name": "Talos", **spec}
    return [{"metadata": _meta(node, "runtime", "Versions.runtime.talos.dev", "version",
                               "runtime.VersionController"),
             "spec": spec}]


def etcd_member(world: EmulatedCluster, node: NodeState) -> list[dict[str, Any]]:
    if not node.is_control_plane:
        return []
    member_id = world.member_id(node.name)
    if member_id is None:
        return []
    return [{"metadata": _meta(node, "etcd", "EtcdMembers.etcd.talos.dev", "local",
                               "etcd.MemberController"),
             "spec": {"memberID": f"{member_id:016x}"}}]


BUILDERS = {
    "Members.cluster.talos.dev": members,
    "ExtensionStatuses.runtime.talos.dev": extensions,
    "MachineStatuses.runtime.talos.dev": machine_status,
    "Nodenames.kubernetes.talos.dev": nodename,
    "Versions.runtime.talos.dev": version,
    "EtcdMembers.etcd.talos.dev": etcd_member,
}
