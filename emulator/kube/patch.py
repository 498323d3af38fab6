"""The three patch formats of the API: JSON merge patch, strategic merge patch, JSON patch.

Strategic merge patch is emulated for the common cases: maps merge, lists of objects that have
a known merge key (containers by ``name``, conditions and addresses by ``type``, ...) merge
item by item, ``$patch: delete|replace`` and ``$deleteFromPrimitiveList`` work, and
``$setElementOrder``/``$retainKeys`` directives are accepted and ignored. Other lists are
replaced, as a merge patch would. Errors raise :class:`PatchError` (the route maps it to 422).
"""

from __future__ import annotations

import copy
import enum
from typing import Any


class PatchType(enum.StrEnum):
    """Patch media types; the value is the Content-Type header."""

    JSON = "application/json-patch+json"
    MERGE = "application/merge-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"
    APPLY = "application/apply-patch+yaml"

    @classmethod
    def parse(cls, value: str | PatchType) -> PatchType:
        """Accept a PatchType, a content type, or ``json``/``merge``/``strategic``/``apply``."""
        if isinstance(value, PatchType):
            return value
        v = value.split(";")[0].strip().lower()
        short = {"json": cls.JSON, "merge": cls.MERGE, "strategic": cls.STRATEGIC,
                 "apply": cls.APPLY, "application/apply-patch+json": cls.APPLY}
        if v in short:
            return short[v]
        return cls(v)


class PatchError(Exception):
    """A patch that cannot be applied (bad op, missing path, failed test)."""


# Field name -> merge key, for lists that strategic merge patch merges item by item.
MERGE_KEYS: dict[str, str] = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "conditions": "type", "addresses": "type",
    "taints": "key", "ownerReferences": "uid", "hostAliases": "ip", "podIPs": "ip",
    "hostIPs": "ip", "readinessGates": "conditionType", "topologySpreadConstraints": "topologyKey",
    "containerStatuses": "name", "initContainerStatuses": "name",
}
# Primitive lists that strategic merge patch unions instead of replacing.
MERGE_PRIMITIVE_LISTS: frozenset[str] = frozenset({"finalizers"})


def merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with the RFC 7386 merge ``patch`` applied (null deletes a key)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Return ``target`` with a strategic merge ``patch`` applied (see module docstring)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return None
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith(("$setElementOrder/", "$retainKeys", "$patch")):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            name = key.split("/", 1)[1]
            out[name] = [x for x in out.get(name) or [] if x not in (value or [])]
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(out.get(key), list):
            out[key] = _merge_list(out[key], value, MERGE_KEYS[key])
        elif isinstance(value, list) and key in MERGE_PRIMITIVE_LISTS:
            have = list(out.get(key) or [])
            out[key] = have + [x for x in value if x not in have]
        else:
            out[key] = strategic_merge_patch(out.get(key), value)
    return out


def _merge_list(current: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    out = [copy.deepcopy(x) for x in current]
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"map: {item!r} does not contain declared merge key: {merge_key}")
        idx = next((i for i, x in enumerate(out)
                    if isinstance(x, dict) and x.get(merge_key) == item[merge_key]), None)
        if item.get("$patch") == "delete":
            if idx is not None:
                out.pop(idx)
        elif idx is None:
            out.append({k: copy.deepcopy(v) for k, v in item.items() if k != "$patch"})
        else:
            out[idx] = strategic_merge_patch(out[idx], item)
    return out


def json_patch(target: Any, ops: Any) -> Any:
    """Return ``target`` with the RFC 6902 operations ``ops`` applied; raise PatchError."""
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise PatchError(f"invalid operation {op!r}: 'op' and 'path' are required")
        kind, path = op["op"], op["path"]
        if kind == "add":
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            doc, _ = _remove(doc, path)
        elif kind == "replace":
            doc, _ = _remove(doc, path)
            doc = _add(doc, path, copy.deepcopy(op.get("value")))
        elif kind == "move":
            doc, value = _remove(doc, op["from"])
            doc = _add(doc, path, value)
        elif kind == "copy":
            doc = _add(doc, path, copy.deepcopy(_get(doc, op["from"])))
        elif kind == "test":
            if _get(doc, path) != op.get("value"):
                raise PatchError(f"testing value {path} failed: test failed")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return doc


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer must start with '/': {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    parts = _pointer(path)
    if not parts:
        raise PatchError("cannot operate on the document root")
    cur = doc
    for p in parts[:-1]:
        cur = _child(cur, p, path)
    return cur, parts[-1]


def _child(cur: Any, part: str, path: str) -> Any:
    if isinstance(cur, dict) and part in cur:
        return cur[part]
    if isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
        return cur[int(part)]
    raise PatchError(f"doc is missing path: \"{path}\": missing value")


def _get(doc: Any, path: str) -> Any:
    cur = doc
    for p in _pointer(path):
        cur = _child(cur, p, path)
    return cur


def _add(doc: Any, path: str, value: Any) -> Any:
    if path == "":
        return value
    parent, last = _parent(doc, path)
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        if last == "-":
            parent.append(value)
        elif last.isdigit() and int(last) <= len(parent):
            parent.insert(int(last), value)
        else:
            raise PatchError(f"add operation does not apply: doc is missing path: \"{path}\"")
    else:
        raise PatchError(f"add operation does not apply: doc is missing path: \"{path}\"")
    return doc


def _remove(doc: Any, path: str) -> tuple[Any, Any]:
    parent, last = _parent(doc, path)
    if isinstance(parent, dict) and last in parent:
        return doc, parent.pop(last)
    if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
        return doc, parent.pop(int(last))
    raise PatchError(f"doc is missing path: \"{path}\": missing value")


def apply_patch(target: dict[str, Any], patch: Any, patch_type: PatchType) -> dict[str, Any]:
    """Return ``target`` patched according to ``patch_type``; raise PatchError on failure."""
    if patch_type is PatchType.JSON:
        result = json_patch(target, patch)
    elif patch_type is PatchType.MERGE:
        if not isinstance(patch, dict):
            raise PatchError("merge patch must be a JSON object")
        result = merge_patch(target, patch)
    elif patch_type is PatchType.STRATEGIC:
        if not isinstance(patch, dict):
            raise PatchError("strategic merge patch must be a JSON object")
        result = strategic_merge_patch(target, patch)
    else:
        raise PatchError(f"unsupported patch type {patch_type.value}")
    if not isinstance(result, dict):
        raise PatchError("patch result is not an object")
    return result
