"""Typed errors of the emulated Kubernetes API, each rendered as a Kubernetes ``Status``.

The message texts are the ones a real kube-apiserver sends (apimachinery ``api/errors``), so
anything that reads them (kubectl, the Python client, a harness assertion) sees real wording.
"""

from __future__ import annotations

from typing import Any

CONFLICT_MODIFIED = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
PDB_VIOLATION = "Cannot evict pod as it would violate the pod's disruption budget."


class KubeApiError(Exception):
    """Base of every API error: carries HTTP code, Kubernetes reason, message and details."""

    code: int = 500
    reason: str = "InternalError"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        """Return the ``Status`` object (kind Status, apiVersion v1) describing this error."""
        out: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            out["details"] = self.details
        return out

    def __str__(self) -> str:
        return self.message


def _details(qualified: tuple[str, str], name: str, **extra: Any) -> dict[str, Any]:
    group, plural = qualified
    out: dict[str, Any] = {"name": name}
    if group:
        out["group"] = group
    out["kind"] = plural
    out.update(extra)
    return out


def qualified_name(group: str, plural: str) -> str:
    """Return ``plural`` for the core group, ``plural.group`` otherwise (as messages print it)."""
    return f"{plural}.{group}" if group else plural


class NotFound(KubeApiError):
    """404: the object (or the path) does not exist."""

    code = 404
    reason = "NotFound"

    @classmethod
    def object(cls, group: str, plural: str, name: str) -> NotFound:
        """Return ``<plural[.group]> "<name>" not found``."""
        msg = f'{qualified_name(group, plural)} "{name}" not found'
        return cls(msg, _details((group, plural), name))

    @classmethod
    def path(cls) -> NotFound:
        """Return the generic 404 a server gives for an unknown URL."""
        return cls("the server could not find the requested resource", {})


class AlreadyExists(KubeApiError):
    """409: create of a name that is taken."""

    code = 409
    reason = "AlreadyExists"

    @classmethod
    def object(cls, group: str, plural: str, name: str) -> AlreadyExists:
        """Return ``<plural[.group]> "<name>" already exists``."""
        msg = f'{qualified_name(group, plural)} "{name}" already exists'
        return cls(msg, _details((group, plural), name))


class Conflict(KubeApiError):
    """409: optimistic-concurrency failure (stale resourceVersion, failed precondition)."""

    code = 409
    reason = "Conflict"

    @classmethod
    def object(
        cls, group: str, plural: str, name: str, why: str = CONFLICT_MODIFIED
    ) -> Conflict:
        """Return ``Operation cannot be fulfilled on <plural> "<name>": <why>``."""
        qn = qualified_name(group, plural)
        msg = f'Operation cannot be fulfilled on {qn} "{name}": {why}'
        return cls(msg, _details((group, plural), name))


class Invalid(KubeApiError):
    """422: validation failed; ``causes`` are (field, reason, text) triples."""

    code = 422
    reason = "Invalid"

    @classmethod
    def object(
        cls, group: str, kind: str, name: str, causes: list[tuple[str, str, str]]
    ) -> Invalid:
        """Return ``<Kind> "<name>" is invalid: <field>: <text>`` (bracketed list if several)."""
        parts = [f"{field}: {text}" for field, _, text in causes]
        joined = parts[0] if len(parts) == 1 else "[" + ", ".join(parts) + "]"
        details = _details((group, kind), name)
        details["causes"] = [
            {"reason": reason, "message": text, "field": field} for field, reason, text in causes
        ]
        return cls(f'{kind} "{name}" is invalid: {joined}', details)


class BadRequest(KubeApiError):
    """400: malformed request (bad selector, name mismatch, undecodable body)."""

    code = 400
    reason = "BadRequest"


class Forbidden(KubeApiError):
    """403: the request is understood but refused."""

    code = 403
    reason = "Forbidden"


class MethodNotAllowed(KubeApiError):
    """405: the verb does not apply to this path."""

    code = 405
    reason = "MethodNotAllowed"

    def __init__(self, message: str = "", details: dict[str, Any] | None = None) -> None:
        super().__init__(
            message or "the server does not allow this method on the requested resource", details
        )


class NotAcceptable(KubeApiError):
    """406: no media type in Accept can be produced."""

    code = 406
    reason = "NotAcceptable"


class UnsupportedMediaType(KubeApiError):
    """415: the request body's media type is not accepted for this operation."""

    code = 415
    reason = "UnsupportedMediaType"


class Gone(KubeApiError):
    """410 Expired: a watch asked for a resourceVersion older than the retained history."""

    code = 410
    reason = "Expired"

    @classmethod
    def too_old(cls, asked: int, current: int) -> Gone:
        """Return ``too old resource version: <asked> (<current>)``."""
        return cls(f"too old resource version: {asked} ({current})")


class TooManyRequests(KubeApiError):
    """429: for eviction, the disruption budget refuses it."""

    code = 429
    reason = "TooManyRequests"

    @classmethod
    def disruption_budget(cls, cause: str) -> TooManyRequests:
        """Return the eviction refusal with a ``DisruptionBudget`` cause."""
        return cls(PDB_VIOLATION, {"causes": [{"reason": "DisruptionBudget", "message": cause}]})


class InternalError(KubeApiError):
    """500: ``Internal error occurred: <message>`` unless the text is given verbatim."""

    code = 500
    reason = "InternalError"


class NotEmulated(KubeApiError):
    """501: the real API has this, the lab does not. The message starts ``not emulated:``."""

    code = 501
    reason = "NotImplemented"

    def __init__(self, what: str) -> None:
        super().__init__(f"not emulated: {what}")


class ServiceUnavailable(KubeApiError):
    """503: the API server is down (the lab made it unavailable)."""

    code = 503
    reason = "ServiceUnavailable"

    def __init__(self, message: str = "the server is currently unable to handle the request"):
        super().__init__(message, {})
