"""Node roles, as Talos names them (``machineType`` in the Member resource)."""

from __future__ import annotations

from enum import Enum


class Role(Enum):
    """The role a node plays in the cluster; the value is Talos's own spelling."""

    CONTROL_PLANE = "controlplane"
    WORKER = "worker"

    @property
    def label(self) -> str:
        """A human label: 'control plane' or 'worker'."""
        return "control plane" if self is Role.CONTROL_PLANE else "worker"

    def __str__(self) -> str:
        return self.value
