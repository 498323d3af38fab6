"""emulator.talos.flags: cobra/pflag parsing, exact error texts, usage blocks (reference §1.1)."""

from __future__ import annotations

import pytest

from emulator.talos import formats
from emulator.talos.flags import (
    GLOBAL_FLAGS,
    Command,
    Flag,
    FlagError,
    exact_args,
    flag_usages,
    help_text,
    minimum_args,
    no_args,
    parse,
    parse_command_line,
    range_args,
    usage_text,
)


def talosctl() -> Command:
    """A slice of the real command tree (v1.11 flags and help texts)."""
    upgrade = Command("upgrade", short="Upgrade Talos on the target node", args=no_args,
                      persistent_flags=GLOBAL_FLAGS, handler="upgrade", flags=(
        Flag("image", "string", "ghcr.io/siderolabs/installer:v1.11.0", "i",
             "the container image to use for performing the install"),
        Flag("reboot-mode", "string", "default", "m",
             'select the reboot mode during upgrade. Mode "powercycle" bypasses kexec. Valid '
             'values are: ["default" "powercycle"].'),
        Flag("preserve", "bool", False, "p", "preserve data", hidden=True),
        Flag("stage", "bool", False, "s", "stage the upgrade to perform it after a reboot"),
        Flag("force", "bool", False, "f", "force the upgrade (skip checks on etcd health and "
             "members, might lead to data loss)"),
        Flag("insecure", "bool", False, "", "upgrade using the insecure (encrypted with no auth) "
             "maintenance service"),
        Flag("wait", "bool", True, "", "wait for the operation to complete, tracking its "
             "progress. always set to true when --debug is set"),
        Flag("debug", "bool", False, "", "debug operation from kernel logs. --wait is set to "
             "true when this flag is set"),
        Flag("timeout", "duration", 1800.0, "", "time to wait for the operation is complete if "
             "--debug or --wait is set"),
        Flag("retries", "int", 0, "", "how many times"),
    ))
    version = Command("version", short="Prints the version", args=no_args,
                      persistent_flags=GLOBAL_FLAGS, flags=(
        Flag("short", "bool", help="Print the short version"),
        Flag("client", "bool", help="Print client version only"),
        Flag("insecure", "bool", shorthand="i", help="use Talos maintenance mode API"),
        Flag("json", "bool", hidden=True)))
    get = Command("get <type> [<id>]", aliases=("g",), args=range_args(1, 2),
                  persistent_flags=GLOBAL_FLAGS, short="Get a specific resource or list of "
                  "resources (use 'talosctl get rd' to see all available resource types).",
                  flags=(Flag("output", "string", "table", "o",
                              "output mode (json, table, yaml, jsonpath)"),
                         Flag("watch", "bool", shorthand="w", help="watch resource changes"),
                         Flag("namespace", help="resource namespace (default is to use default "
                              "namespace per resource)")))
    health = Command("health", short="Check cluster health", args=no_args,
                     persistent_flags=GLOBAL_FLAGS, flags=(
        Flag("control-plane-nodes", "stringSlice", help="specify IPs of control plane nodes"),
        Flag("server", "bool", True, help="run server-side check"),
        Flag("wait-timeout", "duration", 1200.0,
             help="timeout to wait for the cluster to be ready")))
    etcd = Command("etcd", short="Manage etcd", runnable=False, persistent_flags=GLOBAL_FLAGS)
    etcd.add(Command("snapshot <path>", short="Stream snapshot of the etcd node to the path.",
                     args=exact_args(1), handler="etcd snapshot"),
             Command("members", short="Get the list of etcd cluster members", args=no_args),
             Command("remove-member <member ID>", short="Remove the node from etcd cluster",
                     args=exact_args(1)))
    return Command("talosctl", runnable=False).add(upgrade, version, get, health, etcd,
                                                   Command("needs", args=minimum_args(1)))


ROOT = talosctl()


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
def test_defaults_are_typed_and_present() -> None:
    p = parse_command_line(ROOT, ["upgrade"])
    assert p.command.path == "upgrade" and p.command.handler == "upgrade"
    assert p.values["wait"] is True and p.values["timeout"] == 1800.0
    assert p.values["nodes"] == [] and p.values["image"].endswith(":v1.11.0")
    assert p.changed == set() and p.args == [] and not p.help


