"""Go formatting primitives that talosctl's output is made of, re-implemented exactly.

Pure functions (stdlib only): strconv.Quote (`%q`), `%v`/`%q` of a []string, time.Duration
String/ParseDuration, time.Time.String (with the monotonic `m=+…` part), strconv.FormatFloat
('g'/'f'/'e', shortest), go-humanize Bytes, hashicorp/go-multierror's list format, and
text/tabwriter (minwidth 0, tabwidth 0, padchar ' ', no flags).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

TYPE_CHECKING = False  # the typing module costs milliseconds at start-up
if TYPE_CHECKING:
    from datetime import tzinfo

# ---------------------------------------------------------------------------------------------
# strconv.Quote / QuoteRune and fmt verbs on slices
# ---------------------------------------------------------------------------------------------
_SIMPLE_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                   "\t": "\\t", "\v": "\\v", "\\": "\\\\"}


def _quote_char(ch: str, quote: str) -> str:
    if ch == quote:
        return "\\" + ch
    if ch in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[ch]
    if ch == " " or ch.isprintable():  # Go unicode.IsPrint == Python isprintable (+ ' ')
        return ch
    code = ord(ch)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xD800 <= code <= 0xDFFF:  # lone surrogate: Go would see invalid UTF-8
        return "\\ufffd"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def go_quote(s: str) -> str:
    """Return Go's strconv.Quote(s) (what `%q` prints for a string)."""
    return '"' + "".join(_quote_char(c, '"') for c in s) + '"'


def go_quote_rune(ch: str) -> str:
    """Return Go's strconv.QuoteRune (what `%q` prints for a rune), e.g. `'o'`."""
    return "'" + _quote_char(ch, "'") + "'"


def go_quote_list(items: Iterable[str]) -> str:
    """Return `%q` of a Go []string: `["a" "b"]` (`[]` when empty)."""
    return "[" + " ".join(go_quote(i) for i in items) + "]"


def go_list(items: Iterable[object]) -> str:
    """Return `%v` of a Go slice of strings/ints: `[a b]`."""
    return "[" + " ".join(go_value(i) for i in items) + "]"


def go_value(v: object) -> str:
    """Return `%v` of a scalar: bools as true/false, floats as strconv 'g', None as <nil>."""
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return format_float(v, "g")
    return str(v)


# ---------------------------------------------------------------------------------------------
# strconv.FormatFloat(f, fmt, -1, 64)
# ---------------------------------------------------------------------------------------------
def _shortest_digits(f: float) -> tuple[str, int]:
    """Return (digits, dp): |f| == 0.digits * 10**dp with the shortest round-trip digits.

    Python's repr and Go's strconv both produce the shortest digit string that reads back as
    the same float64 (nearest when several qualify), so the digits agree. Zero gives ("", 0).
    """
    if f == 0:
        return "", 0
    mant, _, exp = repr(abs(f)).partition("e")
    int_part, _, frac = mant.partition(".")
    raw = int_part + frac
    stripped = raw.lstrip("0")
    dp = len(int_part) + int(exp or "0") - (len(raw) - len(stripped))
    return stripped.rstrip("0"), dp


def _fmt_e(neg: bool, digits: str, dp: int, prec: int) -> str:
    out = "-" if neg else ""
    out += digits[0] if digits else "0"
    if prec > 0:
        out += "." + digits[1:prec + 1].ljust(prec, "0")
    exp = dp - 1 if digits else 0
    return out + ("e-" if exp < 0 else "e+") + f"{abs(exp):02d}"


def _fmt_f(neg: bool, digits: str, dp: int, prec: int) -> str:
    out = "-" if neg else ""
    out += (digits[:dp].ljust(dp, "0")) if dp > 0 else "0"
    if prec > 0:
        out += "." + "".join(digits[dp + i] if 0 <= dp + i < len(digits) else "0"
                             for i in range(prec))
    return out


