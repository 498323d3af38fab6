"""Bookkeeping shared by the etcd cluster's lifecycle and query halves: the member records,
settings, URLs, and the PID file."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emulator.addresses import ETCD_CLIENT_PORT, ETCD_PEER_PORT
from emulator.etcd import gateway as gw
from emulator.etcd import process as px
from emulator.etcd.errors import EtcdError, EtcdMemberDown
from emulator.etcd.lag import LagOverlay
from emulator.etcd.snapshot import MISSING_ETCDCTL

MISSING_ETCD = (
    "etcd binary not found: install etcd-server (apt-get install etcd-server etcd-client)"
)


@dataclass
class EtcdMember:
    """The lab's record of one member: where it lives and its process. `state` is one of
    `new` (never started), `running`, `stopped` (process gone, still a member), `left`."""

    name: str
    address: str
    data_dir: Path
    log_path: Path
    initial_cluster: str = ""
    member_id: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    state: str = "new"

    @property
    def running(self) -> bool:
        """True if the process is alive."""
        return self.proc is not None and self.proc.poll() is None


class EtcdBase:
    """Settings and member records of one lab's etcd (see EtcdCluster for the API)."""

    def __init__(
        self,
        base_dir: Path,
        etcd_bin: str = "etcd",
        etcdctl_bin: str = "etcdctl",
        *,
        token: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        client_port: int = ETCD_CLIENT_PORT,
        peer_port: int = ETCD_PEER_PORT,
        heartbeat_ms: int = 50,
        election_ms: int = 500,
        start_timeout: float = 30.0,
        stop_timeout: float = 10.0,
        raft_index_offset: int = 0,
        strict_reconfig_check: bool = True,
        reconfig_timeout: float = 15.0,
    ) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.etcd_bin = etcd_bin
        self.etcdctl_bin = etcdctl_bin
        self.token = token or f"lab-{uuid.uuid4().hex[:12]}"
        self.client_port = client_port
        self.peer_port = peer_port
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.strict_reconfig_check = strict_reconfig_check
        self.reconfig_timeout = reconfig_timeout
        self._members: dict[str, EtcdMember] = {}
        self._stale: dict[str, int] = {}
        self._lag = LagOverlay(clock, raft_index_offset)

    # ---- bookkeeping ----------------------------------------------------------------------
    def check_binaries(self) -> None:
        """Raise EtcdError with an install hint if etcd or etcdctl cannot be found."""
        import os

        where = f"not found on PATH ({os.environ.get('PATH', '')})"
        if shutil.which(self.etcd_bin) is None:
            raise EtcdError(MISSING_ETCD.replace("not found", f"{self.etcd_bin!r} {where}"))
        if shutil.which(self.etcdctl_bin) is None:
            raise EtcdError(MISSING_ETCDCTL.replace("not found",
                                                    f"{self.etcdctl_bin!r} {where}"))

    def member(self, name: str) -> EtcdMember:
        """Return the member record; raise EtcdError naming the known members."""
        try:
            return self._members[name]
        except KeyError:
            raise EtcdError(f"unknown etcd member {name!r} (members: "
                            f"{', '.join(self._members) or 'none'})") from None

    @property
    def names(self) -> list[str]:
        """Names of the members the lab manages, in bootstrap order."""
        return list(self._members)

    @property
    def stale_members(self) -> dict[str, int]:
        """{label: member id} of members added with `add_stale_member`."""
        return dict(self._stale)

    def pids(self) -> dict[str, int]:
        """Return {name: pid} of the member processes that are alive."""
        return {n: m.proc.pid for n, m in self._members.items() if m.proc and m.running}

    def client_url(self, name: str) -> str:
        """Return `http://<address>:2379` of a member."""
        return gw.client_url(self.member(name).address, self.client_port)

    def peer_url(self, name: str) -> str:
        """Return `http://<address>:2380` of a member."""
        return gw.client_url(self.member(name).address, self.peer_port)

    def _save_pids(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        px.write_pid_file(self.base_dir, self.pids())

    def _running(self, name: str) -> EtcdMember:
        m = self.member(name)
        if not m.running:
            raise EtcdMemberDown(f"etcd member {name} ({m.address}:{self.client_port}) is not "
                                 f"running ({m.state})")
        return m

