"""Python API of the lab: the same code path as `python -m emulator up/status/fault/down`.

    lab = Lab.start(Path("/tmp/mylab"))            # background process, returns when ready
    lab.talosctl("get", "members", "-n", lab.address("cp1"), "-o", "json")
    lab.fault("boot_failure", node="w1")
    lab.status()["nodes"][0]["talos_version"]
    lab.stop()                                     # no process left behind

`Lab.start(..., in_process=True)` runs the same LabServer in a thread of this process.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from emulator import files
from emulator.errors import LabError, LabNotRunning

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PROFILE = REPO / "clusters" / "lab.yaml"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child still "exists": reap it if it is ours
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


class Lab:
    """A handle on a running lab directory."""

    def __init__(self, lab_dir: Path, *, thread: threading.Thread | None = None,
                 server: Any = None) -> None:
        self.dir = lab_dir.resolve()
        self._thread = thread
        self._server = server

    # ---- life cycle ------------------------------------------------------------------------
    @classmethod
    def start(cls, lab_dir: Path, profile: Path | None = None, faults: Path | None = None, *,
              extra_workers: int | None = None, timeout: float = 90.0,
              in_process: bool = False) -> Lab:
        """Start a lab and return once it is ready; raise LabError with the lab's own message."""
        lab_dir = lab_dir.resolve()
        profile = (profile or DEFAULT_PROFILE).resolve()
        existing = files.read_state(lab_dir)
        if existing and existing.get("state") == "ready" and _pid_alive(int(existing["pid"])):
            raise LabError(f"{lab_dir}: a lab is already running there (pid {existing['pid']}); "
                           f"stop it with: python -m emulator down --dir {lab_dir}")
        cls.preflight(profile, faults, extra_workers)
        lab_dir.mkdir(parents=True, exist_ok=True)
        (lab_dir / files.STATE).unlink(missing_ok=True)
        if in_process:
            return cls._start_thread(lab_dir, profile, faults, extra_workers, timeout)
        cmd = [sys.executable, "-m", "emulator", "serve", "--dir", str(lab_dir),
               "--profile", str(profile)]
        if faults is not None:
            cmd += ["--faults", str(faults.resolve())]
        if extra_workers is not None:
            cmd += ["--extra-workers", str(extra_workers)]
        log = (lab_dir / "lab.log").open("ab")
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = files.read_state(lab_dir)
            if state and state.get("state") == "ready":
                return cls(lab_dir)
            if state and state.get("state") == "failed":
                proc.wait(timeout=30)
                raise LabError(str(state.get("error")))
            if proc.poll() is not None:
                raise LabError(f"lab exited with code {proc.returncode} before it was ready; "
                               f"see {lab_dir / 'lab.log'}: {_tail(lab_dir / 'lab.log')}")
            time.sleep(0.05)  # polling the lab's own state file, with a deadline
        proc.terminate()
        proc.wait(timeout=30)
        raise LabError(f"lab not ready after {timeout:.0f} s; see {lab_dir / 'lab.log'}")

    @staticmethod
    def preflight(profile: Path, faults: Path | None, extra_workers: int | None) -> None:
        """Check what can be checked before anything starts: the profile, the faults file,
        the etcd binaries and the fixed address block; raise LabError naming the problem."""
        from emulator.addresses import allocate
        from emulator.etcd import EtcdCluster
        from emulator.faults import load_faults
        from emulator.spec import load_spec

        spec = load_spec(profile, extra_workers=extra_workers)
        if faults is not None:
            load_faults(faults, {n.name for n in spec.nodes})
        EtcdCluster(Path("/nonexistent")).check_binaries()
        if spec.address_block is not None:
            allocate(len(spec.nodes), fixed=spec.address_block)

    @classmethod
    def _start_thread(cls, lab_dir: Path, profile: Path, faults: Path | None,
                      extra_workers: int | None, timeout: float) -> Lab:
        import asyncio

        from emulator.server import LabServer
        from emulator.spec import load_spec

        spec = load_spec(profile, extra_workers=extra_workers)
        holder: dict[str, Any] = {}
        ready = threading.Event()

        def run() -> None:
            async def main() -> None:
                server = LabServer(spec, lab_dir, faults)
                holder["server"], holder["loop"] = server, asyncio.get_running_loop()
                try:
                    await server.start()
                except Exception as e:
                    holder["error"] = e
                    await server.stop()
                    ready.set()
                    return
                ready.set()
                await server.wait_closed()
                await server.stop()

            asyncio.run(main())

        thread = threading.Thread(target=run, name=f"lab-{lab_dir.name}", daemon=True)
        thread.start()
        if not ready.wait(timeout):
            raise LabError(f"lab not ready after {timeout:.0f} s")
        if "error" in holder:
            err = holder["error"]
            raise err if isinstance(err, LabError) else LabError(f"lab failed to start: {err!r}")
        lab = cls(lab_dir, thread=thread, server=holder)
        return lab

    @classmethod
    def attach(cls, lab_dir: Path) -> Lab:
        """A handle on a lab that is already running; raise LabNotRunning otherwise."""
        state = files.read_state(lab_dir.resolve())
        if not state or state.get("state") != "ready" or not _pid_alive(int(state["pid"])):
            raise LabNotRunning(f"no lab is running in {lab_dir} "
                                f"(start one with: python -m emulator up --dir {lab_dir})")
        return cls(lab_dir)

    def stop(self, timeout: float = 30.0, *, discard_data: bool = False) -> None:
        """Stop the lab and everything it started; no process is left behind. Stopping a lab
        that has already stopped does nothing. With discard_data, the etcd members' data goes
        too (see discard_data()): for a lab nobody will start again, e.g. a test's."""
        if self._thread is not None:
            if self._thread.is_alive():
                loop, server = self._server["loop"], self._server["server"]
                loop.call_soon_threadsafe(server.request_stop)
                self._thread.join(timeout)
        else:
            stop_dir(self.dir, timeout)
        if discard_data:
            discard_data_of(self.dir)

    # ---- queries ---------------------------------------------------------------------------
    @property
    def state(self) -> dict[str, Any]:
        state = files.read_state(self.dir)
        if state is None:
            raise LabNotRunning(f"no lab state in {self.dir}")
        return state

    def _control(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.state["control"] + path
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                result: dict[str, Any] = json.loads(resp.read())
                return result
        except urllib.error.HTTPError as e:
            payload = json.loads(e.read() or b"{}")
            raise LabError(payload.get("error") or f"lab control API: HTTP {e.code}") from None
        except urllib.error.URLError as e:
            raise LabNotRunning(f"lab at {self.dir} does not answer: {e.reason}") from None

    def status(self) -> dict[str, Any]:
        """The stable JSON status (see `python -m emulator status --json`)."""
        return self._control("/status")

    def change_desk(self) -> dict[str, Any]:
        """The change desk's records with what was written to them (notes, attachments)."""
        return self._control("/change")

    def fault(self, kind: str, node: str | None = None, **params: Any) -> dict[str, Any]:
        """Inject a fault by name; raise LabError naming an unknown kind, node or parameter."""
        return self._control("/faults", {"kind": kind, "node": node, **params})

    @property
    def profile(self) -> Path:
        """The concrete profile of this lab (real addresses), for `--cluster`."""
        return self.dir / "cluster.yaml"

    @property
    def talosctl_path(self) -> Path:
        return self.dir / "bin" / "talosctl"

    def address(self, node: str) -> str:
        for n in self.status()["nodes"]:
            if n["name"] == node:
                return str(n["address"])
        raise LabError(f"unknown node {node!r}")

    def env(self) -> dict[str, str]:
        return dict(os.environ, PATH=f"{self.dir / 'bin'}:{os.environ.get('PATH', '')}",
                    TALOSCONFIG=str(self.dir / "talosconfig"),
                    KUBECONFIG=str(self.dir / "kubeconfig"))

    def talosctl(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run the lab's talosctl with the lab's talosconfig; return the completed process."""
        return subprocess.run([str(self.talosctl_path), *args], capture_output=True, text=True,
                              env=self.env(), timeout=timeout, check=False)


def discard_data_of(lab_dir: Path) -> int:
    """Remove the data directories of a stopped lab's etcd members; return how many went.

    etcd 3.4 preallocates each WAL segment at 64 MB (wal.SegmentSizeBytes, not a flag), so every
    lab holds about 190 MB on disk for a few KB of keys. A lab that will not run again (a test's,
    or the one `--cluster=lab` starts in a temporary directory) has no use for it; its logs,
    state and evidence stay. A member still recorded as running there is stopped first."""
    from emulator.etcd import kill_recorded

    base = lab_dir / "etcd"
    if not base.is_dir():
        return 0
    kill_recorded(base)  # nothing may still write there
    gone = 0
    for data in sorted(base.glob("*/data")):
        shutil.rmtree(data, ignore_errors=True)
        gone += 1
    return gone


def stop_dir(lab_dir: Path, timeout: float = 30.0) -> bool:
    """Stop the lab running in lab_dir by its recorded PID; return False if none was running."""
    from emulator.etcd import kill_recorded

    state = files.read_state(lab_dir)
    stopped = False
    if state and state.get("pid"):
        pid = int(state["pid"])
        if _pid_alive(pid) and pid != os.getpid():
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _pid_alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)  # waiting for the lab process to exit, with a deadline
            if _pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
            stopped = True
    kill_recorded(lab_dir / "etcd")  # etcd members of a lab process that died uncleanly
    if (lab_dir / "ssh").is_dir():  # lab.ssh: its sshd, likewise
        from emulator.proxmox.sshhost import kill_recorded as kill_sshd

        kill_sshd(lab_dir / "ssh")
    files.mark_stopped(lab_dir)
    return stopped


def _tail(path: Path, lines: int = 3) -> str:
    try:
        return " | ".join(path.read_text().strip().splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"
