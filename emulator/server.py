"""The lab process: builds the world, starts real etcd members and serves every API on loopback.

Surfaces: apid (emulated talosctl) on each node's :50000, the Kubernetes API on the primary's
:6443, the Image Factory and Proxmox VE on their own addresses, and a control API (status,
faults, shutdown) for `python -m emulator status|fault|down`. Runs until SIGTERM/SIGINT or
POST /shutdown, then stops every process it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web

from emulator import files
from emulator.addresses import (
    APID_PORT,
    CHANGE_PORT,
    CONTROL_PORT,
    FACTORY_PORT,
    KUBE_PORT,
    PVE_PORT,
    AddressPlan,
    allocate,
)
from emulator.errors import LabError, PortTaken
from emulator.faults import Fault, load_faults, make_fault
from emulator.spec import LabSpec
from emulator.world import EmulatedCluster

# A long-lived cluster's raft index is large; reporting real etcd's small one plus this offset
# keeps slow_etcd_catchup's lag (up to 1000 entries) visible to checks with a spread of ~50.
RAFT_INDEX_OFFSET = 50_000


class LabServer:
    """One running lab. `await start()` then `await wait_closed()`; `await stop()` ends it."""

    def __init__(self, spec: LabSpec, lab_dir: Path, faults_file: Path | None = None,
                 plan: AddressPlan | None = None) -> None:
        self.spec = spec
        self.dir = lab_dir
        self.faults_file = faults_file
        self.plan = plan
        self.world: EmulatedCluster | None = None
        self._runners: list[web.AppRunner] = []
        self._kube_runner: web.AppRunner | None = None
        self._kube_site: web.TCPSite | None = None
        self._stopped = asyncio.Event()
        self._maintenance_sites: dict[str, web.AppRunner] = {}
        self._node_sites: dict[str, web.TCPSite] = {}  # a node's apid address

    # ---- start -------------------------------------------------------------------------------
    async def start(self) -> EmulatedCluster:
        """Build everything; return the world once every API answers. Raise LabError on failure."""
        from emulator.change.models import ChangeDesk
        from emulator.etcd import EtcdCluster
        from emulator.factory.models import FactoryModel
        from emulator.kube.store import KubeStore
        from emulator.kubesync import KubeSync
        from emulator.proxmox.models import ProxmoxModel
        from model.catalog import Catalog

        self.dir.mkdir(parents=True, exist_ok=True)
        plan = self.plan or allocate(len(self.spec.nodes), fixed=self.spec.address_block)
        world = EmulatedCluster(self.spec, plan, self.dir)
        self.world = world
        world.catalog = Catalog.load()
        world.factory_url = f"http://{plan.factory}:{FACTORY_PORT}"
        world.factory = FactoryModel(versions=[str(v) for v in world.catalog.talos_releases()])
        world.factory.register_extensions(self.spec.extensions)
        world.pve = ProxmoxModel(node=self.spec.proxmox_node, version=self.spec.pve_version,
                                 fetch=world.fetch_for_pve)
        if self.spec.pve_import and "import" not in world.pve.storage_content_types("local"):
            world.pve.set_storage_content("local", "iso,vztmpl,backup,import")
        if self.spec.ssh:  # the SSH host: `local`'s files are real, under DIR/pve/local
            world.pve.storages["local"].path = str(self.dir.resolve() / "pve" / "local")
            world.pve.real_files = True
        from emulator.maintenance import on_pve_event

        world.pve.listeners.append(lambda event, vm: on_pve_event(world, event, vm))
        world.pve_token = ("root@pam!harness", str(uuid.uuid4()))
        world.pve.add_token(*world.pve_token)
        # the template, and each node's VM as a linked clone of it after `qm set ipconfig0=`:
        # the node's loopback address on lo's 127.0.0.0/8 (the lab's block 127.A.B-B+1.x is
        # not CIDR-aligned); Talos' recommended sizes (control plane 4 cores/4 GiB, worker 2/2)
        agent = any(e.endswith("/qemu-guest-agent") for e in self.spec.extensions)
        tpl = world.pve.add_talos_vm(
            self.spec.template_vmid, f"talos-{self.spec.talos_version}", self.spec.proxmox_node,
            ["template", "talos"], "stopped", agent=agent, template=True)
        base = str(tpl.config["scsi0"]).split(",", 1)[0]
        # what the template's disk holds: the lab's own nocloud image (a clone of it boots it)
        base_volume = world.pve.storages["local-lvm"].volumes.get(base)
        if base_volume is not None:
            base_volume.origin = (f"{world.factory_url}/image/{self.spec.schematic}/"
                                  f"{self.spec.talos_version}/nocloud-amd64.raw")
        for n in world.nodes.values():
            world.pve.add_talos_vm(
                n.vmid, n.name, self.spec.proxmox_node, list(self.spec.proxmox_tags), "running",
                cores=4 if n.is_control_plane else 2, memory=4096 if n.is_control_plane else 2048,
                agent=agent, ipconfig0=f"ip={n.address}/8", base=base)
        world.change = ChangeDesk()
        world.kube = KubeStore()
        world.k8s = KubeSync(world)
        world.k8s.seed()
        world.etcd = EtcdCluster(self.dir / "etcd", raft_index_offset=RAFT_INDEX_OFFSET)
        world.etcd.check_binaries()
        # `talosctl etcd snapshot` carries the Kubernetes objects (COVERAGE §8)
        world.etcd.before_snapshot = world.k8s.write_registry
        world.spawn = self._spawn  # type: ignore[method-assign]
        world.set_api_listener = self._set_api_listener  # type: ignore[method-assign]
        world.set_maintenance_listener = self._maintenance_listener  # type: ignore[method-assign]
        if self.faults_file is not None:
            faults = load_faults(self.faults_file, set(world.nodes))
        else:
            faults = []
        await world.etcd.bootstrap([(n.name, n.address) for n in world.control_planes])
        await self._serve_all(world)
        if self.spec.ssh:
            await self._start_sshd(world)
        for fault in faults:
            await self.inject(fault)
        files.write_lab_files(world, os.getpid())
        if self.spec.track_disruption:
            self._spawn(self._sample_disruption(world))
        return world

    async def _sample_disruption(self, world: EmulatedCluster) -> None:
        while True:
            world.k8s.sample_disruption()
            await asyncio.sleep(0.05)

    async def _serve_all(self, world: EmulatedCluster) -> None:
        from emulator.change.routes import build_app as change_app
        from emulator.factory.routes import build_app as factory_app
        from emulator.proxmox.routes import build_app as pve_app

        apid = web.Application()
        apid.router.add_post("/talosctl", self._talosctl)
        self._apid_app = apid
        # the control address answers talosctl calls made without endpoints (version --client)
        runner = await self._site(apid, [(world.plan.control, APID_PORT)])
        self._apid_runner = runner
        for n in world.nodes.values():  # one site per node: a destroyed node's address closes
            site = web.TCPSite(runner, n.address, APID_PORT, reuse_address=True)
            try:
                await site.start()
            except OSError:
                raise PortTaken(f"{n.address}:{APID_PORT} is already in use; cannot start the "
                                "lab there") from None
            self._node_sites[n.address] = site
        control = web.Application()
        control.router.add_get("/status", self._status)
        control.router.add_post("/faults", self._faults)
        control.router.add_post("/shutdown", self._shutdown)
        control.router.add_get("/change", self._change)
        control.router.add_post("/flux", __import__("emulator.flux").flux.route(world))
        control.router.add_post("/pve-shell", self._pve_shell)
        await self._site(control, [(world.plan.control, CONTROL_PORT)])
        await self._site(factory_app(world.factory), [(world.plan.factory, FACTORY_PORT)])
        await self._site(pve_app(world.pve), [(world.plan.pve, PVE_PORT)])
        await self._site(change_app(world.change), [(world.plan.change, CHANGE_PORT)])
        await self._start_kube(world)

    async def _start_sshd(self, world: EmulatedCluster) -> None:
        """lab.ssh: the PVE host's sshd on the PVE address, port 2222 (COVERAGE §6)."""
        from emulator.proxmox import sshhost

        shell = files.write_pve_host_files(world)
        paths = sshhost.prepare(self.dir / "ssh", world.plan.pve, sshhost.SSH_PORT, shell)
        self._sshd = await sshhost.start(paths, world.plan.pve, sshhost.SSH_PORT)
        world.sshd_pid = self._sshd.pid  # type: ignore[attr-defined]

    async def _pve_shell(self, request: web.Request) -> web.Response:
        """POST /pve-shell {argv, cwd}: the lab's `qm`/`pvesm` run against the PVE model."""
        from emulator.proxmox import shell

        assert self.world is not None
        body = await request.json()
        argv = [str(a) for a in body.get("argv") or []]
        try:
            result = shell.run(self.world.pve, argv, str(body.get("cwd") or "/")).as_dict()
        except Exception as e:  # an emulator bug must still end the command cleanly
            result = {"stdout": "", "stderr": f"lab internal error: {e!r}\n", "code": 1}
        return web.json_response(result)

    async def _site(self, app: web.Application, binds: list[tuple[str, int]]) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        for host, port in binds:
            site = web.TCPSite(runner, host, port, reuse_address=True)
            try:
                await site.start()
            except OSError:
                raise PortTaken(f"{host}:{port} is already in use; cannot start the lab "
                                "there") from None
        return runner

    async def _start_kube(self, world: EmulatedCluster) -> None:
        from emulator.kube.routes import build_app as kube_app

        if self._kube_runner is None:
            app = kube_app(world.kube, version_info=world.k8s.version_info,
                           available=world.api_available)
            self._kube_runner = web.AppRunner(app, access_log=None, handle_signals=False)
            await self._kube_runner.setup()
            self._runners.append(self._kube_runner)
        self._kube_site = web.TCPSite(self._kube_runner, world.primary.address, KUBE_PORT,
                                      reuse_address=True)
        await self._kube_site.start()

    def _maintenance_listener(self, address: str, up: bool) -> None:
        self._spawn(self._set_maintenance_listener(address, up))

    async def _set_maintenance_listener(self, address: str, up: bool) -> None:
        """A clone in maintenance mode answers on its address (apid port) while it runs. A
        node address is served by the apid site already (routed by `_talosctl`)."""
        assert self.world is not None
        if address in self.world.by_address:
            # a node's own address: closed while its VM is destroyed (nothing answers on it,
            # rebuild.md §6 gate 6), open again once a machine boots there
            site = self._node_sites.get(address)
            if site is not None and not up:
                await site.stop()
            elif site is not None and up:
                new = web.TCPSite(self._apid_runner, address, APID_PORT, reuse_address=True)
                await new.start()
                self._node_sites[address] = new
            return
        if up and address not in self._maintenance_sites:
            runner = web.AppRunner(self._apid_app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, address, APID_PORT, reuse_address=True)
            await site.start()
            self._maintenance_sites[address] = runner
        elif not up and address in self._maintenance_sites:
            await self._maintenance_sites.pop(address).cleanup()

    def _set_api_listener(self, up: bool) -> None:
        """Close or reopen the Kubernetes API listener (the primary reboots: connection refused)."""
        assert self.world is not None
        if up == self.world.api_listener_up:
            return
        self.world.api_listener_up = up
        if not up and self._kube_site is not None:
            site, self._kube_site = self._kube_site, None
            self._spawn(site.stop())
        elif up:
            self._spawn(self._start_kube(self.world))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks: set[asyncio.Task[Any]] = getattr(self, "_tasks", set())
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            print(f"lab: background task failed: {exc!r}", file=sys.stderr, flush=True)

    # ---- faults --------------------------------------------------------------------------
    async def inject(self, fault: Fault) -> None:
        """Record a fault and apply it now if it is immediate."""
        from emulator.faultapply import apply_immediate, prepare
        from emulator.faults import KINDS

        assert self.world is not None
        prepare(self.world, fault)
        immediate = KINDS[fault.kind][0] or (fault.kind == "api_unreachable" and not fault.node)
        if immediate:
            await apply_immediate(self.world, fault)
            fault.fired = True
        self.world.faults.append(fault)

    # ---- handlers ------------------------------------------------------------------------
    async def _talosctl(self, request: web.Request) -> web.StreamResponse:
        from emulator.talos import commands, formats

        assert self.world is not None
        body = await request.json()
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        local = request.transport.get_extra_info("sockname")[0] if request.transport else ""
        endpoint = self.world.by_address.get(local)
        # a clone in maintenance mode on a destroyed node's address answers there (the node
        # site binds every node address; the request is the machine's)
        if endpoint is not None and not endpoint.apid_up and local not in self.world.maintenance:
            err = formats.unavailable_error(local)
            await resp.write(json.dumps({"down": err}).encode() + b"\n")
            return resp

        async def write(stream: str, text: str) -> None:
            key = "o" if stream == "stdout" else "e"
            await resp.write(json.dumps({key: text}).encode() + b"\n")

        try:
            code = await commands.run(self.world, body, write)
        except LabError as e:
            await write("stderr", f"{e}\n")
            code = 1
        except Exception as e:  # an emulator bug must still end the command cleanly
            await write("stderr", f"lab internal error: {e!r}\n")
            code = 1
        await resp.write(json.dumps({"x": code}).encode() + b"\n")
        return resp

    async def _status(self, request: web.Request) -> web.Response:
        from emulator.status import lab_status

        assert self.world is not None
        return web.json_response(await lab_status(self.world))

    async def _faults(self, request: web.Request) -> web.Response:
        assert self.world is not None
        body = await request.json()
        try:
            params = {k: v for k, v in body.items() if k not in ("kind", "node")}
            fault = make_fault(str(body.get("kind")), body.get("node"), params,
                               set(self.world.nodes))
            await self.inject(fault)
        except LabError as e:
            return web.json_response({"error": str(e)}, status=400)
        return web.json_response({"ok": True, "fault": fault.to_dict()})

    async def _change(self, request: web.Request) -> web.Response:
        """What the change desk holds: states, windows, notes, attachments (for tests)."""
        assert self.world is not None
        return web.json_response(self.world.change.dump())

    async def _shutdown(self, request: web.Request) -> web.Response:
        asyncio.get_running_loop().call_soon(self._stopped.set)
        return web.json_response({"ok": True})

    # ---- stop ----------------------------------------------------------------------------
    async def wait_closed(self) -> None:
        await self._stopped.wait()

    def request_stop(self) -> None:
        self._stopped.set()

    async def stop(self) -> None:
        """Stop every listener and every etcd process this lab started."""
        for task in list(getattr(self, "_tasks", ())):
            task.cancel()
        for runner in [*reversed(self._runners), *self._maintenance_sites.values()]:
            try:
                await runner.cleanup()
            except Exception as e:  # keep stopping the rest
                print(f"lab: listener cleanup failed: {e!r}", file=sys.stderr)
        if self.world is not None and self.world.etcd is not None:
            await self.world.etcd.shutdown()
        sshd = getattr(self, "_sshd", None)
        if sshd is not None:
            from emulator.proxmox import sshhost

            await sshhost.stop(sshd)
        files.mark_stopped(self.dir)


async def serve(spec: LabSpec, lab_dir: Path, faults_file: Path | None) -> int:
    """Run a lab until told to stop; exit code 0, or 1 (message on stderr) if it cannot start."""
    server = LabServer(spec, lab_dir, faults_file)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, server.request_stop)
    try:
        await server.start()
    except LabError as e:
        files.write_failure(lab_dir, str(e))
        print(f"lab: {e}", file=sys.stderr, flush=True)
        await server.stop()
        return 1
    except Exception as e:
        files.write_failure(lab_dir, f"lab failed to start: {e!r}")
        print(f"lab failed to start: {e!r}", file=sys.stderr, flush=True)
        await server.stop()
        return 1
    print(f"lab ready at {time.strftime('%H:%M:%S')}", flush=True)
    await server.wait_closed()
    await server.stop()
    return 0
