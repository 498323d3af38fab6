"""The parts of a run record (model/run_record.py): versions, planned hops, node and Kubernetes
changes, backups, lock sessions, hop starts and the rollback note. Each has its JSON form
(`to_dict`); model/record_reader.py reads them back."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from model.versions import KubeVersion, TalosVersion

TIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y%m%dT%H%M%SZ")


def stamp(at: datetime) -> str:
    """The record's time format (UTC, seconds): 2026-12-07T10:08:49Z."""
    return at.astimezone(UTC).strftime(TIME_FORMATS[0])


@dataclass(frozen=True)
class Versions:
    talos: TalosVersion
    kubernetes: KubeVersion

    def to_dict(self) -> dict[str, str]:
        return {"talos": str(self.talos), "kubernetes": str(self.kubernetes)}


@dataclass(frozen=True)
class PlannedHop:
    """One hop as the plan wrote it (model.plan's to_dict): enough to undo it."""

    kind: Literal["talos", "kubernetes"]
    source: str  # "from"
    to: str
    raw: Mapping[str, Any]  # the plan's whole entry (image, nodes, commands), kept as written

    @property
    def kubernetes(self) -> KubeVersion:
        """For a Talos hop: the Kubernetes it ran with."""
        return KubeVersion.parse(str(self.raw["kubernetes"]))

    @property
    def talos(self) -> TalosVersion:
        """For a Kubernetes hop: the Talos it ran on."""
        return TalosVersion.parse(str(self.raw["talos"]))


@dataclass(frozen=True)
class NodeChange:
    """One change of a node's Talos: upgrade, rollback (A/B) or reinstall."""

    source: TalosVersion  # "from"
    to: TalosVersion
    at: datetime
    action: str
    came_back_on: TalosVersion | None = None
    boot_before: str | None = None
    boot_after: str | None = None
    recorded_on_resume: bool = False
    began: datetime | None = None  # when the change was sent (`at`: when the node was back)

    @property
    def seconds(self) -> float | None:
        """How long the change took, from the command to the Talos API answering again."""
        return (self.at - self.began).total_seconds() if self.began is not None else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "from": str(self.source),
            "to": str(self.to),
            "at": stamp(self.at),
            "action": self.action,
        }
        if self.began is not None:
            out["began"] = stamp(self.began)
        if self.boot_before is not None:
            out["boot_before"] = self.boot_before
        if self.boot_after is not None:
            out["boot_after"] = self.boot_after
        out["came_back_on"] = str(self.came_back_on) if self.came_back_on else None
        if self.recorded_on_resume:
            out["recorded_on_resume"] = True
        return out


@dataclass(frozen=True)
class KubeChange:
    source: KubeVersion
    to: KubeVersion
    at: datetime
    action: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": str(self.source),
            "to": str(self.to),
            "at": stamp(self.at),
            "action": self.action,
        }


@dataclass(frozen=True)
class EtcdBackup:
    """A verified etcd snapshot, saved outside the cluster."""

    path: str
    size_bytes: int
    sha256: str
    hash: str
    revision: int
    total_keys: int
    taken_from: str

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class VeleroBackup:
    namespace: str
    name: str
    status: Mapping[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "status": dict(self.status)}


@dataclass(frozen=True)
class LockSession:
    """One session that held the cluster lock for this run, and how it ended."""

    holder: Mapping[str, Any]
    warnings: tuple[str, ...] = ()
    lease: str = ""
    renewals: int | None = None
    released: bool | None = None
    renew_errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "holder": dict(self.holder),
            "warnings": list(self.warnings),
            "lease": self.lease,
        }
        if self.renewals is not None:
            out.update(
                {
                    "renewals": self.renewals,
                    "released": self.released,
                    "renew_errors": list(self.renew_errors),
                }
            )
        return out


@dataclass(frozen=True)
class HopStart:
    """What the cluster ran when this run began a Talos hop: the nodes after the one being
    changed must still run this (nothing touched out of order)."""

    talos: Mapping[str, TalosVersion]
    kubernetes: KubeVersion | None
    schematics: Mapping[str, str] = field(default_factory=dict)  # node -> the schematic it ran

    @staticmethod
    def key(source: TalosVersion, to: TalosVersion) -> str:
        return f"{source}->{to}"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "talos": {n: str(v) for n, v in self.talos.items()},
            "kubernetes": str(self.kubernetes) if self.kubernetes else None,
        }
        if self.schematics:
            out["schematics"] = dict(self.schematics)
        return out


@dataclass(frozen=True)
class RollbackNote:
    """A rollback of this run: where it goes, its own etcd snapshot, when it finished."""

    started: datetime
    to: Versions
    etcd: EtcdBackup | None = None
    finished: datetime | None = None
    verified: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"started": stamp(self.started), "to": self.to.to_dict()}
        if self.etcd is not None:
            out["etcd"] = self.etcd.to_dict()
        if self.finished is not None:
            out["finished"] = stamp(self.finished)
            out["verified"] = list(self.verified)
        return out


@dataclass(frozen=True)
class KeptVm:
    """A node's VM as it was before the teardown: what its clone gets back (the MAC of net0,
    the cloud-init network) and what proves the right VM is destroyed (VMID, name)."""

    vmid: int
    name: str
    role: str
    address: str
    config: Mapping[str, str]  # net0, ipconfig0, nameserver, searchdomain as PVE wrote them

    def to_dict(self) -> dict[str, Any]:
        return {
            "vmid": self.vmid,
            "name": self.name,
            "role": self.role,
            "address": self.address,
            "config": dict(self.config),
        }


@dataclass(frozen=True)
class RebuildProgress:
    """How far a template rebuild got: the template's boot proof (the teardown waits for it),
    the VMs as they were, the VMIDs stopped and destroyed, the clones, the nodes configured,
    the bootstrap, the profile change and its commit. A rerun reads it to resume."""

    template_proof: str | None = None
    vms: tuple[KeptVm, ...] = ()
    stopped: tuple[int, ...] = ()
    destroyed: tuple[int, ...] = ()
    cloned: tuple[int, ...] = ()
    configured: tuple[str, ...] = ()
    bootstrapped: datetime | None = None
    profile_commit: str | None = None

    @property
    def torn_down(self) -> bool:
        """Some VM of the old cluster was stopped or destroyed: there is no going back by a
        rerun of the preflight."""
        return bool(self.stopped or self.destroyed)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "template_proof": self.template_proof,
            "vms": [v.to_dict() for v in self.vms],
            "stopped": list(self.stopped),
            "destroyed": list(self.destroyed),
            "cloned": list(self.cloned),
            "configured": list(self.configured),
        }
        if self.bootstrapped is not None:
            out["bootstrapped"] = stamp(self.bootstrapped)
        if self.profile_commit is not None:
            out["profile_commit"] = self.profile_commit
        return out
