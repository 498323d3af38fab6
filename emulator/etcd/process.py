"""One etcd 3.4 member as a child process: its flags, start, stop (with deadline) and PID file.

Stopping: etcd tries to hand leadership over on SIGTERM; when its peers are gone that can take
~7 s. `stop_process` sends SIGTERM, polls until a deadline, then SIGKILLs, and always reaps.
The PID file (`<base_dir>/etcd.pids`, JSON {name: pid}) lets `kill_recorded` end members of a
lab whose process died, by PID, after checking the PID still runs etcd on that lab's data dir.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from emulator.etcd.errors import EtcdPortTaken

PID_FILE = "etcd.pids"


@dataclass(frozen=True)
class LaunchSpec:
    """Everything one start of one member needs (etcd 3.4 flag names in `etcd_args`)."""

    name: str
    address: str
    data_dir: Path
    log_path: Path
    initial_cluster: str  # "name=http://addr:2380,..."
    state: str  # "new" | "existing"
    token: str
    client_port: int
    peer_port: int
    heartbeat_ms: int = 50
    election_ms: int = 500
    snapshot_count: int = 10000
    strict_reconfig_check: bool = True


def etcd_args(etcd_bin: str, spec: LaunchSpec) -> list[str]:
    """Return the command line that starts this member (plain http on its own address)."""
    client = f"http://{spec.address}:{spec.client_port}"
    peer = f"http://{spec.address}:{spec.peer_port}"
    return [
        etcd_bin,
        f"--name={spec.name}",
        f"--data-dir={spec.data_dir}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster={spec.initial_cluster}",
        f"--initial-cluster-state={spec.state}",
        f"--initial-cluster-token={spec.token}",
        f"--heartbeat-interval={spec.heartbeat_ms}",
        f"--election-timeout={spec.election_ms}",
        f"--snapshot-count={spec.snapshot_count}",
        f"--strict-reconfig-check={'true' if spec.strict_reconfig_check else 'false'}",
        "--enable-v2=false",
        "--logger=zap",
        "--log-outputs=stderr",
    ]


def child_env() -> dict[str, str]:
    """Return our environment without ETCD_*/ETCDCTL_* (etcd reads those as flags)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ETCD_", "ETCDCTL_"))}
    env["ETCDCTL_API"] = "3"
    return env


def check_port_free(name: str, address: str, port: int) -> None:
    """Raise EtcdPortTaken naming address:port if something already listens there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError as exc:
            raise EtcdPortTaken(f"cannot start etcd member {name}: {address}:{port} is already "
                                f"in use ({exc.strerror})") from None


def spawn(args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start the process with stdout/stderr appended to log_path; return the Popen."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        log.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(args)}\n".encode())
        log.flush()
        return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                env=child_env(), close_fds=True)


async def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, wait up to `timeout` s, then SIGKILL; reap; return the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    return proc.wait()


def kill_process(proc: subprocess.Popen[bytes]) -> int:
    """SIGKILL at once (no leader hand-over: a crash), reap, return the exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    return proc.wait()


def log_tail(log_path: Path, lines: int = 3) -> str:
    """Return the last lines of a member's log joined with ' | ' ("" if there is none)."""
    try:
        text = log_path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(line.strip()[:300] for line in text[-lines:])


def write_pid_file(base_dir: Path, pids: dict[str, int]) -> None:
    """Replace `<base_dir>/etcd.pids` with {name: pid} of the running members."""
    path = base_dir / PID_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(pids, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def read_pid_file(base_dir: Path) -> dict[str, int]:
    """Return {name: pid} from `<base_dir>/etcd.pids` ({} if absent or unreadable)."""
    try:
        raw = json.loads((base_dir / PID_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def _runs_our_etcd(pid: int, base_dir: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    prefix = f"--data-dir={base_dir.resolve()}/".encode()
    return any(a.startswith(prefix) for a in argv)


def kill_recorded(base_dir: Path, timeout: float = 1.0) -> list[int]:
    """Kill members recorded in base_dir's PID file that still run etcd on its data dirs.

    For a lab whose process died: SIGTERM, wait up to `timeout`, SIGKILL. Returns the PIDs
    signalled; PIDs reused by other programs are left alone. Removes the PID file.
    """
    pids = [p for p in read_pid_file(base_dir).values() if _runs_our_etcd(p, base_dir)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(_runs_our_etcd(p, base_dir) for p in pids):
            time.sleep(0.05)
    with contextlib.suppress(FileNotFoundError):
        (base_dir / PID_FILE).unlink()
    return pids
