"""The disruption controller and the eviction rules, as pure functions over object dicts.

``pdb_status`` computes a PodDisruptionBudget's ``.status`` the way kube-controller-manager's
disruption controller does (expected pods from the owning controllers' scale for percentages
and ``maxUnavailable``, from the pod count for an integer ``minAvailable``; healthy = Ready and
not terminating). ``check_eviction`` applies the eviction subresource's rules to one pod.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .errors import InternalError, TooManyRequests
from .selectors import from_label_selector

# (kind, name) -> object in the PDB's namespace, or None
OwnerLookup = Callable[[str, str], dict[str, Any] | None]

TERMINAL_OR_PENDING = ("Succeeded", "Failed", "Pending")


def pod_ready(pod: dict[str, Any]) -> bool:
    """Return True if the pod's Ready condition is True (kubelet's IsPodReady)."""
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Ready":
            return bool(cond.get("status") == "True")
    return False


def pdb_selects(pdb: dict[str, Any], pod: dict[str, Any]) -> bool:
    """Return True if the PDB (policy/v1: empty selector = all pods) selects the pod."""
    if pod["metadata"].get("namespace") != pdb["metadata"].get("namespace"):
        return False
    selector = (pdb.get("spec") or {}).get("selector")
    return from_label_selector(selector).matches(pod["metadata"].get("labels"))


def _scaled(value: int | str, total: int) -> int:
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        return math.ceil(int(text[:-1]) * total / 100)
    return int(text)


def _controller_ref(obj: dict[str, Any]) -> dict[str, Any] | None:
    for ref in obj["metadata"].get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def expected_scale(pods: list[dict[str, Any]], lookup: OwnerLookup) -> int:
    """Return the summed scale of the pods' controllers; raise ValueError as the controller."""
    scales: dict[str, int] = {}
    for pod in pods:
        ref = _controller_ref(pod)
        name = pod["metadata"]["name"]
        if ref is None:
            raise ValueError(f'found no controller ref for pod "{name}"')
        if ref.get("uid") in scales:
            continue
        kind = ref.get("kind")
        owner = lookup(kind, ref["name"]) if kind in ("ReplicaSet", "Deployment") else None
        if owner is None:
            raise ValueError(f'found no controllers for pod "{name}"')
        if kind == "ReplicaSet":
            dep_ref = _controller_ref(owner) or {}
            dep = lookup("Deployment", dep_ref["name"]) \
                if dep_ref.get("kind") == "Deployment" else None
            if dep is not None:
                scales[dep["metadata"].get("uid", dep_ref.get("uid"))] = \
                    int((dep.get("spec") or {}).get("replicas", 1))
                scales[ref["uid"]] = 0
                continue
        scales[ref.get("uid", name)] = int((owner.get("spec") or {}).get("replicas", 1))
    return sum(scales.values())


def pdb_status(
    pdb: dict[str, Any], pods: list[dict[str, Any]], lookup: OwnerLookup, now: str
) -> dict[str, Any]:
    """Return the new ``.status`` of ``pdb`` given every pod of its namespace."""
    spec = pdb.get("spec") or {}
    old = pdb.get("status") or {}
    generation = pdb["metadata"].get("generation", 1)
    selected = [p for p in pods if pdb_selects(pdb, p)]
    disrupted = {k: v for k, v in (old.get("disruptedPods") or {}).items()
                 if any(p["metadata"]["name"] == k for p in selected)}
    healthy = sum(
        1 for p in selected
        if pod_ready(p) and not p["metadata"].get("deletionTimestamp")
        and p["metadata"]["name"] not in disrupted
    )
    try:
        if spec.get("maxUnavailable") is not None:
            expected = expected_scale(selected, lookup)
            desired = max(0, expected - _scaled(spec["maxUnavailable"], expected))
        elif isinstance(spec.get("minAvailable"), int):
            expected, desired = len(selected), spec["minAvailable"]
        elif spec.get("minAvailable") is not None:
            expected = expected_scale(selected, lookup)
            desired = _scaled(spec["minAvailable"], expected)
        else:
            expected, desired = len(selected), 0
    except ValueError as err:
        status = dict(old)
        status.update({"disruptionsAllowed": 0, "observedGeneration": generation})
        for k in ("currentHealthy", "desiredHealthy", "expectedPods"):
            status.setdefault(k, 0)
        status["conditions"] = [_condition(old, "False", "SyncFailed", str(err), now, generation)]
        return status
    allowed = max(0, healthy - desired) if expected > 0 else 0
    status = {
        "observedGeneration": generation,
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [
            _condition(old, "True", "SufficientPods", "", now, generation) if allowed > 0
            else _condition(old, "False", "InsufficientPods", "", now, generation)
        ],
    }
    if disrupted:
        status["disruptedPods"] = disrupted
    return status


def _condition(
    old: dict[str, Any], status: str, reason: str, message: str, now: str, generation: int
) -> dict[str, Any]:
    prev = next((c for c in old.get("conditions") or [] if c.get("type") == "DisruptionAllowed"),
                None)
    since = prev["lastTransitionTime"] if prev and prev.get("status") == status else now
    return {"type": "DisruptionAllowed", "status": status, "reason": reason, "message": message,
            "lastTransitionTime": since, "observedGeneration": generation}


def check_eviction(pod: dict[str, Any], pdbs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Decide an eviction: return the PDB whose budget it consumes, or None if free.

    Raises TooManyRequests (the real text) when the budget forbids it, InternalError when the
    pod is covered by more than one PDB.
    """
    status = pod.get("status") or {}
    if pod["metadata"].get("deletionTimestamp") or status.get("phase") in TERMINAL_OR_PENDING:
        return None
    covering = [p for p in pdbs if pdb_selects(p, pod)]
    if not covering:
        return None
    if len(covering) > 1:
        raise InternalError("This pod has more than one PodDisruptionBudget, which the eviction "
                            "subresource does not support.")
    pdb = covering[0]
    name = pdb["metadata"]["name"]
    pst = pdb.get("status") or {}
    desired, current = pst.get("desiredHealthy", 0), pst.get("currentHealthy", 0)
    if not pod_ready(pod):
        policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy", "IfHealthyBudget")
        if policy == "AlwaysAllow" or (current >= desired > 0):
            return None
    if pst.get("observedGeneration", 0) < pdb["metadata"].get("generation", 1):
        raise TooManyRequests.disruption_budget(
            f"The disruption budget {name} is still being processed by the server.")
    if pst.get("disruptionsAllowed", 0) > 0:
        return pdb
    raise TooManyRequests.disruption_budget(
        f"The disruption budget {name} needs {desired} healthy pods and has {current} currently")
