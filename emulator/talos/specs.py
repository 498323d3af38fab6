"""The emulated talosctl's command tree: real commands, their real flags, per client version
(talosctl v1.9 .. v1.14; `tree(client)`; what differs is in emulator/talos/client.py).

`handler` names the implementation in commands.HANDLERS; a real talosctl command the lab does
not emulate has handler None and answers `not emulated: talosctl <args>` (emulator/COVERAGE.md).
"""

from __future__ import annotations

from typing import Any

from emulator.talos.client import DEPRECATED_LEGACY, Client
from emulator.talos.flags import (
    GLOBAL_FLAGS,
    Command,
    Flag,
    FlagError,
    exact_args,
    help_text,
    maximum_args,
    no_args,
    range_args,
)
from emulator.talos.flags import (
    parse_command_line as _parse,
)
from emulator.talos.gen import commands as gen_commands

CommandSpec = Command

# track.go addTrackActionFlags: the action tracker's flags (upgrade, reboot)
_TRACK_FLAGS = (
    Flag("wait", "bool", True, help="wait for the operation to complete, tracking its "
         "progress. always set to true when --debug is set"),
    Flag("debug", "bool", False, help="debug operation from kernel logs. --wait is set to "
         "true when this flag is set"),
    Flag("timeout", "duration", 1800.0, help="time to wait for the operation is complete "
         "if --debug or --wait is set"),
)


def _upgrade_flags(client: Client) -> tuple[Flag, ...]:
    """cmd/talosctl/cmd/talos/upgrade.go (+ track.go) of the client's version."""
    legacy = DEPRECATED_LEGACY if client.upgrade_api else ""
    modes = '["default" "force" "powercycle"]' if client.upgrade_api else \
        '["default" "powercycle"]'
    flags = [
        Flag("image", shorthand="i", default=client.default_installer,
             help="the container image to use for performing the install"),
        Flag("preserve", "bool", False, shorthand="p", hidden=True, deprecated=legacy,
             help="preserve data"),
        Flag("stage", "bool", False, shorthand="s", deprecated=legacy,
             help="stage the upgrade to perform it after a reboot"),
        Flag("force", "bool", False, shorthand="f", deprecated=legacy,
             help="force the upgrade (skip checks on etcd health and members, might lead to "
                  "data loss)"),
        Flag("reboot-mode", default="default", shorthand="m",
             help='select the reboot mode during upgrade. Mode "powercycle" bypasses kexec. '
                  f"Valid values are: {modes}."),
        *_TRACK_FLAGS,
    ]
    if client.insecure_upgrade_flag:
        flags.append(Flag("insecure", "bool", False, deprecated=legacy,
                          help="upgrade using the insecure (encrypted with no auth) "
                               "maintenance service"))
    if client.upgrade_api:
        flags += [
            Flag("drain", "bool", True, help="drain the Kubernetes node before rebooting "
                 "(cordon + evict pods)"),
            Flag("drain-timeout", "duration", 300.0, help="timeout for draining the node"),
            Flag("progress", default="auto", help="output mode for upgrade progress. Values: "
                 "[auto plain]"),
            Flag("namespace", default="system", help="namespace to use for the upgrade image"),
            Flag("legacy", "bool", False, help="force use of legacy upgrade method"),
        ]
    if client.no_reboot_flag:
        flags.append(Flag("no-reboot", "bool", False, help="do not reboot the node after "
                          "upgrade (skip reboot and drain)"))
    return tuple(flags)


def _provision_commands() -> tuple[Command, ...]:
    """apply-config.go and bootstrap.go at v1.12.4 (their flags; helpers.AddModeFlags)."""
    return (
        Command("apply-config", aliases=("apply",), short="Apply a new configuration to a node",
                args=maximum_args(1), handler="apply-config", flags=(
                    Flag("file", shorthand="f", help="the filename of the updated "
                         "configuration"),
                    Flag("insecure", "bool", False, shorthand="i", help="apply the config using "
                         "the insecure (encrypted with no auth) maintenance service"),
                    Flag("dry-run", "bool", False, help="check how the config change will be "
                         "applied in dry-run mode"),
                    Flag("cert-fingerprint", "stringSlice", help="list of server certificate "
                         "fingeprints to accept (defaults to no check)"),
                    Flag("config-patch", "stringSlice", shorthand="p", help="the list of config "
                         "patches to apply to the local config file before sending it to the "
                         "node"),
                    Flag("timeout", "duration", 60.0, help="the config will be rolled back after "
                         "specified timeout (if try mode is selected)"),
                    Flag("mode", default="auto", shorthand="m", help="apply config mode"),
                )),
        Command("bootstrap", short="Bootstrap the etcd cluster on the specified node.",
                args=no_args, handler="bootstrap", flags=(
                    Flag("recover-from", help="recover etcd cluster from the snapshot"),
                    Flag("recover-skip-hash-check", "bool", False, help="skip integrity check "
                         "when recovering etcd (use when recovering from data directory copy)"),
                )),
    )


