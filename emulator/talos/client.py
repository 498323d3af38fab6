"""What depends on the version of the emulated talosctl client (reference §9).

The lab emulates one client version per lab (`lab.talosctl`). Every behaviour below names the
upstream file and the first tag that has it (siderolabs/talos, read at the tags; see
emulator/COVERAGE.md "talosctl versions"). Stdlib only: the command tree is built from it.
"""

from __future__ import annotations

from emulator.talos.gotext import semver_key

OLDEST = "v1.9.0"  # the oldest client whose code paths the lab follows
# cmd/talosctl/cmd/talos/upgrade.go @ v1.13.0: the streaming LifecycleService.Upgrade is used
# when every node's version is in this range; otherwise the legacy MachineService.Upgrade
UPGRADE_API_RANGE = (">1.13.0-alpha.2", "<2.0.0")
# cmd/talosctl/cmd/talos/root.go @ v1.14.0-rc.1 outputFlushInterval
FLUSH_INTERVAL = 0.5
DEPRECATED_LEGACY = ("legacy flag for MachineService.Upgrade fallback, to be removed in "
                     "Talos 1.18")


def at_least(tag: str, than: str) -> bool:
    """Whether talosctl `tag` is `than` or newer (semver order, pre-releases before releases)."""
    return semver_key(tag) >= semver_key(than)


class Client:
    """The emulated client's version and the behaviours that follow from it."""

    def __init__(self, tag: str, default_kubernetes: str = "1.34.1") -> None:
        self.tag = tag
        # pkg/machinery/constants DefaultKubernetesVersion of this client (upgrade-k8s --to)
        self.default_kubernetes = default_kubernetes

    def __repr__(self) -> str:
        return f"Client({self.tag})"

    @property
    def multiplexed(self) -> bool:
        """v1.14.0-alpha.2+ (commit 6e2dec1ea "stop using WithNodes"): one call per node on the
        client side; per-node errors are lines `error from node <n>: ...` joined by errors.Join
        and any node's error exits 1; tables flush after FLUSH_INTERVAL without a response."""
        return at_least(self.tag, "v1.14.0-alpha.2")

    @property
    def etcd_status_storage(self) -> bool:
        """v1.11.0+ etcd.go: `etcd status` has PROTOCOL and STORAGE columns."""
        return at_least(self.tag, "v1.11.0")

    @property
    def etcd_status_node_always(self) -> bool:
        """v1.14 etcd.go prints the NODE column always (before: when the reply names nodes)."""
        return self.multiplexed

    @property
    def upgrade_api(self) -> bool:
        """v1.13.0+ upgrade.go: --drain (default true, forces --wait), the LifecycleService
        path for v1.13+ servers, the deprecated legacy flags."""
        return at_least(self.tag, "v1.13.0")

    @property
    def no_reboot_flag(self) -> bool:
        """upgrade --no-reboot: v1.13.7+ (absent v1.13.0..v1.13.6), and v1.14."""
        return at_least(self.tag, "v1.13.7")

    @property
    def insecure_upgrade_flag(self) -> bool:
        """upgrade --insecure: removed in v1.14.0-rc.1 (an unknown flag there)."""
        return not at_least(self.tag, "v1.14.0-alpha.0")

    @property
    def k8s_compat_lines(self) -> bool:
        """upgrade-k8s prints per-node Talos/Kubernetes compatibility lines from v1.11.0."""
        return at_least(self.tag, "v1.11.0")

    @property
    def default_installer(self) -> str:
        """upgrade --image's default: ghcr.io/siderolabs/installer:<tag> up to v1.13; v1.14
        images.InstallerImageRepository("metal") = the factory's default metal installer."""
        if at_least(self.tag, "v1.14.0-alpha.0"):
            return ("factory.talos.dev/metal-installer/376567988ad370138ad8b2698212367b8edcb69b"
                    f"5fd68c80be1f2ec7d603b4ba:{self.tag}")
        return f"ghcr.io/siderolabs/installer:{self.tag}"

    def single_node_error(self, command: str, count: int) -> str:
        """A single-node command given several nodes: helpers.FailIfMultiNodes up to v1.13,
        global.BuildClientEnforceSingleNode (factory.go) in v1.14."""
        if self.multiplexed:
            return f'command "{command}" requires exactly one node (got {count})'
        return f'command "{command}" is not supported with multiple nodes'

    @staticmethod
    def uses_upgrade_api(server: str) -> bool:
        """Whether a v1.13+ client takes the LifecycleService path with this server."""
        return semver_key(server) > semver_key("v1.13.0-alpha.2") and \
            semver_key(server) < semver_key("v2.0.0")
