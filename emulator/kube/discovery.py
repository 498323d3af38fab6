"""Legacy (unaggregated) discovery documents: ``/api``, ``/apis``, ``/api/v1``, ``/apis/g/v``.

Aggregated discovery (``apidiscovery.k8s.io/v2``) is not served: the routes answer
``application/json`` and clients such as kubectl fall back to these documents.
"""

from __future__ import annotations

from typing import Any

from .resources import ResourceType, group_versions, in_group_version


def api_versions(server_address: str) -> dict[str, Any]:
    """Return ``/api``: the APIVersions of the core group."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group(group: str, versions: list[str]) -> dict[str, Any]:
    """Return ``/apis/<group>``: an APIGroup with its preferred (first) version."""
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
            "preferredVersion": gvs[0]}


def api_group_list() -> dict[str, Any]:
    """Return ``/apis``: every non-core group served."""
    groups = []
    for g, vs in group_versions().items():
        body = api_group(g, vs)
        del body["kind"], body["apiVersion"]
        groups.append(body)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def _entry(rt: ResourceType) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rt.plural, "singularName": rt.singular,
                           "namespaced": rt.namespaced, "kind": rt.kind, "verbs": list(rt.verbs)}
    if rt.short_names:
        out["shortNames"] = list(rt.short_names)
    if rt.categories:
        out["categories"] = list(rt.categories)
    return out


def resource_list(group: str, version: str) -> dict[str, Any] | None:
    """Return ``/api/v1`` or ``/apis/<g>/<v>`` (APIResourceList), None if not served."""
    types = in_group_version(group, version)
    if not types:
        return None
    resources: list[dict[str, Any]] = []
    for rt in types:
        resources.append(_entry(rt))
        for sub in rt.subresources:
            entry: dict[str, Any] = {"name": f"{rt.plural}/{sub.name}", "singularName": "",
                                     "namespaced": rt.namespaced, "kind": sub.kind,
                                     "verbs": list(sub.verbs)}
            if sub.group:
                entry["group"], entry["version"] = sub.group, sub.version
            resources.append(entry)
    gv = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}
