"""Read/act helpers of the world that the talosctl commands use (mixed into EmulatedCluster).

Kept apart from world.py so that the state model stays small; `self` is an EmulatedCluster.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.world import NodeState

TALOS_SHA = {"v1.9.2": "09758b3f", "v1.9.4": "1a1c4b63"}
GO_VERSION = "go1.23.4"


def talos_sha(version: str) -> str:
    """A stable 8-hex build SHA per version."""
    return TALOS_SHA.get(version, hashlib.sha1(version.encode()).hexdigest()[:8])



class WorldViews:
    """Read/act helpers the talosctl commands use; mixed into EmulatedCluster below."""

    # ---- versions ------------------------------------------------------------------------
    @property
    def client_version(self: Any) -> str:
        return str((self.spec.raw.get("lab") or {}).get("talosctl_version", "v1.11.6"))

    def client_version_info(self: Any) -> dict[str, str]:
        v = self.client_version
        return {"tag": v, "sha": talos_sha(v), "built": "", "go": GO_VERSION, "os": "linux",
                "arch": "amd64"}

    def server_version_info(self: Any, node: NodeState) -> dict[str, str]:
        v = node.talos_version
        return {"tag": v, "sha": talos_sha(v), "built": "", "go": GO_VERSION, "os": "linux",
                "arch": "amd64", "hostname": node.address}

    async def client_version_warnings(self: Any, ctx: Any, targets: list[str]) -> None:
        client = tuple(int(x) for x in self.client_version.lstrip("v").split(".")[:2])
        for t in targets:
            node = self.resolve(t)
            if node is None or not node.apid_up:
                continue
            server = tuple(int(x) for x in node.talos_version.lstrip("v").split(".")[:2])
            if server < client:
                await ctx.err(f"WARNING: {t}: server version {node.talos_version.lstrip('v')} is "
                              f"older than client version {self.client_version.lstrip('v')}\n")

    def catalog_host_rule(self: Any, host: str, target: str) -> str | None:
        from model.versions import TalosVersion

        return self.catalog.can_upgrade_host(TalosVersion.parse(host), TalosVersion.parse(target))

    def catalog_k8s_compat(self: Any, talos: str, k8s: str) -> str | None:
        from model.versions import KubeVersion, TalosVersion

        t, k = TalosVersion.parse(talos), KubeVersion.parse(k8s)
        if self.catalog.supports(t, k):
            return None
        support = self.catalog.k8s_support(t)
        word = "old" if k < support.min else "new"
        return (f"version of Kubernetes {k} is too {word} to be used with Talos "
                f"{str(t).lstrip('v')}")

    def default_kubernetes(self: Any) -> str:
        from model.versions import TalosVersion

        return str(self.catalog.default_kubernetes(TalosVersion.parse(self.client_version)))

    def lowest_k8s_version(self: Any) -> str:
        """What upgrade-k8s auto-detects: the lowest control-plane / kube-proxy image tag."""
        from model.versions import KubeVersion

        versions = [v for per in self.static_versions.values() for v in per.values()]
        versions.append(self.proxy_version)
        return str(min(KubeVersion.parse(v) for v in versions))

    # ---- services -----------------------------------------------------------------------
    def services(self: Any, node: NodeState) -> list[tuple[str, str, str, str]]:
        names = ["apid", "containerd", "cri", "kubelet", "machined", "udevd"]
        if node.is_control_plane:
            names += ["etcd", "trustd"]
        out = []
        for svc in sorted(names):
            if svc == "etcd" and not self.etcd.member(node.name).running:
                out.append((svc, "Preparing", "?", "Running pre state"))
            elif svc == "kubelet" and not node.k8s_ready:
                out.append((svc, "Running", "FAIL", "Health check failed"))
            else:
                out.append((svc, "Running", "OK", "Health check successful"))
        return out

    # ---- etcd ------------------------------------------------------------------------------
    def _etcd_guard(self: Any, node: NodeState) -> None:
        from emulator.talos.commands import CommandError

        if not node.is_control_plane:
            raise CommandError("rpc error: code = FailedPrecondition desc = etcd is not running "
                               "on this node (not a control plane)")

    async def etcd_members_view(self: Any, node: NodeState) -> list[Any]:
        from emulator.etcd import EtcdError
        from emulator.talos.commands import CommandError

        self._etcd_guard(node)
        try:
            return list(await self.etcd.amembers(node.name))
        except EtcdError as e:
            raise CommandError(f"rpc error: code = Unknown desc = {e}") from None

    async def etcd_status_view(self: Any, node: NodeState) -> Any:
        from emulator.etcd import EtcdError
        from emulator.talos.commands import CommandError

        self._etcd_guard(node)
        try:
            return await self.etcd.astatus(node.name)
        except EtcdError as e:
            raise CommandError(f"rpc error: code = Unknown desc = {e}") from None

    async def etcd_alarms_view(self: Any, node: NodeState) -> list[tuple[int, str]]:
        import asyncio

        self._etcd_guard(node)
        alarms = await asyncio.to_thread(self.etcd.alarms, node.name)
        return [(a.member_id, a.alarm_type) for a in alarms]

    async def etcd_snapshot(self: Any, node: NodeState, dest: Path) -> Any:
        from emulator.etcd import EtcdError
        from emulator.talos.commands import CommandError

        self._etcd_guard(node)
        try:
            return await self.etcd.asnapshot(node.name, dest)
        except EtcdError as e:
            raise CommandError(f"error reading snapshot: {e}") from None

    async def etcd_remove_member(self: Any, node: NodeState, member_id: int) -> None:
        import asyncio

        from emulator.etcd import EtcdError
        from emulator.talos.commands import CommandError

        self._etcd_guard(node)
        try:
            await asyncio.to_thread(self.etcd.remove_member, node.name, member_id)
        except EtcdError as e:
            raise CommandError(f"error removing member: rpc error: code = Unknown desc = {e}") \
                from None

    async def etcd_leave(self: Any, node: NodeState) -> None:
        self._etcd_guard(node)
        await self.etcd.leave(node.name)

    async def etcd_forfeit(self: Any, node: NodeState) -> None:
        self._etcd_guard(node)
        await self.etcd.aforfeit_leadership(node.name)

    def etcd_member_ids_by_node(self: Any) -> dict[str, tuple[int, ...] | None]:
        """Each running control plane's view of the member IDs (sorted), None when down."""
        from emulator.etcd import EtcdError

        out: dict[str, tuple[int, ...] | None] = {}
        for n in self.control_planes:
            try:
                out[n.name] = tuple(sorted(m.id for m in self.etcd.members(n.name)))
            except EtcdError:
                out[n.name] = None
        return out

    def etcd_member_ips(self: Any) -> list[str]:
        from urllib.parse import urlsplit

        from emulator.etcd import EtcdError

        for n in self.control_planes:
            try:
                members = self.etcd.members(n.name)
            except EtcdError:
                continue
            return sorted({urlsplit(u).hostname or "" for m in members for u in m.peer_urls})
        return []

    def member_id(self: Any, name: str) -> int | None:
        return self.etcd.member(name).member_id

    # ---- proxmox ---------------------------------------------------------------------------
    def pve_status(self: Any, node: NodeState, status: str) -> None:
        if self.pve is not None:
            self.pve.set_status(node.vmid, status)