def format_float(f: float, fmt: str = "g") -> str:
    """Return strconv.FormatFloat(f, fmt, -1, 64) (shortest) for fmt 'g', 'e' or 'f'.

    'g' is also what `%v` prints: `1e+06`, `123456`, `1.5`, `1e-05`.
    """
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    neg = math.copysign(1.0, f) < 0
    digits, dp = _shortest_digits(f)
    nd = len(digits)
    if fmt == "e":
        return _fmt_e(neg, digits, dp, max(nd - 1, 0))
    if fmt == "f":
        return _fmt_f(neg, digits, dp, max(nd - dp, 0))
    prec = nd  # shortest 'g': eprec is forced to 6 for the e-or-f decision
    exp = dp - 1
    if exp < -4 or exp >= 6:
        return _fmt_e(neg, digits, dp, prec - 1)
    if prec > dp:
        prec = nd
    return _fmt_f(neg, digits, dp, max(prec - dp, 0))


def json_float(f: float) -> str:
    """Return how Go's encoding/json writes a float64 (shortest, 'e' outside [1e-6, 1e21))."""
    a = abs(f)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        s = format_float(f, "e")
        mant, _, e = s.partition("e")
        if len(e) == 3 and e[0] == "-" and e[1] == "0":
            e = "-" + e[2]
        return f"{mant}e{e}"
    return format_float(f, "f")


# ---------------------------------------------------------------------------------------------
# time.Duration
# ---------------------------------------------------------------------------------------------
NANOSECOND = 1
MICROSECOND = 1000
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_UNITS = {"ns": NANOSECOND, "us": MICROSECOND, "\u00b5s": MICROSECOND, "\u03bcs": MICROSECOND,
          "ms": MILLISECOND, "s": SECOND, "m": MINUTE, "h": HOUR}


class DurationError(ValueError):
    """time.ParseDuration failed; str() is Go's message (`time: invalid duration "x"`)."""


def _time_quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ord(ch) >= 0x80 or ch < " ":
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", "surrogatepass"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)


def parse_duration(s: str) -> int:
    """Return time.ParseDuration(s) in nanoseconds; raise DurationError with Go's text."""
    orig, d, neg = s, 0, False
    invalid = DurationError("time: invalid duration " + _time_quote(orig))
    if s and s[0] in "+-":
        neg, s = s[0] == "-", s[1:]
    if s == "0":
        return 0
    if not s:
        raise invalid
    while s:
        if not (s[0] == "." or s[0].isascii() and s[0].isdigit()):
            raise invalid
        i = 0
        while i < len(s) and "0" <= s[i] <= "9":
            i += 1
        pre, v = i > 0, int(s[:i] or "0")
        if v >= 1 << 63:
            raise invalid
        s = s[i:]
        f, scale, post = 0, 1.0, False
        if s and s[0] == ".":
            s = s[1:]
            i, overflow = 0, False
            while i < len(s) and "0" <= s[i] <= "9":
                if not overflow:
                    if f > ((1 << 63) - 1) // 10:
                        overflow = True
                    else:
                        f, scale = f * 10 + int(s[i]), scale * 10
                i += 1
            post, s = i > 0, s[i:]
        if not pre and not post:
            raise invalid
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise DurationError("time: missing unit in duration " + _time_quote(orig))
        unit_name, s = s[:i], s[i:]
        unit = _UNITS.get(unit_name)
        if unit is None:
            raise DurationError(f"time: unknown unit {_time_quote(unit_name)} in duration "
                                + _time_quote(orig))
        if v > (1 << 63) // unit:
            raise invalid
        v *= unit
        if f > 0:
            v += int(float(f) * (float(unit) / scale))
            if v > 1 << 63:
                raise invalid
        d += v
        if d > 1 << 63:
            raise invalid
    if neg:
        return -d
    if d > (1 << 63) - 1:
        raise invalid
    return d


def _frac(v: int, prec: int) -> tuple[str, int]:
    digits, printed = "", False
    for _ in range(prec):
        digit = v % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        v //= 10
    return ("." + digits if printed else ""), v


