"""``KubeStore``: the in-memory state and rules of the emulated Kubernetes API (no HTTP).

Resources are named by key (see :mod:`emulator.kube.resources`): ``"nodes"``, ``"pods"``,
``"deployments.apps"``, ``"backups.velero.io"``; bare plurals, kinds and short names are
accepted when unambiguous. Objects go in and come out as JSON-shaped dicts; the store keeps
its own deep copies. Use it from the event-loop thread only (watch delivery uses
``asyncio.Queue``). API methods (``create``/``replace``/``patch``/``delete``/``evict``) follow
the real server's rules and raise :mod:`emulator.kube.errors`; the lab's world seeds and
mutates objects with ``put``/``mutate``, which bypass the status-subresource rules.
"""

from __future__ import annotations

import copy
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import disruption
from .admission import apply_defaults, generated_name, merge_update, validate_name
from .clock import rfc3339, utcnow
from .errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotEmulated,
    NotFound,
    UnsupportedMediaType,
)
from .patch import PatchError, PatchType, apply_patch
from .resources import ResourceType, resolve
from .selectors import LabelSelector, parse_field_selector, parse_label_selector
from .watch import Change, Watch

Subscriber = Callable[[str, str, dict[str, Any]], None]
DEFAULT_NAMESPACES = ("default", "kube-node-lease", "kube-public", "kube-system")
_PDB_INPUTS = frozenset({"pods", "poddisruptionbudgets.policy", "deployments.apps",
                         "replicasets.apps"})


