"""Parsers for talosctl output, per /work/shared/reference/talos-interfaces.md §2 and §9.

- `get -o json`: concatenated 4-space-indented objects (not an array), ids may be numbers.
- tables (etcd members/status/alarm list): tabwriter columns, parsed by header name, so both
  the pre-1.11 and the 1.11+ etcd status column sets work. talosctl v1.14 flushes a table
  when a node is slow to answer (cmd/talosctl/cmd/talos/root.go outputFlushInterval @
  v1.14.0-rc.1): the later rows form blocks of their own, without a header and with their
  own column widths; each block's columns are found from its own rows.
- `version`: the `Server:` part, one `NODE:`/`Tag:` block per node (version.go, v1.9-v1.14).
- per-node errors, in every form talosctl has used:
  v1.9-v1.13: a multierror `N error(s) occurred:` then `\t* <error>` lines; one-to-many calls
  (version, etcd ...) prefix the error with the node (`\t* <node>: <error>`), `get` does not;
  a `get` whose first node is down fails with the bare gRPC error (helpers/resources.go);
  v1.14: one line per node, `error from node <node>: ...`, `error getting version from node
  <node>: ...`, `error listing resources on node <node>: ...`, `<node>: error getting server
  version: ...` (cmd/talosctl/cmd/talos/*.go, helpers/checks.go @ v1.14.0-rc.1).
"""

from __future__ import annotations

import itertools
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


_CELL = re.compile(r"\S+(?: {1,2}\S+)*")  # tabwriter pads cells by >= 3 spaces (padding 3)


def table(text: str, what: str, required: tuple[str, ...]) -> list[dict[str, str]]:
    """Parse a tabwriter table by header names; raise ParseError when a required column is
    missing or rows fit no column layout.

    Header names can contain single spaces ("DB SIZE"). Rows under the header are cut where the
    header's columns start. Rows that do not fit there come from a later block (v1.14's flush
    of a slow node's rows: no header, widths of its own); a block's columns are found from its
    own cells, empty columns included.
    """
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    header = lines[0]
    cols = [m.start() for m in _COL_SPLIT.finditer(header)]
    names = [m.group(0) for m in _COL_SPLIT.finditer(header)]
    missing = [r for r in required if r not in names]
    if missing:
        raise ParseError(what, f"missing column(s) {', '.join(missing)} in header {names}", text)
    rows: list[dict[str, str]] = []
    later: list[str] = []  # consecutive rows of a headerless block
    for line in lines[1:]:
        cells = _cut(line, cols)
        if cells is not None and not later:
            rows.append(_named(names, cells))
            continue
        if later and not _may_share(later + [line]):
            rows += _block(later, names, what)
            later = []
        later.append(line)
    return rows + (_block(later, names, what) if later else [])


def _named(names: list[str], cells: list[str]) -> dict[str, str]:
    return dict(zip(names, cells + [""] * (len(names) - len(cells)), strict=True))


def _cut(line: str, starts: list[int]) -> list[str] | None:
    """The line's cells at these column starts, or None when it is not laid out that way
    (a cell would run across a start, or two cells would fall into one column)."""
    if any(s < len(line) and line[s - 3 : s] != "   " for s in starts[1:]):
        return None
    cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line)], strict=True)]
    if any("   " in c for c in cells):
        return None
    return cells


def _cells(line: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _CELL.finditer(line)]


def _may_share(lines: list[str]) -> bool:
    """Whether these lines can be one tabwriter block: no cell runs across a column start."""
    cells = [_cells(ln) for ln in lines]
    starts = {a for row in cells for a, _ in row}
    return not any(a < s < b for row in cells for a, b in row for s in starts)


