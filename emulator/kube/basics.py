"""Shared pieces of the object builders: stable identifiers, ObjectMeta, conditions, times."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from .clock import rfc3339, utcnow

Obj = dict[str, Any]


# ---------------------------------------------------------------- identifiers and metadata
def uid_for(kind: str, namespace: str | None, name: str) -> str:
    """Return a stable uid for (kind, namespace, name)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"lab://{kind}/{namespace or ''}/{name}"))


def hex_digest(text: str, length: int = 64) -> str:
    """Return ``length`` hex characters derived from ``text`` (sha256)."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def safe_suffix(text: str, length: int = 5) -> str:
    """Return a name suffix from the apimachinery alphabet (``bcdf...2456789``), from ``text``."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    n = int(hex_digest(text), 16)
    return "".join(alphabet[(n >> (5 * i)) % len(alphabet)] for i in range(length))


def k8s_tag(version: str) -> str:
    """Return ``v1.32.0`` for ``1.32.0`` or ``v1.32.0``."""
    return version if version.startswith("v") else f"v{version}"


def ts(at: datetime | None) -> str:
    """Return ``at`` (default now) as ``metav1.Time`` text."""
    return rfc3339(at or utcnow())


def meta(
    kind: str, name: str, namespace: str | None = None, *, labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None, owner: Obj | None = None,
    at: datetime | None = None,
) -> Obj:
    """Return ObjectMeta with a stable uid, creationTimestamp and optional controller owner."""
    out: Obj = {"name": name, "uid": uid_for(kind, namespace, name), "creationTimestamp": ts(at)}
    if namespace is not None:
        out["namespace"] = namespace
    if labels:
        out["labels"] = dict(labels)
    if annotations:
        out["annotations"] = dict(annotations)
    if owner is not None:
        out["ownerReferences"] = [owner_ref(owner)]
    return out


def owner_ref(owner: Obj, *, controller: bool = True) -> Obj:
    """Return an ownerReference to ``owner`` (controller, blockOwnerDeletion)."""
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"],
            "name": owner["metadata"]["name"], "uid": owner["metadata"]["uid"],
            "controller": controller, "blockOwnerDeletion": True}


def condition(
    type_: str, status: bool | None, reason: str, message: str, at: datetime | None = None,
    *, generation: int | None = None, heartbeat: bool = False,
) -> Obj:
    """Return a condition (True/False/Unknown for True/False/None) with transition time."""
    out: Obj = {"type": type_, "status": {True: "True", False: "False", None: "Unknown"}[status],
                "reason": reason, "message": message, "lastTransitionTime": ts(at)}
    if generation is not None:
        out["observedGeneration"] = generation
    if heartbeat:
        out["lastHeartbeatTime"] = ts(at)
    return out
