"""The lab's `talosctl gen secrets`, `talosctl gen config` and `talosctl kubeconfig`.

`gen` is a client-side command upstream: it runs locally and writes files relative to the
client's working directory (the lab's request carries it as `cwd`). Texts and file shapes are
talosctl v1.12.4's (siderolabs/talos):

* `cmd/talosctl/cmd/mgmt/gen/gen.go`: the persistent `-f/--force` flag and
  `file %q already exists, use --force to overwrite`;
* `cmd/talosctl/cmd/mgmt/gen/secrets.go`: `-o/--output-file` (default `secrets.yaml`, `-` for
  stdout), silent on success, mode 0600;
* `cmd/talosctl/cmd/mgmt/gen/config.go`: the flags, `validateClusterEndpoint`'s errors,
  `outputPaths` (`<cwd>/controlplane.yaml`, `worker.yaml`, `talosconfig` by default),
  `writeToDestination` (`Created <path>` on stderr per file, checked one file at a time);
* `pkg/machinery/config/bundle/bundle.go`: `generating PKI and tokens` on stderr;
* `pkg/machinery/config/generate/secrets/secrets.go` + `testdata/secrets.yaml`: the bundle's
  keys; `bundle.go` `Validate`: its errors;
* `pkg/machinery/config/generate/init.go`, `worker.go`: the v1alpha1 documents' fields;
  `talosconfig.go` + `pkg/machinery/client/config/config.go` `NewConfig`: the talosconfig
  (context named after the cluster, `endpoints: []` unless given);
* `cmd/talosctl/cmd/talos/kubeconfig.go` and `v1alpha1_server.go` `Kubeconfig`: kubeconfig.

Deviations (emulator/COVERAGE.md §8): certificates and keys are base64 PEM blocks of random
bytes typed `LAB DUMMY ...` (not x509); machine configs carry no doc/example comments and a
subset of fields; `--config-patch` is a deep merge of maps (not the strategic merge).
"""

from __future__ import annotations

import base64
import copy
import os
import secrets as _random
import string
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from emulator.talos.flags import Command as _Command
from emulator.talos.flags import Flag, exact_args, maximum_args, no_args

if TYPE_CHECKING:
    from emulator.talos.client import Client
    from emulator.talos.commands import Ctx
    from emulator.world import EmulatedCluster

GENERATING = "generating PKI and tokens"  # pkg/machinery/config/bundle/bundle.go
_TOKEN_CHARS = string.ascii_lowercase + string.digits
_OUTPUT_TYPES = ("controlplane", "worker", "talosconfig")


