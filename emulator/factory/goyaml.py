"""The YAML text Go's `yaml.Marshal` (go.yaml.in/yaml/v4, v3 defaults) writes, and its scalar rules.

Image Factory hashes this text to get a schematic ID, so it must match byte for byte: 4-space
indent, sequences indented under their key, plain scalars unless quoting is needed (legacy quote
preference: single quotes where the emitter refuses plain, double quotes for strings that would
read back as another type), literal blocks for multi-line strings, no line folding.
The rules follow go-yaml's representer, desolver, `analyzeScalar` and `selectScalarStyle`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cmp_to_key
from typing import Any

BEST_INDENT = 4
_BREAKS = "\r\n\x85\u2028\u2029"
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_YAML_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
OLD_BOOLS = frozenset(("y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
                        "n", "N", "no", "No", "NO", "off", "Off", "OFF"))
_MAP_VALUES: dict[str, str] = {
    **dict.fromkeys(("true", "True", "TRUE", "false", "False", "FALSE"), "bool"),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), "null"),
    **dict.fromkeys((".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                     "-.inf", "-.Inf", "-.INF", "-0", "-0.0"), "float"),
    "<<": "merge",
}
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{1,2}-\d{1,2}"
    r"(?:(?:[Tt]| )\d{1,2}:\d{1,2}:\d{1,2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})?)?$"
)


# ---- resolution (what a plain scalar reads back as) -------------------------------------------
def parse_go_int(text: str) -> int | None:
    """Return the integer Go's strconv.ParseInt/ParseUint(text, 0, 64) reads, or None."""
    s = text.replace("_", "")
    sign = 1
    if s[:1] in "+-" and s:
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if not s:
        return None
    try:
        if s[:2] in ("0x", "0X"):
            value = int(s[2:], 16)
        elif s[:2] in ("0o", "0O"):
            value = int(s[2:], 8)
        elif s[:2] in ("0b", "0B"):
            value = int(s[2:], 2)
        elif len(s) > 1 and s[0] == "0":
            value = int(s[1:], 8)
        else:
            value = int(s, 10) if s.isdigit() else None  # type: ignore[assignment]
    except ValueError:
        return None
    if value is None:
        return None
    value *= sign
    return value if -(2**63) <= value < 2**64 else None


def resolve(text: str) -> str:
    """Return the tag a plain scalar reads back as (str, int, float, bool, null, timestamp)."""
    if text in _MAP_VALUES:
        return _MAP_VALUES[text]
    first = text[0]
    if first == ".":
        return "float" if _is_go_float(text) else "str"
    if first in "+-0123456789":
        if _TIMESTAMP.match(text) and _valid_timestamp(text):
            return "timestamp"
        if parse_go_int(text) is not None:
            return "int"
        if _YAML_FLOAT.match(text.replace("_", "")):
            return "float"
    return "str"


def _is_go_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return not any(c in text for c in "_ ")


def _valid_timestamp(text: str) -> bool:
    y, mo, d = (int(p) for p in re.split(r"[-Tt ]", text)[:3])
    try:
        date(y, mo, d)
    except ValueError:
        return False
    return True


# ---- numbers -----------------------------------------------------------------------------------
def format_float(value: float) -> str:
    """Return strconv.FormatFloat(value, 'g', -1, 64) with YAML's .inf/.nan spellings."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    ds = "".join(str(d) for d in digits)
    nd, dp = len(ds), len(ds) + exponent
    neg = "-" if sign else ""
    exp = dp - 1
    if exp < -4 or exp >= 6:  # shortest 'g' switches to %e with eprec 6
        mant = ds[0] + ("." + ds[1:] if nd > 1 else "")
        return f"{neg}{mant}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= nd:
        return f"{neg}{ds}{'0' * (dp - nd)}"
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


# ---- map key order (go-yaml keyList.Less for string keys) -------------------------------------
def _key_less(a: str, b: str) -> bool:
    digits = False
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            digits = ca.isdigit()
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return al if digits else bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdigit():
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and a[ai].isdigit():
            an = an * 10 + int(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and b[bi].isdigit():
            bn = bn * 10 + int(b[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def sorted_keys(keys: Sequence[str]) -> list[str]:
    """Return map keys in the order Go's yaml encoder writes them (natural order)."""
    def compare(x: str, y: str) -> int:
        return -1 if _key_less(x, y) else (1 if _key_less(y, x) else 0)

    return sorted(keys, key=cmp_to_key(compare))


