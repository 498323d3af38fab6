"""Resolving secret references ({env: NAME}, {file: PATH}, {pass: PATH}), lazily, at use time.

A resolved value is registered with the session's Runner so that it is redacted from every
recorded command line and output. Errors name the reference, never a value.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from drivers.errors import SecretError
from drivers.process import Runner
from model.secrets import SecretRef


def resolve(
    ref: SecretRef,
    runner: Runner | None = None,
    *,
    base_dir: Path | None = None,
    timeout: float = 30.0,
) -> str:
    """The secret's value (first line for pass, stripped); raise SecretError naming the
    reference."""
    if ref.kind == "env":
        value = os.environ.get(ref.ref)
        if not value:
            raise SecretError(f"secret {ref}: environment variable {ref.ref} is not set")
    elif ref.kind == "file":
        path = Path(ref.ref).expanduser()
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        try:
            value = path.read_text().strip()
        except OSError as e:
            raise SecretError(f"secret {ref}: cannot read {path}: {e.strerror}") from None
        if not value:
            raise SecretError(f"secret {ref}: {path} is empty")
    else:
        try:
            done = subprocess.run(
                ["pass", "show", ref.ref],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            raise SecretError(f"secret {ref}: the 'pass' password store is not installed") from None
        except subprocess.TimeoutExpired:
            raise SecretError(
                f"secret {ref}: 'pass show' did not answer in {timeout:g} s"
            ) from None
        if done.returncode != 0:
            raise SecretError(
                f"secret {ref}: 'pass show {ref.ref}' failed (exit {done.returncode})"
            )
        value = (done.stdout.splitlines() or [""])[0].strip()
        if not value:
            raise SecretError(f"secret {ref}: the pass entry is empty")
    if runner is not None:
        runner.secrets.append(value)
    return value
