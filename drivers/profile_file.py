"""Changing a cluster profile on disk the way an operator would by hand: only the values that
change, with every comment, the key order, the quoting and the flow or block style of each list
kept (ruamel.yaml round trip), then committed in the profile's git repository (never pushed).

The rebuild records its result this way (the seed's step 7 and 12: the new versions, schematic
and template in the profile, `git commit -m "feat(talos): upgrade to Talos v<version> with K8s
<version>"`). A change whose result would not load as a profile is refused and nothing is
written.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.util import load_yaml_guess_indent

from drivers.errors import DriverError
from model.profile import parse_profile

_KEY = re.compile(r"^\s*[A-Za-z_][\w-]*:(\s|$)")


class ProfileFileError(DriverError):
    """The profile file could not be changed or committed; names the file and the reason."""


def rewrite(path: Path, changes: Mapping[str, Any]) -> str:
    """Set each dotted key of `changes` (e.g. ``talos.version``) in the YAML file at `path`,
    keeping everything else as written; return the unified diff (empty: nothing changed).
    Raise ProfileFileError naming the key when a parent is missing or not a mapping, or when
    the result is not a valid profile (then the file is untouched)."""
    text = path.read_text(encoding="utf-8")
    doc, _, _ = load_yaml_guess_indent(text)
    mapping, offset = _indents(text)
    if not isinstance(doc, CommentedMap):
        raise ProfileFileError(f"{path}: not a YAML mapping")
    for dotted, value in changes.items():
        _set(doc, dotted, value, path)
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line
    yaml.indent(mapping=mapping, sequence=offset + 2, offset=offset)
    out = _dump(yaml, doc)
    if out == text:
        return ""
    try:
        import yaml as pyyaml

        parse_profile(pyyaml.safe_load(out), path)
    except Exception as e:  # a ProfileError, or YAML the change made invalid
        raise ProfileFileError(f"{path}: the change would make the profile invalid: {e}") from None
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(out, encoding="utf-8")
    os.replace(tmp, path)
    return "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            out.splitlines(keepends=True),
            f"a/{path.name}",
            f"b/{path.name}",
        )
    )


def _indents(text: str) -> tuple[int, int]:
    """(mapping indent, block-sequence dash offset) as the file writes them: the first nested
    key's indent, and how far the first `- ` sits right of the key that holds it."""
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    keyed = [len(ln) - len(ln.lstrip()) for ln in lines if _KEY.match(ln)]
    mapping = min((i for i in keyed if i > 0), default=2)
    for prev, line in zip(lines, lines[1:], strict=False):
        if line.lstrip().startswith("- ") and _KEY.match(prev):
            dash = len(line) - len(line.lstrip())
            return mapping, max(0, dash - (len(prev) - len(prev.lstrip())))
    return mapping, 0


def _set(doc: CommentedMap, dotted: str, value: Any, path: Path) -> None:
    keys = dotted.split(".")
    node: Any = doc
    for i, key in enumerate(keys[:-1]):
        if not isinstance(node, CommentedMap) or key not in node:
            raise ProfileFileError(f"{path}: no {'.'.join(keys[: i + 1])} to change {dotted} in")
        node = node[key]
    if not isinstance(node, CommentedMap):
        raise ProfileFileError(f"{path}: {'.'.join(keys[:-1])} is not a mapping")
    last = keys[-1]
    old = node.get(last)
    if isinstance(old, CommentedSeq) and isinstance(value, (list, tuple)):
        # the list keeps its style (flow or block) and its comments; what follows its last item
        # (a blank line, the next section's comment) is attached to that item: it moves to the
        # new last one
        tail = old.ca.items.pop(len(old) - 1, None) if len(old) else None
        old[:] = list(value)
        if tail is not None and len(old):
            old.ca.items[len(old) - 1] = tail
    else:
        node[last] = value


def _dump(yaml: YAML, doc: CommentedMap) -> str:
    from io import StringIO

    buf = StringIO()
    yaml.dump(doc, buf)
    return buf.getvalue()


def commit(path: Path, message: str, timeout: float = 30.0) -> str:
    """Commit the profile file alone in its git repository (never pushed); return the commit's
    hash. ProfileFileError with git's own words when it is not in a repository or git refuses
    (no identity, nothing to commit...)."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(path.parent), *args],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as e:
            raise ProfileFileError(f"{path}: git {args[0]}: {e}") from None
        if done.returncode != 0:
            last = (done.stderr.strip() or done.stdout.strip()).splitlines()
            raise ProfileFileError(
                f"{path}: git {args[0]} failed: {last[-1] if last else done.returncode}"
            )
        return done.stdout.strip()

    git("rev-parse", "--show-toplevel")
    git("add", "--", path.name)
    git("commit", "-m", message, "--", path.name)
    return git("rev-parse", "HEAD")