class KubeStore:
    """All Kubernetes objects of one lab, with resourceVersions, watches and the PDB controller."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] = utcnow,
        history_size: int = 10000,
        namespaces: tuple[str, ...] = DEFAULT_NAMESPACES,
        disruption_controller: bool = True,
    ) -> None:
        self.clock = clock
        self._objects: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
        self._rv = 0
        self._history: deque[Change] = deque(maxlen=history_size)
        self._watches: set[Watch] = set()
        self._subscribers: list[Subscriber] = []
        self._disruption = disruption_controller
        self._syncing = False
        self._name_counter = 0
        for ns in namespaces:
            self.put("namespaces", {"metadata": {"name": ns}})

    # ------------------------------------------------------------------ reading
    @property
    def resource_version(self) -> str:
        """Return the latest resourceVersion (a decimal string, as the API uses)."""
        return str(self._rv)

    def now(self) -> str:
        """Return the store clock's time as ``metav1.Time`` text."""
        return rfc3339(self.clock())

    def get(self, plural: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        """Return a copy of the object; raise NotFound (``pods "x" not found``)."""
        rt = resolve(plural)
        obj = self._bucket(rt).get(self._id(rt, name, namespace))
        if obj is None:
            raise NotFound.object(rt.group, rt.plural, name)
        return copy.deepcopy(obj)

    def list(
        self,
        plural: str,
        namespace: str | None = None,
        label_selector: str | LabelSelector | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[dict[str, Any]], str]:
        """Return (copies of the matching objects sorted by namespace/name, resourceVersion)."""
        rt = resolve(plural)
        labels = (label_selector if isinstance(label_selector, LabelSelector)
                  else parse_label_selector(label_selector))
        fields = parse_field_selector(field_selector, rt.allowed_field_selectors(), rt.custom)
        probe = Watch(rt, namespace if rt.namespaced else None, labels, fields)
        items = [copy.deepcopy(o) for _, o in sorted(self._bucket(rt).items()) if probe.selects(o)]
        return items, self.resource_version

    # ------------------------------------------------------------------ API writes
    def create(
        self, plural: str, obj: dict[str, Any], namespace: str | None = None, *,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Create ``obj``; return it with uid, resourceVersion, creationTimestamp, generation.

        Raises AlreadyExists, NotFound (namespace missing), Invalid (name), BadRequest.
        """
        rt = resolve(plural)
        new = self._prepare(rt, obj, namespace)
        meta = new["metadata"]
        if self._id(rt, meta["name"], meta.get("namespace")) in self._bucket(rt):
            raise AlreadyExists.object(rt.group, rt.plural, meta["name"])
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(k, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self.now()
        meta["generation"] = 1
        if dry_run:
            return new
        return self._commit(rt, "ADDED", new, None)

    def replace(
        self, plural: str, obj: dict[str, Any], namespace: str | None = None, *,
        subresource: str | None = None, client: bool = False, dry_run: bool = False,
    ) -> dict[str, Any]:
        """Replace (PUT) the object; a stale ``metadata.resourceVersion`` raises Conflict.

        ``subresource="status"`` changes only ``.status``. ``client=True`` applies the rule a
        client request gets: on the main resource of a type with a status subresource,
        ``.status`` changes are ignored (the HTTP routes set it; the world usually does not).
        """
        rt = resolve(plural)
        new = copy.deepcopy(obj)
        meta = new.setdefault("metadata", {})
        name = meta.get("name") or ""
        ns = self._namespace(rt, meta.get("namespace"), namespace)
        current = self.get(rt.key, name, ns)
        rv = meta.get("resourceVersion")
        if rv and rv != current["metadata"]["resourceVersion"]:
            raise Conflict.object(rt.group, rt.plural, name)
        return self._update(rt, current, new, subresource, client, dry_run)

    def patch(
        self, plural: str, name: str, patch: Any, patch_type: str | PatchType = "strategic",
        namespace: str | None = None, *, subresource: str | None = None, client: bool = False,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Apply a merge/strategic/json patch; return the new object (``subresource`` and
        ``client`` as for :meth:`replace`; ``patch_type`` is a PatchType, its content type,
        or ``json``/``merge``/``strategic``).

        Raises NotFound, Conflict (resourceVersion in the patch is stale), Invalid (the patch
        does not apply), UnsupportedMediaType (strategic patch on a custom resource),
        NotEmulated (server-side apply).
        """
        rt = resolve(plural)
        pt = PatchType.parse(patch_type)
        if pt is PatchType.APPLY:
            raise NotEmulated("server-side apply (application/apply-patch+yaml)")
        if pt is PatchType.STRATEGIC and rt.custom:
            raise UnsupportedMediaType(
                "the body of the request was in an unknown format - accepted media types "
                "include: application/json-patch+json, application/merge-patch+json, "
                "application/apply-patch+yaml")
        current = self.get(rt.key, name, namespace)
        try:
            new = apply_patch(current, patch, pt)
        except PatchError as err:
            raise Invalid(str(err)) from None
        meta = new.setdefault("metadata", {})
        if meta.get("name") != name:
            raise BadRequest(
                f"the name of the object ({meta.get('name')}) does not match the name on "
                f"the URL ({name})")
        if meta.get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict.object(rt.group, rt.plural, name)
        return self._update(rt, current, new, subresource, client, dry_run)

    def delete(
        self, plural: str, name: str, namespace: str | None = None, *,
        preconditions: dict[str, Any] | None = None, dry_run: bool = False,
    ) -> dict[str, Any]:
        """Delete the object and return its last state.

        With finalizers it only gets ``deletionTimestamp`` and goes when they are removed.
        Deleting a namespace deletes everything in it at once. Raises NotFound, Conflict.
        """
        rt = resolve(plural)
        current = self.get(rt.key, name, namespace)
        meta = current["metadata"]
        for field in ("uid", "resourceVersion"):
            want = (preconditions or {}).get(field)
            if want and want != meta.get(field):
                label = "UID" if field == "uid" else "ResourceVersion"
                raise Conflict.object(
                    rt.group, rt.plural, name,
                    f"Precondition failed: {label} in precondition: {want}, "
                    f"{label} in object meta: {meta.get(field)}")
        already = bool(meta.get("deletionTimestamp"))
        meta.setdefault("deletionTimestamp", self.now())
        meta.setdefault("deletionGracePeriodSeconds", 0)
        if dry_run:
            return current
        if meta.get("finalizers"):
            if already:
                return current
            return self._commit(rt, "MODIFIED", current, self.get(rt.key, name, namespace))
        if rt.key == "namespaces":
            for other in list(self._objects):
                other_rt = resolve(other)
                if other_rt.namespaced:
                    for (ns, obj_name) in list(self._bucket(other_rt)):
                        if ns == name:
                            self._remove(other_rt, obj_name, ns)
        return self._remove(rt, name, meta.get("namespace"), current)

    def evict(self, namespace: str, pod_name: str, *, dry_run: bool = False) -> None:
        """Evict a pod as ``pods/eviction`` does: honour PodDisruptionBudgets, then delete it.

        Raises NotFound, TooManyRequests (``Cannot evict pod as it would violate the pod's
        disruption budget.``), InternalError (pod covered by several PDBs).
        """
        pod = self.get("pods", pod_name, namespace)
        pdbs, _ = self.list("poddisruptionbudgets.policy", namespace)
        pdb = disruption.check_eviction(pod, pdbs)
        if dry_run:
            return
        if pdb is not None:
            status = dict(pdb.get("status") or {})
            status["disruptionsAllowed"] = status.get("disruptionsAllowed", 0) - 1
            status["disruptedPods"] = {**(status.get("disruptedPods") or {}),
                                       pod_name: self.now()}
            self._write_status(pdb, status)
        self.delete("pods", pod_name, namespace)

    # ------------------------------------------------------------------ world writes
    def put(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or overwrite ``obj`` as the world sees fit (keeps given uid/timestamps)."""
        rt = resolve(plural)
        new = self._prepare(rt, obj, None)
        meta = new["metadata"]
        key = self._id(rt, meta["name"], meta.get("namespace"))
        old = self._bucket(rt).get(key)
        if old is None:
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", self.now())
            meta.setdefault("generation", 1)
            return self._commit(rt, "ADDED", new, None)
        return self._write(rt, copy.deepcopy(old), new)

    def mutate(
        self, plural: str, name: str, fn: Callable[[dict[str, Any]], dict[str, Any] | None],
        namespace: str | None = None,
    ) -> dict[str, Any]:
        """Apply ``fn`` to a copy of the object (in place or returning a new dict); store it.

        Spec and status may both change; a no-op makes no new resourceVersion. Raises NotFound.
        """
        rt = resolve(plural)
        current = self.get(rt.key, name, namespace)
        work = copy.deepcopy(current)
        result = fn(work)
        return self._write(rt, current, work if result is None else result)

    # ------------------------------------------------------------------ watching
    def watch(
        self, plural: str, namespace: str | None = None, resource_version: str | None = None,
        label_selector: str | LabelSelector | None = None, field_selector: str | None = None,
    ) -> Watch:
        """Start a watch; without a resourceVersion (or "0") it opens with ADDED for each match.

        Raises Gone if ``resource_version`` is older than the retained history.
        """
        rt = resolve(plural)
        labels = (label_selector if isinstance(label_selector, LabelSelector)
                  else parse_label_selector(label_selector))
        fields = parse_field_selector(field_selector, rt.allowed_field_selectors(), rt.custom)
        w = Watch(rt, namespace if rt.namespaced else None, labels, fields)
        if resource_version in (None, "", "0"):
            for _, obj in sorted(self._bucket(rt).items()):
                if w.selects(obj):
                    w.push("ADDED", obj)
        else:
            try:
                since = int(resource_version)
            except ValueError:
                raise BadRequest(f"invalid resource version: {resource_version}") from None
            oldest = self._history[0].rv if self._history else self._rv + 1
            if since < oldest - 1:
                raise Gone.too_old(since, self._rv)
            for change in self._history:
                if change.rv > since:
                    w.offer(change)
        self._watches.add(w)
        return w

    def stop_watch(self, w: Watch) -> None:
        """Close ``w`` and forget it."""
        w.close()
        self._watches.discard(w)

    def close_watches(self) -> None:
        """Close every open watch (their streams end; clients reconnect)."""
        for w in list(self._watches):
            self.stop_watch(w)

    def reset(self, namespaces: tuple[str, ...] = DEFAULT_NAMESPACES) -> None:
        """A NEW cluster (a fresh etcd after a rebuild): every object is gone, open watches
        end, the history starts over (resourceVersions keep growing); only the default
        namespaces exist. Subscribers stay."""
        self.close_watches()
        self._objects.clear()
        self._history.clear()
        for ns in namespaces:
            self.put("namespaces", {"metadata": {"name": ns}})

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event_type, key, obj_copy)`` after every change; return unsubscribe."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------------ internals
    def _bucket(self, rt: ResourceType) -> dict[tuple[str, str], dict[str, Any]]:
        return self._objects.setdefault(rt.key, {})

    @staticmethod
    def _id(rt: ResourceType, name: str, namespace: str | None) -> tuple[str, str]:
        return ((namespace or "default") if rt.namespaced else "", name)

    @staticmethod
    def _namespace(rt: ResourceType, in_obj: str | None, given: str | None) -> str | None:
        if not rt.namespaced:
            return None
        if given and in_obj and given != in_obj:
            raise BadRequest("the namespace of the provided object does not match the "
                             "namespace sent on the request")
        return given or in_obj or "default"

    def _prepare(self, rt: ResourceType, obj: dict[str, Any], namespace: str | None
                 ) -> dict[str, Any]:
        new = copy.deepcopy(obj)
        if new.get("apiVersion") not in (None, rt.api_version):
            raise BadRequest(f"the API version in the data ({new['apiVersion']}) does not match "
                             f"the expected API version ({rt.api_version})")
        new["apiVersion"], new["kind"] = rt.api_version, rt.kind
        meta = new.setdefault("metadata", {})
        ns = self._namespace(rt, meta.get("namespace"), namespace)
        if ns is None:
            meta.pop("namespace", None)
        else:
            meta["namespace"] = ns
            if ("", ns) not in self._bucket(resolve("namespaces")):
                raise NotFound.object("", "namespaces", ns)
        if not meta.get("name") and meta.get("generateName"):
            self._name_counter += 1
            meta["name"] = generated_name(meta["generateName"], self._name_counter)
        validate_name(rt, meta.get("name") or "")
        apply_defaults(rt, new)
        return new

    def _update(self, rt: ResourceType, current: dict[str, Any], new: dict[str, Any],
                subresource: str | None, client: bool, dry_run: bool) -> dict[str, Any]:
        if subresource is not None and not rt.has_subresource(subresource):
            raise NotFound.path()
        if subresource not in (None, "status"):
            raise NotEmulated(f"update of {rt.plural}/{subresource}")
        if new.get("apiVersion") not in (None, rt.api_version):
            raise BadRequest(f"the API version in the data ({new['apiVersion']}) does not match "
                             f"the expected API version ({rt.api_version})")
        if subresource == "status":
            status = new.get("status")
            new = copy.deepcopy(current)
            new.pop("status", None)
            if status is not None:
                new["status"] = status
        elif client and rt.has_subresource("status"):
            new.pop("status", None)
            if "status" in current:
                new["status"] = copy.deepcopy(current["status"])
        if dry_run:
            return merge_update(rt, current, new)
        return self._write(rt, current, new)

    def _write(self, rt: ResourceType, current: dict[str, Any], new: dict[str, Any]
               ) -> dict[str, Any]:
        new = merge_update(rt, current, new)
        if new == current:
            return new
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(rt, meta["name"], meta.get("namespace"), new)
        return self._commit(rt, "MODIFIED", new, current)

    def _write_status(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        rt = resolve(obj["kind"])
        new = copy.deepcopy(obj)
        new["status"] = status
        self._commit(rt, "MODIFIED", new, obj, sync=False)

    def _remove(self, rt: ResourceType, name: str, namespace: str | None,
                final: dict[str, Any] | None = None) -> dict[str, Any]:
        key = self._id(rt, name, namespace)
        old = self._bucket(rt)[key]
        return self._commit(rt, "DELETED", copy.deepcopy(final or old), old)

    def _commit(self, rt: ResourceType, kind: str, new: dict[str, Any],
                old: dict[str, Any] | None, *, sync: bool = True) -> dict[str, Any]:
        self._rv += 1
        meta = new["metadata"]
        meta["resourceVersion"] = str(self._rv)
        key = self._id(rt, meta["name"], meta.get("namespace"))
        if kind == "DELETED":
            self._bucket(rt).pop(key, None)
        else:
            self._bucket(rt)[key] = copy.deepcopy(new)
        change = Change(self._rv, rt.key, kind, copy.deepcopy(new),
                        copy.deepcopy(old) if old is not None else None)
        self._history.append(change)
        for w in list(self._watches):
            w.offer(change)
        for cb in list(self._subscribers):
            cb(kind, rt.key, copy.deepcopy(new))
        if sync and self._disruption and rt.key in _PDB_INPUTS and not self._syncing:
            self._sync_pdbs(meta.get("namespace"))
        return copy.deepcopy(new)

    def _sync_pdbs(self, namespace: str | None) -> None:
        """Recompute the status of every PDB in ``namespace`` (the disruption controller)."""
        self._syncing = True
        try:
            pdbs = [o for (ns, _), o in sorted(self._bucket(resolve("pdb")).items())
                    if ns == namespace]
            if not pdbs:
                return
            pods = [o for (ns, _), o in self._bucket(resolve("pods")).items() if ns == namespace]

            def lookup(kind: str, name: str) -> dict[str, Any] | None:
                key = {"ReplicaSet": "replicasets.apps", "Deployment": "deployments.apps"}[kind]
                return self._bucket(resolve(key)).get((namespace or "", name))

            for pdb in pdbs:
                status = disruption.pdb_status(pdb, pods, lookup, self.now())
                if status != pdb.get("status"):
                    self._write_status(pdb, status)
        finally:
            self._syncing = False

