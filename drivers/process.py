"""Running external commands: a timeout on every call, secrets redacted, each call evidenced.

Every call becomes an Allure step, titled by what it asks (the caller's title, else the
redacted command line); the full redacted command line, its duration, exit code and output are
attached. A process counter lets benchmarks check that the number of
processes does not grow with the node count.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

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

    def __init__(self, secrets: Iterable[str] = (), log: Path | None = None) -> None:
        self.secrets: list[str] = [s for s in secrets if s]
        self.calls = 0
        self.history: list[Completed] = []  # the last 50, for failure diagnostics
        self.log = log  # every command, appended as it ends (the evidence bundle's command log)

    def _keep(self, done: Completed) -> None:
        self.history.append(done)
        del self.history[:-50]
        if self.log is not None:
            self.log.parent.mkdir(parents=True, exist_ok=True)
            with self.log.open("a") as f:
                f.write(_text(done) + "\n\n")

    def redact(self, text: str) -> str:
        """Return text with every known secret value replaced by ****."""
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        check: bool = True,
        env: dict[str, str] | None = None,
        title: str | None = None,
    ) -> Completed:
        """Run argv as an Allure step; return Completed.

        Raises CommandFailed (non-zero exit, when check), CommandTimeout or ToolNotFound.
        """
        shown = self.redact(shlex.join(argv))
        with allure.step(title or f"$ {shown}"):
            self.calls += 1
            try:
                done = execute(argv, timeout=timeout, env=env, shown=shown, redact=self.redact)
            except CommandTimeout:
                allure.attach(
                    f"{shown}\ntimed out after {timeout:g} s",
                    "timeout",
                    allure.attachment_type.TEXT,
                )
                raise
            self._keep(done)
            _attach(done)
        if check and done.exit_code != 0:
            raise CommandFailed(shown, done.exit_code, done.stderr, done.stdout)
        return done

    def run_many(
        self,
        argvs: Sequence[Sequence[str]],
        *,
        timeout: float,
        titles: Sequence[str] | None = None,
        meanwhile: Callable[[], None] | None = None,
    ) -> list[Completed | Exception]:
        """Run several read commands at once; record each as its own Allure step, in order.
        `meanwhile` runs in this thread while the processes run (its own evidence comes
        first); the processes are always waited for, even when it raises.

        Returns, per command, Completed or the ToolNotFound/CommandTimeout it raised (the
        caller decides; nothing is raised here). Evidence is recorded in this thread only.
        """
        from concurrent.futures import ThreadPoolExecutor

        shown = [self.redact(shlex.join(a)) for a in argvs]
        with ThreadPoolExecutor(max_workers=max(1, len(argvs))) as pool:
            futures = [
                pool.submit(execute, a, timeout=timeout, shown=s, redact=self.redact)
                for a, s in zip(argvs, shown, strict=True)
            ]
            if meanwhile is not None:
                meanwhile()
        results: list[Completed | Exception] = []
        steps = list(titles) if titles is not None else [f"$ {text}" for text in shown]
        for text, step, future in zip(shown, steps, futures, strict=True):
            with allure.step(step):
                self.calls += 1
                exc = future.exception()
                if isinstance(exc, Exception):
                    allure.attach(f"{text}\n{exc}", "error", allure.attachment_type.TEXT)
                    results.append(exc)
                    continue
                done = future.result()
                self._keep(done)
                _attach(done)
                results.append(done)
        return results


def execute(
    argv: Sequence[str],
    *,
    timeout: float,
    env: dict[str, str] | None = None,
    shown: str | None = None,
    redact: Callable[[str], str] = str,
) -> Completed:
    """Run argv without evidence (usable before any test runs); return Completed.

    Raises ToolNotFound (absent or not executable) or CommandTimeout (killed after timeout).
    """
    shown = shown or redact(shlex.join(argv))
    started = time.monotonic()
    try:
        proc = subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **(env or {})},
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise ToolNotFound(
            f"{argv[0]}: not found (check the profile's talos.talosctl and your PATH)"
        ) from None
    except PermissionError:
        raise ToolNotFound(f"{argv[0]}: not executable") from None
    except OSError as e:  # e.g. a script without a #! line
        raise ToolNotFound(f"{argv[0]}: cannot be run: {e.strerror or e}") from None
    except subprocess.TimeoutExpired:
        raise CommandTimeout(shown, timeout) from None
    return Completed(
        shown, proc.returncode, redact(proc.stdout), redact(proc.stderr), time.monotonic() - started
    )


def _text(done: Completed) -> str:
    return (
        f"$ {done.command}\nexit code: {done.exit_code}   duration: {done.seconds:.3f} s\n"
        f"--- stdout ---\n{done.stdout}--- stderr ---\n{done.stderr}"
    )


def _attach(done: Completed) -> None:
    allure.attach(_text(done), "command output", allure.attachment_type.TEXT)