def _block(lines: list[str], names: list[str], what: str) -> list[dict[str, str]]:
    """The rows of a headerless block, cut at the column starts its own cells imply:
    each column as wide as its widest cell plus 3, an empty column 3 wide."""
    ends: dict[int, int] = {}
    for line in lines:
        for a, b in _cells(line):
            ends[a] = max(ends.get(a, a), b)
    starts = sorted(ends)
    layout = [0] if starts and starts[0] == 0 else []
    for a, b in itertools.pairwise(starts):
        gap = b - ends[a]
        if gap < 3 or (gap - 3) % 3:
            layout = []
            break
        layout += [ends[a] + 3 * (i + 1) for i in range((gap - 3) // 3)] + [b]
    rows = [_cut(ln, layout) for ln in lines] if 0 < len(layout) <= len(names) else [None]
    if any(r is None for r in rows):
        raise ParseError(
            what, f"rows do not fit the {len(names)} columns {names}", "\n".join(lines)
        )
    return [_named(names, r) for r in rows if r is not None]


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


_V114_NODE_ERROR = re.compile(
    r"^error (?:from|getting version from|listing resources on|getting resource on|building "
    r"client for|executing \w+ on) node (?P<rest>.*)$"
)
_SERVER_VERSION_ERROR = ": error getting server version: "


def error_items(stderr: str, nodes: Sequence[str]) -> tuple[dict[str, str], list[str]]:
    """Per-node errors of a multi-node call, in every form talosctl has used (module doc):
    (errors by node, for those naming one of `nodes`; the other error texts, unattributed)."""
    by_node: dict[str, str] = {}
    unnamed: list[str] = []
    for raw in stderr.splitlines():
        line = raw.strip()
        if not line or line.startswith(("WARNING:", "Flag --")):
            continue  # version skew and deprecation notices; a WARNING's bullets follow it
        item = _MULTI_ITEM.match(raw)
        if item:
            text = item["text"].strip()
            prefix = _NODE_PREFIX.match(text)
            node = _node_prefix(text, nodes)
            if node is not None:
                by_node.setdefault(node, text[len(node) + 2 :].strip())
            elif prefix and prefix["node"] in nodes:
                by_node.setdefault(prefix["node"], prefix["error"].strip())
            else:
                unnamed.append(text)
            continue
        v114 = _V114_NODE_ERROR.match(line)
        if v114:
            node = _node_prefix(v114["rest"], nodes)
            if node is not None:
                by_node.setdefault(node, v114["rest"][len(node) + 2 :].strip())
                continue
        node = _node_prefix(line, nodes)
        if node is not None and line[len(node) :].startswith(_SERVER_VERSION_ERROR):
            by_node.setdefault(node, line[len(node) + 2 :].strip())
        elif line.startswith("rpc error:"):  # a whole call failed with a node's bare error
            unnamed.append(line)
    return by_node, unnamed


def _node_prefix(text: str, nodes: Sequence[str]) -> str | None:
    """The node of `nodes` that `text` starts with as `<node>: ` (IPv6 addresses included)."""
    return next(
        (n for n in sorted(nodes, key=len, reverse=True) if text.startswith(f"{n}: ")), None
    )


def usage_error(stderr: str) -> str | None:
    """talosctl's own refusal of the command line (unknown flag, wrong arguments: root.go prints
    the usage after it), or None. Such a failure is the harness's, not the nodes'."""
    if "\nUsage:\n" not in f"\n{stderr}" and not stderr.lstrip().startswith(
        ("unknown flag", "unknown shorthand flag", "unknown command")
    ):
        return None
    return next((ln.strip() for ln in stderr.splitlines() if ln.strip()), "usage error")


def mentions(text: str, address: str) -> bool:
    """Whether text names address as a whole (`10.0.0.1` is not in `dial tcp 10.0.0.12:50000`)."""
    return re.search(rf"(?<![\w.:]){re.escape(address)}(?![\w.])", text) is not None


def server_versions(text: str, what: str = "talosctl version") -> dict[str, str]:
    """The `Server:` part of `talosctl version`: node -> Tag, from each `NODE:`/`Tag:` block
    (pkg/machinery/version/version.go, unchanged v1.9-v1.14); ParseError without a `Server:`
    line or for a block without its tag."""
    out: dict[str, str] = {}
    lines = text.splitlines()
    try:
        lines = lines[lines.index("Server:") + 1 :]
    except ValueError:
        raise ParseError(what, "no 'Server:' section", text) from None
    node: str | None = None
    for line in lines:
        key, _, value = line.strip().partition(":")
        if key == "NODE":
            if node is not None:
                raise ParseError(what, f"no Tag for node {node}", text)
            node = value.strip()
        elif key == "Tag" and node is not None:
            out[node] = value.strip()
            node = None
    if node is not None:
        raise ParseError(what, f"no Tag for node {node}", text)
    return out
