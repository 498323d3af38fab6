"""EtcdCluster: the lab's control-plane etcd, as real etcd 3.4 member processes on loopback.

Each member binds its node's own loopback address on the client and peer ports (plain http).
Data dirs are `<base_dir>/<name>/data`, logs `<base_dir>/logs/<name>.log`, PIDs in
`<base_dir>/etcd.pids`. Lifecycle calls that wait are async (bootstrap, start/stop, leave,
rejoin, shutdown); queries are sync with short timeouts, with async twins (`amembers`, ...).
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from emulator.etcd import gateway as gw
from emulator.etcd import process as px
from emulator.etcd.base import EtcdMember
from emulator.etcd.errors import EtcdApiError, EtcdError, EtcdMemberDown, EtcdTimeout
from emulator.etcd.queries import EtcdQueries
from emulator.etcd.types import member_id_hex, parse_members, parse_status

# A few Kubernetes-looking keys so that snapshots carry data (`total keys` > 1).
SEED_KEYS: dict[str, str] = {
    "/registry/namespaces/default": '{"kind":"Namespace","metadata":{"name":"default"}}',
    "/registry/namespaces/kube-system": '{"kind":"Namespace","metadata":{"name":"kube-system"}}',
    "/registry/namespaces/kube-public": '{"kind":"Namespace","metadata":{"name":"kube-public"}}',
    "/registry/services/specs/default/kubernetes":
        '{"kind":"Service","metadata":{"name":"kubernetes","namespace":"default"}}',
    "/registry/configmaps/kube-system/kube-proxy":
        '{"kind":"ConfigMap","data":{"config.conf":"' + "x" * 2048 + '"}}',
}


class EtcdCluster(EtcdQueries):
    """Real etcd members for the lab's control planes (see module docstring).

    Constructor (EtcdBase): `EtcdCluster(base_dir, etcd_bin="etcd", etcdctl_bin="etcdctl", *,
    token=None, clock=time.monotonic, heartbeat_ms=50, election_ms=500, start_timeout=30,
    stop_timeout=10, raft_index_offset=0, strict_reconfig_check=True, reconfig_timeout=15)`.
    """

    def _launch(self, m: EtcdMember, state: str) -> None:
        for port in (self.client_port, self.peer_port):
            px.check_port_free(m.name, m.address, port)
        spec = px.LaunchSpec(
            name=m.name, address=m.address, data_dir=m.data_dir, log_path=m.log_path,
            initial_cluster=m.initial_cluster, state=state, token=self.token,
            client_port=self.client_port, peer_port=self.peer_port,
            heartbeat_ms=self.heartbeat_ms, election_ms=self.election_ms,
            strict_reconfig_check=self.strict_reconfig_check,
        )
        m.data_dir.parent.mkdir(parents=True, exist_ok=True)
        m.proc = px.spawn(px.etcd_args(self.etcd_bin, spec), m.log_path)
        m.state = "running"
        self._save_pids()

    async def _wait_healthy(
        self, names: list[str], timeout: float | None = None, since: float | None = None
    ) -> None:
        """Poll /health of `names` until all answer healthy, for `timeout` s from `since`
        (default now); raise EtcdError if one exits, EtcdTimeout with each unhealthy member's
        last error at the deadline."""
        limit = self.start_timeout if timeout is None else timeout
        deadline = (time.monotonic() if since is None else since) + limit
        pending = list(names)
        last: dict[str, str] = {}
        while True:
            for name in list(pending):
                m = self._members[name]
                if m.proc is not None and m.proc.poll() is not None:
                    rc = m.proc.returncode
                    m.state = "stopped"
                    self._save_pids()
                    raise EtcdError(f"etcd member {name} exited with code {rc} while starting: "
                                    f"{px.log_tail(m.log_path)}")
                err = await gw.ahealth(self.client_url(name), timeout=1.0)
                if err is None:
                    pending.remove(name)
                else:
                    last[name] = err
            if not pending:
                return
            if time.monotonic() >= deadline:
                detail = "; ".join(f"{n}: {last.get(n, 'no answer')}" for n in pending)
                raise EtcdTimeout(f"etcd not healthy after {limit:g}s: {detail}")
            await asyncio.sleep(0.05)

    async def _wait_peer_serving(self, m: EtcdMember, deadline: float) -> None:
        """Wait until `m` serves its peer port. A new member asks its peers whether it is
        already bootstrapped; a peer that is bound but not serving yet stalls that for 1 s
        each, so bootstrap starts members one after the other."""
        url = gw.client_url(m.address, self.peer_port) + "/version"
        while time.monotonic() < deadline:
            if m.proc is not None and m.proc.poll() is not None:
                return  # _wait_healthy reports the exit with the log tail
            if await gw.aget_ok(url, timeout=0.2):
                return
            await asyncio.sleep(0.02)

    async def bootstrap(self, members: list[tuple[str, str]], seed: bool = True) -> None:
        """Start `members` [(name, loopback address)] as one new cluster; return once every
        member is healthy. Raise EtcdPortTaken/EtcdError/EtcdTimeout (nothing left running)."""
        self.check_binaries()
        if self._members:
            raise EtcdError("etcd cluster already bootstrapped")
        if not members:
            raise EtcdError("bootstrap needs at least one etcd member")
        for name, address in members:
            try:
                loopback = ipaddress.ip_address(address).is_loopback
            except ValueError:
                loopback = False
            if not loopback:
                raise EtcdError(f"etcd member {name}: {address} is not a loopback address")
        if len({n for n, _ in members}) != len(members) or \
                len({a for _, a in members}) != len(members):
            raise EtcdError("etcd member names and addresses must be unique")
        initial = ",".join(f"{n}=http://{a}:{self.peer_port}" for n, a in members)
        for name, address in members:
            self._members[name] = EtcdMember(
                name=name, address=address, data_dir=self.base_dir / name / "data",
                log_path=self.base_dir / "logs" / f"{name}.log", initial_cluster=initial)
        began = time.monotonic()
        try:
            for m in self._members.values():
                for port in (self.client_port, self.peer_port):
                    px.check_port_free(m.name, m.address, port)
            for m in self._members.values():
                shutil.rmtree(m.data_dir, ignore_errors=True)
                self._launch(m, "new")
                await self._wait_peer_serving(m, began + self.start_timeout)
            await self._wait_healthy(self.names, since=began)
            for m in self._members.values():
                m.member_id = self._raw_status(m.name).member_id
            if seed:
                self._seed()
        except BaseException:
            self.kill_all()
            self._members.clear()
            raise

    def _seed(self) -> None:
        url = self.client_url(self.names[0])
        for key, value in SEED_KEYS.items():
            gw.put(url, key, value)
        for name in self.names:
            gw.put(url, f"/registry/pods/kube-system/kube-apiserver-{name}",
                   f'{{"kind":"Pod","metadata":{{"name":"kube-apiserver-{name}"}}}}')

    async def start_member(self, name: str, timeout: float | None = None) -> None:
        """Start a stopped member on its data dir (initial-cluster-state existing); return once
        healthy. Its member id is unchanged. Raise EtcdError if it left, EtcdTimeout if late."""
        m = self.member(name)
        if m.state == "left":
            raise EtcdError(f"etcd member {name} has left the cluster; rejoin it instead")
        if not m.running:
            self._launch(m, "existing")
            self._lag.restarted(name)
        await self._wait_healthy([name], timeout)

    async def stop_member(self, name: str, timeout: float | None = None) -> int:
        """Stop the process (SIGTERM, then SIGKILL at the deadline); it stays a member, as on a
        reboot. Return the exit code (0 if it was not running)."""
        m = self.member(name)
        rc = 0
        if m.proc is not None:
            rc = await px.stop_process(m.proc, self.stop_timeout if timeout is None else timeout)
        if m.state == "running":
            m.state = "stopped"
        self._save_pids()
        return rc

    def kill_member(self, name: str) -> None:
        """SIGKILL the process (fault etcd_member_down); it stays listed by the others."""
        m = self.member(name)
        if m.proc is not None:
            px.kill_process(m.proc)
        if m.state == "running":
            m.state = "stopped"
        self._save_pids()

    async def wait_leader(self, timeout: float | None = None) -> None:
        """After a member was killed: wait until the running members (when they still have
        quorum) agree on a running leader and serve. Followers notice a dead leader only after
        their election timeout; a raft request (alarm list, member add) sent before the new
        election is dropped, and etcd answers it only when its request times out."""
        running = [m for m in self._members.values() if m.running]
        if len(running) * 2 <= len([m for m in self._members.values() if m.state != "left"]):
            return  # no quorum: no leader will come
        limit = self.start_timeout if timeout is None else timeout
        deadline = time.monotonic() + limit
        while True:
            leaders: set[int | None] = set()
            for m in running:
                try:
                    reply = await gw.apost(self.client_url(m.name), gw.STATUS, {}, timeout=0.5)
                    leaders.add(parse_status(reply).leader)
                except EtcdError:
                    leaders.add(None)
            lead = leaders.pop() if len(leaders) == 1 else None
            if lead and lead in {m.member_id for m in running}:
                await self._wait_healthy([m.name for m in running],
                                         max(0.1, deadline - time.monotonic()))
                return
            if time.monotonic() >= deadline:
                raise EtcdTimeout(f"etcd: the running members agree on no leader after "
                                  f"{limit:g}s")
            await asyncio.sleep(0.05)

    def _helper(self, exclude: str) -> str:
        """Return a running member other than `exclude`, or raise EtcdMemberDown."""
        for name, m in self._members.items():
            if name != exclude and m.running:
                return name
        raise EtcdMemberDown(f"no other running etcd member to act through (besides {exclude})")

    async def _reconfigure(self, via: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST a member add/remove through `via`, retrying while etcd answers `unhealthy
        cluster` (with strict reconfig checks, every voting member must have been connected for
        5 s); raise etcd's error, naming how long it was retried, at reconfig_timeout."""
        deadline = time.monotonic() + self.reconfig_timeout
        what = "member add" if path == gw.MEMBER_ADD else "member remove"
        while True:
            try:
                return await gw.apost(self.client_url(via), path, body)
            except EtcdApiError as exc:
                if "unhealthy cluster" not in exc.message:
                    raise
                if time.monotonic() >= deadline:
                    raise EtcdApiError(f"{exc.message} ({what} through {via}, retried for "
                                       f"{self.reconfig_timeout:g}s)", exc.code) from None
            await asyncio.sleep(0.2)

    def _launch_added(self, m: EtcdMember, reply: dict[str, Any]) -> int:
        """Start a member the cluster just added (MemberAdd's reply): its initial cluster as
        the reply lists it (unstarted members by their ID), an empty data dir; its new ID."""
        new_id = int(reply["member"]["ID"])
        entries = []
        for x in parse_members(reply):
            label = m.name if x.id == new_id else (x.name or f"unstarted-{member_id_hex(x.id)}")
            entries += [f"{label}={u}" for u in x.peer_urls]
        m.initial_cluster = ",".join(entries)
        shutil.rmtree(m.data_dir, ignore_errors=True)
        m.member_id = new_id
        self._launch(m, "existing")
        return new_id

    async def leave(self, name: str) -> int:
        """Remove `name` from the cluster through another member, stop it and wipe its data dir
        (talosctl etcd leave / upgrade without --preserve). Return the removed member id."""
        m = self.member(name)
        if m.state == "left":
            raise EtcdError(f"etcd member {name} has already left the cluster")
        via = self._helper(name)
        peer = self.peer_url(name)
        listed = [x for x in await self.amembers(via) if peer in x.peer_urls]
        if not listed:
            raise EtcdError(f"etcd member {name} ({peer}) is not in the member list seen by {via}")
        await self._reconfigure(via, gw.MEMBER_REMOVE, {"ID": str(listed[0].id)})
        await self.stop_member(name)
        shutil.rmtree(m.data_dir, ignore_errors=True)
        m.state, m.member_id = "left", None
        # If it led, the rest elect a new leader: return once `via` serves again, so that the
        # next request is not dropped for want of a leader (etcd: request timed out).
        await self._wait_healthy([via])
        return listed[0].id

    async def rejoin(self, name: str, timeout: float | None = None) -> int:
        """Add `name` back (member add through a healthy member), start it on a fresh data dir
        with initial-cluster-state existing; return its NEW member id once healthy."""
        m = self.member(name)
        if m.state != "left":
            raise EtcdError(f"etcd member {name} is still in the cluster ({m.state}); "
                            f"it must leave before it can rejoin")
        via = self._helper(name)
        for port in (self.client_port, self.peer_port):
            px.check_port_free(name, m.address, port)
        peer = self.peer_url(name)
        reply = await self._reconfigure(via, gw.MEMBER_ADD, {"peerURLs": [peer]})
        new_id = self._launch_added(m, reply)
        self._lag.restarted(name)
        await self._wait_healthy([name], timeout)
        return new_id

    async def add_stale_member(self, name: str, peer_url: str) -> int:
        """Add a member at `peer_url` that never starts (fault stale_etcd_member); etcd lists it
        with no name and no client URLs. `name` is the lab's label. Return its member id."""
        host = urlsplit(peer_url).hostname or ""
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise EtcdError(f"stale etcd member {name}: {peer_url} is not a loopback URL")
        via = self._helper(exclude="")
        reply = await self._reconfigure(via, gw.MEMBER_ADD, {"peerURLs": [peer_url]})
        self._stale[name] = int(reply["member"]["ID"])
        return self._stale[name]

    async def shutdown(self, timeout: float = 5.0, leader_grace: float = 1.0) -> None:
        """Stop every member process started and reap them all (followers: SIGTERM, SIGKILL
        after `timeout`; the leader last, SIGKILL after `leader_grace`); remove the PID file.
        Safe to call twice."""
        leader = await self._find_leader()
        procs = [m.proc for m in self._members.values() if m.proc is not None and m is not leader]
        await asyncio.gather(*(px.stop_process(p, timeout) for p in procs))
        if leader is not None and leader.proc is not None:
            # On SIGTERM a leader first hands leadership over; with its peers just stopped it
            # may still pick one of them and wait ~6 s for an answer that cannot come. A crash
            # is harmless here (etcd's WAL is fsynced), so it gets a short grace only.
            await px.stop_process(leader.proc, min(timeout, leader_grace))
        self._after_stop_all()

    async def _find_leader(self) -> EtcdMember | None:
        """Return the running member that leads, if any answers quickly; never raises."""
        for m in self._members.values():
            if not m.running:
                continue
            try:
                reply = await gw.apost(self.client_url(m.name), gw.STATUS, {}, timeout=0.5)
            except EtcdError:
                continue
            lead = parse_status(reply).leader
            return next((x for x in self._members.values()
                         if x.member_id == lead and x.running), None)
        return None

    # ---- rebuild (VMs destroyed, a new cluster bootstrapped; emulator/talos/provision.py) ------
    async def destroy_member(self, name: str) -> None:
        """The member's VM is destroyed: its process stops and its data dir is gone. The other
        members still list it (a real destroyed VM stays a member until removed)."""
        m = self.member(name)
        if m.proc is not None:
            await px.stop_process(m.proc, self.stop_timeout)
        shutil.rmtree(m.data_dir, ignore_errors=True)
        m.state = "stopped"
        self._save_pids()

    async def forget(self) -> None:
        """No member is left (every control plane destroyed): stop whatever still runs and
        drop every record, so that a NEW cluster can be bootstrapped (new token)."""
        await self.shutdown()
        for m in self._members.values():
            shutil.rmtree(m.data_dir, ignore_errors=True)
        self._members.clear()
        self._stale.clear()
        self.token = f"lab-{uuid.uuid4().hex[:12]}"

    def prepare_member(self, name: str, address: str) -> None:
        """A control plane booted its config: its etcd service waits (Preparing) with an empty
        data dir and is not a member of anything yet."""
        self._members[name] = EtcdMember(
            name=name, address=address, data_dir=self.base_dir / name / "data",
            log_path=self.base_dir / "logs" / f"{name}.log")
        shutil.rmtree(self._members[name].data_dir, ignore_errors=True)

    def has_data(self, name: str) -> bool:
        """True if the member's data dir is not empty (Bootstrap's AlreadyExists check)."""
        m = self._members.get(name)
        return m is not None and m.data_dir.parent.exists() and m.data_dir.exists() and \
            any(m.data_dir.iterdir())

    @property
    def serving(self) -> list[str]:
        """Names of the members whose process runs."""
        return [n for n, m in self._members.items() if m.running]

    async def bootstrap_member(self, name: str, snapshot: Path | None = None,
                               skip_hash_check: bool = False) -> None:
        """Start `name` as a single-member NEW cluster (talosctl bootstrap); with `snapshot`,
        restore it first with the real `etcdctl snapshot restore` into the member's data dir
        (Talos: etcd.go recoverFromSnapshot, etcdutl Restore with the member's name and peer
        URL as the initial cluster). Raise EtcdError (etcdctl's text) if the restore fails."""
        from emulator.etcd.snapshot import run_etcdctl

        m = self.member(name)
        peer = gw.client_url(m.address, self.peer_port)
        m.initial_cluster = f"{name}={peer}"
        shutil.rmtree(m.data_dir, ignore_errors=True)
        m.data_dir.parent.mkdir(parents=True, exist_ok=True)
        if snapshot is not None:
            args = ["snapshot", "restore", str(snapshot), "--name", name,
                    "--data-dir", str(m.data_dir), "--initial-cluster", m.initial_cluster,
                    "--initial-cluster-token", self.token,
                    "--initial-advertise-peer-urls", peer]
            if skip_hash_check:
                args.append("--skip-hash-check")
            await asyncio.to_thread(run_etcdctl, self.etcdctl_bin, args, 60.0)
        for port in (self.client_port, self.peer_port):
            px.check_port_free(m.name, m.address, port)
        self._launch(m, "new")
        await self._wait_healthy([name])
        m.member_id = self._raw_status(name).member_id

    async def join_member(self, name: str, timeout: float = 60.0) -> int:
        """A Preparing control plane joins the running cluster as Talos does (etcd.go
        buildInitialCluster: MemberAddAsLearner, start with initial-cluster-state existing,
        then promoteMember retried until the learner caught up). Retries etcd's refusals
        (one learner at a time, strict reconfig checks) until `timeout`. Return its id."""
        m = self.member(name)
        deadline = time.monotonic() + timeout
        peer = gw.client_url(m.address, self.peer_port)
        while True:
            via = next((n for n in self.serving if n != name), None)
            if via is None:
                raise EtcdMemberDown(f"no running etcd member for {name} to join")
            try:
                reply = await gw.apost(self.client_url(via), gw.MEMBER_ADD,
                                       {"peerURLs": [peer], "isLearner": True})
                break
            except EtcdApiError as exc:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.2 if "learner" in exc.message else 0.5)
        new_id = self._launch_added(m, reply)
        await self._wait_healthy([name], max(1.0, deadline - time.monotonic()))
        while True:
            try:
                await gw.apost(self.client_url(via), gw.MEMBER_PROMOTE, {"ID": str(new_id)})
                return new_id
            except EtcdApiError:
                if time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(0.1)

    async def registry(self, prefix: str = "/registry/") -> list[tuple[str, bytes]]:
        """Every (key, value) under `prefix` of the running cluster."""
        import base64

        via = self.serving[0] if self.serving else None
        if via is None:
            raise EtcdMemberDown("no running etcd member")
        reply = await gw.apost(self.client_url(via), gw.KV_RANGE,
                               {"key": gw.b64(prefix), "range_end": gw.b64(_prefix_end(prefix))},
                               timeout=10.0)
        return [(base64.b64decode(kv["key"]).decode(), base64.b64decode(kv.get("value", "")))
                for kv in reply.get("kvs", [])]

    async def replace_registry(self, items: list[tuple[str, str]], via: str,
                               prefix: str = "/registry/") -> None:
        """Delete every key under `prefix`, then put `items` (through `via`)."""
        url = self.client_url(via)
        await gw.apost(url, gw.KV_DELETE_RANGE,
                       {"key": gw.b64(prefix), "range_end": gw.b64(_prefix_end(prefix))})
        for key, value in items:
            await gw.apost(url, gw.KV_PUT, {"key": gw.b64(key), "value": gw.b64(value)})

    def kill_all(self) -> None:
        """Sync last resort (fixture finalizers, atexit): SIGKILL and reap every process."""
        for m in self._members.values():
            if m.proc is not None:
                px.kill_process(m.proc)
        self._after_stop_all()

    def _after_stop_all(self) -> None:
        for m in self._members.values():
            if m.state == "running":
                m.state = "stopped"
        (self.base_dir / px.PID_FILE).unlink(missing_ok=True)



def _prefix_end(prefix: str) -> str:
    """etcd's range_end for a prefix: the prefix with its last byte incremented."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)