_NOT_EMULATED = ("config", "containers", "copy", "dashboard",
                 "disks", "events", "image", "inspect", "list", "logs",
                 "memory", "mounts", "netstat", "processes", "reset", "restart", "shutdown",
                 "stats", "support", "time", "usage", "validate", "edit", "patch", "cluster",
                 "wipe", "meta", "pcap", "cgroups", "completion", "conformance", "inject",
                 "machineconfig", "rotate-ca", "docs")


def _tree(client: Client) -> Command:
    root = Command("talosctl", short="A CLI for out-of-band management of Kubernetes nodes "
                   "created by Talos", persistent_flags=GLOBAL_FLAGS, runnable=False)
    etcd = Command("etcd", short="Manage etcd", runnable=False)
    alarm = Command("alarm", short="Manage etcd alarms", runnable=False)
    alarm.add(Command("list", short="List the etcd alarms for the node.", args=no_args,
                      handler="etcd alarm list"),
              Command("disarm", short="Disarm the etcd alarms for the node.", args=no_args))
    etcd.add(
        alarm,
        Command("members", short="Get the list of etcd cluster members", args=no_args,
                handler="etcd members"),
        Command("status", short="Get the status of etcd cluster member", args=no_args,
                handler="etcd status"),
        Command("snapshot <path>", short="Stream snapshot of the etcd node to the path.",
                args=exact_args(1), handler="etcd snapshot"),
        Command("remove-member <member ID>", short="Remove the node from etcd cluster",
                args=exact_args(1), handler="etcd remove-member"),
        Command("leave", short="Tell nodes to leave etcd cluster", args=no_args,
                handler="etcd leave"),
        Command("forfeit-leadership", short="Tell node to forfeit etcd cluster leadership",
                args=no_args, handler="etcd forfeit-leadership"),
        Command("defrag", short="Defragment etcd database on the node", args=no_args),
    )
    root.add(
        Command("version", short="Prints the version", args=no_args, handler="version", flags=(
            Flag("client", "bool", False, help="Print client version only"),
            Flag("short", "bool", False, help="Print the short version"),
            Flag("insecure", "bool", False, shorthand="i",
                 help="use Talos maintenance mode API"),
            Flag("json", "bool", False, hidden=True, help="Print the version in JSON format"),
        )),
        Command("get <type> [<id>]", aliases=("g",), short="Get a specific resource or list of "
                "resources (use 'talosctl get rd' to see all available resource types).",
                args=range_args(1, 2), handler="get", flags=(
                    Flag("output", default="table", shorthand="o", help="output mode "
                         "(json, table, yaml, jsonpath)"),
                    Flag("namespace", help="resource namespace (default is to use default "
                         "namespace per resource)"),
                    Flag("watch", "bool", False, shorthand="w", help="watch resource changes"),
                    Flag("insecure", "bool", False, shorthand="i",
                         help="get resources using the insecure (encrypted with no auth) "
                              "maintenance service"),
                )),
        etcd,
        Command("health", short="Check cluster health", args=no_args, handler="health", flags=(
            Flag("control-plane-nodes", "stringSlice", help="specify IPs of control plane nodes"),
            Flag("worker-nodes", "stringSlice", help="specify IPs of worker nodes"),
            Flag("init-node", help="specify IPs of init node"),
            Flag("k8s-endpoint", help="use endpoint instead of kubeconfig default"),
            Flag("server", "bool", True, help="run server-side check"),
            Flag("wait-timeout", "duration", 1200.0,
                 help="timeout to wait for the cluster to be ready"),
            Flag("run-e2e", "bool", False, help="run Kubernetes e2e test"),
        )),
        Command("upgrade", short="Upgrade Talos on the target node", args=no_args,
                handler="upgrade", flags=_upgrade_flags(client)),
        Command("rollback", short="Rollback a node to the previous installation", args=no_args,
                handler="rollback"),
        Command("reboot", short="Reboot a node", args=no_args, handler="reboot", flags=(
            Flag("mode", default="default", shorthand="m", help="select the reboot mode: "
                 '"default", "powercycle" (skips kexec)'),
            *_TRACK_FLAGS,
        )),
        Command("read <path>", short="Read a file on the machine", args=exact_args(1),
                handler="read"),
        Command("dmesg", short="Retrieve kernel logs", args=no_args, handler="dmesg", flags=(
            Flag("follow", "bool", False, shorthand="f", help="specify if the kernel log should "
                 "be streamed"),
            Flag("tail", "bool", False, help="specify if only new messages should be sent "
                 "(makes sense only when combined with --follow)"),
        )),
        Command("service [<id> [start|stop|restart|status]]", aliases=("services",),
                short="Retrieve the state of a service (or all services), control service "
                "state", args=maximum_args(2), handler="services"),
        Command("upgrade-k8s", short="Upgrade Kubernetes control plane in the Talos cluster.",
                args=no_args, handler="upgrade-k8s", flags=(
                    Flag("to", default=client.default_kubernetes, help="the Kubernetes control "
                         "plane version to upgrade to"),
                    Flag("from", help="the Kubernetes control plane version to upgrade from"),
                    Flag("endpoint", help="the cluster control plane endpoint"),
                    Flag("dry-run", "bool", False, help="skip the actual upgrade and show the "
                         "upgrade plan instead"),
                    Flag("pre-pull-images", "bool", True, help="pre-pull images before upgrade"),
                    Flag("upgrade-kubelet", "bool", True, help="upgrade kubelet service"),
                    Flag("with-docs", "bool", True, help="patch all machine configs adding the "
                         "documentation for each field"),
                    Flag("with-examples", "bool", True, help="patch all machine configs with the "
                         "commented examples"),
                    Flag("kubelet-image", default="ghcr.io/siderolabs/kubelet",
                         help="kubelet image to use"),
                    Flag("apiserver-image", default="registry.k8s.io/kube-apiserver",
                         help="kube-apiserver image to use"),
                    Flag("controller-manager-image",
                         default="registry.k8s.io/kube-controller-manager",
                         help="kube-controller-manager image to use"),
                    Flag("scheduler-image", default="registry.k8s.io/kube-scheduler",
                         help="kube-scheduler image to use"),
                    Flag("proxy-image", default="registry.k8s.io/kube-proxy",
                         help="kube-proxy image to use"),
                )),
    )
    root.add(*gen_commands(client))  # gen secrets|config, kubeconfig: emulator/talos/gen.py
    root.add(*_provision_commands())  # apply-config, bootstrap: emulator/talos/provision.py
    for name in _NOT_EMULATED:
        if root.find_next(name) is None:
            root.add(Command(name, short="(not emulated by the lab)"))
    return root


_TREES: dict[str, Command] = {}


def tree(client: Client) -> Command:
    """The command tree of this talosctl version (built once per version)."""
    key = f"{client.tag} {client.default_kubernetes}"
    if key not in _TREES:
        _TREES[key] = _tree(client)
    return _TREES[key]


ROOT = tree(Client("v1.11.6"))  # the commands and handlers are the same in every version


def _walk(cmd: Command) -> list[Command]:
    out = [cmd]
    for sub in cmd.subcommands:
        out += _walk(sub)
    return out


COMMANDS: tuple[Command, ...] = tuple(_walk(ROOT))


def parse_command_line(argv: list[str], root: Command = ROOT
                       ) -> tuple[Command, dict[str, Any], list[str], list[str]]:
    """Return (command, flag values, positional args, pflag's deprecation notices); raise
    FlagError with cobra's text."""
    parsed = _parse(root, argv)
    if parsed.help:
        raise HelpRequested(help_text(parsed.command))
    return parsed.command, parsed.values, parsed.args, parsed.warnings


class HelpRequested(FlagError):
    """-h/--help or a non-runnable command: cobra prints help on stdout and exits 0."""

    def __init__(self, text: str) -> None:
        super().__init__("")
        self.text = text
