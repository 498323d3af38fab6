"""Builders of add-on custom resources: Velero Backup, Flux Kustomization and HelmRelease.

Field names and phases follow velero.io/v1 (``pkg/apis/velero/v1/backup_types.go``) and the
Flux v1/v2 APIs (``fluxcd/pkg`` conditions). ``set_backup_phase`` and ``set_flux_ready``
move an existing object along, as the controllers would.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from .basics import Obj, condition, hex_digest, meta, ts
from .clock import parse_time, rfc3339, utcnow

BACKUP_PHASES = (
    "New", "FailedValidation", "InProgress", "WaitingForPluginOperations",
    "WaitingForPluginOperationsPartiallyFailed", "Finalizing", "FinalizingPartiallyFailed",
    "Completed", "PartiallyFailed", "Failed", "Deleting",
)
TERMINAL_BACKUP_PHASES = ("Completed", "PartiallyFailed", "Failed", "FailedValidation")


def parse_go_duration(text: str) -> timedelta:
    """Parse a Go duration such as ``720h0m0s`` or ``10m``; raise ValueError if malformed."""
    parts = re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"invalid duration {text!r}")
    scale = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return timedelta(seconds=sum(float(n) * scale[u] for n, u in parts))


def velero_backup(
    name: str, namespace: str = "velero", *, included_namespaces: list[str] | None = None,
    excluded_namespaces: list[str] | None = None, ttl: str = "720h0m0s",
    storage_location: str = "default", default_volumes_to_fs_backup: bool | None = None,
    snapshot_volumes: bool | None = None, labels: dict[str, str] | None = None,
    phase: str | None = None, items: int = 0, at: datetime | None = None,
) -> Obj:
    """Return a velero.io/v1 Backup; with ``phase`` its status is filled as Velero would."""
    spec: Obj = {"includedNamespaces": included_namespaces or ["*"], "ttl": ttl,
                 "storageLocation": storage_location, "hooks": {},
                 "csiSnapshotTimeout": "10m0s", "itemOperationTimeout": "4h0m0s",
                 "metadata": {}}
    if excluded_namespaces:
        spec["excludedNamespaces"] = list(excluded_namespaces)
    if default_volumes_to_fs_backup is not None:
        spec["defaultVolumesToFsBackup"] = default_volumes_to_fs_backup
    if snapshot_volumes is not None:
        spec["snapshotVolumes"] = snapshot_volumes
    obj: Obj = {"apiVersion": "velero.io/v1", "kind": "Backup",
                "metadata": meta("Backup", name, namespace, labels=labels, at=at),
                "spec": spec, "status": {}}
    obj["metadata"]["generation"] = 1
    if phase is not None:
        set_backup_phase(obj, phase, at=at, items=items)
    return obj


def set_backup_phase(
    backup: Obj, phase: str, *, at: datetime | None = None, items: int | None = None,
    errors: int = 0, warnings: int = 0, failure_reason: str | None = None,
) -> Obj:
    """Move a Backup to ``phase``: start/completion/expiration times, progress, error counts.

    Raises ValueError for a phase Velero does not have.
    """
    if phase not in BACKUP_PHASES:
        raise ValueError(f"unknown Velero backup phase {phase!r}; one of {BACKUP_PHASES}")
    now = at or utcnow()
    st = backup.setdefault("status", {})
    spec = backup.setdefault("spec", {})
    st["phase"] = phase
    if phase == "FailedValidation":
        st["validationErrors"] = [failure_reason or "invalid backup spec"]
        return backup
    st.update({"version": 1, "formatVersion": "1.1.0"})
    st.setdefault("startTimestamp", rfc3339(now))
    ttl = parse_go_duration(spec.get("ttl") or "720h0m0s")
    st["expiration"] = rfc3339(parse_time(st["startTimestamp"]) + ttl)
    backup["metadata"].setdefault("labels", {})["velero.io/storage-location"] = \
        spec.get("storageLocation", "default")
    total = items if items is not None else st.get("progress", {}).get("totalItems", 0)
    done = total if phase in TERMINAL_BACKUP_PHASES + ("Finalizing",) else total // 2
    st["progress"] = {"totalItems": total, "itemsBackedUp": done}
    if phase in TERMINAL_BACKUP_PHASES:
        st["completionTimestamp"] = rfc3339(now)
    for key, value in (("errors", errors), ("warnings", warnings)):
        if value:
            st[key] = value
        else:
            st.pop(key, None)
    if failure_reason and phase == "Failed":
        st["failureReason"] = failure_reason
    return backup


def git_revision(branch: str = "main", seed: str = "lab") -> str:
    """Return a Flux revision string ``<branch>@sha1:<40 hex>``."""
    return f"{branch}@sha1:{hex_digest('git ' + seed, 40)}"


def kustomization(
    name: str, namespace: str = "flux-system", *, path: str = "./clusters/lab",
    source: str = "flux-system", ready: bool | None = True, revision: str | None = None,
    reason: str | None = None, message: str | None = None, suspend: bool = False,
    at: datetime | None = None,
) -> Obj:
    """Return a kustomize.toolkit.fluxcd.io/v1 Kustomization with a Ready condition."""
    rev = revision or git_revision(seed=name)
    obj: Obj = {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": meta("Kustomization", name, namespace, at=at,
                         labels={"kustomize.toolkit.fluxcd.io/name": "flux-system",
                                 "kustomize.toolkit.fluxcd.io/namespace": "flux-system"}),
        "spec": {"interval": "10m0s", "path": path, "prune": True, "force": False,
                 "sourceRef": {"kind": "GitRepository", "name": source}, "timeout": "5m0s",
                 "suspend": suspend},
        "status": {"observedGeneration": 1, "lastAttemptedRevision": rev, "conditions": []},
    }
    obj["metadata"]["generation"] = 1
    if ready is not False:
        obj["status"]["lastAppliedRevision"] = rev
    return set_flux_ready(obj, ready, reason=reason, message=message, at=at)


def helmrelease(
    name: str, namespace: str, *, chart: str = "", version: str = "1.0.0", repository: str = "",
    ready: bool | None = True, reason: str | None = None, message: str | None = None,
    suspend: bool = False, at: datetime | None = None,
) -> Obj:
    """Return a helm.toolkit.fluxcd.io/v2 HelmRelease with Ready and Released conditions."""
    chart = chart or name
    repo = repository or chart
    when = ts(at)
    obj: Obj = {
        "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
        "metadata": meta("HelmRelease", name, namespace, at=at),
        "spec": {"interval": "30m", "suspend": suspend, "chart": {"spec": {
            "chart": chart, "version": version, "reconcileStrategy": "ChartVersion",
            "sourceRef": {"kind": "HelmRepository", "name": repo, "namespace": "flux-system"}}}},
        "status": {
            "observedGeneration": 1, "lastAttemptedGeneration": 1,
            "lastAttemptedRevision": version, "helmChart": f"flux-system/{namespace}-{name}",
            "lastAttemptedReleaseAction": "install", "conditions": [],
            "history": [{"name": name, "namespace": namespace, "version": 1,
                         "status": "deployed", "chartName": chart, "chartVersion": version,
                         "appVersion": version, "firstDeployed": when, "lastDeployed": when,
                         "digest": "sha256:" + hex_digest(f"{name}{version}"),
                         "configDigest": "sha256:" + hex_digest(f"{name}{version}config")}],
        },
    }
    obj["metadata"]["generation"] = 1
    return set_flux_ready(obj, ready, reason=reason, message=message, at=at)


def set_flux_ready(
    obj: Obj, ready: bool | None, *, reason: str | None = None, message: str | None = None,
    at: datetime | None = None,
) -> Obj:
    """Set the Ready condition (and Released for a HelmRelease) of a Flux object."""
    gen = obj["metadata"].get("generation", 1)
    st = obj.setdefault("status", {})
    kind, name, ns = obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")
    if obj["spec"].get("suspend") and ready is None:
        reason = reason or "Suspended"
    if kind == "HelmRelease":
        chart = obj["spec"]["chart"]["spec"]
        ok_msg = (f"Helm install succeeded for release {ns}/{name}.v1 with chart "
                  f"{chart['chart']}@{chart['version']}")
        defaults = {True: ("InstallSucceeded", ok_msg),
                    False: ("InstallFailed", f"Helm install failed for release {ns}/{name} with "
                            f"chart {chart['chart']}@{chart['version']}: context deadline "
                            "exceeded"),
                    None: ("Progressing", "Fulfilling prerequisites")}
    else:
        rev = st.get("lastAttemptedRevision", "")
        defaults = {True: ("ReconciliationSucceeded", f"Applied revision: {rev}"),
                    False: ("ReconciliationFailed", "kustomize build failed: accumulating "
                            "resources: open ./missing: no such file or directory"),
                    None: ("Progressing", "Reconciliation in progress")}
    r, m = defaults[ready]
    conds = [condition("Ready", ready, reason or r, message or m, at, generation=gen)]
    if kind == "HelmRelease" and ready is not None:
        conds.append(condition("Released", ready, reason or r, message or m, at, generation=gen))
    prev = {c["type"]: c for c in st.get("conditions") or []}
    for c in conds:
        p = prev.get(c["type"])
        if p is not None and p.get("status") == c["status"]:
            c["lastTransitionTime"] = p["lastTransitionTime"]
    st["conditions"] = conds
    st["observedGeneration"] = gen
    return obj


def flux_ready(obj: dict[str, Any]) -> str:
    """Return the Ready condition status ("True"/"False"/"Unknown"), "" if absent."""
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return str(c.get("status", ""))
    return ""
