"""The lab's `flux` CLI: `flux bootstrap git` and `flux --version` against the lab only.

Run as a script (DIR/bin/flux), this module is a stdlib-only client: it sends argv and cwd to
the lab's control address (`$FLUX_LAB_CONTROL`, POST /flux) and writes back the streamed
stdout/stderr and exit code. Imported by the lab (`route(world)`), it runs the command against
the lab's Kubernetes store. Behaviour of flux2 v2.9.0 (fluxcd/flux2):

* `cmd/flux/log.go`: stderr lines `► ` action, `✔ ` success, `◎ ` waiting, `✗ ` failure;
* `cmd/flux/main.go`: an error is printed `✗ <err>`, exit 1; `--timeout` default 5m0s;
* `cmd/flux/bootstrap.go` `confirmBootstrap`: `cluster info unavailable: <err>`;
* `cmd/flux/bootstrap_git.go`: flags, `getAuthOpts` (`scheme %q is not supported`, `scheme
  http is insecure, pass --allow-insecure-http=true to allow it`), the sync URL (`ssh://` with
  the `--username` unless token auth), `promptPublicKey` (`public key: ...`);
* `pkg/bootstrap/bootstrap.go` `Run`, `objectReconciled`, `kustomizationPathDiffers`;
* `pkg/bootstrap/bootstrap_plain_git.go`: the line sequence, `waiting for <Kind> %q to be
  reconciled`, `<Kind> reconciled successfully`, `bootstrap failed with %d health check
  failure(s): ...`, `error while waiting for Kustomization to be ready: '%s'`.

Not emulated: git itself (nothing is cloned or pushed: the repository is taken to already hold
the component and sync manifests, the rebuild case), the SSH host-key scan, the interactive
prompts (use --silent), the Flux controllers (components count as healthy).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import sys
from typing import Any

LAB_ENV = "FLUX_LAB_CONTROL"
FLUX_VERSION = "2.9.0"
NS = "flux-system"

# ---------------------------------------------------------------------------------------------
# client (stdlib only)
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    control = os.environ.get(LAB_ENV, "")
    host, _, port = control.rpartition(":")
    if not host or host.split(".")[0] != "127":
        sys.stderr.write(
            "✗ not emulated: the lab's flux only talks to the lab "
            f"(${LAB_ENV} is not a loopback address)\n"
        )
        return 1
    body = json.dumps({"argv": argv, "cwd": os.getcwd()}).encode()
    try:
        sock = socket.create_connection((host, int(port)), timeout=3600)
    except OSError as e:
        sys.stderr.write(f"✗ lab control address {control}: {e}\n")
        return 1
    head = (
        f"POST /flux HTTP/1.0\r\nHost: {control}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body)
    stream = sock.makefile("rb")
    sock.close()
    status = stream.readline().split(b" ", 2)
    if len(status) < 2 or status[1] != b"200":
        sys.stderr.write(f"✗ lab answered {b' '.join(status).decode(errors='replace')}")
        return 1
    while stream.readline() not in (b"\r\n", b"\n", b""):
        pass
    code = 1
    for raw in stream:
        if not raw.strip():
            continue
        msg = json.loads(raw)
        if "o" in msg:
            sys.stdout.write(msg["o"])
            sys.stdout.flush()
        elif "e" in msg:
            sys.stderr.write(msg["e"])
            sys.stderr.flush()
        elif "x" in msg:
            code = int(msg["x"])
    return code


# ---------------------------------------------------------------------------------------------
# server side
# ---------------------------------------------------------------------------------------------
class FluxError(Exception):
    """Printed as `✗ <message>`, exit 1 (cmd/flux/main.go)."""


_BOOL = {
    "silent",
    "token-auth",
    "allow-insecure-http",
    "with-bearer-token",
    "force",
    "verbose",
    "watch-all-namespaces",
    "network-policy",
    "recurse-submodules",
    "ssh-signing-reuse-private-key",
    "insecure-skip-tls-verify",
}
_SHORT = {"s": "silent", "u": "username", "p": "password", "n": "namespace", "v": "version"}
_VALUE = {
    "url",
    "path",
    "branch",
    "private-key-file",
    "timeout",
    "interval",
    "username",
    "password",
    "namespace",
    "kubeconfig",
    "context",
    "cluster",
    "secret-name",
    "author-name",
    "author-email",
    "ssh-hostname",
    "ca-file",
    "components-extra",
    "components",
    "version",
    "registry",
    "log-level",
    "cluster-domain",
    "commit-message-appendix",
    "ssh-key-algorithm",
    "ssh-ecdsa-curve",
    "ssh-rsa-bits",
    "toleration-keys",
    "image-pull-secret",
    "registry-creds",
    "server",
    "user",
    "gpg-key-ring",
    "gpg-passphrase",
    "gpg-key-id",
    "sparse-checkout",
    "ssh-hostkey-algos",
    "ssh-signing-key-file",
    "ssh-signing-password",
}


def parse(argv: list[str]) -> tuple[list[str], dict[str, Any]]:
    """pflag-style parsing of the flags above: (positional words, flag values)."""
    words: list[str] = []
    opts: dict[str, Any] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            words += argv[i:]
            break
        if not a.startswith("-") or a == "-":
            words.append(a)
            continue
        name, eq, value = a.lstrip("-").partition("=")
        if not a.startswith("--"):
            if name[:1] not in _SHORT:
                raise FluxError(f"unknown shorthand flag: '{name[:1]}' in {a}")
            name, value, eq = _SHORT[name[:1]], name[1:] or value, "=" if name[1:] else eq
        if name in ("h", "help"):
            opts["help"] = True
        elif name in _BOOL:
            opts[name] = value.lower() in ("", "true", "1", "t") if eq else True
        elif name in _VALUE:
            if not eq:
                if i >= len(argv):
                    raise FluxError(f"flag needs an argument: {a}")
                value = argv[i]
                i += 1
            opts[name] = value
        else:
            raise FluxError(f"unknown flag: --{name}")
    return words, opts


def _revision(url: str, branch: str) -> str:
    """The repository HEAD the lab stands in for: stable for a URL and branch."""
    digest = hashlib.sha1((url + "\n" + branch).encode()).hexdigest()
    return f"{branch}@sha1:{digest}"


def _norm(path: str) -> str:
    """kustomizationPathDiffers' normalizePath."""
    if len(path) > 2:
        path = path.removesuffix("/")
    return "./" + path.removeprefix("./")