@pytest.mark.parametrize(("argv", "key", "value"), [
    (["upgrade", "--image=img:1"], "image", "img:1"),
    (["upgrade", "--image", "img:1"], "image", "img:1"),
    (["upgrade", "-i", "img:1"], "image", "img:1"),
    (["upgrade", "-iimg:1"], "image", "img:1"),
    (["upgrade", "-i=img:1"], "image", "img:1"),
    (["upgrade", "--wait=false"], "wait", False),
    (["upgrade", "--wait=0"], "wait", False),
    (["upgrade", "--force"], "force", True),
    (["upgrade", "-fs"], "stage", True),
    (["upgrade", "-n", "a,b"], "nodes", ["a", "b"]),
    (["upgrade", "-n", "a", "-n", "b"], "nodes", ["a", "b"]),
    (["upgrade", "--nodes=a", "--nodes", "b,c"], "nodes", ["a", "b", "c"]),
    (["upgrade", "-na,b"], "nodes", ["a", "b"]),
    (["-n", "10.5.0.2", "upgrade"], "nodes", ["10.5.0.2"]),
    (["upgrade", "-e", "127.0.1.2"], "endpoints", ["127.0.1.2"]),
    (["upgrade", "--timeout", "5m"], "timeout", 300.0),
    (["upgrade", "--timeout=1m30s"], "timeout", 90.0),
    (["upgrade", "--timeout", "300ms"], "timeout", 0.3),
    (["upgrade", "--retries", "0x10"], "retries", 16),
    (["upgrade", "--preserve"], "preserve", True),
    (["health", "--wait-timeout", "20m0s"], "wait-timeout", 1200.0),
    (["health", "--control-plane-nodes", '"a,b",c'], "control-plane-nodes", ["a,b", "c"]),
    (["upgrade", "--talosconfig", "/tmp/tc", "--context", "lab"], "context", "lab"),
])
def test_flag_forms(argv: list[str], key: str, value: object) -> None:
    p = parse_command_line(ROOT, argv)
    assert p.values[key] == value
    assert key in p.changed


def test_positionals_terminator_and_interspersed() -> None:
    p = parse_command_line(ROOT, ["get", "members", "-o", "json", "-n", "a", "node-1"])
    assert (p.args, p.values["output"], p.values["nodes"]) == (["members", "node-1"], "json",
                                                                ["a"])
    p = parse_command_line(ROOT, ["get", "-o", "yaml", "--", "--weird", "-x"])
    assert p.args == ["--weird", "-x"] and p.args_len_at_dash == 0
    p = parse_command_line(ROOT, ["g", "members"])  # alias
    assert p.command.name == "get"
    p = parse_command_line(ROOT, ["etcd", "-n", "x", "members"])
    assert p.command.path == "etcd members" and p.values["nodes"] == ["x"]


@pytest.mark.parametrize(("argv", "message"), [
    (["upgrade", "--foo"], "unknown flag: --foo"),
    (["upgrade", "--foo=bar"], "unknown flag: --foo"),
    (["version", "-o", "json"], "unknown shorthand flag: 'o' in -o"),
    (["upgrade", "-fx"], "unknown shorthand flag: 'x' in -x"),
    (["upgrade", "--image"], "flag needs an argument: --image"),
    (["upgrade", "-i"], "flag needs an argument: 'i' in -i"),
    (["upgrade", "-fi"], "flag needs an argument: 'i' in -i"),
    (["upgrade", "--timeout", "x"],
     'invalid argument "x" for "--timeout" flag: time: invalid duration "x"'),
    (["upgrade", "--timeout=5"],
     'invalid argument "5" for "--timeout" flag: time: missing unit in duration "5"'),
    (["upgrade", "--wait=maybe"], 'invalid argument "maybe" for "--wait" flag: '
     'strconv.ParseBool: parsing "maybe": invalid syntax'),
    (["upgrade", "--force=maybe"], 'invalid argument "maybe" for "-f, --force" flag: '
     'strconv.ParseBool: parsing "maybe": invalid syntax'),
    (["upgrade", "--retries", "x"], 'invalid argument "x" for "--retries" flag: '
     'strconv.ParseInt: parsing "x": invalid syntax'),
    (["upgrade", "---x"], "bad flag syntax: ---x"),
    (["etcd", "snapshot"], "accepts 1 arg(s), received 0"),
    (["etcd", "snapshot", "a", "b"], "accepts 1 arg(s), received 2"),
    (["needs"], "requires at least 1 arg(s), only received 0"),
    (["get"], "accepts between 1 and 2 arg(s), received 0"),
    (["foo"], 'unknown command "foo" for "talosctl"'),
    (["upgrade", "x"], 'unknown command "x" for "talosctl upgrade"'),
    (["etcd", "members", "x"], 'unknown command "x" for "talosctl etcd members"'),
    # `--wait false` is `--wait` plus a positional, as in pflag
    (["upgrade", "--wait", "false"], 'unknown command "false" for "talosctl upgrade"'),
    (["upgrad"], 'unknown command "upgrad" for "talosctl"\n\nDid you mean this?\n\tupgrade\n'),
])
def test_error_messages(argv: list[str], message: str) -> None:
    with pytest.raises(FlagError) as e:
        parse_command_line(ROOT, argv)
    assert str(e.value) == message
    assert e.value.usage.startswith("Usage:\n")


def test_help_and_non_runnable_commands() -> None:
    assert parse_command_line(ROOT, ["upgrade", "-h"]).help
    assert parse_command_line(ROOT, ["upgrade", "--help"]).help
    assert parse_command_line(ROOT, ["etcd"]).help  # no Run: cobra prints help, exit 0
    assert parse_command_line(ROOT, ["etcd", "bogus"]).help
    assert help_text(ROOT.find_next("etcd").find_next("members")).startswith(  # type: ignore[union-attr]
        "Get the list of etcd cluster members\n\nUsage:\n  talosctl etcd members [flags]\n")


