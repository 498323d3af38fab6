"""One watch: a filtered, ordered stream of ADDED/MODIFIED/DELETED events for one resource."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import dataclass
from typing import Any

from .resources import ResourceType
from .selectors import FieldRequirement, LabelSelector, fields_match

_CLOSED = object()


@dataclass(frozen=True)
class Change:
    """A committed change: its resourceVersion, resource key, type, new/final and old object."""

    rv: int
    key: str
    type: str  # ADDED | MODIFIED | DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


class Watch:
    """Events of one resource filtered by namespace, labels and fields; async-iterable.

    Created by :meth:`KubeStore.watch`. A MODIFIED change that moves an object into (out of)
    the selection is delivered as ADDED (DELETED), as the API server does. Iteration ends
    after :meth:`close`.
    """

    def __init__(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: tuple[FieldRequirement, ...],
    ) -> None:
        self.rt = rt
        self.namespace = namespace
        self.labels = labels
        self.fields = fields
        self.closed = False
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def selects(self, obj: dict[str, Any] | None) -> bool:
        """Return True if ``obj`` is in this watch's selection."""
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels")) and fields_match(obj, self.fields)

    def offer(self, change: Change) -> None:
        """Queue the event ``change`` produces for this watch, if any."""
        if self.closed or change.key != self.rt.key:
            return
        now_in, was_in = self.selects(change.obj), self.selects(change.old)
        if change.type == "ADDED":
            kind = "ADDED" if now_in else None
        elif change.type == "DELETED":
            kind = "DELETED" if self.selects(change.old or change.obj) else None
        elif now_in and was_in:
            kind = "MODIFIED"
        elif now_in:
            kind = "ADDED"
        elif was_in:
            kind = "DELETED"
        else:
            kind = None
        if kind is not None:
            self.push(kind, change.obj)

    def push(self, kind: str, obj: dict[str, Any]) -> None:
        """Queue one event unconditionally (used for the initial synthetic ADDED events)."""
        if not self.closed:
            self._queue.put_nowait({"type": kind, "object": copy.deepcopy(obj)})

    def close(self) -> None:
        """End the stream: pending events are still delivered, then iteration stops."""
        if not self.closed:
            self.closed = True
            self._queue.put_nowait(_CLOSED)

    async def next(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Return the next event, None if ``timeout`` passes first; StopAsyncIteration if closed."""
        try:
            item = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if item is _CLOSED:
            self._queue.put_nowait(_CLOSED)  # keep later calls stopping too
            raise StopAsyncIteration
        return dict(item)

    def __aiter__(self) -> Watch:
        return self

    async def __anext__(self) -> dict[str, Any]:
        event = await self.next()
        assert event is not None
        return event
