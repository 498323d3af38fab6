"""Parsers for talosctl output, per /work/shared/reference/talos-interfaces.md.

- `get -o json`: concatenated 4-space-indented objects (not an array), ids may be numbers.
- tables (etcd members/status/alarm list): tabwriter columns, parsed by header name, so both
  the pre-1.11 and the 1.11+ etcd status column sets work.
- multi-node errors: `N error(s) occurred:` followed by `\t* <error>` lines; proxied calls
  (etcd ...) prefix the error with the node (`\t* <node>: <error>`), `get` does not.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from drivers.errors import ParseError

_MULTI_ITEM = re.compile(r"^\s*\*\s+(?P<text>\S.*)$")
_NODE_PREFIX = re.compile(r"^(?P<node>\S+?):\s(?P<error>.*)$")
_COL_SPLIT = re.compile(r"\S+(?: \S+)*")


def concatenated_json(text: str, what: str) -> list[dict[str, Any]]:
    """Return every JSON object of concatenated output; raise ParseError if any is malformed."""
    decoder = json.JSONDecoder()
    out: list[dict[str, Any]] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            return out
        try:
            obj, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise ParseError(what, f"invalid JSON at offset {e.pos}: {e.msg}", text) from None
        if not isinstance(obj, dict):
            raise ParseError(what, "expected JSON objects", text)
        out.append(obj)


def resource_node(obj: dict[str, Any], what: str) -> str:
    """The `node` key of a talosctl get resource; ParseError if absent."""
    node = obj.get("node")
    if not isinstance(node, str) or not node:
        raise ParseError(what, "resource without a 'node' key", json.dumps(obj)[:200])
    return node


def table(text: str, what: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Parse a tabwriter table by header names; raise ParseError when a required column is missing.

    Columns start where their header starts (tabwriter aligns cells under it); header names can
    contain single spaces ("DB SIZE"), columns are separated by at least two spaces.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = lines[0]
    cols = [(m.group(0), m.start()) for m in _COL_SPLIT.finditer(header)]
    # merge words separated by a single space into one header (done by the regex); check columns
    names = [c[0] for c in cols]
    missing = [r for r in required if r not in names]
    if missing:
        raise ParseError(what, f"missing column(s) {', '.join(missing)} in header {names}", text)
    rows = []
    for line in lines[1:]:
        row: dict[str, str] = {}
        for i, (name, start) in enumerate(cols):
            end = cols[i + 1][1] if i + 1 < len(cols) else None
            row[name] = line[start:end].strip() if end is not None else line[start:].strip()
        rows.append(row)
    return rows


def hex_id(value: str, what: str) -> int:
    """A 16-digit hex member id as an int; ParseError otherwise."""
    try:
        return int(value, 16)
    except ValueError:
        raise ParseError(what, f"member id {value!r} is not hex", value) from None


def integer(value: str, what: str, column: str) -> int:
    """A table cell as an int; ParseError naming the column otherwise."""
    try:
        return int(value)
    except ValueError:
        raise ParseError(what, f"{column} {value!r} is not a number", value) from None


def error_items(stderr: str, nodes: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """The `* ...` error lines of a multi-node call: (errors by node, for lines prefixed with
    one of `nodes`; the other lines, whose node is not named)."""
    by_node: dict[str, str] = {}
    unnamed: list[str] = []
    for line in stderr.splitlines():
        m = _MULTI_ITEM.match(line)
        if not m:
            continue
        text = m["text"].strip()
        prefix = _NODE_PREFIX.match(text)
        if prefix and prefix["node"] in nodes:
            by_node[prefix["node"]] = prefix["error"].strip()
        else:
            unnamed.append(text)
    return by_node, unnamed


def mentions(text: str, address: str) -> bool:
    """Whether text names address as a whole (`10.0.0.1` is not in `dial tcp 10.0.0.12:50000`)."""
    return re.search(rf"(?<![\w.:]){re.escape(address)}(?![\w.])", text) is not None


def version_json(text: str) -> list[dict[str, Any]]:
    """`talosctl version --json`: one compact protojson object per line (server part)."""
    return concatenated_json(text, "talosctl version --json")