def go_map(value: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of a Go map[string]any with keys (recursively) in Go's encoding order."""
    out: dict[str, Any] = {}
    for k in sorted_keys(list(value)):
        v = value[k]
        out[k] = go_map(v) if isinstance(v, Mapping) else (
            [go_map(x) if isinstance(x, Mapping) else x for x in v] if isinstance(v, list) else v)
    return out


# ---- scalar styles -----------------------------------------------------------------------------
def _printable(c: str) -> bool:
    o = ord(c)
    return (o == 0x0A or 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF
            or (0xE000 <= o <= 0xFFFD and o != 0xFEFF))


class _Analysis:
    def __init__(self, s: str) -> None:
        self.multiline = False
        self.block_plain = self.single_ok = self.block_ok = True
        if not s:
            self.block_ok = False
            return
        block_ind = line_breaks = special = tabs = False
        lead_sp = lead_br = trail_sp = trail_br = break_space = space_break = False
        prev_space = prev_break = False
        if s.startswith(("---", "...")):
            block_ind = True
        preceded_ws = True
        n = len(s)
        for i, c in enumerate(s):
            followed_ws = i + 1 >= n or s[i + 1] in " \t"
            if i == 0:
                if c in "#,[]{}&*!|>'\"%@`" or (c in "?:-" and followed_ws):
                    block_ind = True
            elif (c == ":" and followed_ws) or (c == "#" and preceded_ws):
                block_ind = True
            if c == "\t":
                tabs = True
            elif not _printable(c):
                special = True
            if c == " ":
                lead_sp = lead_sp or i == 0
                trail_sp = trail_sp or i == n - 1
                break_space = break_space or prev_break
                prev_space, prev_break = True, False
            elif c in _BREAKS:
                line_breaks = True
                lead_br = lead_br or i == 0
                trail_br = trail_br or i == n - 1
                space_break = space_break or prev_space
                prev_space, prev_break = False, True
            else:
                prev_space = prev_break = False
            preceded_ws = c in " \t\x00" or c in _BREAKS
        self.multiline = line_breaks
        if lead_sp or lead_br or trail_sp or trail_br or line_breaks or block_ind:
            self.block_plain = False
        if trail_sp or space_break or special:
            self.block_ok = False
        if break_space or space_break or tabs or special:
            self.block_plain = self.single_ok = False


def _use_literal(s: str) -> bool:
    return "\n" in s and len(s) >= 2 and any(not c.isspace() for c in s)


def string_style(s: str, simple_key: bool = False) -> str:
    """Return "plain", "single", "double" or "literal": the style go-yaml writes s with."""
    if "\n" in s:
        style = "literal" if _use_literal(s) else "double"
    elif s in OLD_BOOLS or bool(_BASE60.match(s)) or s == "<<":
        style = "single"
    elif resolve(s) != "str":
        style = "double"
    else:
        style = "plain"
    a = _Analysis(s)
    if simple_key and a.multiline:
        style = "double"
    if style == "plain" and (not a.block_plain or (not s and simple_key)):
        style = "single"
    if style == "single" and not a.single_ok:
        style = "double"
    if style == "literal" and (not a.block_ok or simple_key):
        style = "double"
    return style


_ESCAPES = {0x00: "0", 0x07: "a", 0x08: "b", 0x09: "t", 0x0A: "n", 0x0B: "v", 0x0C: "f",
            0x0D: "r", 0x1B: "e", 0x22: '"', 0x5C: "\\", 0x85: "N", 0xA0: "_", 0x2028: "L",
            0x2029: "P"}


def double_quoted(s: str) -> str:
    """Return s as go-yaml's double-quoted scalar (no folding: unlimited line width)."""
    out = ['"']
    for c in s:
        o = ord(c)
        if not _printable(c) or o == 0xFEFF or c in _BREAKS or c in '"\\':
            if o in _ESCAPES:
                out.append("\\" + _ESCAPES[o])
            elif o <= 0xFF:
                out.append(f"\\x{o:02X}")
            elif o <= 0xFFFF:
                out.append(f"\\u{o:04X}")
            else:
                out.append(f"\\U{o:08X}")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _literal(s: str, indent: int) -> tuple[str, bool]:
    """Return (header + body lines, open_ended) of a literal block at this indent."""
    hint = str(BEST_INDENT) if s[0] == " " else ""
    if s[-1] not in _BREAKS:
        chomp, body = "-", s
    elif len(s) >= 2 and s[-2] in _BREAKS:
        chomp, body = "+", s[:-1]
    else:
        chomp, body = "", s[:-1]
    lines = "".join("\n" if not line else " " * indent + line + "\n" for line in body.split("\n"))
    return f"|{hint}{chomp}\n{lines}", chomp == "+"


def scalar(value: Any, simple_key: bool = False) -> str:
    """Return the one-line text of a non-string scalar or a non-literal string."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    s = str(value)
    style = string_style(s, simple_key)
    if style == "plain":
        return s
    if style == "single":
        return "'" + s.replace("'", "''") + "'"
    return double_quoted(s)


# ---- block emitter -----------------------------------------------------------------------------
def _next_indent(indent: int) -> int:
    return BEST_INDENT * ((indent + BEST_INDENT) // BEST_INDENT)


class _Emitter:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.open_ended = False

    def value(self, v: Any, scalar_indent: int, child_indent: int, in_seq: bool) -> None:
        """Write v after "key:" or "-" (the indicator is already written)."""
        if isinstance(v, Mapping):
            if not v:
                self._put(" {}\n")
            elif in_seq:
                self._put(" ")
                self.mapping(v, child_indent, first_inline=True)
            else:
                self._put("\n")
                self.mapping(v, child_indent, first_inline=False)
        elif isinstance(v, (list, tuple)):
            if not v:
                self._put(" []\n")
            elif in_seq:
                self._put(" ")
                self.sequence(v, child_indent, first_inline=True)
            else:
                self._put("\n")
                self.sequence(v, child_indent, first_inline=False)
        elif isinstance(v, str) and string_style(v) == "literal":
            text, open_ended = _literal(v, scalar_indent)
            self._put(" " + text)
            self.open_ended = open_ended
        else:
            self._put(" " + scalar(v) + "\n")

    def mapping(self, m: Mapping[str, Any], indent: int, first_inline: bool) -> None:
        for i, (k, v) in enumerate(m.items()):
            if i or not first_inline:
                self._put(" " * indent)
            self._put(scalar(k, simple_key=True) + ":")
            nested = _next_indent(indent)
            self.value(v, nested, nested, in_seq=False)

    def sequence(self, items: Sequence[Any], indent: int, first_inline: bool) -> None:
        for i, item in enumerate(items):
            if i or not first_inline:
                self._put(" " * indent)
            self._put("-")
            self.value(item, indent + 2, indent + 2, in_seq=True)

    def _put(self, text: str) -> None:
        self.parts.append(text)
        self.open_ended = False


def dump(document: Mapping[str, Any]) -> str:
    """Return yaml.Marshal(document): dict order is kept (sort Go maps first with go_map)."""
    if not document:
        return "{}\n"
    e = _Emitter()
    e.mapping(document, 0, first_inline=False)
    text = "".join(e.parts)
    return text + "...\n" if e.open_ended else text