# ---------------------------------------------------------------------------------------------
# the command tree (added to emulator/talos/specs.py's tree)
# ---------------------------------------------------------------------------------------------
def commands(client: Client) -> tuple[_Command, ...]:
    """`gen secrets`, `gen config` (cmd/talosctl/cmd/mgmt/gen @ v1.12.4) and `kubeconfig`
    (cmd/talosctl/cmd/talos/kubeconfig.go) for this client version."""
    gen = _Command(
        "gen",
        short="Generate CAs, certificates, and private keys",
        runnable=False,
        persistent_flags=(
            Flag("force", "bool", False, shorthand="f", help="will overwrite existing files"),
        ),
    )
    gen.add(
        _Command(
            "secrets",
            short="Generates a secrets bundle file which can later be used to generate a config",
            args=no_args,
            handler="gen secrets",
            flags=(
                Flag(
                    "output-file",
                    default="secrets.yaml",
                    shorthand="o",
                    help='path of the output file, or "-" for stdout',
                ),
                Flag(
                    "talos-version",
                    help="the desired Talos version to generate secrets "
                    "bundle for (backwards compatibility, e.g. v0.8)",
                ),
                Flag(
                    "from-controlplane-config",
                    help="use the provided controlplane Talos machine configuration as input",
                ),
                Flag(
                    "from-kubernetes-pki",
                    shorthand="p",
                    help="use a Kubernetes PKI directory (e.g. /etc/kubernetes/pki) as input",
                ),
                Flag(
                    "kubernetes-bootstrap-token",
                    shorthand="t",
                    help="use the provided bootstrap token as input",
                ),
            ),
        ),
        _Command(
            "config <cluster name> <cluster endpoint>",
            short="Generates a set of configuration files for Talos cluster",
            args=exact_args(2),
            handler="gen config",
            flags=(
                Flag("install-disk", default="/dev/sda", help="the disk to install to"),
                Flag(
                    "install-image",
                    default=client.default_installer,
                    help="the image used to perform an installation",
                ),
                Flag(
                    "additional-sans",
                    "stringSlice",
                    help="additional Subject-Alt-Names for the APIServer certificate",
                ),
                Flag(
                    "dns-domain", default="cluster.local", help="the dns domain to use for cluster"
                ),
                Flag(
                    "version",
                    default="v1alpha1",
                    help="the desired machine config version to generate",
                ),
                Flag(
                    "talos-version",
                    help="the desired Talos version to generate config "
                    "for (backwards compatibility, e.g. v0.8)",
                ),
                Flag(
                    "kubernetes-version",
                    default=client.default_kubernetes,
                    help="desired kubernetes version to run",
                ),
                Flag(
                    "config-patch",
                    "stringSlice",
                    help="patch generated machineconfigs "
                    "(applied to all node types), use @file to read a patch from file",
                ),
                Flag(
                    "config-patch-control-plane",
                    "stringSlice",
                    help="patch generated "
                    "machineconfigs (applied to 'init' and 'controlplane' types)",
                ),
                Flag(
                    "config-patch-worker",
                    "stringSlice",
                    help="patch generated machineconfigs (applied to 'worker' type)",
                ),
                Flag(
                    "registry-mirror",
                    "stringSlice",
                    help="list of registry mirrors to use in format: <registry host>=<mirror URL>",
                ),
                Flag(
                    "persist",
                    "bool",
                    True,
                    shorthand="p",
                    help="the desired persist value for configs",
                ),
                Flag(
                    "with-examples",
                    "bool",
                    True,
                    help="renders all machine configs with the commented examples",
                ),
                Flag(
                    "with-docs",
                    "bool",
                    True,
                    help="renders all machine configs adding the documentation for each field",
                ),
                Flag(
                    "with-cluster-discovery", "bool", True, help="enable cluster discovery feature"
                ),
                Flag("with-kubespan", "bool", False, help="enable KubeSpan feature"),
                Flag("with-secrets", help="use a secrets file generated using 'gen secrets'"),
                Flag(
                    "output-types",
                    "stringSlice",
                    list(_OUTPUT_TYPES),
                    shorthand="t",
                    help="types of outputs to be generated. valid types are: "
                    '["controlplane" "worker" "talosconfig"]',
                ),
                Flag(
                    "output",
                    shorthand="o",
                    help="destination to output generated "
                    "files. when multiple output types are specified, it must be a "
                    "directory. for a single output type, it must either be a file "
                    'path, or "-" for stdout',
                ),
                Flag("output-dir", hidden=True, help="destination to output generated files"),
            ),
        ),
    )
    kubeconfig = _Command(
        "kubeconfig [local-path]",
        short="Download the admin kubeconfig from the node",
        args=maximum_args(1),
        handler="kubeconfig",
        flags=(
            Flag(
                "force",
                "bool",
                False,
                shorthand="f",
                help="Force overwrite of kubeconfig if "
                "already present, force overwrite on kubeconfig merge",
            ),
            Flag("force-context-name", help="Force context name for kubeconfig merge"),
            Flag("merge", "bool", True, shorthand="m", help="Merge with existing kubeconfig"),
        ),
    )
    return gen, kubeconfig


# ---------------------------------------------------------------------------------------------
# secrets bundles
# ---------------------------------------------------------------------------------------------
def _token() -> str:
    """A bootstrap-token-shaped string (`[a-z0-9]{6}.[a-z0-9]{16}`), as upstream's."""
    pick = _random.choice
    return (
        "".join(pick(_TOKEN_CHARS) for _ in range(6))
        + "."
        + "".join(pick(_TOKEN_CHARS) for _ in range(16))
    )


def _b64(n: int = 32) -> str:
    return base64.b64encode(_random.token_bytes(n)).decode()


def _pem(kind: str) -> str:
    """base64 of a PEM block of random bytes: upstream's shape, not a real certificate/key."""
    body = base64.encodebytes(_random.token_bytes(96)).decode()
    block = f"-----BEGIN LAB DUMMY {kind}-----\n{body}-----END LAB DUMMY {kind}-----\n"
    return base64.b64encode(block.encode()).decode()


