"""Typed errors of the emulated Proxmox VE API, with PVE's status codes and wording.

PVE answers an error with the HTTP status, the reason phrase set to the message's first line,
and in JSON mode `{"data": null, "message": "<msg>\\n"}` (plus `errors` for HTTP 400).
An authentication failure is 401 with the message as reason phrase and an empty body.
"""

from __future__ import annotations


class PveError(Exception):
    """Base class: `status`, `message` (PVE adds the trailing newline) and per-field `errors`."""

    status = 500

    def __init__(self, message: str, errors: dict[str, str] | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if status is not None:
            self.status = status


class Unauthorized(PveError):
    """No or bad credentials: "No ticket" or "Authentication failed!" (401)."""

    status = 401


class ParameterError(PveError):
    """HTTP 400 "Parameter verification failed." with a message per field."""

    status = 400

    def __init__(self, **fields: str) -> None:
        super().__init__("Parameter verification failed.", dict(fields))


class VmNotFound(PveError):
    """No such VM on that node: PVE reports the missing config file (500)."""

    def __init__(self, node: str, vmid: int) -> None:
        super().__init__(f"Configuration file 'nodes/{node}/qemu-server/{vmid}.conf' does not "
                         "exist")
        self.vmid = vmid


class NodeNotFound(PveError):
    """A node name the cluster does not know (PVE fails the host lookup, 500)."""

    def __init__(self, node: str) -> None:
        super().__init__(f"hostname lookup '{node}' failed - failed to get address info for: "
                         f"{node}: Name or service not known")


class VmStateError(PveError):
    """An action refused before any task starts (running VM destroyed, template converted)."""


class NotEmulated(PveError):
    """An API path or parameter the emulator does not implement (501)."""

    status = 501


class PermissionDenied(PveError):
    """A failed privilege check (403), worded as pve-common `raise_perm_exc`.

    `Permission check failed (<path>, <priv>)` for one missing privilege (`RPCEnvironment::check`),
    `<priv1>|<priv2>` when any one would do (`check_any`), and a bare `Permission check failed`
    when an `or` of checks fails or the code raises it without a path (create_vm's VM.Allocate).
    """

    status = 403

    def __init__(self, what: str | None = None) -> None:
        super().__init__(f"Permission check failed ({what})" if what else
                         "Permission check failed")


class DownloadFailed(Exception):
    """Raised by the model's `fetch` hook: its text becomes the download task's exitstatus.

    pve-common `download_file_from_url` runs wget with `errmsg => "download failed"`, so PVE's
    text is `download failed: <wget's last stderr line>`; `wget_http_error` and
    `wget_unresolved` build the two common ones.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def wget_http_error(code: int, reason: str, when: str) -> DownloadFailed:
    """`download failed: 2026-08-21 10:00:00 ERROR 404: Not Found.` (wget's last stderr line)."""
    return DownloadFailed(f"download failed: {when} ERROR {code}: {reason}.")


def wget_unresolved(host: str) -> DownloadFailed:
    """`download failed: wget: unable to resolve host address 'host'` (C locale quotes)."""
    return DownloadFailed(f"download failed: wget: unable to resolve host address '{host}'")
