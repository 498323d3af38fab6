"""Time formats of the Kubernetes API and kubectl's human-readable ages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utcnow() -> datetime:
    """Return the current time, timezone-aware UTC."""
    return datetime.now(UTC)


def rfc3339(dt: datetime) -> str:
    """Return ``metav1.Time`` format: ``2026-11-20T10:00:00Z`` (second precision)."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(dt: datetime) -> str:
    """Return ``metav1.MicroTime`` format: ``2026-11-20T10:00:00.000000Z``."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Parse an RFC 3339 time as the API writes it (``Z`` or offset, optional fraction)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def human_duration(d: timedelta) -> str:
    """Return apimachinery ``duration.HumanDuration``: ``45s``, ``3m20s``, ``5h10m``, ``12d``."""
    seconds = int(d.total_seconds())
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        s = seconds % 60
        return f"{minutes}m" if s == 0 else f"{minutes}m{s}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = seconds // 3600
    if hours < 8:
        m = minutes % 60
        return f"{hours}h" if m == 0 else f"{hours}h{m}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        h = hours % 24
        return f"{hours // 24}d" if h == 0 else f"{hours // 24}d{h}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        dy = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if dy == 0 else f"{hours // 24 // 365}y{dy}d"
    return f"{hours // 24 // 365}y"


def age(timestamp: str | None, now: datetime) -> str:
    """Return the kubectl AGE of ``timestamp`` at ``now`` (``<unknown>`` if absent)."""
    if not timestamp:
        return "<unknown>"
    return human_duration(now - parse_time(timestamp))