def _pair(key_kind: str = "EC PRIVATE KEY") -> dict[str, str]:
    return {"crt": _pem("CERTIFICATE"), "key": _pem(key_kind)}


def new_bundle() -> dict[str, Any]:
    """A new secrets bundle in the shape of `talosctl gen secrets` (yaml keys of
    pkg/machinery/config/generate/secrets/secrets.go)."""
    return {
        "cluster": {"id": _b64(), "secret": _b64()},
        "secrets": {"bootstraptoken": _token(), "secretboxencryptionsecret": _b64()},
        "trustdinfo": {"token": _token()},
        "certs": {
            "etcd": _pair(),
            "k8s": _pair(),
            "k8saggregator": _pair(),
            "k8sserviceaccount": {"key": _pem("EC PRIVATE KEY")},
            "os": _pair("ED25519 PRIVATE KEY"),
        },
    }


def dump(data: Any) -> str:
    """YAML as go.yaml.in/yaml/v4 writes it (4-space indent, keys in struct order)."""
    return yaml.safe_dump(data, sort_keys=False, indent=4, default_flow_style=False)


def validate_bundle(bundle: Any) -> list[str]:
    """secrets.Bundle.Validate's errors (pkg/machinery/config/generate/secrets/bundle.go)."""
    b = bundle if isinstance(bundle, dict) else {}
    errs = []
    cluster, sec, trustd = b.get("cluster"), b.get("secrets"), b.get("trustdinfo")
    if not isinstance(cluster, dict):
        errs.append("cluster is required")
    else:
        errs += [f"cluster.{k} is required" for k in ("id", "secret") if not cluster.get(k)]
    if not isinstance(sec, dict):
        errs.append("secrets is required")
    else:
        if not sec.get("bootstraptoken"):
            errs.append("secrets.bootstraptoken is required")
        box, aes = sec.get("secretboxencryptionsecret"), sec.get("aescbcencryptionsecret")
        if not box and not aes:
            errs.append(
                "one of [secrets.secretboxencryptionsecret, "
                "secrets.aescbcencryptionsecret] is required"
            )
        if box and aes:
            errs.append(
                "only one of [secrets.secretboxencryptionsecret, "
                "secrets.aescbcencryptionsecret] is allowed"
            )
    if not isinstance(trustd, dict):
        errs.append("trustdinfo is required")
    elif not trustd.get("token"):
        errs.append("trustdinfo.token is required")
    certs = b.get("certs")
    if not isinstance(certs, dict):
        errs.append("certs is required")
    return errs


# ---------------------------------------------------------------------------------------------
# machine configs
# ---------------------------------------------------------------------------------------------
def _endpoint_error(endpoint: str) -> str | None:
    """validateClusterEndpoint (config.go) for the common cases."""
    parts = urlsplit(endpoint if "//" in endpoint else "//" + endpoint)
    scheme = endpoint.split("://", 1)[0] if "://" in endpoint else ""
    host = parts.hostname or ""
    try:
        port = parts.port
    except ValueError:
        port = None
    fixed = f'"https://{host}:{port or 6443}"'
    if not scheme:
        if port is None:
            return f"no scheme and port specified for the cluster endpoint URL\ntry: {fixed}"
        return f"no scheme specified for the cluster endpoint URL\ntry: {fixed}"
    if scheme != "https":
        return f"the control plane endpoint URL should have scheme https://\ntry: {fixed}"
    if not host:
        return f"error validating the cluster endpoint URL: {endpoint!r} is not a valid URI"
    return None


