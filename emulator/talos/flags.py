"""A small cobra/pflag look-alike: the command tree, flag parsing, usage text, exact errors.

talosctl is cobra v1.9 + pflag v1.0.7; this module reproduces what they do for the emulated
commands: resolving `talosctl [flags] etcd [flags] members` to a command (cobra Find with its
stripFlags quirks), parsing interspersed flags (`--f=v`, `--f v`, `-fv`, `-f v`, bare bools,
`--`), the positional-argument validators, and the messages and usage block they print.
Stdlib only (the wrapper must start fast).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from emulator.talos.gotext import (
    DurationError,
    format_duration,
    go_quote,
    go_quote_rune,
    parse_duration,
)

TYPE_CHECKING = False  # no runtime import of typing/dataclasses/csv (start-up time)
if TYPE_CHECKING:
    from typing import Any

FLAG_TYPES = ("bool", "string", "stringSlice", "duration", "int")
_VARNAMES = {"bool": "", "string": "string", "stringSlice": "strings", "duration": "duration",
             "int": "int"}


class FlagError(Exception):
    """A flag, argument or command error; str() is cobra/pflag's exact message.

    `usage` is the usage block talosctl prints after it ("" when it prints none).
    """

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


# ---------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------
class Flag:
    """One pflag flag. Durations are given and returned as float seconds."""

    __slots__ = ("default", "deprecated", "help", "hidden", "name", "shorthand", "type")

    def __init__(self, name: str, type: str = "string", default: Any = None, shorthand: str = "",
                 help: str = "", hidden: bool = False, deprecated: str = "") -> None:
        if type not in FLAG_TYPES:
            raise ValueError(f"flag --{name}: unknown type {type!r}")
        self.name, self.type, self.default, self.shorthand = name, type, default, shorthand
        self.help, self.hidden, self.deprecated = help, hidden, deprecated

    def __repr__(self) -> str:
        return f"Flag({self.name!r}, {self.type!r})"

    @property
    def default_value(self) -> Any:
        """Return the typed default (zero value when none was given)."""
        if self.default is not None:
            return list(self.default) if self.type == "stringSlice" else self.default
        return {"bool": False, "string": "", "stringSlice": [], "duration": 0.0,
                "int": 0}[self.type]

    @property
    def def_value(self) -> str:
        """Return pflag's DefValue string (what `(default ...)` shows)."""
        v = self.default_value
        if self.type == "bool":
            return "true" if v else "false"
        if self.type == "duration":
            return format_duration(round(float(v) * 1e9))
        if self.type == "stringSlice":
            return "[" + _write_csv(v) + "]"
        return str(v)

    @property
    def is_zero_default(self) -> bool:
        """pflag defaultIsZeroValue: no `(default ...)` in the usage when True."""
        return self.def_value in {"bool": ("false", ""), "duration": ("0", "0s"), "int": ("0",),
                                  "string": ("",), "stringSlice": ("[]",)}[self.type]

    @property
    def takes_value(self) -> bool:
        """Return False for bools (NoOptDefVal "true": `--flag` alone sets it)."""
        return self.type != "bool"

    def display_name(self) -> str:
        """Return the flag as InvalidValueError names it: `-t, --timeout` or `--timeout`."""
        return f"-{self.shorthand}, --{self.name}" if self.shorthand else f"--{self.name}"

    def convert(self, value: str, current: Any, changed: bool) -> Any:
        """Return the new value after Set(value); raise FlagError like pflag's Set."""
        try:
            if self.type == "bool":
                return _parse_bool(value)
            if self.type == "duration":
                return parse_duration(value) / 1e9
            if self.type == "int":
                return _parse_int(value)
            if self.type == "stringSlice":
                items = _read_csv(value)
                return list(current) + items if changed else items
            return value
        except (ValueError, DurationError) as e:
            raise FlagError(f"invalid argument {go_quote(value)} for "
                            f"{go_quote(self.display_name())} flag: {e}") from None


def _parse_bool(s: str) -> bool:
    if s in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if s in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f"strconv.ParseBool: parsing {go_quote(s)}: invalid syntax")


def _parse_int(s: str) -> int:
    body, sign = (s[1:], s[0]) if s[:1] in "+-" else (s, "")
    low = body.lower().replace("_", "") if body[:2].lower() in ("0x", "0o", "0b") else body
    try:
        if low.startswith(("0x", "0o", "0b")):
            v = int(low, 0)
        elif len(low) > 1 and low.startswith("0"):
            v = int(low[1:], 8)
        else:
            if not low.isdigit():
                raise ValueError
            v = int(low)
    except ValueError:
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(s)}: invalid syntax") from None
    v = -v if sign == "-" else v
    if not -(1 << 63) <= v < (1 << 63):
        raise ValueError(f"strconv.ParseInt: parsing {go_quote(s)}: value out of range")
    return v


