"""The cluster profile: what a cluster is and what it should become (clusters/<name>.yaml).

`load_profile` reads and validates a profile file; every problem is a `ProfileError` whose
str is one line naming the file, the field path and the reason. The models are frozen pydantic
models that reject unknown fields (except inside ``lab:``, which the lab owns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import (
    Field,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from model.profile_errors import ProfileError, describe, display_path, kind_of, read_yaml
from model.profile_fields import (
    HEX64,
    NAME,
    Frozen,
    KubeVersionField,
    TalosVersionField,
    check_http_url,
    normal_ip,
    parse_duration,
    resolve_path,
)
from model.profile_sections import (
    Backups,
    Change,
    Evidence,
    Flux,
    Health,
    Lab,
    Proxmox,
    Rebuild,
    Target,
    Timeouts,
    Upgrade,
    Velero,
)
from model.roles import Role

__all__ = [
    "Backups",
    "Change",
    "Evidence",
    "Factory",
    "Flux",
    "Health",
    "Lab",
    "Node",
    "Nodes",
    "Profile",
    "ProfileError",
    "Proxmox",
    "Rebuild",
    "Talos",
    "Target",
    "Timeouts",
    "UnknownName",
    "Upgrade",
    "Velero",
    "load_profile",
    "parse_duration",
    "parse_profile",
    "resolve_cluster",
]


class UnknownName(KeyError):
    """A KeyError for an unknown node/check name whose str is the plain message (no quotes)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------- talos


class Factory(Frozen):
    """The Image Factory the nodes' images come from, and what the schematic contains."""

    url: str = "https://factory.talos.dev"
    schematic: str
    extensions: tuple[str, ...] = ()

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return check_http_url(value)

    @field_validator("schematic")
    @classmethod
    def _schematic(cls, value: str) -> str:
        if not HEX64.match(value):
            raise ValueError("must be 64 lower-case hex characters")
        return value

    @property
    def host(self) -> str:
        """The registry host for installer images, e.g. ``factory.talos.dev``."""
        return urlsplit(self.url).netloc


class Talos(Frozen):
    """Talos and Kubernetes as the cluster runs them now, and how to reach them."""

    version: TalosVersionField
    kubernetes: KubeVersionField
    talosctl: str = "talosctl"
    talosconfig: Path
    kubeconfig: Path
    endpoints: tuple[str, ...] = ()
    factory: Factory

    @field_validator("talosconfig", "kubeconfig")
    @classmethod
    def _paths(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)

    @field_validator("endpoints")
    @classmethod
    def _endpoints(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not e.strip() for e in value):
            raise ValueError("an endpoint cannot be empty")
        return value


# --------------------------------------------------------------------------- nodes


class Node(Frozen):
    """One machine. Its role comes from the list it is in (control_plane or workers)."""

    name: str
    address: str | None = None
    role: Role
    vmid: int | None = None
    primary: StrictBool = False

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(
                f"{value!r} is not a valid node name (lower-case letters, digits, '-' and '.')"
            )
        return value

    @field_validator("address", mode="before")
    @classmethod
    def _address(cls, value: object) -> object:
        return None if value is None else normal_ip(value)

    @property
    def is_control_plane(self) -> bool:
        return self.role is Role.CONTROL_PLANE

    @property
    def target(self) -> str:
        """What to pass to ``talosctl -n``: the address, or the name when there is none."""
        return self.address or self.name


