"""Typed driver errors. Each str() is one line naming the command or object and the cause."""

from __future__ import annotations


class DriverError(Exception):
    """Something outside the harness could not be reached, ran badly, or answered nonsense."""


class ToolNotFound(DriverError):
    """A binary the profile names (talosctl) is not installed or not executable."""


class CommandFailed(DriverError):
    """A command exited non-zero; carries the redacted command line, exit code and stderr."""

    def __init__(self, command: str, exit_code: int, stderr: str, stdout: str = "") -> None:
        self.command = command
        self.exit_code = exit_code
        self.stderr = stderr
        self.stdout = stdout
        last = next((ln for ln in reversed(stderr.strip().splitlines()) if ln.strip()), "")
        super().__init__(f"`{command}` failed (exit {exit_code}): {last.strip() or 'no output'}")


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
