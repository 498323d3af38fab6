"""Label and field selectors, as the API server parses and applies them.

Label selectors (``labelSelector=`` strings and ``metav1.LabelSelector`` objects) support
equality (``=``, ``==``, ``!=``), sets (``in``, ``notin``), existence (``key``, ``!key``) and
``>``/``<`` on integers. Field selectors support ``=``, ``==`` and ``!=`` on the field labels
each resource allows. Parse errors raise :class:`~emulator.kube.errors.BadRequest`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import BadRequest

_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|>|<|[^\s=!(),<>]+)")


@dataclass(frozen=True)
class Requirement:
    """One label requirement: ``key op values`` with op in =, !=, in, notin, exists, !, gt, lt."""

    key: str
    op: str
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """Return True if ``labels`` satisfy this requirement (``!=``/notin match absence)."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.op in ("=", "in"):
            return present and value in self.values
        if self.op in ("!=", "notin"):
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!":
            return not present
        if self.op in ("gt", "lt") and present:
            try:
                have, want = int(value or ""), int(self.values[0])
            except ValueError:
                return False
            return have > want if self.op == "gt" else have < want
        return False


@dataclass(frozen=True)
class LabelSelector:
    """A conjunction of requirements; ``everything()`` has none, ``nothing()`` matches none."""

    requirements: tuple[Requirement, ...] = ()
    match_nothing: bool = False

    @classmethod
    def everything(cls) -> LabelSelector:
        """Return the selector that matches every object."""
        return cls()

    @classmethod
    def nothing(cls) -> LabelSelector:
        """Return the selector that matches no object (a null selector)."""
        return cls(match_nothing=True)

    def matches(self, labels: dict[str, str] | None) -> bool:
        """Return True if every requirement holds for ``labels``."""
        if self.match_nothing:
            return False
        have = labels or {}
        return all(r.matches(have) for r in self.requirements)


def parse_label_selector(text: str | None) -> LabelSelector:
    """Parse a ``labelSelector`` query string; return ``everything()`` for an empty one."""
    if not text or not text.strip():
        return LabelSelector.everything()
    tokens = _tokenize(text)
    reqs: list[Requirement] = []
    i = 0

    def fail(why: str) -> BadRequest:
        return BadRequest(f"unable to parse requirement: {why}")

    while i < len(tokens):
        tok = tokens[i]
        if tok == "!":
            if i + 1 >= len(tokens) or _is_op(tokens[i + 1]):
                raise fail("found '!', expected: identifier")
            reqs.append(Requirement(tokens[i + 1], "!"))
            i += 2
        elif _is_op(tok):
            raise fail(f"found '{tok}', expected: !, identifier, or 'end of string'")
        else:
            key = tok
            nxt = tokens[i + 1] if i + 1 < len(tokens) else None
            if nxt is None or nxt == ",":
                reqs.append(Requirement(key, "exists"))
                i += 1
            elif nxt in ("=", "==", "!=", ">", "<"):
                if i + 2 >= len(tokens) or tokens[i + 2] == ",":
                    value = ""
                    i += 2
                else:
                    value = tokens[i + 2]
                    if _is_op(value):
                        raise fail(f"found '{value}', expected: identifier")
                    i += 3
                op = {"==": "=", ">": "gt", "<": "lt"}.get(nxt, nxt)
                reqs.append(Requirement(key, op, (value,)))
            elif nxt in ("in", "notin"):
                if i + 2 >= len(tokens) or tokens[i + 2] != "(":
                    raise fail("found end of string, expected: '('")
                j = i + 3
                values: list[str] = []
                while j < len(tokens) and tokens[j] != ")":
                    if tokens[j] != ",":
                        values.append(tokens[j])
                    j += 1
                if j >= len(tokens):
                    raise fail("found end of string, expected: ')'")
                reqs.append(Requirement(key, nxt, tuple(values)))
                i = j + 1
            else:
                raise fail(f"found '{nxt}', expected: in, notin, =, ==, !=, gt, lt")
        if i < len(tokens):
            if tokens[i] != ",":
                raise fail(f"found '{tokens[i]}', expected: ',' or 'end of string'")
            i += 1
    return LabelSelector(tuple(reqs))