def test_parse_keeps_pflag_shorthand_quirks() -> None:
    up = ROOT.find_next("upgrade")
    assert up is not None
    values, args = parse(up, ["-fi", "img", "rest"])
    assert (values["force"], values["image"], args) == (True, "img", ["rest"])


def test_unknown_flag_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown type 'float'"):
        Flag("x", "float")


# ---------------------------------------------------------------------------------------------
# Usage text
# ---------------------------------------------------------------------------------------------
GLOBAL_BLOCK = """\
      --cluster string             Cluster to connect to if a proxy endpoint is used.
      --context string             Context to be used in command
  -e, --endpoints strings          override default endpoints in Talos configuration
  -n, --nodes strings              target the specified nodes
      --siderov1-keys-dir string   The path to the SideroV1 auth PGP keys directory. Defaults to 'SIDEROV1_KEYS_DIR' env variable if set, otherwise '$HOME/.talos/keys'. Only valid for Contexts that use SideroV1 auth.
      --talosconfig string         The path to the Talos configuration file. Defaults to 'TALOSCONFIG' env variable if set, otherwise '$HOME/.talos/config' and '/var/run/secrets/talos.dev/config' in order."""  # noqa: E501


def test_usage_of_a_subcommand_lists_global_flags() -> None:
    snap = ROOT.find_next("etcd").find_next("snapshot")  # type: ignore[union-attr]
    assert snap is not None and snap.path == "etcd snapshot"
    assert usage_text(snap) == (
        "Usage:\n  talosctl etcd snapshot <path> [flags]\n\nFlags:\n  -h, --help   help for "
        "snapshot\n\nGlobal Flags:\n" + GLOBAL_BLOCK + "\n")


def test_usage_of_a_top_level_command_merges_its_persistent_flags() -> None:
    up = ROOT.find_next("upgrade")
    assert up is not None
    text = usage_text(up)
    assert text.startswith("Usage:\n  talosctl upgrade [flags]\n\nFlags:\n")
    assert "Global Flags:" not in text and "--preserve" not in text
    assert ("  -i, --image string               the container image to use for performing the "
            'install (default "ghcr.io/siderolabs/installer:v1.11.0")\n') in text
    assert ("      --timeout duration           time to wait for the operation is complete if "
            "--debug or --wait is set (default 30m0s)\n") in text
    assert ("      --wait                       wait for the operation to complete, tracking its "
            "progress. always set to true when --debug is set (default true)\n") in text
    assert "  -s, --stage                      stage the upgrade" in text
    assert text.endswith("(default true)\n")


def test_usage_with_aliases_subcommands_and_defaults() -> None:
    get = ROOT.find_next("get")
    assert get is not None
    assert usage_text(get).startswith(
        "Usage:\n  talosctl get <type> [<id>] [flags]\n\nAliases:\n  get, g\n\nFlags:\n")
    assert '(default "table")' in usage_text(get)
    etcd = ROOT.find_next("etcd")
    assert etcd is not None
    assert usage_text(etcd).startswith(
        "Usage:\n  talosctl etcd [command]\n\nAvailable Commands:\n"
        "  members       Get the list of etcd cluster members\n"
        "  remove-member Remove the node from etcd cluster\n"
        "  snapshot      Stream snapshot of the etcd node to the path.\n\nFlags:\n"
        "      --cluster string             Cluster to connect to if a proxy endpoint is used.\n")
    # etcd's own persistent flags are local to it: no "Global Flags:" section
    assert "  -h, --help                       help for etcd\n" in usage_text(etcd)
    assert "Global Flags:" not in usage_text(etcd)
    assert usage_text(etcd).endswith(
        '\n\nUse "talosctl etcd [command] --help" for more information about a command.\n')
    health = ROOT.find_next("health")
    assert health is not None
    assert "      --control-plane-nodes strings   specify IPs of control plane nodes\n" in \
        usage_text(health)
    assert "(default 20m0s)" in usage_text(health)


def test_flag_usages_alignment_and_slice_defaults() -> None:
    assert flag_usages([Flag("a", "bool", help="x"), Flag("bb", "stringSlice", ["p", "q,r"],
                                                          "b", "list")]) == (
        "      --a            x\n  -b, --bb strings   list (default [p,\"q,r\"])\n")
    assert flag_usages([Flag("x", help="use `file` here")]) == "      --x file   use file here\n"


def test_error_output_with_usage_like_talosctl() -> None:
    with pytest.raises(FlagError) as e:
        parse_command_line(ROOT, ["etcd", "snapshot"])
    out = formats.cli_error_output(str(e.value), e.value.usage)
    assert out.startswith("accepts 1 arg(s), received 0\n\nUsage:\n  talosctl etcd snapshot")
    assert out.endswith(GLOBAL_BLOCK.splitlines()[-1] + "\n\n")
