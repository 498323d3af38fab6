"""Plain network probes the runbooks need besides the cluster's APIs."""

from __future__ import annotations

import socket


def tcp_answers(address: str, port: int, timeout: float = 2.0) -> bool:
    """Whether something accepts a TCP connection on address:port (within `timeout`)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False