def format_duration(ns: int) -> str:
    """Return time.Duration(ns).String(): `0s`, `300ms`, `1.5µs`, `1m30s`, `20m0s`, `2h0m0s`."""
    neg, u = ns < 0, abs(ns)
    if u < SECOND:
        if u == 0:
            return "0s"
        if u < MICROSECOND:
            prec, unit = 0, "ns"
        elif u < MILLISECOND:
            prec, unit = 3, "\u00b5s"
        else:
            prec, unit = 6, "ms"
        frac, u = _frac(u, prec)
        out = f"{u}{frac}{unit}"
    else:
        frac, u = _frac(u, 9)
        out = f"{u % 60}{frac}s"
        u //= 60
        if u > 0:
            out = f"{u % 60}m" + out
            u //= 60
            if u > 0:
                out = f"{u}h" + out
    return "-" + out if neg else out


def format_seconds(seconds: float) -> str:
    """Return the Go duration string of a number of seconds (rounded to the nanosecond)."""
    return format_duration(round(seconds * SECOND))


# ---------------------------------------------------------------------------------------------
# time.Time.String()
# ---------------------------------------------------------------------------------------------
def go_time_string(epoch_ns: int, mono_ns: int | None = None, tz: tzinfo | None = None) -> str:
    """Return Go's time.Time.String() for a wall time (ns since the epoch) in the local zone.

    Shape: `2022-08-24 14:08:31.152577842 -0500 CDT m=+5.464175834` (fraction without trailing
    zeros, the `m=±s.nnnnnnnnn` monotonic part only when mono_ns is given). `tz` is a tzinfo
    (default: the machine's local zone).
    """
    from datetime import datetime  # lazy: only `upgrade --wait=false` needs it

    secs, nanos = divmod(epoch_ns, SECOND)
    dt = datetime.fromtimestamp(secs, tz) if tz is not None else datetime.fromtimestamp(secs)
    if dt.tzinfo is None:
        dt = dt.astimezone()
    frac, _ = _frac(nanos, 9)
    offset = dt.strftime("%z") or "+0000"
    name = dt.tzname() or offset
    out = f"{dt:%Y-%m-%d %H:%M:%S}{frac} {offset} {name}"
    if mono_ns is not None:
        sign = "-" if mono_ns < 0 else "+"
        m1, m2 = divmod(abs(mono_ns), SECOND)
        m0, m1 = divmod(m1, SECOND)
        head = f"{m0}{m1:09d}" if m0 else f"{m1}"
        out += f" m={sign}{head}.{m2:09d}"
    return out


# ---------------------------------------------------------------------------------------------
# go-humanize Bytes (SI)
# ---------------------------------------------------------------------------------------------
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_L = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
      2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
      1.479819860511658591e-01)


def go_log(x: float) -> float:
    """Return Go's math.Log(x) bit for bit (the pure-Go FreeBSD port used on amd64)."""
    if math.isnan(x) or x == math.inf:
        return x
    if x < 0:
        return math.nan
    if x == 0:
        return -math.inf
    f1, ki = math.frexp(x)
    if f1 < math.sqrt(2) / 2:
        f1 *= 2
        ki -= 1
    f, k = f1 - 1, float(ki)
    s = f / (2 + f)
    s2 = s * s
    s4 = s2 * s2
    t1 = s2 * (_L[0] + s4 * (_L[2] + s4 * (_L[4] + s4 * _L[6])))
    t2 = s4 * (_L[1] + s4 * (_L[3] + s4 * _L[5]))
    r = t1 + t2
    hfsq = 0.5 * f * f
    return k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)


