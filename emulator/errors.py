"""Typed errors of the lab. Each carries a one-line message an operator can act on."""

from __future__ import annotations


class LabError(Exception):
    """Base class: a lab could not be started, reached or changed as asked."""


class LabConfigError(LabError):
    """A malformed lab profile or faults file; the message names the file and field."""


class UnknownFault(LabConfigError):
    """A fault kind that the lab does not know."""


class UnknownNode(LabConfigError):
    """A node name that is not part of the lab."""


class PortTaken(LabError):
    """An address:port the lab needs is already bound by something else."""


class LabNotRunning(LabError):
    """No lab answers at the given directory."""


class NotEmulated(LabError):
    """A command or API the lab does not emulate (listed in emulator/COVERAGE.md)."""
