"""Test helper: the emulated Kubernetes API served from a background thread on 127.0.0.1.

``LiveKube`` owns a KubeStore seeded with the demo cluster, runs the aiohttp app in its own
event loop thread on a free loopback port, and runs store calls on that loop (``call``), since
the store belongs to the loop's thread.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from emulator.kube.objects import version_info
from emulator.kube.routes import build_app
from emulator.kube.seed import seed_demo_cluster
from emulator.kube.store import KubeStore

T = TypeVar("T")


class LiveKube:
    """A running API server: ``url``, ``store``, ``up`` (availability), ``call``, ``stop``."""

    def __init__(self, *, seed: bool = True, k8s_version: str = "1.32.0") -> None:
        self.up = True
        self.k8s_version = k8s_version
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True,
                                        name="kube-emulator")
        self._thread.start()
        self.store: KubeStore = self.call(KubeStore)
        if seed:
            self.call(seed_demo_cluster, self.store)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.runner: web.AppRunner = self._run(self._start())

    async def _start(self) -> web.AppRunner:
        app = build_app(self.store, version_info=lambda: version_info(self.k8s_version),
                        available=lambda: self.up, idle_check_seconds=0.2)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        await web.SockSite(runner, self._sock).start()
        return runner

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    def call(self, fn: Callable[..., T], *args: Any, **kw: Any) -> T:
        """Run ``fn(*args, **kw)`` on the server's loop thread; return its result or raise."""
        fut: Future[T] = Future()

        def run() -> None:
            try:
                fut.set_result(fn(*args, **kw))
            except BaseException as err:  # re-raised in the caller's thread
                fut.set_exception(err)

        self.loop.call_soon_threadsafe(run)
        return fut.result(timeout=30)

    def kubeconfig(self, path: Path) -> Path:
        """Write a kubeconfig pointing at this server (plain HTTP, no auth); return its path."""
        path.write_text(
            "apiVersion: v1\nkind: Config\nclusters:\n"
            f"- name: lab\n  cluster:\n    server: {self.url}\n"
            "contexts:\n- name: lab\n  context:\n    cluster: lab\n    user: lab\n"
            "current-context: lab\nusers:\n- name: lab\n  user: {}\n")
        return path

    def stop(self) -> None:
        """Stop the server and the loop thread."""
        self._run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = 10.0) -> T:
    """Poll ``probe`` until it returns a truthy value; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        got = probe()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s still waiting for {what}")
        time.sleep(0.02)
