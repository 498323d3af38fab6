"""References to secrets. A profile names where a secret lives, never the secret itself.

Resolving a reference (reading the variable, file or password store) is I/O and lives in
``drivers/``; this module only describes and parses references.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

SecretKind = Literal["env", "file", "pass"]
SECRET_KINDS: tuple[SecretKind, ...] = ("env", "file", "pass")
INLINE_SECRET_MESSAGE = "inline secret not allowed; use {env: NAME}, {file: PATH} or {pass: PATH}"


@dataclass(frozen=True)
class SecretRef:
    """Where a secret lives: an environment variable, a file, or a `pass` entry.

    Its repr and str show only the kind and the reference, which are safe to log.
    """

    kind: SecretKind
    ref: str

    def __post_init__(self) -> None:
        if self.kind not in SECRET_KINDS:
            raise ValueError(f"unknown secret kind {self.kind!r} (expected env, file or pass)")
        if not self.ref or not self.ref.strip():
            raise ValueError(f"empty {self.kind} reference")

    def __repr__(self) -> str:
        return f"SecretRef({self.kind}:{self.ref})"

    def __str__(self) -> str:
        return f"{{{self.kind}: {self.ref}}}"

    @classmethod
    def parse(cls, value: object) -> SecretRef:
        """Return the reference for ``{env: NAME}``, ``{file: PATH}`` or ``{pass: PATH}``.

        Raises ValueError (never echoing the value) for inline strings or other shapes.
        """
        if isinstance(value, SecretRef):
            return value
        if not isinstance(value, dict):
            raise ValueError(INLINE_SECRET_MESSAGE)
        if len(value) != 1:
            keys = ", ".join(sorted(str(k) for k in value)) or "nothing"
            raise ValueError(
                f"a secret reference has exactly one of env, file or pass (got {keys})"
            )
        ((kind, ref),) = value.items()
        if kind not in SECRET_KINDS:
            raise ValueError(
                f"unknown secret kind {kind!r}; use {{env: NAME}}, {{file: PATH}} or {{pass: PATH}}"
            )
        if not isinstance(ref, str) or not ref.strip():
            raise ValueError(f"{kind}: expected a non-empty name or path")
        return cls(cast(SecretKind, kind), ref.strip())
