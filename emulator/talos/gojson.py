"""Go's encoding/json as talosctl uses it: HTML-escaped strings, sorted map keys, shortest floats.

`go_json` is json.Encoder with SetIndent("", "    ") (what `get -o json` writes, minus the final
newline); `go_json_compact` is json.Marshal (what jsonpath columns print for lists and maps).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from emulator.talos.gotext import format_float, json_float

TYPE_CHECKING = False  # no runtime import of typing (start-up time)
if TYPE_CHECKING:
    from typing import Any

_JSON_ESC = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b",
             "\f": "\\f", "<": "\\u003c", ">": "\\u003e", "&": "\\u0026",
             "\u2028": "\\u2028", "\u2029": "\\u2029"}


def json_string(s: str) -> str:
    """Return Go's encoding/json encoding of a string (HTML-escaped, \\b \\f, \\u00XX)."""
    out = ['"']
    for ch in s:
        esc = _JSON_ESC.get(ch)
        if esc is not None:
            out.append(esc)
        elif ch < " ":
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def go_json(v: Any, indent: str = "    ", level: int = 0) -> str:
    """Return json.Encoder (SetIndent("", indent)) output for decoded data, without the "\\n"."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            raise ValueError(f"json: unsupported value: {format_float(v)}")
        return json_float(v)
    if isinstance(v, str):
        return json_string(v)
    pad, inner = indent * level, indent * (level + 1)
    if isinstance(v, Mapping):
        if not v:
            return "{}"
        body = ",\n".join(f"{inner}{json_string(k)}: {go_json(v[k], indent, level + 1)}"
                          for k in sorted(v))
        return "{\n" + body + "\n" + pad + "}"
    if isinstance(v, Sequence):
        if not v:
            return "[]"
        body = ",\n".join(inner + go_json(x, indent, level + 1) for x in v)
        return "[\n" + body + "\n" + pad + "]"
    raise TypeError(f"cannot encode {type(v).__name__} as JSON")


def go_json_compact(v: Any) -> str:
    """Return json.Marshal output (compact, sorted keys, HTML-escaped) for decoded data."""
    if isinstance(v, Mapping):
        return "{" + ",".join(f"{json_string(k)}:{go_json_compact(v[k])}"
                              for k in sorted(v)) + "}"
    if isinstance(v, list | tuple):
        return "[" + ",".join(go_json_compact(x) for x in v) + "]"
    return go_json(v)
