"""Reading a profile file and turning every problem into one line: `ProfileError`.

Used by `model.profile`; import `ProfileError` from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic_core import ErrorDetails


class ProfileError(Exception):
    """A profile that cannot be used. str() names the file, then each problem with its field:
    one line ``<file>: <field>: <reason>`` for one problem; for several, a first line
    ``<file>: N problems:`` and one indented ``<field>: <reason>`` line per problem."""

    def __init__(
        self,
        file: Path | str | None,
        reason: str,
        field: str = "",
        others: list[tuple[str, str]] | None = None,
    ) -> None:
        self.file = Path(file) if file is not None else None
        self.field = field
        self.reason = reason
        self.problems: list[tuple[str, str]] = [(field, reason), *(others or [])]
        super().__init__(str(self))

    def __str__(self) -> str:
        head = [display_path(self.file)] if self.file is not None else []

        def line(field: str, reason: str) -> str:
            return " ".join(": ".join([field, reason] if field else [reason]).split())

        if len(self.problems) == 1:
            return " ".join(": ".join([*head, line(self.field, self.reason)]).split())
        first = ": ".join([*head, f"{len(self.problems)} problems"]) + ":"
        return "\n".join([first] + [f"  {line(f, r)}" for f, r in self.problems])


def display_path(path: Path) -> str:
    """Return `path` relative to the working directory when it lies under it, else as given."""
    try:
        return str(path.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def read_yaml(path: Path) -> object:
    """Return the YAML document in `path`; raise ProfileError for missing/empty/invalid files."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ProfileError(path, "no such file") from None
    except IsADirectoryError:
        raise ProfileError(path, "is a directory, not a profile file") from None
    except UnicodeDecodeError:
        raise ProfileError(path, "not a text file") from None
    except OSError as exc:
        raise ProfileError(path, f"cannot read: {exc.strerror or exc}") from None
    if not text.strip():
        raise ProfileError(path, "file is empty")
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise ProfileError(path, _yaml_reason(exc)) from None
    except yaml.YAMLError as exc:
        raise ProfileError(path, f"not valid YAML: {exc}") from None


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate keys instead of silently keeping the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[object] = set()
    for key_node, _value in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            duplicate = key in seen
            seen.add(key)
        except TypeError:  # unhashable key: let the SafeLoader report it
            continue
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
    return loader.construct_mapping(node, deep=True)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _yaml_reason(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    problem = exc.problem or exc.context or "parse error"
    if problem.startswith("duplicate key"):
        return f"{problem}{where}"
    return f"not valid YAML: {problem}{where}"


def kind_of(value: object) -> str:
    """'a list', 'a string', 'a number'...: how an operator would name a YAML value's type."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "nothing"
    return type(value).__name__


def field_path(loc: tuple[int | str, ...]) -> str:
    """``('nodes', 'workers', 1, 'address')`` -> ``nodes.workers[1].address``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_GENERIC = {
    "model_type": "expected a mapping of fields, got {kind}",
    "model_attributes_type": "expected a mapping of fields, got {kind}",
    "dict_type": "expected a mapping, got {kind}",
    "tuple_type": "expected a list, got {kind}",
    "list_type": "expected a list, got {kind}",
    "string_type": "expected a string, got {input}",
    "int_type": "expected an integer, got {input}",
    "int_parsing": "expected an integer, got {input}",
    "int_from_float": "expected an integer, got {input}",
    "float_type": "expected a number, got {input}",
    "float_parsing": "expected a number, got {input}",
    "bool_type": "expected true or false, got {input}",
    "bool_parsing": "expected true or false, got {input}",
    "enum": "expected one of {expected}, got {input}",
}


def describe(err: ErrorDetails) -> tuple[str, str]:
    """Return (field path, reason) for one pydantic error, worded for an operator."""
    loc = tuple(err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return field_path(loc[:-1]), f"unknown field {str(loc[-1])!r}"
    if kind == "missing":
        return field_path(loc), "is required"
    if kind in ("value_error", "assertion_error"):
        return field_path(loc), err["msg"].removeprefix("Value error, ")
    value = err.get("input")
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    template = _GENERIC.get(kind)
    if template:
        ctx = err.get("ctx") or {}
        reason = template.format(kind=kind_of(value), input=text, expected=ctx.get("expected", ""))
        return field_path(loc), reason
    msg = err["msg"]
    return field_path(loc), f"{msg[:1].lower()}{msg[1:]} (got {text})"