def _sync_url(url: str, opts: dict[str, Any]) -> str:
    """bootstrap_git.go: token auth syncs over https; otherwise over ssh as --username."""
    from urllib.parse import urlsplit, urlunsplit

    u = urlsplit(url)
    if opts.get("token-auth") or opts.get("with-bearer-token"):
        netloc = u.hostname or "" if u.scheme not in ("https", "http") else u.netloc
        netloc = netloc.rpartition("@")[2]
        scheme = "http" if opts.get("allow-insecure-http") else "https"
        return urlunsplit((scheme, netloc, u.path, u.query, u.fragment))
    user = opts.get("username", "git")
    host = opts.get("ssh-hostname") or u.netloc.rpartition("@")[2]
    if u.username and user == "git":
        user = u.username
    return urlunsplit(("ssh", f"{user}@{host}", u.path, u.query, u.fragment))


def _ready(obj: dict[str, Any]) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return dict(c)
    return None


class Bootstrap:
    """One `flux bootstrap git` run against the lab."""

    def __init__(self, world: Any, opts: dict[str, Any], write: Any) -> None:
        self.world, self.opts, self.write = world, opts, write

    async def log(self, mark: str, text: str) -> None:
        await self.write("stderr", f"{mark} {text}\n")

    async def run(self) -> None:  # noqa: C901 - upstream's sequence, in order
        from urllib.parse import urlsplit

        from emulator.kube import addons

        o, store = self.opts, self.world.kube
        ns = o.get("namespace", NS)
        branch = o.get("branch", "main")
        path = o.get("path", "")
        url = o.get("url", "")
        if not self.world.api_available():  # confirmBootstrap: getFluxClusterInfo
            raise FluxError(f"cluster info unavailable: {self._dial_error()}")
        scheme = urlsplit(url).scheme
        if scheme == "http" and not o.get("allow-insecure-http"):
            raise FluxError(
                "failed to create authentication options for "
                f"{url}: scheme http is insecure, pass --allow-insecure-http=true "
                "to allow it"
            )
        if scheme not in ("http", "https", "ssh"):
            raise FluxError(
                f"failed to create authentication options for {url}: "
                f'scheme "{scheme}" is not supported'
            )
        key_file = o.get("private-key-file", "")
        if key_file:
            full = key_file if os.path.isabs(key_file) else os.path.join(self.cwd, key_file)
            if not os.path.exists(full):
                raise FluxError(
                    "failed to create authentication options for "
                    f"{url}: open {key_file}: no such file or directory"
                )
        try:
            current = store.get("kustomizations", ns, ns)
        except Exception:  # noqa: BLE001 - NotFound: no Flux sync yet
            current = None
        revision = _revision(url, branch)
        await self.log("►", f'cloning branch "{branch}" from Git repository "{url}"')
        await self.log("✔", "cloned repository")
        await self.log("►", "generating component manifests")
        await self.log("✔", "generated component manifests")
        await self.log("✔", "component manifests are up to date")
        if current is None or not (current.get("status") or {}).get("lastAppliedRevision"):
            await self.log("►", f'installing components in "{ns}" namespace')
            try:  # the component manifests start with their Namespace (install/manifests)
                store.get("namespaces", ns)
            except Exception:  # noqa: BLE001 - NotFound: a new cluster
                from emulator.kube import core

                store.put("namespaces", core.namespace(ns))
            await self.log("✔", "installed components")
        await self.log("✔", "reconciled components")
        secret = f"{ns}/{o.get('secret-name', ns)}"
        await self.log("►", f'determining if source secret "{secret}" exists')
        token = bool(o.get("token-auth") or o.get("with-bearer-token"))
        keypair = bool(key_file)  # LoadKeyPairFromPath(--private-key-file)
        exists = current is not None or _STATE.get(id(self.world), {}).get("secret", False)
        creds = bool(o.get("password")) or token  # token auth sets the username
        if exists and not key_file and not creds and not keypair:
            await self.log("✔", "source secret up to date")
        else:
            await self.log("►", "generating source secret")
            if not token and not key_file:
                digest = hashlib.sha256(f"deploy key {url}".encode()).digest()[:48]
                import base64

                await self.log(
                    "✔", "public key: ecdsa-sha2-nistp384 " + base64.b64encode(digest).decode()
                )
                if not o.get("silent"):
                    raise _Prompt()
            await self.log("►", f'applying source secret "{secret}"')
            await self.log("✔", "reconciled source secret")
            _STATE.setdefault(id(self.world), {})["secret"] = True
        if current is not None:  # kustomizationPathDiffers
            have = (current.get("spec") or {}).get("path", "")
            if _norm(path) != _norm(have):
                raise FluxError(
                    f'sync path configuration ("{path}") would overwrite path '
                    f'("{have}") of existing Kustomization'
                )
        await self.log("►", "generating sync manifests")
        await self.log("✔", "generated sync manifests")
        await self.log("✔", "sync manifests are up to date")
        await self.log("►", "applying sync manifests")
        sync_url = _sync_url(url, o)
        self._apply_gitrepository(ns, sync_url, branch, revision, o.get("interval", "1m0s"))
        failed = self._fault_message(ns)
        kust = addons.kustomization(
            ns,
            ns,
            path=_norm(path) if path else "./",
            source=ns,
            ready=failed is None,
            revision=revision,
            message=failed,
            reason="ReconciliationFailed" if failed else None,
        )
        if current is not None:
            kust["metadata"]["uid"] = current["metadata"].get("uid")
            kust["metadata"]["creationTimestamp"] = current["metadata"].get("creationTimestamp")
        store.put("kustomizations", kust)
        await self.log("✔", "reconciled sync configuration")
        errors = []
        await self.log("◎", f'waiting for GitRepository "{ns}/{ns}" to be reconciled')
        await self.log("✔", "GitRepository reconciled successfully")
        await self.log("◎", f'waiting for Kustomization "{ns}/{ns}" to be reconciled')
        obj = store.get("kustomizations", ns, ns)
        err = self._not_reconciled(obj, revision)
        if err:
            await self.log("✗", err)
            errors.append(f"error while waiting for Kustomization to be ready: '{err}'")
        else:
            await self.log("✔", "Kustomization reconciled successfully")
        await self.log("►", "confirming components are healthy")
        await self.log("✔", "all components are healthy")
        if errors:
            raise FluxError(
                f"bootstrap failed with {len(errors)} health check failure(s): " + "; ".join(errors)
            )  # a 1-error aggregate is that error's text

    cwd = "."

    def _dial_error(self) -> str:
        from emulator.addresses import KUBE_PORT

        host = f"{self.world.primary.address}:{KUBE_PORT}"
        return (
            f'Get "http://{host}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/'
            f'gitrepositories.source.toolkit.fluxcd.io": dial tcp {host}: connect: '
            "connection refused"
        )

    def _fault_message(self, name: str) -> str | None:
        """An armed flux_not_ready fault for this Kustomization (or for any): the message
        the fault set (emulator/kubesync.py flux_not_ready)."""
        for f in getattr(self.world, "faults", []):
            if f.kind == "flux_not_ready" and f.params.get("name") in (None, name):
                return (
                    "kustomize build failed: accumulating resources: missing resource "
                    "apps/broken.yaml"
                )
        return None

    @staticmethod
    def _not_reconciled(obj: dict[str, Any], revision: str) -> str | None:
        """objectReconciled: suspended, Ready=False (its message) or the wrong revision."""
        if (obj.get("spec") or {}).get("suspend"):
            ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            return f"Kustomization '{ns}/{name}' is suspended"
        cond = _ready(obj)
        if cond is not None and cond.get("status") == "False":
            return str(cond.get("message", ""))
        if (obj.get("status") or {}).get("lastAttemptedRevision") != revision:
            return "context deadline exceeded"
        return None

    def _apply_gitrepository(
        self, ns: str, url: str, branch: str, revision: str, interval: str
    ) -> None:
        """The GitRepository source.toolkit.fluxcd.io/v1 the sync manifests hold, Ready at the
        revision; kept in the Kubernetes store when the lab serves GitRepositories, and in
        `gitrepository(world)` in any case."""
        from emulator.kube.basics import condition, meta

        digest = hashlib.sha256(revision.encode()).hexdigest()
        obj = {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {**meta("GitRepository", ns, ns), "generation": 1},
            "spec": {
                "interval": interval,
                "ref": {"branch": branch},
                "secretRef": {"name": ns},
                "timeout": "60s",
                "url": url,
            },
            "status": {
                "observedGeneration": 1,
                "artifact": {
                    "revision": revision,
                    "digest": f"sha256:{digest}",
                    "path": f"gitrepository/{ns}/{ns}/{revision.split(':')[-1]}.tar.gz",
                    "url": f"http://source-controller.{ns}.svc.cluster.local./"
                    f"gitrepository/{ns}/{ns}/{revision.split(':')[-1]}"
                    ".tar.gz",
                },
                "conditions": [
                    condition(
                        "Ready",
                        True,
                        "Succeeded",
                        f"stored artifact for revision '{revision}'",
                        None,
                        generation=1,
                    )
                ],
            },
        }
        _STATE.setdefault(id(self.world), {})["gitrepository"] = obj
        # the lab's store may not serve GitRepositories (emulator/kube/resources.py)
        with contextlib.suppress(Exception):
            self.world.kube.put("gitrepositories", obj)