def humanize_bytes(n: int) -> str:
    """Return go-humanize Bytes(n): SI units, `512 B`, `1.0 kB`, `4.5 MB`, `21 MB`."""
    if n < 10:
        return f"{n} B"
    sizes = ("B", "kB", "MB", "GB", "TB", "PB", "EB")
    e = math.floor(go_log(float(n)) / go_log(1000.0))
    val = math.floor(float(n) / math.pow(1000.0, e) * 10 + 0.5) / 10
    return f"{val:.1f} {sizes[e]}" if val < 10 else f"{val:.0f} {sizes[e]}"


# ---------------------------------------------------------------------------------------------
# hashicorp/go-multierror
# ---------------------------------------------------------------------------------------------
def multierror(errors: Sequence[str]) -> str:
    """Return go-multierror's ListFormatFunc text (`1 error occurred:\\n\\t* e\\n\\n`)."""
    if len(errors) == 1:
        return f"1 error occurred:\n\t* {errors[0]}\n\n"
    points = "\n\t".join(f"* {e}" for e in errors)
    return f"{len(errors)} errors occurred:\n\t{points}\n\n"


# ---------------------------------------------------------------------------------------------
# text/tabwriter
# ---------------------------------------------------------------------------------------------
def tabwriter_text(text: str, padding: int = 3, minwidth: int = 0, padchar: str = " ") -> str:
    """Return `text` as Go's tabwriter (tabwidth 0, no flags, padchar not a tab) flushes it.

    Cells are tab-terminated: the text after a line's last tab is not part of any column and
    is never padded, while a cell followed by a tab always is (so "a\\tb\\t\\n" pads `b`).
    A column block is a run of consecutive lines that all have a cell in that column.
    """
    lines: list[list[str]] = [line.split("\t") for line in text.split("\n")]
    if lines[-1][-1] == "":  # Flush only keeps a non-empty unterminated final cell
        lines[-1].pop()
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts = []
            for j, cell in enumerate(cells):
                parts.append(cell)
                if j < len(widths):
                    parts.append(padchar * (widths[j] - len(cell)))
            out.append("".join(parts))
            if i + 1 < len(lines):
                out.append("\n")

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column < len(lines[this]) - 1:
                write_lines(line0, this)
                line0 = this
                width = minwidth
                while this < line1 and column < len(lines[this]) - 1:
                    width = max(width, len(lines[this][column]) + padding)
                    this += 1
                widths.append(width)
                fmt(line0, this)
                widths.pop()
                line0 = this
            else:
                this += 1
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "".join(out)


def tabwriter(rows: Iterable[Sequence[str]], padding: int = 3) -> str:
    """Return the tabwriter output of lines written as "\\t".join(cells) + "\\n".

    To reproduce a format with a trailing tab (e.g. "%s\\t%s\\t%s\\t\\n"), end the row with "".
    """
    return tabwriter_text("".join("\t".join(r) + "\n" for r in rows), padding)


# ---------------------------------------------------------------------------------------------
# Small Talos/Go helpers shared by the text builders
# ---------------------------------------------------------------------------------------------
def semver(version: str) -> str:
    """Return a version as blang/semver's String() prints it (`v1.9.2` -> `1.9.2`)."""
    return version.lstrip("v")


def semver_key(version: str) -> tuple[int, int, int, int, str]:
    """Return an ordering key for `v1.9.2`/`1.10.0-beta.1` (pre-releases sort first)."""
    core, _, pre = semver(version).partition("-")
    nums = [int(x) for x in (core.split(".") + ["0", "0"])[:3]]
    return nums[0], nums[1], nums[2], 0 if pre else 1, pre


def version_minor(version: str) -> tuple[int, int]:
    """Return (major, minor) of `v1.11.0` / `1.34.1`."""
    parts = semver(version).split("-", 1)[0].split(".")
    return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0


def rpc_error(code: str, desc: str) -> str:
    """Return a gRPC status error's text: `rpc error: code = NotFound desc = ...`."""
    return f"rpc error: code = {code} desc = {desc}"


def member_id_hex(member_id: int) -> str:
    """Return an etcd member ID as talosctl prints it: `%016x`."""
    return f"{member_id:016x}"