def _read_csv(value: str) -> list[str]:
    if value == "":
        return []
    if '"' not in value:
        return value.split(",")
    import csv  # lazy: only quoted values need a real CSV reader

    rows = list(csv.reader([value], strict=True))
    return rows[0] if rows else []


def _write_csv(values: Sequence[str]) -> str:
    def quote(v: str) -> str:
        needs = v != "" and (v == "\\." or any(c in v for c in ',"\r\n') or v[0] in " \t")
        return '"' + v.replace('"', '""') + '"' if needs else v

    return ",".join(quote(v) for v in values)


def _help_flag(name: str) -> Flag:
    return Flag("help", "bool", shorthand="h", help=f"help for {name}")


# talosctl's persistent flags, added to every Talos API command (cmd/talosctl/cmd/talos/root.go)
GLOBAL_FLAGS: tuple[Flag, ...] = (
    Flag("talosconfig", help="The path to the Talos configuration file. Defaults to "
         "'TALOSCONFIG' env variable if set, otherwise '$HOME/.talos/config' and "
         "'/var/run/secrets/talos.dev/config' in order."),
    Flag("nodes", "stringSlice", shorthand="n", help="target the specified nodes"),
    Flag("endpoints", "stringSlice", shorthand="e",
         help="override default endpoints in Talos configuration"),
    Flag("cluster", help="Cluster to connect to if a proxy endpoint is used."),
    Flag("context", help="Context to be used in command"),
    Flag("siderov1-keys-dir", help="The path to the SideroV1 auth PGP keys directory. Defaults "
         "to 'SIDEROV1_KEYS_DIR' env variable if set, otherwise '$HOME/.talos/keys'. Only valid "
         "for Contexts that use SideroV1 auth."),
)


# ---------------------------------------------------------------------------------------------
# Positional-argument validators (cobra args.go)
# ---------------------------------------------------------------------------------------------
ArgsRule = Callable[["Command", Sequence[str]], "str | None"]


def no_args(cmd: Command, args: Sequence[str]) -> str | None:
    """cobra.NoArgs: `unknown command "x" for "talosctl upgrade"`."""
    if args:
        return f"unknown command {go_quote(args[0])} for {go_quote(cmd.path_with_root)}"
    return None


def exact_args(n: int) -> ArgsRule:
    """cobra.ExactArgs(n): `accepts 1 arg(s), received 0`."""
    return lambda _c, a: None if len(a) == n else f"accepts {n} arg(s), received {len(a)}"


def minimum_args(n: int) -> ArgsRule:
    """cobra.MinimumNArgs(n): `requires at least 1 arg(s), only received 0`."""
    return lambda _c, a: (None if len(a) >= n
                          else f"requires at least {n} arg(s), only received {len(a)}")


def maximum_args(n: int) -> ArgsRule:
    """cobra.MaximumNArgs(n): `accepts at most 1 arg(s), received 2`."""
    return lambda _c, a: (None if len(a) <= n
                          else f"accepts at most {n} arg(s), received {len(a)}")


def range_args(lo: int, hi: int) -> ArgsRule:
    """cobra.RangeArgs(lo, hi): `accepts between 1 and 2 arg(s), received 0`."""
    return lambda _c, a: (None if lo <= len(a) <= hi
                          else f"accepts between {lo} and {hi} arg(s), received {len(a)}")


