"""Field types and validators shared by the profile models (model/profile.py).

Each validator raises ValueError with the reason an operator reads after the field path.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, PlainSerializer, PlainValidator, ValidationInfo

from model.secrets import SecretRef
from model.versions import KubeVersion, TalosVersion

NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
GO_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:h|m|s|ms|us|µs|ns))+$")
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")


def _version_text(value: object) -> object:
    # YAML reads `version: 1.9` as the float 1.9: report it as the text the operator wrote.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _talos_version(value: object) -> TalosVersion:
    return TalosVersion.parse(_version_text(value))


def _kube_version(value: object) -> KubeVersion:
    return KubeVersion.parse(_version_text(value))


def parse_duration(value: object) -> float:
    """Return seconds for ``90``, ``"60s"``, ``"10m"``, ``"1h30m"``; raise ValueError otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (expected e.g. 90s, 10m, 1h30m or seconds)")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = str(value).strip()
        match = _DURATION.match(text)
        if _NUMBER.match(text):
            seconds = float(text)
        elif text and match:
            h, m, s = (float(g) if g else 0.0 for g in match.groups())
            seconds = h * 3600 + m * 60 + s
        else:
            raise ValueError(
                f"{text!r} is not a duration (expected e.g. 90s, 10m, 1h30m or seconds)"
            )
    if seconds <= 0:
        raise ValueError(f"{value!r}: a duration must be positive")
    return seconds


def check_http_url(value: str) -> str:
    """Return the URL without a trailing slash; raise ValueError unless it is http(s)://host..."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def normal_ip(value: object) -> str:
    """Return the canonical text of an IPv4/IPv6 address; raise ValueError naming the value."""
    try:
        return str(ipaddress.ip_address(str(value).strip()))
    except ValueError:
        raise ValueError(f"{str(value)!r} is not a valid IP address") from None


def resolve_path(path: Path, info: ValidationInfo) -> Path:
    """Expand ``~``; resolve a relative path against the profile's directory (validation context
    ``base_dir``), or leave it relative when there is no context."""
    path = path.expanduser()
    base = info.context.get("base_dir") if isinstance(info.context, dict) else None
    if not path.is_absolute() and isinstance(base, Path):
        return base / path
    return path


TalosVersionField = Annotated[TalosVersion, PlainValidator(_talos_version), PlainSerializer(str)]
KubeVersionField = Annotated[KubeVersion, PlainValidator(_kube_version), PlainSerializer(str)]
SecretRefField = Annotated[SecretRef, PlainValidator(SecretRef.parse), PlainSerializer(str)]
Duration = Annotated[float, PlainValidator(parse_duration)]


class Frozen(BaseModel):
    """A profile model: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")