class _Prompt(Exception):  # noqa: N818 - promptPublicKey without --silent
    pass


_STATE: dict[int, dict[str, Any]] = {}


def gitrepository(world: Any) -> dict[str, Any] | None:
    """The GitRepository the last bootstrap applied to this lab (None before any)."""
    return _STATE.get(id(world), {}).get("gitrepository")


async def run(world: Any, request: dict[str, Any], write: Any) -> int:
    """Run one flux command line; return its exit code."""
    argv = [str(a) for a in request.get("argv", [])]
    try:
        if argv == ["--version"]:  # cobra's root Version
            await write("stdout", f"flux version {FLUX_VERSION}\n")
            return 0
        words, opts = parse(argv)
        if words == ["version"]:
            await write("stdout", f"flux: v{FLUX_VERSION}\n")
            return 0
        if words != ["bootstrap", "git"] or opts.get("help"):
            await write("stderr", f"✗ not emulated: flux {' '.join(argv)}\n")
            return 1
        b = Bootstrap(world, opts, write)
        b.cwd = str(request.get("cwd") or ".")
        await b.run()
    except _Prompt:
        await write(
            "stderr",
            "✗ not emulated: the prompt 'Please give the key access to your "
            "repository' (use --silent)\n",
        )
        return 1
    except FluxError as e:
        await write("stderr", f"✗ {e}\n")
        return 1
    return 0


def route(world: Any) -> Any:
    """The control app's POST /flux handler (emulator/server.py)."""
    from aiohttp import web

    async def handle(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)

        async def write(stream: str, text: str) -> None:
            key = "o" if stream == "stdout" else "e"
            await resp.write(json.dumps({key: text}).encode() + b"\n")

        try:
            code = await run(world, body, write)
        except Exception as e:  # noqa: BLE001 - an emulator bug must still end the command
            await write("stderr", f"lab internal error: {e!r}\n")
            code = 1
        await resp.write(json.dumps({"x": code}).encode() + b"\n")
        return resp

    return handle


if __name__ == "__main__":
    sys.exit(main())