def arbitrary_args(cmd: Command, args: Sequence[str]) -> str | None:
    """cobra.ArbitraryArgs: anything goes."""
    return None


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
class Command:
    """A cobra command. `flags` are local; `persistent_flags` are inherited by subcommands.

    `args` None means cobra's legacy rule (the root rejects unknown subcommands, others accept
    anything). `handler` is free for the caller (e.g. the emulator's dispatch key).
    """

    def __init__(self, use: str, short: str = "", long: str = "", aliases: tuple[str, ...] = (),
                 flags: tuple[Flag, ...] = (), persistent_flags: tuple[Flag, ...] = (),
                 args: ArgsRule | None = None, runnable: bool = True, hidden: bool = False,
                 example: str = "", handler: str | None = None,
                 subcommands: Iterable[Command] = ()) -> None:
        self.use, self.short, self.long, self.aliases = use, short, long, aliases
        self.flags, self.persistent_flags, self.args = flags, persistent_flags, args
        self.runnable, self.hidden, self.example, self.handler = runnable, hidden, example, handler
        self.parent: Command | None = None
        self.subcommands: list[Command] = []
        self.add(*subcommands)

    def __repr__(self) -> str:
        return f"Command({self.path_with_root!r})"

    def add(self, *subs: Command) -> Command:
        """Add subcommands (setting their parent) and return self."""
        for sub in subs:
            sub.parent = self
            self.subcommands.append(sub)
        return self

    @property
    def name(self) -> str:
        """The first word of `use`."""
        return self.use.split(" ", 1)[0]

    @property
    def path_with_root(self) -> str:
        """cobra CommandPath(): `talosctl etcd snapshot`."""
        return f"{self.parent.path_with_root} {self.name}" if self.parent else self.name

    @property
    def path(self) -> str:
        """The command path without the root name: `etcd snapshot` (FailIfMultiNodes text)."""
        return self.path_with_root.partition(" ")[2] or self.name

    def local_flags(self) -> list[Flag]:
        """LocalFlags(): own flags, own persistent flags and cobra's -h/--help."""
        seen: dict[str, Flag] = {}
        for f in (*self.flags, *self.persistent_flags):
            seen.setdefault(f.name, f)
        seen.setdefault("help", _help_flag(self.name))
        return list(seen.values())

    def inherited_flags(self) -> list[Flag]:
        """InheritedFlags(): persistent flags of the parents not shadowed locally."""
        local = {f.name for f in self.local_flags()}
        out: dict[str, Flag] = {}
        p = self.parent
        while p is not None:
            for f in p.persistent_flags:
                if f.name not in local:
                    out.setdefault(f.name, f)
            p = p.parent
        return list(out.values())

    def all_flags(self) -> list[Flag]:
        """Every flag the command parses."""
        return self.local_flags() + self.inherited_flags()

    def find_next(self, name: str) -> Command | None:
        """cobra findNext: a subcommand by exact name or alias."""
        for sub in self.subcommands:
            if sub.name == name or name in sub.aliases:
                return sub
        return None

    @property
    def available(self) -> bool:
        """IsAvailableCommand: not hidden, and runnable or with available subcommands."""
        return not self.hidden and (self.runnable or any(s.available for s in self.subcommands))


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
class Parsed:
    """The outcome of parsing: typed values (every flag, defaults included), positionals.

    `changed` names the flags given on the command line; `help` is True when cobra would print
    the help text instead of running; `warnings` are pflag's deprecation notices (stderr).
    """

    def __init__(self, command: Command, values: dict[str, Any], args: list[str]) -> None:
        self.command, self.values, self.args = command, values, args
        self.changed: set[str] = set()
        self.args_len_at_dash = -1
        self.help = False
        self.warnings: list[str] = []

    def __iter__(self) -> Iterator[Any]:
        """Unpack as (values, positional args): `values, args = parse(cmd, argv)`."""
        return iter((self.values, self.args))


def _lookup(flags: Iterable[Flag]) -> tuple[dict[str, Flag], dict[str, Flag]]:
    by_name: dict[str, Flag] = {}
    by_short: dict[str, Flag] = {}
    for f in flags:
        by_name.setdefault(f.name, f)
        if f.shorthand:
            by_short.setdefault(f.shorthand, f)
    return by_name, by_short