def _tokenize(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        if text[pos].isspace():
            pos += 1
            continue
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the pattern accepts every non-space character
            raise BadRequest(f"unable to parse requirement: {text!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _is_op(tok: str) -> bool:
    return tok in ("=", "==", "!=", "!", "(", ")", ",", ">", "<")


def from_label_selector(sel: dict[str, Any] | None) -> LabelSelector:
    """Convert a ``metav1.LabelSelector`` dict; None matches nothing, ``{}`` matches all."""
    if sel is None:
        return LabelSelector.nothing()
    reqs = [Requirement(k, "=", (v,)) for k, v in sorted((sel.get("matchLabels") or {}).items())]
    ops = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
    for expr in sel.get("matchExpressions") or []:
        op = ops.get(expr.get("operator", ""))
        if op is None:
            raise BadRequest(f"{expr.get('operator')!r} is not a valid label selector operator")
        reqs.append(Requirement(expr["key"], op, tuple(expr.get("values") or ())))
    return LabelSelector(tuple(reqs))


def selector_string(sel: dict[str, Any] | None) -> str:
    """Render a ``metav1.LabelSelector`` the way kubectl prints it (``a=b,c in (d)``)."""
    if not sel:
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((sel.get("matchLabels") or {}).items())]
    for e in sel.get("matchExpressions") or []:
        op, key = e.get("operator"), e.get("key")
        if op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            parts.append(f"{key} {op.lower()} ({','.join(e.get('values') or [])})")
    return ",".join(parts) or "<none>"


@dataclass(frozen=True)
class FieldRequirement:
    """One field requirement: ``field`` (dotted path) ``op`` (= or !=) ``value``."""

    field: str
    op: str
    value: str


def parse_field_selector(
    text: str | None, allowed: tuple[str, ...], custom: bool = False
) -> tuple[FieldRequirement, ...]:
    """Parse a ``fieldSelector``; unknown fields raise BadRequest with the server's wording."""
    if not text or not text.strip():
        return ()
    out: list[FieldRequirement] = []
    for part in _split_unescaped(text, ","):
        part = part.strip()
        if not part:
            continue
        for op in ("!=", "==", "="):
            if op in part:
                field, _, value = part.partition(op)
                break
        else:
            raise BadRequest(f"invalid selector: '{text}'; can't understand '{part}'")
        field = field.strip()
        if field not in allowed:
            if custom:
                only = ", ".join(f'"{a}"' for a in allowed)
                raise BadRequest(f'"{field}" is not a known field selector: only {only}')
            raise BadRequest(f"field label not supported: {field}")
        out.append(FieldRequirement(field, "!=" if op == "!=" else "=", _unescape(value)))
    return tuple(out)


def _split_unescaped(text: str, sep: str) -> list[str]:
    parts, cur, esc = [], [], False
    for ch in text:
        if esc:
            cur.append("\\" + ch)
            esc = False
        elif ch == "\\":
            esc = True
        elif ch == sep:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)


def field_value(obj: dict[str, Any], path: str) -> str:
    """Return the string a field selector compares for ``path`` (bools as true/false)."""
    if path == "source":  # events: source.component
        path = "source.component"
    cur: Any = obj
    for part in path.split("."):
        cur = cur.get(part) if isinstance(cur, dict) else None
    if isinstance(cur, bool):
        return "true" if cur else "false"
    if cur is None:
        return "false" if path in ("spec.unschedulable", "spec.hostNetwork") else ""
    return str(cur)


def fields_match(obj: dict[str, Any], reqs: tuple[FieldRequirement, ...]) -> bool:
    """Return True if ``obj`` satisfies every field requirement."""
    for r in reqs:
        have = field_value(obj, r.field)
        if (have == r.value) != (r.op == "="):
            return False
    return True
