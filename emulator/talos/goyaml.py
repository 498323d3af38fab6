"""The YAML that talosctl `get -o yaml` writes (and reads back for `-o json`), exactly.

talosctl encodes resources with gopkg.in/yaml.v3 (indent 4, no line folding): the metadata
comes from cosi's `Metadata.MarshalYAML` as untagged plain nodes (so `id: 0` stays plain and
becomes a number after a YAML round trip), the spec through yaml.v3's reflection encoder (a
string that would resolve to another type is double-quoted, `'>= 1.0.0'` is single-quoted by
the emitter because it starts with an indicator). `-o json` is that YAML decoded into
map[string]any (`decode_node`) and then written by emulator.talos.gojson. A document is
modelled as a small node tree; the emitter follows emitterc.go's style and indent rules.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence

from emulator.talos.gotext import format_float

TYPE_CHECKING = False  # no runtime import of typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

BEST_INDENT = 4


# ---------------------------------------------------------------------------------------------
# Node tree
# ---------------------------------------------------------------------------------------------
class Scalar:
    """A scalar with the style the encoder requested (the emitter may still change it)."""

    __slots__ = ("style", "value")

    def __init__(self, value: str, style: str = "plain") -> None:
        self.value = value
        self.style = style  # plain | single | double | literal

    def __repr__(self) -> str:
        return f"Scalar({self.value!r}, {self.style!r})"


class MappingNode:
    """A mapping: (key, value) pairs in emission order."""

    __slots__ = ("items",)

    def __init__(self, items: list[tuple[Scalar, Node]] | None = None) -> None:
        self.items = items if items is not None else []


class SequenceNode:
    """A sequence of nodes."""

    __slots__ = ("items",)

    def __init__(self, items: list[Node] | None = None) -> None:
        self.items = items if items is not None else []


Node = Scalar | MappingNode | SequenceNode


class GoMap(dict[str, object]):
    """A dict that stands for a Go map: yaml.v3 writes its keys in its natural sort order."""


# ---------------------------------------------------------------------------------------------
# Resolution (yaml.v3 resolve.go): what a plain scalar decodes to
# ---------------------------------------------------------------------------------------------
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_OLD_BOOLS = frozenset(["y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
                        "n", "N", "no", "No", "NO", "off", "Off", "OFF"])
_MAP = {**{k: True for k in ("true", "True", "TRUE")},
        **{k: False for k in ("false", "False", "FALSE")},
        **{k: None for k in ("", "~", "null", "Null", "NULL")},
        **{k: math.nan for k in (".nan", ".NaN", ".NAN")},
        **{k: math.inf for k in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF")},
        **{k: -math.inf for k in ("-.inf", "-.Inf", "-.INF")}}
_TS = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:(?:([Tt])|( ))(\d{1,2}):(\d{1,2}):(\d{1,2})"
                 r"(?:\.\d+)?(Z|[-+]\d{2}:\d{2})?)?")
_DOT_FLOAT = re.compile(r"\.[0-9]+(?:[eE][-+]?[0-9]+)?")
_INT_RE = {10: re.compile(r"[0-9]+"), 16: re.compile(r"[0-9a-fA-F]+"),
           8: re.compile(r"[0-7]+"), 2: re.compile(r"[01]+")}

_I64 = 1 << 63


def _go_parse_int(s: str) -> int | None:
    """strconv.ParseInt(s, 0, 64) then ParseUint(s, 0, 64) as resolve() tries them."""
    neg = False
    body = s
    if body[:1] in "+-":
        neg, body = body[0] == "-", body[1:]
    if not body:
        return None
    base, digits = 10, body
    low = body.lower()
    if low.startswith("0x"):
        base, digits = 16, body[2:]
    elif low.startswith("0o"):
        base, digits = 8, body[2:]
    elif low.startswith("0b"):
        base, digits = 2, body[2:]
    elif body.startswith("0") and len(body) > 1:
        base, digits = 8, body[1:]
    if not digits or not _INT_RE[base].fullmatch(digits):
        return None
    v = int(digits, base)
    if neg:
        return -v if v <= _I64 else None
    if v < _I64:
        return v
    return v if v < (1 << 64) and s[0] != "+" else None  # ParseUint rejects a sign


def _is_timestamp(value: str) -> bool:
    """yaml.v3 parseTimestamp: the four time.Parse layouts it tries, with range checks."""
    m = _TS.fullmatch(value)
    if not m:
        return False
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if m[6] is not None:
        if (m[4] is not None) != (m[9] is not None):  # 'T' layouts need a zone, ' ' has none
            return False
        if int(m[6]) > 23 or int(m[7]) > 59 or int(m[8]) > 59:
            return False
    import datetime  # lazy: only date-looking scalars get here

    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    return True


def _float_or_none(s: str) -> float | None:
    v = float(s)
    return None if math.isinf(v) else v  # Go's ParseFloat reports ErrRange for overflow


def resolve(value: str) -> tuple[str, Any]:
    """Return (tag, decoded) for an untagged plain scalar: str/int/float/bool/null/timestamp."""
    hint = value[:1]
    if value in _MAP:
        v = _MAP[value]
        tag = "bool" if isinstance(v, bool) else ("null" if v is None else "float")
        return tag, v
    if hint == "." and _DOT_FLOAT.fullmatch(value):
        fv = _float_or_none(value)
        if fv is not None:
            return "float", fv
    elif hint and (hint in "+-" or "0" <= hint <= "9"):
        if _is_timestamp(value):
            return "timestamp", value
        plain = value.replace("_", "")
        iv = _go_parse_int(plain)
        if iv is not None:
            return "int", iv
        if _YAML_FLOAT.match(plain):
            fv = _float_or_none(plain)
            if fv is not None:
                return "float", fv
    return "str", value


def decode_plain(value: str) -> Any:
    """Return what yaml.v3 Unmarshal into `any` gives for a plain scalar (timestamps stay str)."""
    tag, v = resolve(value)
    return value if tag == "timestamp" else v


# ---------------------------------------------------------------------------------------------
# Building nodes
# ---------------------------------------------------------------------------------------------
def raw_scalar(value: str) -> Scalar:
    """Return an untagged yaml.Node scalar (cosi metadata): plain, literal if multi-line."""
    return Scalar(value, "literal" if "\n" in value else "plain")


def _string_node(s: str) -> Scalar:
    # encoder.stringv: quote when the plain form would resolve to something else
    tag, _ = resolve(s)
    can_plain = tag == "str" and not (_BASE60.match(s) or s in _OLD_BOOLS)
    if "\n" in s:
        return Scalar(s, "literal")
    return Scalar(s, "plain" if can_plain else "double")


def _natural_less(a: str, b: str) -> bool:
    digits = False
    for i in range(min(len(a), len(b))):
        if a[i] == b[i]:
            digits = a[i].isdigit()
            continue
        al, bl = a[i].isalpha(), b[i].isalpha()
        if al and bl:
            return a[i] < b[i]
        if al or bl:
            return al if digits else bl
        an = bn = 0
        if a[i] == "0" or b[i] == "0":
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
        return a[i] < b[i]
    return len(a) < len(b)


def go_map_keys(keys: Sequence[str]) -> list[str]:
    """Return map keys in the order yaml.v3 writes them (its natural string sort)."""
    def cmp(x: str, y: str) -> int:
        return -1 if _natural_less(x, y) else (1 if _natural_less(y, x) else 0)

    return sorted(keys, key=functools.cmp_to_key(cmp))


def value_node(v: Any) -> Node:
    """Return the node yaml.v3's reflection encoder builds for a Go value.

    dict = Go struct (insertion order kept; leave out omitempty fields yourself), GoMap = Go map
    (keys sorted), list/tuple = slice, str/int/bool/float/None as Go scalars.
    """
    if isinstance(v, Scalar | MappingNode | SequenceNode):
        return v
    if v is None:
        return Scalar("null")
    if isinstance(v, bool):
        return Scalar("true" if v else "false")
    if isinstance(v, int):
        return Scalar(str(v))
    if isinstance(v, float):
        s = {"+Inf": ".inf", "-Inf": "-.inf", "NaN": ".nan"}.get(format_float(v, "g"))
        return Scalar(s or format_float(v, "g"))
    if isinstance(v, str):
        return _string_node(v)
    if isinstance(v, GoMap):
        return MappingNode([(_string_node(k), value_node(v[k])) for k in go_map_keys(list(v))])
    if isinstance(v, Mapping):
        return MappingNode([(_string_node(str(k)), value_node(x)) for k, x in v.items()])
    if isinstance(v, Sequence):
        return SequenceNode([value_node(x) for x in v])
    raise TypeError(f"cannot encode {type(v).__name__} as YAML")


# ---------------------------------------------------------------------------------------------
# Emitter (emitterc.go: analyze_scalar, select_scalar_style, writers, block indentation)
# ---------------------------------------------------------------------------------------------
_BREAKS = "\r\n\u0085\u2028\u2029"


def _printable(ch: str) -> bool:
    c = ord(ch)
    return (c == 0x0A or 0x20 <= c <= 0x7E or 0xA0 <= c <= 0xD7FF
            or (0xE000 <= c <= 0xFFFD and c != 0xFEFF))


class _Analysis:
    __slots__ = ("block_ok", "block_plain", "flow_plain", "multiline", "single_ok")

    def __init__(self, multiline: bool = False, flow_plain: bool = True,
                 block_plain: bool = True, single_ok: bool = True, block_ok: bool = True
                 ) -> None:
        self.multiline, self.flow_plain, self.block_plain = multiline, flow_plain, block_plain
        self.single_ok, self.block_ok = single_ok, block_ok


def _analyze(value: str) -> _Analysis:
    a = _Analysis()
    if not value:
        return _Analysis(False, False, True, True, False)
    block_ind = flow_ind = line_breaks = special = tabs = False
    lead_space = lead_break = trail_space = trail_break = break_space = space_break = False
    if value.startswith(("---", "...")):
        block_ind = flow_ind = True
    preceded_ws, prev_space, prev_break = True, False, False
    n = len(value)
    for i, ch in enumerate(value):
        followed_ws = i + 1 >= n or value[i + 1] in " \t"
        if i == 0:
            if ch in "#,[]{}&*!|>'\"%@`":
                flow_ind = block_ind = True
            elif ch in "?:":
                flow_ind = True
                block_ind = block_ind or followed_ws
            elif ch == "-" and followed_ws:
                flow_ind = block_ind = True
        else:
            if ch in ",?[]{}":
                flow_ind = True
            elif ch == ":":
                flow_ind = True
                block_ind = block_ind or followed_ws
            elif ch == "#" and preceded_ws:
                flow_ind = block_ind = True
        if ch == "\t":
            tabs = True
        elif not _printable(ch):
            special = True
        if ch == " ":
            lead_space = lead_space or i == 0
            trail_space = trail_space or i == n - 1
            break_space = break_space or prev_break
            prev_space, prev_break = True, False
        elif ch in _BREAKS:
            line_breaks = True
            lead_break = lead_break or i == 0
            trail_break = trail_break or i == n - 1
            space_break = space_break or prev_space
            prev_space, prev_break = False, True
        else:
            prev_space = prev_break = False
        preceded_ws = ch in " \t" or ch in _BREAKS
    a.multiline = line_breaks
    if lead_space or lead_break or trail_space or trail_break:
        a.flow_plain = a.block_plain = False
    if trail_space:
        a.block_ok = False
    if break_space:
        a.flow_plain = a.block_plain = a.single_ok = False
    if space_break or tabs or special:
        a.flow_plain = a.block_plain = a.single_ok = False
    if space_break or special:
        a.block_ok = False
    if line_breaks:
        a.flow_plain = a.block_plain = False
    if flow_ind:
        a.flow_plain = False
    if block_ind:
        a.block_plain = False
    return a


def final_style(s: Scalar, simple_key: bool = False) -> str:
    """Return the style the emitter really uses for a block-context scalar."""
    a = _analyze(s.value)
    style = s.style
    if simple_key and a.multiline:
        style = "double"
    if style == "plain" and (not a.block_plain or (not s.value and simple_key)):
        style = "single"
    if style == "single" and not a.single_ok:
        style = "double"
    if style == "literal" and (not a.block_ok or simple_key):
        style = "double"
    return style


_DQ_ESCAPES = {"\0": "0", "\a": "a", "\b": "b", "\t": "t", "\n": "n", "\v": "v", "\f": "f",
               "\r": "r", "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_",
               "\u2028": "L", "\u2029": "P"}


def _double_quoted(value: str) -> str:
    bom = value.startswith("\ufeff")
    out = ['"']
    for ch in value:
        if bom or not _printable(ch) or ch in _BREAKS or ch in '"\\':
            esc = _DQ_ESCAPES.get(ch)
            c = ord(ch)
            if esc is None:
                esc = f"x{c:02X}" if c <= 0xFF else (f"u{c:04X}" if c <= 0xFFFF else f"U{c:08X}")
            out.append("\\" + esc)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _single_quoted(value: str, indent: int) -> str:
    out, breaks = ["'"], False
    for ch in value:
        if ch in _BREAKS:
            if not breaks and ch == "\n":
                out.append("\n")
            out.append("\n")
            breaks = True
        else:
            if breaks:
                out.append(" " * indent)
            out.append("''" if ch == "'" else ch)
            breaks = False
    out.append("'")
    return "".join(out)


def _literal(value: str, indent: int) -> str:
    head = "|"
    if value and (value[0] == " " or value[0] in _BREAKS):
        head += str(BEST_INDENT)
    if not value or value[-1] not in _BREAKS:
        head += "-"
    elif len(value) == 1 or value[-2] in _BREAKS:
        head += "+"
    out = [head]
    breaks, line_start = True, False  # the header line is never the content's line
    for ch in value:
        if ch in _BREAKS:
            out.append(ch)  # write_break: a break right after the header ends that line
            breaks = line_start = True
        else:
            if breaks:
                out.append(("" if line_start else "\n") + " " * indent)
            out.append(ch)
            breaks = line_start = False
    return "".join(out)


def _scalar_text(s: Scalar, indent: int, simple_key: bool = False) -> str:
    style = final_style(s, simple_key)
    if style == "plain":
        return s.value
    if style == "single":
        return _single_quoted(s.value, indent)
    if style == "double":
        return _double_quoted(s.value)
    return _literal(s.value, indent)


def _next_indent(indent: int, in_seq_item: bool) -> int:
    if indent < 0:
        return 0
    if in_seq_item:
        return indent + 2
    return BEST_INDENT * ((indent + BEST_INDENT) // BEST_INDENT)


def _is_empty(node: Node) -> bool:
    return isinstance(node, MappingNode | SequenceNode) and not node.items


class _Writer:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.column = 0

    def write(self, text: str) -> None:
        self.parts.append(text)
        nl = text.rfind("\n")
        self.column = len(text) - nl - 1 if nl >= 0 else self.column + len(text)

    def newline_to(self, indent: int) -> None:
        if self.column > 0 or (self.parts and not self.parts[-1].endswith("\n")):
            self.write("\n")
        self.write(" " * indent)

    def pad_to(self, indent: int) -> None:
        self.write(" " * max(indent - self.column, 0))


def _emit_value(w: _Writer, node: Node, parent_indent: int, in_seq_item: bool) -> None:
    """Emit a node that follows `key:` or `-` on the current line."""
    if isinstance(node, Scalar):
        text = _scalar_text(node, _next_indent(parent_indent, in_seq_item))
        if text:
            w.write(" " + text)
        return
    if _is_empty(node):
        w.write(" []" if isinstance(node, SequenceNode) else " {}")
        return
    indent = _next_indent(parent_indent, in_seq_item)
    if isinstance(node, MappingNode):
        _emit_mapping(w, node, indent, inline_first=in_seq_item)
    else:
        _emit_sequence(w, node, indent, inline_first=in_seq_item)


def _emit_mapping(w: _Writer, node: MappingNode, indent: int, inline_first: bool) -> None:
    for i, (key, value) in enumerate(node.items):
        if i == 0 and inline_first:
            w.pad_to(indent)
        else:
            w.newline_to(indent)
        w.write(_scalar_text(key, indent, simple_key=True) + ":")
        _emit_value(w, value, indent, in_seq_item=False)


def _emit_sequence(w: _Writer, node: SequenceNode, indent: int, inline_first: bool) -> None:
    for i, item in enumerate(node.items):
        if i == 0 and inline_first:
            w.pad_to(indent)
        else:
            w.newline_to(indent)
        w.write("-")
        _emit_value(w, item, indent, in_seq_item=True)


def emit_document(node: Node) -> str:
    """Return yaml.v3 Encoder.Encode output (indent 4) for a document node, ending in "\\n"."""
    w = _Writer()
    if isinstance(node, MappingNode) and node.items:
        _emit_mapping(w, node, 0, inline_first=True)
    elif isinstance(node, SequenceNode) and node.items:
        _emit_sequence(w, node, 0, inline_first=True)
    elif isinstance(node, Scalar):
        w.write(_scalar_text(node, BEST_INDENT))
    else:
        w.write("[]" if isinstance(node, SequenceNode) else "{}")
    text = "".join(w.parts)
    return text if text.endswith("\n") else text + "\n"


# ---------------------------------------------------------------------------------------------
# YAML round trip and Go encoding/json
# ---------------------------------------------------------------------------------------------
def decode_node(node: Node) -> Any:
    """Return what yaml.Unmarshal into map[string]any gives for the emitted form of `node`."""
    if isinstance(node, Scalar):
        return decode_plain(node.value) if final_style(node) == "plain" else node.value
    if isinstance(node, MappingNode):
        return {k.value: decode_node(v) for k, v in node.items}
    return [decode_node(i) for i in node.items]