def machine_config(
    kind: str, bundle: dict[str, Any], name: str, endpoint: str, k8s: str, opts: dict[str, Any]
) -> dict[str, Any]:
    """The v1alpha1 document of `generate.Input.Config` (init.go / worker.go @ v1.12.4)."""
    certs = bundle["certs"]
    k8s = k8s.removeprefix("v")
    host = urlsplit(endpoint).hostname or ""
    cp = kind == "controlplane"
    machine: dict[str, Any] = {
        "type": kind,
        "token": bundle["trustdinfo"]["token"],
        "ca": dict(certs["os"]) if cp else {"crt": certs["os"]["crt"], "key": ""},
        "certSANs": [],
        "kubelet": {
            "image": f"ghcr.io/siderolabs/kubelet:v{k8s}",
            "defaultRuntimeSeccompProfileEnabled": True,
            "disableManifestsDirectory": True,
        },
        "network": {},
        "install": {
            "disk": opts.get("install-disk") or "/dev/sda",
            "image": opts.get("install-image") or "",
            "wipe": False,
        },
        "features": {
            "diskQuotaSupport": True,
            "kubePrism": {"enabled": True, "port": 7445},
            "hostDNS": {"enabled": True, "forwardKubeDNSToHost": True},
        },
    }
    network = {
        "dnsDomain": opts.get("dns-domain") or "cluster.local",
        "podSubnets": ["10.244.0.0/16"],
        "serviceSubnets": ["10.96.0.0/12"],
    }
    discovery = {
        "enabled": bool(opts.get("with-cluster-discovery", True)),
        "registries": {"kubernetes": {"disabled": True}, "service": {}},
    }
    cluster: dict[str, Any] = {
        "id": bundle["cluster"]["id"],
        "secret": bundle["cluster"]["secret"],
        "controlPlane": {"endpoint": endpoint},
        "clusterName": name,
        "network": network,
        "token": bundle["secrets"]["bootstraptoken"],
    }
    if cp:
        cluster.update(
            {
                "secretboxEncryptionSecret": bundle["secrets"].get("secretboxencryptionsecret", ""),
                "ca": dict(certs["k8s"]),
                "aggregatorCA": dict(certs["k8saggregator"]),
                "serviceAccount": dict(certs["k8sserviceaccount"]),
                "apiServer": {
                    "image": f"registry.k8s.io/kube-apiserver:v{k8s}",
                    "certSANs": [host, *(opts.get("additional-sans") or [])],
                },
                "controllerManager": {"image": f"registry.k8s.io/kube-controller-manager:v{k8s}"},
                "proxy": {"image": f"registry.k8s.io/kube-proxy:v{k8s}"},
                "scheduler": {"image": f"registry.k8s.io/kube-scheduler:v{k8s}"},
                "discovery": discovery,
                "etcd": {"ca": dict(certs["etcd"])},
                "extraManifests": [],
                "inlineManifests": [],
            }
        )
    else:
        cluster.update({"ca": {"crt": certs["k8s"]["crt"], "key": ""}, "discovery": discovery})
    return {
        "version": "v1alpha1",
        "debug": False,
        "persist": bool(opts.get("persist", True)),
        "machine": machine,
        "cluster": cluster,
    }


