"""The cluster lock: a coordination.k8s.io Lease in kube-system, held for a whole runbook session.

The holder identity names who holds it (user@host, pid, runbook, change reference, start time).
A second session is refused with that identity (also one of the same user on the same host, while
the holding process lives); an expired lease is taken over with a warning; a lease left by a
session of the same user, host and runbook whose process is gone (killed, then resumed) is
re-taken with a warning. A background thread renews it (`renewals` counts); release deletes it.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drivers.errors import DriverError
from drivers.kube import Kube

LEASE_NAME = "talos-runbooks-lock"
NAMESPACE = "kube-system"


class LockHeld(DriverError):
    """Another session holds the cluster lock."""


def _micro(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_micro(text: str | None) -> float | None:
    """Epoch seconds of a Lease time: '...Z' as written, or the client's isoformat with an
    offset ('2026-01-01T00:00:00.123456+00:00'); None when absent or unreadable."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()


def _pid_alive(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def operator() -> str:
    """Who runs this session: user@host (the lock's holder, the run summary, the bundle)."""
    return f"{getpass.getuser()}@{socket.gethostname()}"


@dataclass(frozen=True)
class Holder:
    """Who holds the lock: user@host, the holding process, runbook, change reference, start."""

    user: str
    host: str
    runbook: str
    change: str
    started: str
    pid: str = ""

    @classmethod
    def me(cls, runbook: str, change: str) -> Holder:
        """The identity of this process."""
        return cls(
            getpass.getuser(),
            socket.gethostname(),
            runbook,
            change,
            datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            str(os.getpid()),
        )

    def identity(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def parse(cls, identity: str | None) -> Holder | None:
        try:
            data = json.loads(identity or "")
            return cls(**{k: str(data.get(k, "")) for k in cls.__dataclass_fields__})
        except (ValueError, TypeError):
            return None

    def __str__(self) -> str:
        change = f", change {self.change}" if self.change else ""
        pid = f", pid {self.pid}" if self.pid else ""
        return (
            f"{self.user}@{self.host} (runbook {self.runbook}{change}{pid}, since {self.started})"
        )

    def gone_from(self, me: Holder) -> bool:
        """True when this holder ran on `me`'s host, as `me`'s user, and its process is gone
        (whatever its runbook)."""
        if (self.user, self.host) != (me.user, me.host):
            return False
        return self.pid != me.pid and not (self.pid and _pid_alive(self.pid))

    def left_by_dead_session_of(self, me: Holder) -> bool:
        """True when this holder is an earlier session of `me` (same user, host and runbook)
        whose process no longer runs on this host (a killed session being resumed)."""
        if (self.user, self.host, self.runbook) != (me.user, me.host, me.runbook):
            return False
        return self.pid != me.pid and not (self.pid and _pid_alive(self.pid))


class ClusterLock:
    """Acquire/renew/release the Lease. `warnings` collects take-over notices for the report."""

    def __init__(
        self, kube: Kube, holder: Holder, *, duration: int = 300, clock: Any = time.time
    ) -> None:
        self.kube = kube
        self.holder = holder
        self.duration = duration
        self.clock = clock
        self.warnings: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.renew_errors: list[str] = []
        self.renewals = 0
        self.lost: str | None = None  # why the lock is no longer ours (taken over, deleted)
        self.paused: str | None = None  # why renewals stop for a while (the cluster is rebuilt)

    def _body(self, acquired: float, rv: str | None = None, transitions: int = 0) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": LEASE_NAME,
            "namespace": NAMESPACE,
            "labels": {"app.kubernetes.io/managed-by": "talos-runbooks"},
        }
        if rv:
            meta["resourceVersion"] = rv
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": meta,
            "spec": {
                "holderIdentity": self.holder.identity(),
                "leaseDurationSeconds": self.duration,
                "acquireTime": _micro(acquired),
                "renewTime": _micro(self.clock()),
                "leaseTransitions": transitions,
            },
        }

    def held_by_other(self) -> str | None:
        """Read-only: why acquire() would refuse now (the holder), or None when it would not."""
        lease = self.kube.get_lease(NAMESPACE, LEASE_NAME)
        if lease is None:
            return None
        spec = lease.get("spec") or {}
        other = Holder.parse(spec.get("holderIdentity"))
        expires = (_parse_micro(spec.get("renewTime")) or 0.0) + float(
            spec.get("leaseDurationSeconds") or 0
        )
        if other is not None and other.left_by_dead_session_of(self.holder):
            return None
        if expires <= self.clock():
            return None
        who = str(other) if other else repr(spec.get("holderIdentity"))
        return f"cluster is locked by {who}"

    def acquire(self) -> None:
        """Take the lock; raise LockHeld naming the holder when another session has it."""
        now = self.clock()
        lease = self.kube.get_lease(NAMESPACE, LEASE_NAME)
        if lease is None:
            self.kube.create_lease(NAMESPACE, self._body(now))
            return
        spec = lease.get("spec") or {}
        other = Holder.parse(spec.get("holderIdentity"))
        renewed = _parse_micro(spec.get("renewTime")) or 0.0
        expires = renewed + float(spec.get("leaseDurationSeconds") or 0)
        transitions = int(spec.get("leaseTransitions") or 0) + 1
        rv = lease["metadata"].get("resourceVersion")
        who = str(other) if other else repr(spec.get("holderIdentity"))
        if other is not None and other.left_by_dead_session_of(self.holder):
            self.warnings.append(f"re-took the lock left by an earlier session that is gone: {who}")
        elif expires > now:
            raise LockHeld(
                f"cluster is locked by {who}; the lease "
                f"kube-system/{LEASE_NAME} expires in {expires - now:.0f} s unless "
                "renewed. Wait for that session to finish (or, if it is dead, "
                f"for the lease to expire, or delete it: 'kubectl -n kube-system delete "
                f"lease {LEASE_NAME}')"
            )
        else:
            self.warnings.append(
                f"took over an expired lock held by {who} (expired {now - expires:.0f} s ago)"
            )
        self.kube.replace_lease(NAMESPACE, self._body(now, rv, transitions))

    def renew(self) -> None:
        """Push renewTime forward; raise LockHeld (and set `lost`) when the lease is gone or
        held by someone else."""
        lease = self.kube.get_lease(NAMESPACE, LEASE_NAME)
        if lease is None:
            self.lost = "the cluster lock disappeared while this session held it"
            raise LockHeld(self.lost)
        other = Holder.parse((lease.get("spec") or {}).get("holderIdentity"))
        if other != self.holder:
            self.lost = f"the cluster lock was taken over by {other}"
            raise LockHeld(self.lost)
        body = self._body(
            _parse_micro(lease["spec"].get("acquireTime")) or self.clock(),
            lease["metadata"].get("resourceVersion"),
            int(lease["spec"].get("leaseTransitions") or 0),
        )
        self.kube.replace_lease(NAMESPACE, body)
        self.renewals += 1

    def start_renewing(self, every: float | None = None) -> None:
        """Renew in a background thread every duration/3 seconds until release()."""
        interval = every or max(1.0, self.duration / 3)

        def loop() -> None:
            while not self._stop.wait(interval):
                if self.paused is not None:
                    continue
                try:
                    self.renew()
                except DriverError as e:  # keep trying; the report shows it
                    self.renew_errors.append(str(e))
                    if self.lost is not None:
                        return

        self._thread = threading.Thread(target=loop, name="cluster-lock-renewal", daemon=True)
        self._thread.start()

    def pause(self, why: str) -> None:
        """Stop renewing while the cluster that holds the Lease is torn down (the template
        rebuild): there is no API to renew it in. The run record still says who runs."""
        self.paused = why

    def carry_over(self) -> str:
        """The rebuilt cluster answers: hold the lock there. A recovered etcd brings this
        session's Lease back (renewed); a new cluster has none (created); a Lease of another
        holder means someone else got in (lost)."""
        lease = self.kube.get_lease(NAMESPACE, LEASE_NAME)
        if lease is None:
            self.kube.create_lease(NAMESPACE, self._body(self.clock()))
            how = "taken in the rebuilt cluster"
        else:
            spec = lease.get("spec") or {}
            other = Holder.parse(spec.get("holderIdentity"))
            if other is not None and other != self.holder and other.gone_from(self.holder):
                # the Lease as the snapshot caught it: its session (the rebuild this run
                # undoes) ended on this host; a live one or another host's is not ours to take
                rv = lease["metadata"].get("resourceVersion")
                transitions = int(spec.get("leaseTransitions") or 0) + 1
                self.kube.replace_lease(NAMESPACE, self._body(self.clock(), rv, transitions))
                self.warnings.append(f"took over the lock the recovered etcd held for {other}")
                how = f"recovered from the snapshot (held by {other}, gone): taken over"
            else:
                self.renew()
                how = "found in the recovered etcd and renewed"
        self.paused = None
        return how

    def release(self) -> bool:
        """Stop renewing and delete the lease if we still hold it; True when it was deleted."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        lease = self.kube.get_lease(NAMESPACE, LEASE_NAME)
        if lease is not None and Holder.parse(lease["spec"].get("holderIdentity")) == self.holder:
            self.kube.delete_lease(NAMESPACE, LEASE_NAME)
            return True
        return False
