"""Running external commands: a timeout on every call, secrets redacted, each call evidenced.

Every call becomes an Allure step titled with the redacted command line; its duration, exit
code and output are attached. A process counter lets benchmarks check that the number of
processes does not grow with the node count.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import allure

from drivers.errors import CommandFailed, CommandTimeout, ToolNotFound

REDACTED = "****"


@dataclass(frozen=True)
class Completed:
    """A finished command: what it printed, how it ended, how long it took."""

    command: str  # redacted, for display
    exit_code: int
    stdout: str
    stderr: str
    seconds: float


class Runner:
    """Runs commands; `calls` counts processes started (for benchmarks)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets: list[str] = [s for s in secrets if s]
        self.calls = 0
        self.history: list[Completed] = []

    def redact(self, text: str) -> str:
        """Return text with every known secret value replaced by ****."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def run(self, argv: Sequence[str], *, timeout: float, check: bool = True,
            env: dict[str, str] | None = None, title: str | None = None) -> Completed:
        """Run argv; return Completed, raise CommandFailed (check) / CommandTimeout / ToolNotFound."""
        shown = self.redact(shlex.join(argv))
        with allure.step(title or f"$ {shown}"):
            started = time.monotonic()
            self.calls += 1
            try:
                proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                                      env={**os.environ, **(env or {})}, check=False,
                                      stdin=subprocess.DEVNULL)
            except FileNotFoundError:
                raise ToolNotFound(f"{argv[0]}: not found (check the profile's talos.talosctl "
                                   "and your PATH)") from None
            except PermissionError:
                raise ToolNotFound(f"{argv[0]}: not executable") from None
            except subprocess.TimeoutExpired:
                allure.attach(f"{shown}\ntimed out after {timeout:g} s", "timeout",
                              allure.attachment_type.TEXT)
                raise CommandTimeout(shown, timeout) from None
            done = Completed(shown, proc.returncode, self.redact(proc.stdout),
                             self.redact(proc.stderr), time.monotonic() - started)
            self.history.append(done)
            del self.history[:-50]
            _attach(done)
        if check and done.exit_code != 0:
            raise CommandFailed(shown, done.exit_code, done.stderr, done.stdout)
        return done


def _attach(done: Completed) -> None:
    body = (f"$ {done.command}\nexit code: {done.exit_code}   duration: {done.seconds:.3f} s\n"
            f"--- stdout ---\n{done.stdout}--- stderr ---\n{done.stderr}")
    allure.attach(body, "command output", allure.attachment_type.TEXT)
