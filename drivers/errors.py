"""Typed driver errors. Each str() is one line naming the command or object and the cause."""

from __future__ import annotations


class DriverError(Exception):
    """Something outside the harness could not be reached, ran badly, or answered nonsense."""


class ToolNotFound(DriverError):
    """A binary the profile names (talosctl) is not installed or not executable."""


class CommandFailed(DriverError):
    """A command exited non-zero; carries the redacted command line, exit code and stderr."""

    def __init__(
        self, command: str, exit_code: int, stderr: str, stdout: str = "", reason: str | None = None
    ) -> None:
        self.command = command
        self.exit_code = exit_code
        self.stderr = stderr
        self.stdout = stdout
        last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
        shown = reason or last.strip() or "no output"
        super().__init__(f"`{command}` failed (exit {exit_code}): {shown}")


class CommandTimeout(DriverError):
    """A command did not finish within its timeout (it was killed)."""

    def __init__(self, command: str, timeout: float) -> None:
        self.command = command
        self.timeout = timeout
        super().__init__(f"`{command}` did not finish within {timeout:g} s (killed)")


class ParseError(DriverError):
    """Output that does not have the format the reference describes."""

    def __init__(self, what: str, reason: str, output: str) -> None:
        self.output = output
        excerpt = output.strip().splitlines()[:1]
        shown = f" (first line: {excerpt[0][:120]!r})" if excerpt else " (empty output)"
        super().__init__(f"cannot parse {what}: {reason}{shown}")


class ReadOnlyViolation(DriverError):
    """A mutating command was attempted through a read-only driver (the health gate)."""


class KubeError(DriverError):
    """The Kubernetes API refused or could not be reached."""


class SecretError(DriverError):
    """A secret reference ({env|file|pass}) could not be resolved."""


# What a cluster in motion (a node rebooting, the API server restarting) really produces: a
# command that fails or hangs because its target is away, an API that refuses. A wait polls on
# through these. Anything else (unparseable output, a missing tool, a refused mutation, a bug)
# is the harness's own failure and must stop the wait at once.
TRANSIENT: tuple[type[Exception], ...] = (
    CommandFailed,
    CommandTimeout,
    KubeError,
    ConnectionError,
    TimeoutError,
)


class WaitAborted(DriverError):
    """A wait stopped at once because its probe failed in a way a cluster does not cause."""

    def __init__(self, what: str, error: BaseException) -> None:
        self.what = what
        self.error = error
        super().__init__(
            f"harness error while waiting until {what}: {type(error).__name__}: "
            f"{error} (not a cluster failure: the wait stopped at once instead "
            "of retrying until its timeout)"
        )