def parse(command: Command, argv: Sequence[str]) -> Parsed:
    """Parse argv (everything after the command words) with the command's flag set.

    Raise FlagError with pflag's message: `unknown flag: --foo`, `unknown shorthand flag: 'o'
    in -o`, `flag needs an argument: --image`, `invalid argument "x" for "--timeout" flag: ...`.
    """
    by_name, by_short = _lookup(command.all_flags())
    result = Parsed(command, {f.name: f.default_value for f in by_name.values()}, [])

    def set_flag(f: Flag, value: str) -> None:
        result.values[f.name] = f.convert(value, result.values[f.name], f.name in result.changed)
        result.changed.add(f.name)
        if f.deprecated:
            result.warnings.append(f"Flag --{f.name} has been deprecated, {f.deprecated}")
        if f.name == "help" and result.values["help"]:
            result.help = True

    args = list(argv)
    while args:
        s = args.pop(0)
        if len(s) < 2 or s[0] != "-":
            result.args.append(s)
            continue
        if s == "--":
            result.args_len_at_dash = len(result.args)
            result.args.extend(args)
            break
        if s[1] == "-":
            name = s[2:]
            if not name or name[0] in "-=":
                raise FlagError(f"bad flag syntax: {s}")
            name, eq, value = name.partition("=")
            f = by_name.get(name)
            if f is None:
                raise FlagError(f"unknown flag: --{name}")
            if not eq:
                if not f.takes_value:
                    value = "true"
                elif args:
                    value = args.pop(0)
                else:
                    raise FlagError(f"flag needs an argument: --{name}")
            set_flag(f, value)
            continue
        shorthands, original, rest = s[1:], list(args), list(args)
        while shorthands:  # pflag passes the original args to every shorthand (its quirk)
            c = shorthands[0]
            f = by_short.get(c)
            if f is None:
                raise FlagError(f"unknown shorthand flag: {go_quote_rune(c)} in -{shorthands}")
            if len(shorthands) > 2 and shorthands[1] == "=":
                value, shorthands = shorthands[2:], ""
            elif not f.takes_value:
                value, shorthands = "true", shorthands[1:]
            elif len(shorthands) > 1:
                value, shorthands = shorthands[1:], ""
            elif original:
                value, shorthands, rest = original[0], "", original[1:]
            else:
                raise FlagError(f"flag needs an argument: {go_quote_rune(c)} in -{shorthands}")
            set_flag(f, value)
        args = rest
    return result


def _has_no_opt_default(name: str, flags: dict[str, Flag]) -> bool:
    f = flags.get(name)
    return f is not None and not f.takes_value


def _strip_flags(args: Sequence[str], cmd: Command) -> list[str]:
    by_name, by_short = _lookup(cmd.all_flags())
    commands, rest = [], list(args)
    while rest:
        s = rest.pop(0)
        if s == "--":
            break
        takes = ((s.startswith("--") and "=" not in s and not _has_no_opt_default(s[2:], by_name))
                 or (s.startswith("-") and not s.startswith("--") and "=" not in s and len(s) == 2
                     and not _has_no_opt_default(s[1:], by_short)))
        if takes:
            if len(rest) <= 1:
                break
            rest.pop(0)
        elif s and not s.startswith("-"):
            commands.append(s)
    return commands


def _args_minus_first(args: Sequence[str], x: str, cmd: Command) -> list[str]:
    by_name, by_short = _lookup(cmd.all_flags())
    pos = 0
    while pos < len(args):
        s = args[pos]
        if s == "--":
            break
        if ((s.startswith("--") and "=" not in s and not _has_no_opt_default(s[2:], by_name))
                or (s.startswith("-") and not s.startswith("--") and "=" not in s
                    and len(s) == 2 and not _has_no_opt_default(s[1:], by_short))):
            pos += 2
            continue
        if not s.startswith("-") and s == x:
            return [*args[:pos], *args[pos + 1:]]
        pos += 1
    return list(args)


def find(root: Command, argv: Sequence[str]) -> tuple[Command, list[str]]:
    """cobra Find: return the command argv names and the argv left for it (flags included).

    Raise FlagError for an unknown root subcommand (`unknown command "foo" for "talosctl"`,
    with cobra's "Did you mean this?" suggestions).
    """
    cmd, rest = root, list(argv)
    while True:
        words = _strip_flags(rest, cmd)
        nxt = cmd.find_next(words[0]) if words else None
        if nxt is None:
            break
        rest = _args_minus_first(rest, words[0], cmd)
        cmd = nxt
    if cmd.args is None and cmd.subcommands and cmd.parent is None:
        words = _strip_flags(rest, cmd)
        if words:
            raise FlagError(f"unknown command {go_quote(words[0])} for "
                            f"{go_quote(cmd.path_with_root)}{_suggestions(cmd, words[0])}",
                            usage_text(cmd))
    return cmd, rest


def _levenshtein(a: str, b: str) -> int:
    a, b = a.lower(), b.lower()
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _suggestions(cmd: Command, typed: str) -> str:
    found = [s.name for s in cmd.subcommands if s.available
             and (_levenshtein(typed, s.name) <= 2 or s.name.lower().startswith(typed.lower()))]
    if not found:
        return ""
    return "\n\nDid you mean this?\n" + "".join(f"\t{n}\n" for n in found)


