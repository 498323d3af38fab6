"""The Proxmox VE host over SSH, through testinfra: for what the API cannot do with a token
(importing a disk from a path on the host needs root@pam; PVE before 8.4 has no `import`
content for `.raw`), and for the host-side postconditions (the downloaded image on storage with
the size the Factory announced, the storage's free space, no stale lock on the VM).

Commands: `qm importdisk`, `qm set`, `qm config`, `pvesm status`, `pvesm path` (qemu-server
PVE/CLI/qm.pm, pve-storage PVE/CLI/pvesm.pm). The host key is checked
(StrictHostKeyChecking=yes, with the profile's known_hosts when given); no control master is
left behind (each command is one ssh process that ends with it)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import allure

from drivers.errors import DriverError

# qm importdisk's last line: `unused0: successfully imported disk '<volid>'` from qemu-server
# 8.2.7 (commit 60d7d9c7, PVE 8.3); before: `Successfully imported disk as 'unused0:<volid>'`
_IMPORTED = (
    re.compile(r"(unused\d+): successfully imported disk '([^']+)'"),
    re.compile(r"Successfully imported disk as '(unused\d+):([^']+)'"),
)


class PveHostError(DriverError):
    """An SSH command on the PVE host failed or could not run; names the command."""


class PveHost:
    """One PVE host reached as `user@host:port` with a private key file."""

    def __init__(
        self,
        host: str,
        port: int,
        user: str,
        key_file: Path,
        known_hosts: Path | None = None,
        timeout: int = 30,
    ) -> None:
        import testinfra

        extra = ["-o StrictHostKeyChecking=yes", "-o BatchMode=yes", "-o ControlMaster=no"]
        if known_hosts is not None:
            extra.append(f"-o UserKnownHostsFile={known_hosts}")
        self.where = f"{user}@{host}:{port}"
        # safe-ssh: the command's own exit code (qm dies with 255, which plain ssh:// takes
        # for ssh's own failure); a failed login still raises
        self.host = testinfra.get_host(
            f"safe-ssh://{user}@{host}:{port}",
            ssh_identity_file=str(key_file),
            ssh_extra_args=" ".join(extra),
            timeout=timeout,
            controlpersist=0,
        )

    @contextmanager
    def _login(self) -> Iterator[None]:
        """testinfra's failure to log in (ssh's exit 255) as PveHostError naming the host."""
        try:
            yield
        except (RuntimeError, ValueError) as e:
            res = e.args[0] if e.args else None
            why = (getattr(res, "stderr", "") or str(e)).strip().splitlines()
            raise PveHostError(
                f"ssh {self.where}: cannot log in: {why[-1] if why else 'exit 255'}"
            ) from None

    def run(self, command: str, *, check: bool = True) -> Any:
        """Run one command (an Allure step with its output); PveHostError when ssh cannot log
        in (exit 255) or, with check, when the command fails."""
        with allure.step(f"ssh {self.where}: {command}"):
            with self._login():
                out = self.host.run(command)
            allure.attach(
                f"$ {command}\nexit {out.rc}\n{out.stdout}\n{out.stderr}",
                "ssh",
                allure.attachment_type.TEXT,
            )
        if check and out.rc != 0:
            last = (out.stderr.strip() or out.stdout.strip()).splitlines()
            raise PveHostError(
                f"ssh {self.where}: `{command}` failed (exit {out.rc}): "
                f"{last[-1] if last else 'no output'}"
            )
        return out

    def missing_commands(self, names: tuple[str, ...] = ("qm", "pvesm")) -> list[str]:
        """The commands the host lacks (it is not a PVE host, or PATH is not root's)."""
        with self._login():
            return [n for n in names if not self.host.exists(n)]

    def file_size(self, path: str) -> int | None:
        """The size of a file on the host, None when there is none."""
        with allure.step(f"ssh {self.where}: size of {path}"), self._login():
            f = self.host.file(path)
            return int(f.size) if f.exists else None

    def volume_path(self, volid: str) -> str:
        """`pvesm path <volid>`: where the volume lives on the host."""
        return str(self.run(f"pvesm path {shlex.quote(volid)}").stdout.strip())

    def storage_free(self, storage: str) -> int:
        """`pvesm status --storage <id>`: its available bytes (pvesm prints KiB)."""
        out = self.run(f"pvesm status --storage {shlex.quote(storage)}").stdout
        for line in out.splitlines()[1:]:
            cols = line.split()
            if cols and cols[0] == storage and len(cols) >= 6:
                return int(cols[5]) * 1024
        raise PveHostError(f"ssh {self.where}: pvesm status lists no storage {storage}: {out!r}")

    def import_disk(self, vmid: int, path: str, storage: str) -> str:
        """`qm importdisk <vmid> <path> <storage> --format raw`: the new volume's volid."""
        out = self.run(
            f"qm importdisk {vmid} {shlex.quote(path)} {shlex.quote(storage)} --format raw"
        )
        for pattern in _IMPORTED:
            m = pattern.search(out.stdout + out.stderr)
            if m is not None:
                return m.group(2)
        raise PveHostError(f"ssh {self.where}: qm importdisk said nothing of the volume")

    def set_options(self, vmid: int, **options: str) -> None:
        """`qm set <vmid> --key value ...`."""
        args = " ".join(f"--{k} {shlex.quote(v)}" for k, v in options.items())
        self.run(f"qm set {vmid} {args}")

    def config(self, vmid: int) -> dict[str, str]:
        """`qm config <vmid>` as key -> value."""
        out = self.run(f"qm config {vmid}").stdout
        return dict(
            (k.strip(), v.strip())
            for k, _, v in (ln.partition(":") for ln in out.splitlines())
            if k.strip()
        )
