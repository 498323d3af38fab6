"""The profile's sections besides the cluster and its nodes (model/profile.py): the upgrade's
target and timeouts, backups, Flux, health tuning, Proxmox VE and the lab. Frozen pydantic
models that reject unknown fields (except ``lab:``, which the lab owns)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from model.profile_fields import (
    GO_DURATION,
    Duration,
    Frozen,
    KubeVersionField,
    SecretRefField,
    TalosVersionField,
    check_http_url,
    normal_ip,
    resolve_path,
)
from model.schematic import SCHEMATIC_ID, check_extensions
from model.secrets import SecretRef

# --------------------------------------------------------------------------- upgrade


class Target(Frozen):
    """The versions the cluster should run after the upgrade (None: keep the current one), and
    the image: a new extension set (its schematic is computed as the Factory does) or an
    explicit schematic ID (None: keep talos.factory's)."""

    talos: TalosVersionField | None = None
    kubernetes: KubeVersionField | None = None
    extensions: tuple[str, ...] | None = None
    schematic: str | None = None

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        return None if value is None else check_extensions(value, "extension")

    @field_validator("schematic")
    @classmethod
    def _schematic(cls, value: str | None) -> str | None:
        if value is not None and not SCHEMATIC_ID.match(value):
            raise ValueError("must be 64 lower-case hex characters (an Image Factory schematic ID)")
        return value

    @model_validator(mode="after")
    def _one_image(self) -> Target:
        if self.extensions is not None and self.schematic is not None:
            raise ValueError("give extensions or schematic, not both (a schematic fixes its own)")
        return self


class Timeouts(Frozen):
    """Deadlines in seconds; YAML accepts ``60s``, ``10m``, ``1h30m`` or a number of seconds."""

    reboot: Duration = 600.0
    node_ready: Duration = 300.0
    etcd: Duration = 300.0
    kubernetes: Duration = 1800.0
    backup: Duration = 1800.0


class Workers(Frozen):
    """How workers are upgraded: up to `batch` at once (control planes: always one at a time).
    A PodDisruptionBudget, or a workload that would lose its last Ready replica, splits a
    batch at run time."""

    batch: int = Field(default=1, ge=1)


class Upgrade(Frozen):
    """What to upgrade to, and how patient to be."""

    target: Target = Target()
    workers: Workers = Workers()
    timeouts: Timeouts = Timeouts()
    single_control_plane_ack: bool = False
    preserve: bool = True
    lock_seconds: int = Field(default=300, ge=10)  # cluster lock lease duration


# --------------------------------------------------------------------------- backups etc.


class Velero(Frozen):
    """How to take the Velero backup before the upgrade."""

    namespace: str = "velero"
    exclude_namespaces: tuple[str, ...] = ()
    default_volumes_to_fs_backup: bool = False
    ttl: str = "720h0m0s"
    storage_location: str | None = None

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        if not GO_DURATION.match(value):
            raise ValueError(f"{value!r} is not a Go duration (expected e.g. 720h0m0s)")
        return value


class Backups(Frozen):
    """Backups taken before the first reboot."""

    velero: Velero | None = None
    etcd_snapshot_dir: Path = Field(default=Path("backups"), validate_default=True)

    @field_validator("etcd_snapshot_dir")
    @classmethod
    def _dir(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)


class Flux(Frozen):
    """Whether the cluster is managed by Flux (its Kustomizations/HelmReleases must be Ready),
    and where a rebuilt cluster is bootstrapped from (`flux bootstrap git --url --path
    --branch`; the rebuild's Flux phase needs `url` and `path`)."""

    enabled: bool = False
    cli: str = "flux"
    url: str | None = None  # ssh://git@host/org/repo.git or https://...
    path: str | None = None  # the cluster's directory in the repository, e.g. clusters/home
    branch: str = "main"
    private_key_file: Path | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("ssh://", "https://", "http://")):
            raise ValueError(
                f"{value!r} is not an ssh://, https:// or http:// URL (flux bootstrap git)"
            )
        return value

    @field_validator("private_key_file")
    @classmethod
    def _key(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, info)


class Health(Frozen):
    """Tuning for the health checks."""

    pod_allowlist: tuple[str, ...] = ()
    max_raft_index_spread: int = Field(default=50, ge=0)
    k8s_api: str | None = None

    @field_validator("pod_allowlist")
    @classmethod
    def _allowlist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            ns, sep, name = entry.partition("/")
            if not sep or not ns or not name or "/" in name:
                raise ValueError(
                    f"{entry!r} is not of the form namespace/name-prefix (globs allowed)"
                )
        return value


class Probe(Frozen):
    """Where a throwaway clone of a new template is booted to prove what it runs: its VMID and
    the static address cloud-init gives it (nothing else may answer there)."""

    vmid: int = Field(ge=100)
    address: str
    prefix: int = Field(default=24, ge=1, le=32)
    gateway: str | None = None

    @field_validator("address", "gateway")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        return None if value is None else str(normal_ip(value))


class PveSsh(Frozen):
    """The PVE host over SSH (as root: `qm importdisk` from a path needs root@pam), for the
    import path the API cannot take with a token and the host-side checks; the private key is
    a file reference ({file: PATH}, relative to the profile)."""

    host: str
    port: int = Field(default=22, ge=1, le=65535)
    user: str = "root"
    key: SecretRefField
    known_hosts: Path | None = None  # else ssh's own (~/.ssh/known_hosts): the key is checked

    @field_validator("key")
    @classmethod
    def _key_file(cls, value: SecretRef) -> SecretRef:
        if value.kind != "file":
            raise ValueError("the private key is a file reference ({file: PATH}): ssh reads it")
        return value

    @field_validator("known_hosts")
    @classmethod
    def _known(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, info)


