"""Findings: what a check found wrong. An empty list of findings means the check passed."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Category(Enum):
    """What kind of problem a finding is, for grouping in reports."""

    ETCD = "etcd"
    NODE_READINESS = "node_readiness"
    VERSION_MISMATCH = "version_mismatch"
    EXTENSIONS = "extensions"
    WORKLOADS = "workloads"
    FLUX = "flux"
    HARNESS_ERROR = "harness_error"
    BACKUPS = "backups"

    def __str__(self) -> str:
        return self.value

    @property
    def label(self) -> str:
        """The name a report shows for this category."""
        return "Flux" if self is Category.FLUX else self.value.replace("_", " ")


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Finding:
    """One thing a check saw that differs from what it expected.

    ``check`` is the check's name, ``subject`` the node/member/object it is about.
    """

    check: str
    subject: str
    expected: str
    observed: str
    hint: str
    category: Category

    def __str__(self) -> str:
        line = f"[{self.check}] {self.subject}: expected {self.expected}, observed {self.observed}"
        if self.hint:
            line += f" — hint: {self.hint}"
        return _one_line(line)

    def to_dict(self) -> dict[str, str]:
        """A JSON-ready dict (the category as its string value)."""
        return {
            "check": self.check,
            "subject": self.subject,
            "expected": self.expected,
            "observed": self.observed,
            "hint": self.hint,
            "category": self.category.value,
        }
