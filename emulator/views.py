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
        return str(self.spec.talosctl_version)

    @property
    def client(self: Any) -> Any:
        """The emulated talosctl (emulator.talos.client.Client) of this lab."""
        from emulator.talos.client import Client

        if getattr(self, "_client", None) is None:
            self._client = Client(self.client_version, self.default_kubernetes())
        return self._client

    def client_version_info(self: Any) -> dict[str, str]:
        v = self.client_version
        return {"tag": v, "sha": talos_sha(v), "built": "", "go": GO_VERSION, "os": "linux",
                "arch": "amd64"}

    def server_version_info(self: Any, node: NodeState) -> dict[str, str]:
        v = node.talos_version
        return {"tag": v, "sha": talos_sha(v), "built": "", "go": GO_VERSION, "os": "linux",
                "arch": "amd64", "hostname": node.address}

    def catalog_host_rule(self: Any, host: str, target: str) -> str | None:
        from model.versions import TalosVersion

        problem: str | None = self.catalog.can_upgrade_host(TalosVersion.parse(host),
                                                            TalosVersion.parse(target))
        return problem

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
        if self.spec.kube_proxy:  # detect.go: kube-proxy pods count only when there are any
            versions.append(self.proxy_version)
        return str(min(KubeVersion.parse(v) for v in versions))

    # ---- etcd (what machined's etcd APIs answer; errors are gRPC status texts) ------------
    def _etcd_guard(self: Any, node: NodeState, api: str) -> None:
        """Raise CommandError as machined's checkControlplane does on a worker."""
        from emulator.talos.commands import CommandError

        if not node.is_control_plane:
            raise CommandError(f"rpc error: code = Unimplemented desc = {api} is only available "
                               "on control plane nodes")

    def etcd_down_error(self: Any, node: NodeState) -> str | None:
        """The local etcd client's dial error when the node's etcd is not running, else None."""
        if self.etcd.member(node.name).running:
            return None
        return ('rpc error: code = Unavailable desc = connection error: desc = "transport: '
                'Error while dialing: dial tcp 127.0.0.1:2379: connect: connection refused"')

    async def _etcd_call(self: Any, node: NodeState, api: str, wrap: str, call: Any) -> Any:
        from emulator.etcd import EtcdError
        from emulator.talos.commands import CommandError

        self._etcd_guard(node, api)
        down = self.etcd_down_error(node)
        if down:
            raise CommandError(down)
        try:
            return await call()
        except EtcdError as e:
            text = str(e)
            code = "NotFound" if "not found" in text else "Unknown"
            raise CommandError(f"rpc error: code = {code} desc = {wrap}{text}") from None

    async def etcd_members_view(self: Any, node: NodeState) -> list[Any]:
        members = await self._etcd_call(node, "member list", "",
                                        lambda: self.etcd.amembers(node.name))
        return list(members)

    async def etcd_status_view(self: Any, node: NodeState) -> Any:
        """The member's status as machined reports it: PROTOCOL/STORAGE only from Talos v1.11."""
        import dataclasses

        from emulator.talos.gotext import version_minor

        st = await self._etcd_call(node, "etcd status", "failed to query etcd status: ",
                                   lambda: self.etcd.astatus(node.name))
        if version_minor(node.talos_version) < (1, 11):
            return dataclasses.replace(st, version="", storage_version="")
        if not st.storage_version:  # etcd < 3.6 does not fill it: machined's workaround
            major, minor = (st.version.split(".") + ["0", "0"])[:2]
            return dataclasses.replace(st, storage_version=f"{major}.{minor}.0")
        return st

    async def etcd_alarms_view(self: Any, node: NodeState) -> list[tuple[int, str]]:
        alarms = await self._etcd_call(node, "etcd alarm list", "",
                                       lambda: self.etcd.aalarms(node.name))
        return [(a.member_id, a.alarm_type) for a in alarms]

    async def etcd_snapshot(self: Any, node: NodeState, dest: Path) -> Any:
        info = await self._etcd_call(node, "etcd snapshot", "failed reading etcd snapshot: ",
                                     lambda: self.etcd.asnapshot(node.name, dest))
        if self.take_fault("snapshot_hash_mismatch", node) is not None:
            # what talosctl hashed while streaming is not what landed on disk: one byte of the
            # saved file's first page flips after the write (size and sha256 trailer length
            # kept), as a bad disk or a copy gone wrong would leave it
            data = bytearray(dest.read_bytes())
            data[100] ^= 0xFF
            dest.write_bytes(bytes(data))
        return info

    async def etcd_remove_member(self: Any, node: NodeState, member_id: int) -> None:
        await self._etcd_call(node, "etcd remove member", "failed to remove member: ",
                              lambda: self.etcd.aremove_member(node.name, member_id))

    async def etcd_leave(self: Any, node: NodeState) -> None:
        await self._etcd_call(node, "etcd leave", "failed to leave cluster: ",
                              lambda: self.etcd.leave(node.name))

    async def etcd_forfeit(self: Any, node: NodeState) -> None:
        await self._etcd_call(node, "etcd forfeit leadership", "failed to forfeit leadership: ",
                              lambda: self.etcd.aforfeit_leadership(node.name))

    def member_id(self: Any, name: str) -> int | None:
        """The node's current etcd member ID (None when it left or never joined)."""
        member_id: int | None = self.etcd.member(name).member_id
        return member_id