def parse_command_line(root: Command, argv: Sequence[str]) -> Parsed:
    """Resolve and parse a whole talosctl argv like cobra's ExecuteC.

    Return Parsed with help=True when -h/--help was given or the command is not runnable
    (cobra then prints help_text on stdout, exit 0). Raise FlagError (with .usage set) for
    flag errors and failed argument validation.
    """
    cmd, rest = find(root, argv)
    try:
        parsed = parse(cmd, rest)
    except FlagError as e:
        raise FlagError(str(e), usage_text(cmd)) from None
    if parsed.help or not cmd.runnable:
        parsed.help = True
        return parsed
    rule = cmd.args or arbitrary_args
    problem = rule(cmd, parsed.args)
    if problem:
        raise FlagError(problem, usage_text(cmd))
    return parsed


# ---------------------------------------------------------------------------------------------
# Usage and help text (cobra defaultUsageFunc / defaultHelpFunc, pflag FlagUsages)
# ---------------------------------------------------------------------------------------------
def _unquote_usage(f: Flag) -> tuple[str, str]:
    usage = f.help
    start = usage.find("`")
    if start >= 0:
        end = usage.find("`", start + 1)
        if end >= 0:
            name = usage[start + 1:end]
            return name, usage[:start] + name + usage[end + 1:]
    return _VARNAMES[f.type], usage


def flag_usages(flags: Iterable[Flag]) -> str:
    """Return pflag FlagUsages(): sorted by name, hidden flags left out, aligned help."""
    lines = []
    for f in sorted((f for f in flags if not f.hidden and not f.deprecated), key=lambda f: f.name):
        head = f"  -{f.shorthand}, --{f.name}" if f.shorthand else f"      --{f.name}"
        varname, usage = _unquote_usage(f)
        if varname:
            head += " " + varname
        if not f.is_zero_default:
            usage += (f" (default {go_quote(f.def_value)})" if f.type == "string"
                      else f" (default {f.def_value})")
        lines.append((head, usage))
    maxlen = max((len(h) for h, _ in lines), default=0) + 1  # pflag counts its "\x00" mark
    cont = "\n" + " " * (maxlen + 2)
    return "".join(f"{h} {' ' * (maxlen - len(h))} {u.replace(chr(10), cont)}\n"
                   for h, u in lines)


def use_line(cmd: Command) -> str:
    """cobra UseLine(): the parent's path + Use, plus ` [flags]` when it has visible flags."""
    line = f"{cmd.parent.path_with_root} {cmd.use}" if cmd.parent else cmd.use
    if any(not f.hidden for f in cmd.all_flags()) and "[flags]" not in line:
        line += " [flags]"
    return line


def usage_text(cmd: Command) -> str:
    """Return cobra's UsageString() for a command (ends with "\\n")."""
    out = "Usage:"
    if cmd.runnable:
        out += f"\n  {use_line(cmd)}"
    subs = sorted((s for s in cmd.subcommands if s.available), key=lambda s: s.name)
    if subs:
        out += f"\n  {cmd.path_with_root} [command]"
    if cmd.aliases:
        out += "\n\nAliases:\n  " + ", ".join((cmd.name, *cmd.aliases))
    if cmd.example:
        out += "\n\nExamples:\n" + cmd.example
    if subs:
        pad = max([11, *(len(s.name) for s in cmd.subcommands)])
        out += "\n\nAvailable Commands:"
        out += "".join(f"\n  {s.name.ljust(pad)} {s.short}" for s in subs)
    local = [f for f in cmd.local_flags() if not f.hidden]
    if local:
        out += "\n\nFlags:\n" + flag_usages(local).rstrip()
    inherited = [f for f in cmd.inherited_flags() if not f.hidden]
    if inherited:
        out += "\n\nGlobal Flags:\n" + flag_usages(inherited).rstrip()
    if subs:
        out += (f"\n\nUse \"{cmd.path_with_root} [command] --help\" for more information "
                "about a command.")
    return out + "\n"


def help_text(cmd: Command) -> str:
    """Return what `-h`/`--help` prints on stdout: Long (or Short), a blank line, the usage."""
    head = (cmd.long or cmd.short).rstrip()
    return (head + "\n\n" if head else "") + usage_text(cmd)


__all__ = ["FLAG_TYPES", "GLOBAL_FLAGS", "ArgsRule", "Command", "Flag", "FlagError", "Parsed",
           "arbitrary_args", "exact_args", "find", "flag_usages", "help_text", "maximum_args",
           "minimum_args", "no_args", "parse", "parse_command_line", "range_args",
           "usage_text", "use_line"]
