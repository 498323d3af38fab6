"""Typed errors of the lab's etcd members. Messages are one line an operator can act on."""

from __future__ import annotations

from emulator.errors import LabError, PortTaken


class EtcdError(LabError):
    """An etcd member could not be started, stopped, reached or changed as asked."""


class EtcdPortTaken(EtcdError, PortTaken):
    """The member's address:port (2379 or 2380) is already bound by something else."""


class EtcdMemberDown(EtcdError):
    """The member asked is not running (stopped, killed, left) or does not answer."""


class EtcdTimeout(EtcdError):
    """A member did not become healthy (or stop) before the deadline; carries the last error."""


class EtcdApiError(EtcdError):
    """etcd answered with an error; `message` is etcd's own text (e.g. `etcdserver: member not
    found`), `code` its gRPC code."""

    def __init__(self, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