def deep_merge(base: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge maps recursively; anything else in the patch replaces (the lab's stand-in for
    configpatcher's strategic merge)."""
    out = copy.deepcopy(base)
    for k, v in patch.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _load_patches(values: list[str], cwd: Path) -> list[dict[str, Any]]:
    """configpatcher.LoadPatches: `@file` or inline YAML; only map patches are emulated."""
    out = []
    for raw in values:
        text = raw
        if raw.startswith("@"):
            path = Path(raw[1:])
            path = path if path.is_absolute() else cwd / path
            try:
                text = path.read_text()
            except OSError as e:
                raise ValueError(f"open {raw[1:]}: {_os_error(e)}") from None
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as e:
            raise ValueError(str(e)) from None
        for doc in docs:
            if not isinstance(doc, dict):
                raise NotEmulated("talosctl gen config --config-patch with a JSON6902 patch")
            out.append(doc)
    return out


class NotEmulated(Exception):  # noqa: N818 - the lab's "not emulated" signal
    pass


def _os_error(e: OSError) -> str:
    return {2: "no such file or directory", 13: "permission denied", 21: "is a directory"}.get(
        e.errno or 0, e.strerror or str(e)
    )


# ---------------------------------------------------------------------------------------------
# handlers
# ---------------------------------------------------------------------------------------------
def _abs(ctx: Ctx, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(ctx.cwd) / p


def _exists_error(ctx: Ctx, shown: str) -> str | None:
    """validateFileExists (gen.go)."""
    if not ctx.opts.get("force") and _abs(ctx, shown).exists():
        return f'file "{shown}" already exists, use --force to overwrite'
    return None


async def cmd_gen_secrets(ctx: Ctx) -> int:
    from emulator.talos.commands import CommandError

    for flag in ("from-controlplane-config", "from-kubernetes-pki"):
        if ctx.opts.get(flag):
            await ctx.err(f"not emulated: talosctl gen secrets --{flag}\n")
            return 1
    text = dump(new_bundle())
    out = ctx.opts.get("output-file") or "secrets.yaml"
    if out == "-":
        await ctx.out(text)
        return 0
    err = _exists_error(ctx, out)
    if err:
        raise CommandError(err)
    _write(_abs(ctx, out), text, 0o600)
    return 0


def _write(path: Path, text: str, mode: int) -> None:
    with open(path, "w") as fh:
        fh.write(text)
    os.chmod(path, mode)  # os.WriteFile keeps an existing file's mode; the lab sets it


async def cmd_gen_config(ctx: Ctx) -> int:  # noqa: C901 - one upstream function, in order
    from emulator.talos import formats as f
    from emulator.talos.commands import CommandError

    name, endpoint = ctx.args
    err = _endpoint_error(endpoint)
    if err:
        raise CommandError(err)
    o = ctx.opts
    if o.get("version", "v1alpha1") != "v1alpha1":
        raise CommandError(f'unknown config version: "{o.get("version")}"')
    types = list(o.get("output-types") or [])
    output, output_dir = o.get("output") or "", o.get("output-dir") or ""
    if not types:
        raise CommandError("at least one output type must be specified")
    if len(types) > 1 and output == "-":
        raise CommandError("can't use multiple output types with stdout")
    if output_dir and output:
        raise CommandError("can't use both output-dir and output")
    output = output_dir or output
    bad = [f'invalid output type: "{t}"' for t in types if t not in _OUTPUT_TYPES]
    if bad:
        raise CommandError(f.multierror(bad).rstrip("\n"))
    for flag in ("registry-mirror", "talos-version"):
        if o.get(flag):
            await ctx.err(f"not emulated: talosctl gen config --{flag}\n")
            return 1
    # outputPaths
    if output == "-":
        paths = dict.fromkeys(_OUTPUT_TYPES, "-")
    elif output and len(types) == 1 and not output_dir:
        paths = dict.fromkeys(_OUTPUT_TYPES, output)
    else:
        base = output or ctx.cwd  # no -o: filepath.Join(cwd, ...): absolute paths are shown
        paths = {
            "controlplane": os.path.join(base, "controlplane.yaml"),
            "worker": os.path.join(base, "worker.yaml"),
            "talosconfig": os.path.join(base, "talosconfig"),
        }
    if o.get("with-secrets"):
        path = _abs(ctx, o["with-secrets"])
        try:
            bundle = yaml.safe_load(path.read_text())
        except OSError as e:
            raise CommandError(
                f"failed to load secrets bundle: open {o['with-secrets']}: {_os_error(e)}"
            ) from None
        except yaml.YAMLError as e:
            raise CommandError(f"failed to load secrets bundle: {e}") from None
        errs = validate_bundle(bundle)
        if errs:
            raise CommandError(
                "failed to validate secrets bundle: " + f.multierror(errs).rstrip("\n")
            )
    else:
        bundle = new_bundle()
    await ctx.err(GENERATING + "\n")
    try:
        patches = {
            "all": _load_patches(list(o.get("config-patch") or []), Path(ctx.cwd)),
            "controlplane": _load_patches(
                list(o.get("config-patch-control-plane") or []), Path(ctx.cwd)
            ),
            "worker": _load_patches(list(o.get("config-patch-worker") or []), Path(ctx.cwd)),
        }
    except NotEmulated as e:
        await ctx.err(f"not emulated: {e}\n")
        return 1
    except ValueError as e:
        raise CommandError(f"error parsing config JSON patch: {e}") from None
    k8s = o.get("kubernetes-version") or ctx.world.client.default_kubernetes
    docs: dict[str, str] = {}
    for kind in ("controlplane", "worker"):
        cfg = machine_config(kind, bundle, name, endpoint, k8s, o)
        for p in patches["all"] + patches[kind]:
            cfg = deep_merge(cfg, p)
        docs[kind] = dump(cfg)
    talosconfig = {
        "context": name,
        "contexts": {
            name: {
                "endpoints": [],
                "ca": bundle["certs"]["os"]["crt"],
                "crt": _pem("CERTIFICATE"),
                "key": _pem("ED25519 PRIVATE KEY"),
            }
        },
    }
    docs["talosconfig"] = dump(talosconfig)
    for kind in _OUTPUT_TYPES:  # writeConfigBundle: controlplane, worker, talosconfig
        if kind not in types:
            continue
        dest = paths[kind]
        if dest == "-":
            await ctx.out(docs[kind])
            continue
        err = _exists_error(ctx, dest)
        if err:
            raise CommandError(err)
        target = _abs(ctx, dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        _write(target, docs[kind], 0o644)
        await ctx.err(f"Created {dest}\n")
    return 0


async def cmd_kubeconfig(ctx: Ctx) -> int:
    """cmd/talosctl/cmd/talos/kubeconfig.go @ v1.12.4 (a secure call to one node)."""
    from emulator.files import admin_kubeconfig
    from emulator.talos.commands import CommandError

    target = ctx.single_node("kubeconfig")
    merge, force = bool(ctx.opts.get("merge", True)), bool(ctx.opts.get("force"))
    if ctx.args:
        local = ctx.args[0]
    elif merge:
        await ctx.err(
            "not emulated: talosctl kubeconfig --merge into ~/.kube/config (give a path)\n"
        )
        return 1
    else:
        local = ctx.cwd
    local = os.path.normpath(local)
    path = _abs(ctx, local)
    if path.is_dir():
        local, path = os.path.join(local, "kubeconfig"), path / "kubeconfig"
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    exists = path.exists()
    if exists and not (force or merge):
        raise CommandError(f'kubeconfig file already exists, use --force to overwrite: "{local}"')
    if not exists:
        merge = False  # merge doesn't make sense if target path doesn't exist
    try:  # the call itself (KubeconfigRaw) comes after the path checks
        node = ctx.target(target)
    except CommandError as e:
        raise CommandError(f"error copying: {e}") from None
    if getattr(node, "role", "controlplane") not in ("controlplane", "init"):
        raise CommandError(
            "error copying: rpc error: code = Unimplemented desc = kubeconfig is "
            "only available on control plane nodes"
        )
    data = admin_kubeconfig(ctx.world)
    if not merge:
        if local == "-":
            await ctx.out(data)
            return 0
        _write(path, data, 0o600)
        return 0
    try:
        current = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise CommandError(str(e)) from None
    merged = _merge(current, yaml.safe_load(data), force, ctx.opts.get("force-context-name") or "")
    if merged is None:
        await ctx.err(
            "not emulated: talosctl kubeconfig merge with a name clash without "
            "--force (the rename scheme is unconfirmed)\n"
        )
        return 1
    _write(path, yaml.safe_dump(merged, sort_keys=False), 0o600)
    return 0


def _merge(
    current: dict[str, Any], new: dict[str, Any], force: bool, context_name: str
) -> dict[str, Any] | None:
    """Merge `new` into `current` by name (clusters, users, contexts) and activate its context;
    a clash is overwritten under --force; without it None (not emulated)."""
    out = copy.deepcopy(current) if isinstance(current, dict) else {}
    if context_name:
        for c in new.get("contexts") or []:
            c["name"] = context_name
        if new.get("contexts"):
            new["current-context"] = context_name
    for section in ("clusters", "users", "contexts"):
        have = list(out.get(section) or [])
        for item in new.get(section) or []:
            idx = next((i for i, h in enumerate(have) if h.get("name") == item["name"]), None)
            if idx is None:
                have.append(item)
            elif have[idx] != item:
                if not force:
                    return None
                have[idx] = item
        out[section] = have
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", "Config")
    out["current-context"] = new.get("current-context", out.get("current-context"))
    return out


def lab_bundle(world: EmulatedCluster) -> dict[str, Any]:
    """A secrets bundle for the lab cluster (its cluster.id stable for the lab's name)."""
    import hashlib

    bundle = new_bundle()
    digest = hashlib.sha256(f"lab cluster {world.spec.name}".encode()).digest()
    bundle["cluster"]["id"] = base64.b64encode(digest).decode()
    return bundle
