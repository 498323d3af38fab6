"""Admission of incoming objects: name validation, defaulting, server-owned metadata."""

from __future__ import annotations

import copy
import re
import uuid
from typing import Any

from .errors import Invalid
from .resources import ResourceType

DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def generated_name(prefix: str, counter: int) -> str:
    """Return ``prefix`` plus five characters, as ``metadata.generateName`` gets."""
    n = uuid.uuid5(uuid.NAMESPACE_OID, f"{prefix}{counter}").int
    return prefix + "".join(SUFFIX_ALPHABET[(n >> (5 * i)) % 27] for i in range(5))


def validate_name(rt: ResourceType, name: str) -> None:
    """Raise Invalid (the server's text) unless ``name`` is a valid object name for ``rt``."""
    if not name:
        raise Invalid.object(rt.group, rt.kind, "", [(
            "metadata.name", "FieldValueRequired",
            "Required value: name or generateName is required")])
    label = rt.key == "namespaces"
    pattern = DNS1123_LABEL if label else DNS1123_SUBDOMAIN
    if len(name) > (63 if label else 253) or not pattern.match(name):
        what = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                "characters or '-', and must start and end with an alphanumeric character "
                "(e.g. 'my-name',  or '123-abc', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')") if label else (
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                "characters, '-' or '.', and must start and end with an alphanumeric "
                "character (e.g. 'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
        raise Invalid.object(rt.group, rt.kind, name, [
            ("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {what}')])


def merge_update(rt: ResourceType, current: dict[str, Any], new: dict[str, Any]
                 ) -> dict[str, Any]:
    """Return ``new`` carrying ``current``'s server-owned metadata; the generation goes up
    when anything but metadata and status changed."""
    new = copy.deepcopy(new)
    new["apiVersion"], new["kind"] = rt.api_version, rt.kind
    meta, old = new.setdefault("metadata", {}), current["metadata"]
    for k in ("name", "namespace", "uid", "creationTimestamp", "generation",
              "deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
        if k in old:
            meta[k] = old[k]
        else:
            meta.pop(k, None)
    strip = ("metadata", "status", "apiVersion", "kind")
    if {k: v for k, v in new.items() if k not in strip} != \
            {k: v for k, v in current.items() if k not in strip}:
        meta["generation"] = old.get("generation", 1) + 1
    return new


def apply_defaults(rt: ResourceType, obj: dict[str, Any]) -> None:
    """Fill the fields the API server defaults on create (namespaces, pods)."""
    if rt.key == "namespaces":
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = \
            obj["metadata"]["name"]
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
    elif rt.key == "pods":
        spec = obj.setdefault("spec", {})
        for key, value in (("restartPolicy", "Always"), ("dnsPolicy", "ClusterFirst"),
                           ("schedulerName", "default-scheduler"),
                           ("terminationGracePeriodSeconds", 30), ("securityContext", {}),
                           ("serviceAccountName", "default"), ("priority", 0)):
            spec.setdefault(key, value)
        obj.setdefault("status", {}).setdefault("phase", "Pending")
