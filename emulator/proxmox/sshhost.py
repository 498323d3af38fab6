"""The lab's emulated PVE host over SSH (`lab.ssh: true`): a real OpenSSH sshd on loopback.

`<lab>/ssh/` holds the host key, the lab's client key (`id_ed25519`, authorized for root),
`known_hosts` (`[addr]:2222 <host key>`), `sshd_config`, `sshd.pid` and `sshd.log`. sshd listens
on the lab's PVE address only (port 2222), accepts root with that key only, and runs every
command through `<lab>/bin/pve-host-shell` (ForceCommand), whose PATH starts with `<lab>/pve-bin`
(the lab's `qm` and `pvesm`). The system's sshd and /etc/ssh are never used: sshd reads only
the lab's config (`-f`), and is stopped by its PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from emulator.errors import LabError

SSH_PORT = 2222
SSHD = "/usr/sbin/sshd"
KEYGEN = "/usr/bin/ssh-keygen"
PRIVSEP_DIR = Path("/run/sshd")  # sshd's privilege-separation chroot (must exist as root)


@dataclass(frozen=True)
class SshPaths:
    dir: Path

    @property
    def host_key(self) -> Path:
        return self.dir / "ssh_host_ed25519_key"

    @property
    def client_key(self) -> Path:
        return self.dir / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.dir / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.dir / "known_hosts"

    @property
    def config(self) -> Path:
        return self.dir / "sshd_config"

    @property
    def pid_file(self) -> Path:
        return self.dir / "sshd.pid"

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"


def _keygen(path: Path, comment: str) -> None:
    if path.exists() and path.with_suffix(".pub").exists():
        return  # kept across restarts of the same lab dir
    path.unlink(missing_ok=True)
    path.with_suffix(".pub").unlink(missing_ok=True)
    done = subprocess.run(
        [KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    if done.returncode != 0:
        raise LabError(f"ssh-keygen failed for {path}: {done.stderr.strip()}")


def prepare(ssh_dir: Path, address: str, port: int, shell: Path) -> SshPaths:
    """Write keys, authorized_keys, known_hosts and sshd_config; return the paths."""
    if not ipaddress.ip_address(address).is_loopback:
        raise LabError(f"the lab's SSH host must listen on loopback, not {address}")
    paths = SshPaths(ssh_dir.resolve())
    paths.dir.mkdir(parents=True, exist_ok=True)
    paths.dir.chmod(0o700)
    _keygen(paths.host_key, "lab-pve-host")
    _keygen(paths.client_key, "lab-client")
    paths.authorized_keys.write_text(paths.client_key.with_suffix(".pub").read_text())
    host_pub = " ".join(paths.host_key.with_suffix(".pub").read_text().split()[:2])
    paths.known_hosts.write_text(f"[{address}]:{port} {host_pub}\n")
    paths.config.write_text(
        "# The lab's emulated Proxmox VE host (emulator/proxmox/sshhost.py). Loopback only.\n"
        f"ListenAddress {address}:{port}\n"
        "AddressFamily inet\n"
        f"HostKey {paths.host_key}\n"
        f"AuthorizedKeysFile {paths.authorized_keys}\n"
        f"PidFile {paths.pid_file}\n"
        f"ForceCommand {shell}\n"
        "AllowUsers root\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "HostbasedAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        "PermitUserEnvironment no\n"
        "PermitUserRC no\n"
        "AllowTcpForwarding no\n"
        "AllowAgentForwarding no\n"
        "AllowStreamLocalForwarding no\n"
        "X11Forwarding no\n"
        "PermitTunnel no\n"
        "GatewayPorts no\n"
        "PrintMotd no\n"
        "PrintLastLog no\n"
        "UseDNS no\n"
        "LogLevel INFO\n"
    )
    return paths


def _port_free(address: str, port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as e:
            raise LabError(
                f"cannot start the lab's SSH host: {address}:{port} is already in "
                f"use ({e.strerror})"
            ) from None


def _accepts(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        try:
            s.connect((address, port))
        except OSError:
            return False
        return True


async def start(
    paths: SshPaths, address: str, port: int, timeout: float = 15.0
) -> subprocess.Popen[bytes]:
    """Run `sshd -D -e -f <config>` and return once it accepts TCP; raise LabError with
    sshd's own stderr when it cannot start."""
    if not os.path.isfile(SSHD):
        raise LabError(f"lab.ssh needs OpenSSH's sshd at {SSHD} (install openssh-server)")
    _port_free(address, port)
    if os.geteuid() == 0 and not PRIVSEP_DIR.is_dir():
        PRIVSEP_DIR.mkdir(mode=0o755, parents=True, exist_ok=True)
    with open(paths.log, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start\n".encode())
        log.flush()
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(paths.config)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            close_fds=True,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LabError(
                f"sshd exited with code {proc.returncode} before it accepted "
                f"connections on {address}:{port}: {_tail(paths.log)}"
            )
        if _accepts(address, port):
            return proc
        await asyncio.sleep(0.02)  # polling sshd's listener, with a deadline
    await stop(proc)
    raise LabError(
        f"sshd did not accept connections on {address}:{port} after {timeout:g} s: "
        f"{_tail(paths.log)}"
    )


async def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM the listener by its PID, wait with a deadline, SIGKILL, reap."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def _runs_our_sshd(pid: int, config: Path) -> bool:
    """Whether `pid` is an sshd on this config (its listener retitles itself
    `sshd: /usr/sbin/sshd -D -e -f <config> [listener] ...`)."""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return comm == "sshd" and f" -f {config}".encode() in argv


def kill_recorded(ssh_dir: Path, timeout: float = 2.0) -> int | None:
    """Stop the sshd of a lab whose process died, by the PID in `sshd.pid` (only if that PID
    still runs sshd with this lab's config). Return the PID signalled, or None."""
    paths = SshPaths(ssh_dir.resolve())
    try:
        pid = int(paths.pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if not _runs_our_sshd(pid, paths.config):
        return None
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _runs_our_sshd(pid, paths.config):
            time.sleep(0.02)  # waiting for sshd to exit, with a deadline
        if not _runs_our_sshd(pid, paths.config):
            break
    return pid


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    body = [ln for ln in text if not ln.startswith("--- ")]
    return " | ".join(body[-lines:]) or "(sshd printed nothing)"