class Nodes(Frozen):
    """The control planes and workers, in profile order."""

    control_plane: tuple[Node, ...] = Field(default=(), validate_default=True)
    workers: tuple[Node, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _roles_and_primary(cls, data: Any) -> Any:
        """Give each node the role of its list; mark the first control plane primary if none is."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for key, role in (("control_plane", Role.CONTROL_PLANE), ("workers", Role.WORKER)):
            items = data.get(key)
            if items is None:
                items = []
            if not isinstance(items, list):
                continue
            out: list[object] = []
            for item in items:
                if isinstance(item, dict):
                    item = dict(item)
                    given = item.get("role")
                    if given is not None and given not in (role, role.value):
                        raise ValueError(
                            f"{item.get('name')!r} is listed under {key} but has role "
                            f"{given!r} (leave role out: the list gives it)"
                        )
                    item["role"] = role
                out.append(item)
            data[key] = out
        cps = data["control_plane"]
        if (
            cps
            and all(isinstance(c, dict) for c in cps)
            and not any(c.get("primary") is True for c in cps)
        ):
            cps[0]["primary"] = True
        return data

    @field_validator("control_plane")
    @classmethod
    def _control_plane(cls, value: tuple[Node, ...]) -> tuple[Node, ...]:
        if not value:
            raise ValueError("at least one control plane is required")
        primaries = [n.name for n in value if n.primary]
        if len(primaries) > 1:
            raise ValueError(
                "more than one primary control plane: " + ", ".join(map(repr, primaries))
            )
        return value

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: tuple[Node, ...]) -> tuple[Node, ...]:
        for node in value:
            if node.primary:
                raise ValueError(f"{node.name!r} is marked primary; only a control plane can be")
        return value

    @model_validator(mode="after")
    def _unique(self) -> Nodes:
        """Names, addresses and VM ids are unique across all nodes."""
        seen: set[str] = set()
        for node in self.control_plane + self.workers:
            if node.name in seen:
                raise ValueError(f"duplicate node name {node.name!r}")
            seen.add(node.name)
        for attr in ("address", "vmid"):
            owners: dict[object, str] = {}
            for node in self.control_plane + self.workers:
                value = getattr(node, attr)
                if value is None:
                    continue
                if value in owners:
                    raise ValueError(
                        f"duplicate {attr} {value!r} ({owners[value]} and {node.name})"
                    )
                owners[value] = node.name
        return self


# --------------------------------------------------------------------------- profile


class Profile(Frozen):
    """A whole cluster profile. ``path`` is the file it was loaded from."""

    name: str
    path: Path
    talos: Talos
    nodes: Nodes
    upgrade: Upgrade = Upgrade()
    backups: Backups = Field(default_factory=dict, validate_default=True)
    flux: Flux = Flux()
    health: Health = Health()
    evidence: Evidence = Evidence()
    change: Change | None = None
    proxmox: Proxmox | None = None
    rebuild: Rebuild = Rebuild()
    lab: Lab | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_endpoints(cls, data: Any) -> Any:
        """Without ``talos.endpoints``, talk to the control planes' addresses."""
        if not isinstance(data, dict):
            return data
        talos, nodes = data.get("talos"), data.get("nodes")
        if isinstance(talos, dict) and "endpoints" not in talos and isinstance(nodes, dict):
            cps = nodes.get("control_plane")
            if isinstance(cps, list):
                addresses = [
                    _maybe_ip(c["address"])
                    for c in cps
                    if isinstance(c, dict) and c.get("address") is not None
                ]
                data = {**data, "talos": {**talos, "endpoints": addresses}}
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"{value!r} is not a valid cluster name (lower-case, digits, '-')")
        return value

    @model_validator(mode="after")
    def _addresses(self) -> Profile:
        """Only a lab profile may leave node addresses out (the lab assigns them)."""
        if self.lab is None:
            for key, nodes in (
                ("control_plane", self.nodes.control_plane),
                ("workers", self.nodes.workers),
            ):
                for i, node in enumerate(nodes):
                    if node.address is None:
                        raise ValueError(
                            f"nodes.{key}[{i}].address: is required (only a profile with a "
                            "lab: section may leave addresses out)"
                        )
        return self

    @property
    def all_nodes(self) -> tuple[Node, ...]:
        """Control planes then workers, each in profile order."""
        return self.nodes.control_plane + self.nodes.workers

    @property
    def control_planes(self) -> tuple[Node, ...]:
        return self.nodes.control_plane

    @property
    def workers(self) -> tuple[Node, ...]:
        return self.nodes.workers

    @property
    def primary(self) -> Node:
        """The primary control plane (upgraded last)."""
        return next(n for n in self.nodes.control_plane if n.primary)

    def node(self, name: str) -> Node:
        """Return the node called `name`; raise KeyError naming the known nodes."""
        for node in self.all_nodes:
            if node.name == name:
                return node
        known = ", ".join(n.name for n in self.all_nodes)
        raise UnknownName(f"no node {name!r} in profile {self.name!r} (known: {known})")


def _maybe_ip(value: object) -> str:
    try:
        return normal_ip(value)
    except ValueError:
        return str(value)


# --------------------------------------------------------------------------- loading


def parse_profile(data: object, path: Path) -> Profile:
    """Validate already-loaded YAML `data` as the profile at `path`; raise ProfileError."""
    if data is None:
        raise ProfileError(path, "file is empty")
    if not isinstance(data, dict):
        raise ProfileError(
            path, f"expected a mapping of profile fields at the top level, got {kind_of(data)}"
        )
    if "path" in data:
        raise ProfileError(path, "unknown field 'path'")
    try:
        return Profile.model_validate(
            {**data, "path": path}, context={"base_dir": path.absolute().parent}
        )
    except ValidationError as exc:
        problems = list(dict.fromkeys(describe(e) for e in exc.errors()))
        field, reason = problems[0]
        raise ProfileError(path, reason, field, problems[1:]) from None


def load_profile(path: Path) -> Profile:
    """Read and validate the profile file at `path`; raise ProfileError (one line) if unusable."""
    return parse_profile(read_yaml(path), path)


def resolve_cluster(name_or_path: str, clusters_dir: Path) -> Path:
    """Return the profile file for a cluster name (``clusters/<name>.yaml``) or a path to one.

    Raises ProfileError naming the known clusters when there is no such profile.
    """
    if "/" in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path).expanduser()
        if not path.is_file():
            raise ProfileError(path, "no such profile file")
        return path
    for suffix in (".yaml", ".yml"):
        candidate = clusters_dir / f"{name_or_path}{suffix}"
        if candidate.is_file():
            return candidate
    known = sorted(
        {p.stem for p in clusters_dir.iterdir() if p.suffix in (".yaml", ".yml")}
        if clusters_dir.is_dir()
        else set()
    )
    wanted = display_path(clusters_dir / f"{name_or_path}.yaml")
    raise ProfileError(
        None,
        f"unknown cluster {name_or_path!r}: no {wanted} (known: {', '.join(known) or 'none'})",
    )