class Proxmox(Frozen):
    """The Proxmox VE host the nodes run on (for the template-rebuild runbook): its API, the
    node, an API token (``USER@REALM!TOKENID=SECRET``, a secret reference), the template the
    nodes were cloned from, where a new template's disk is downloaded (a storage with content
    ``import``, PVE 8.4+) and created, and the new VMs' size."""

    api: str
    node: str
    token: SecretRefField
    template_vmid: int
    tags: tuple[str, ...] = ()
    template_vmid_range: tuple[int, int] | None = None  # where a new template's VMID is taken
    import_storage: str = "local"
    storage: str = "local-lvm"
    bridge: str = "vmbr0"
    cores: int = Field(default=2, ge=1)
    memory_mib: int = Field(default=4096, ge=1024)
    disk_gib: int = Field(default=32, ge=2)  # Talos' raw disk is 1246 MiB; the VM disk is grown
    verify_tls: bool = True  # False: accept PVE's self-signed certificate (the token still auths)
    probe: Probe | None = None  # the template's boot proof (rebuild preflight requires it)
    ssh: PveSsh | None = None  # set: the disk is imported over SSH (qm importdisk), not the API
    task_timeout: Duration = 900.0

    @field_validator("api")
    @classmethod
    def _api(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("template_vmid_range")
    @classmethod
    def _range(cls, value: tuple[int, int] | None) -> tuple[int, int] | None:
        if value is not None and not 100 <= value[0] <= value[1]:
            raise ValueError(f"{list(value)} is not [low, high] with 100 <= low <= high")
        return value


class Rebuild(Frozen):
    """How the template-based rebuild brings the cluster back: etcd recovered from the
    pre-rebuild snapshot (restore_etcd) or bootstrapped empty, and the secrets bundle that keeps
    the cluster's identity (talosctl gen secrets; needed to restore etcd)."""

    restore_etcd: bool = False
    secrets: Path | None = None
    keep_old_template: bool = True  # the way back: kept and protected unless this says False
    shutdown_timeout: Duration = 60.0  # PVE's graceful shutdown of each old VM (its default)
    # where the generated machine configs go (and, without secrets, the new bundle)
    workdir: Path = Field(default=Path("rebuild"), validate_default=True)
    # machine config patches for `talosctl gen config --config-patch @file` (CNI none and no
    # kube-proxy for Cilium, registry mirrors...): without them the rebuilt cluster gets the
    # defaults
    config_patches: tuple[Path, ...] = ()

    @field_validator("secrets")
    @classmethod
    def _secrets(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, info)

    @field_validator("workdir")
    @classmethod
    def _workdir(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)

    @field_validator("config_patches")
    @classmethod
    def _patches(cls, value: tuple[Path, ...], info: ValidationInfo) -> tuple[Path, ...]:
        return tuple(resolve_path(p, info) for p in value)


class Lab(BaseModel):
    """Settings for the emulated lab. Extra keys are allowed: the lab owns this section."""

    model_config = ConfigDict(frozen=True, extra="allow")

    timings: dict[str, float] = Field(default_factory=dict)
    scale: float = Field(default=1.0, gt=0)
    workers: int | None = Field(default=None, ge=0)


class Evidence(Frozen):
    """The evidence bundle: `signing_key` (a secret reference) signs its manifest (Ed25519: a
    PEM private key, or the raw 32-byte key in base64 on one line)."""

    signing_key: SecretRefField | None = None


# --------------------------------------------------------------------------- change management

CHANGE_SYSTEMS = ("servicenow", "jira")
DEFAULT_ALLOWED_STATES = {"servicenow": ("Implement",)}


class Change(Frozen):
    """The change system a mutating runbook runs under (model/change.py judges a change).

    ``servicenow``: the Table API's change_request by number; its state (display name) must be
    one of ``allowed_states`` (default Implement) and now inside its planned window (unless
    ``check_window: false``). ``jira``: the issue's status must be one of ``allowed_states``
    (required: workflows name their statuses). ``credentials`` is a secret reference: with
    ``user``, the password or API token of basic auth; without, a bearer token (OAuth, or a
    Jira Data Center personal access token). ``attach``: at the end, the evidence bundle is
    attached to the change and a work note (comment) carries the outcome."""

    system: Literal["servicenow", "jira"]
    url: str
    credentials: SecretRefField
    user: str | None = None
    allowed_states: tuple[str, ...] = ()
    check_window: bool = True
    attach: bool = True
    timeout: Duration = 30.0

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)

    @model_validator(mode="before")
    @classmethod
    def _default_states(cls, data: object) -> object:
        """ServiceNow's default is Implement; Jira has none (workflows name their own)."""
        if isinstance(data, dict) and not data.get("allowed_states"):
            default = DEFAULT_ALLOWED_STATES.get(str(data.get("system")))
            if default is None and data.get("system") in CHANGE_SYSTEMS:
                raise ValueError(
                    f"allowed_states: is required for {data['system']} (the statuses in which "
                    "a change may be implemented, as your workflow names them)"
                )
            if default is not None:
                data = {**data, "allowed_states": list(default)}
        return data

    @field_validator("allowed_states")
    @classmethod
    def _states(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not s.strip() for s in value):
            raise ValueError("a state cannot be empty")
        return value
