"""Secret references resolve lazily, are redacted once used, and fail naming the reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.errors import SecretError
from drivers.process import Runner
from drivers.secrets import resolve
from model.secrets import SecretRef


def test_env_and_file_secrets_resolve_and_are_redacted(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PVE_TOKEN_TEST", "s3cr3t-env")
    (tmp_path / "tok").write_text("s3cr3t-file\n")
    runner = Runner()
    assert resolve(SecretRef("env", "PVE_TOKEN_TEST"), runner) == "s3cr3t-env"
    assert resolve(SecretRef("file", "tok"), runner, base_dir=tmp_path) == "s3cr3t-file"
    done = runner.run(["echo", "token=s3cr3t-env file=s3cr3t-file"], timeout=10)
    assert done.command == "echo 'token=**** file=****'"
    assert done.stdout == "token=**** file=****\n"


def test_missing_secrets_name_the_reference_not_a_value(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOPE_TOKEN", raising=False)
    with pytest.raises(SecretError, match=r"^secret \{env: NOPE_TOKEN\}: environment variable "
                       r"NOPE_TOKEN is not set$"):
        resolve(SecretRef("env", "NOPE_TOKEN"))
    with pytest.raises(SecretError, match=r"cannot read .*/missing: No such file or directory"):
        resolve(SecretRef("file", str(tmp_path / "missing")))
    monkeypatch.setenv("PATH", str(tmp_path))  # no `pass` binary here
    with pytest.raises(SecretError, match=r"the 'pass' password store is not installed"):
        resolve(SecretRef("pass", "infra/pve-token"))
