"""The lab's `talosctl`: a thin client, stdlib only, so that it starts fast.

It resolves the talosconfig as talosctl does (--talosconfig, then $TALOSCONFIG, then
$HOME/.talos/config, then /var/run/secrets/talos.dev/config), picks the context and its
endpoints, and sends the command line to the lab's apid on an endpoint (port 50000). The lab
runs the command and streams stdout/stderr back; this client writes them and exits with the
code the lab gives. Endpoints are only ever loopback addresses: anything else is refused.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import sys
from pathlib import Path
from typing import BinaryIO

APID_PORT = 50000
LAB_ENV = "TALOSCTL_LAB_CONTROL"  # set by the lab's bin/talosctl wrapper: the lab's own address
_VALUE_FLAGS = {"--talosconfig", "--context", "-e", "--endpoints", "-n", "--nodes", "--cluster"}


def _scan(argv: list[str]) -> dict[str, list[str]]:
    """Pick the global flags out of argv (cobra accepts them anywhere) without consuming them."""
    found: dict[str, list[str]] = {}
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            break
        name, value = (a.split("=", 1) + [None])[:2] if a.startswith("--") else (a, None)
        if a.startswith("-") and not a.startswith("--") and len(a) > 2 and a[:2] in ("-e", "-n"):
            name, value = a[:2], a[2:].lstrip("=")
        if name in _VALUE_FLAGS:
            if value is None and i + 1 < len(argv):
                value = argv[i + 1]
                i += 1
            key = {"-e": "--endpoints", "-n": "--nodes"}.get(name, name)
            found.setdefault(key, []).extend(v for v in (value or "").split(",") if v)
        i += 1
    return found


def _load_config(path: Path) -> dict:
    import yaml  # only needed here; CSafeLoader keeps it quick

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with path.open() as fh:
        data = yaml.load(fh, Loader=loader) or {}
    return data if isinstance(data, dict) else {}


def _config_path(explicit: list[str] | None) -> Path | None:
    if explicit:
        return Path(explicit[-1])
    candidates = []
    if os.environ.get("TALOSCONFIG"):
        candidates.append(Path(os.environ["TALOSCONFIG"]))
    candidates += [Path.home() / ".talos" / "config", Path("/var/run/secrets/talos.dev/config")]
    return next((p for p in candidates if p.exists()), None)


def _fail(message: str) -> int:
    sys.stderr.write(message + "\n")
    return 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    flags = _scan(argv)
    path = _config_path(flags.get("--talosconfig"))
    config: dict = {}
    if path is not None and path.exists():
        config = _load_config(path)
    contexts = config.get("contexts") or {}
    context_name = (flags.get("--context") or [None])[-1] or config.get("context")
    context: dict = {}
    if context_name:
        if context_name not in contexts:
            which = "context" if flags.get("--context") else "default context"
            return _fail(f'{which} "{context_name}" not found in config')
        context = contexts[context_name] or {}
    endpoints = flags.get("--endpoints") or list(context.get("endpoints") or [])
    if context.get("target"):
        endpoints.append(str(context["target"]))
    request = {
        "argv": argv,
        "config_nodes": list(context.get("nodes") or []),
        "cwd": os.getcwd(),
        "endpoints": endpoints,
    }
    body = json.dumps(request).encode()
    targets = list(endpoints)
    if any(a in ("--insecure", "-i") or a.startswith("--insecure=") for a in argv):
        # the maintenance client dials the nodes themselves (WithClientMaintenance): -n, not -e
        targets = [n for ns in flags.get("--nodes") or [] for n in ns.split(",") if n]
    word = _first_word(argv)
    if word == "gen" or (word == "version" and "--client" in argv):
        # local commands (cmd/talosctl/cmd/mgmt/gen; `version --client` returns before any
        # connection, version.go): they work with every node down, so the lab answers them on
        # its own address
        targets = []
    if not targets:
        # no endpoints: the lab still answers what needs no server (version --client, help,
        # flag errors) and says "failed to determine endpoints" for the rest, as talosctl does
        control = os.environ.get(LAB_ENV)
        if not control:
            return _fail("failed to determine endpoints")
        targets = [control]
    last_error = ""
    for endpoint in targets:
        host = endpoint.rsplit(":", 1)[0] if endpoint.count(":") == 1 else endpoint
        try:
            if not ipaddress.ip_address(host).is_loopback:
                last_error = (f"not emulated: endpoint {endpoint} is not a lab (loopback) "
                              "address; the lab talosctl only talks to the lab")
                continue
        except ValueError:
            last_error = f"not emulated: endpoint {endpoint} is not an IP address"
            continue
        try:
            resp = _post(host, body)
        except OSError as e:
            reason = "connection refused" if isinstance(e, ConnectionRefusedError) else str(e)
            last_error = (f"rpc error: code = Unavailable desc = connection error: desc = "
                          f'"transport: Error while dialing: dial tcp {host}:{APID_PORT}: '
                          f'connect: {reason}"')
            continue
        code = _stream(resp)
        if isinstance(code, str):  # this endpoint's node is down (rebooting): try the next
            last_error = code
            continue
        return code
    return _fail(last_error)


def _first_word(argv: list[str]) -> str | None:
    """The command's first word (global flags and their values skipped)."""
    i = 0
    while i < len(argv):
        a = argv[i]
        if a.startswith("-"):
            if a in _VALUE_FLAGS and "=" not in a:
                i += 1
            i += 1
            continue
        return a
    return None


def _post(host: str, body: bytes) -> BinaryIO:
    """POST /talosctl over HTTP/1.0 (the answer streams until the server closes: no chunking);
    return the body as a line-iterable stream. A raw socket keeps start-up fast: http.client
    pulls in email and ssl."""
    sock = socket.create_connection((host, APID_PORT), timeout=3600)
    head = (f"POST /talosctl HTTP/1.0\r\nHost: {host}:{APID_PORT}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    sock.sendall(head.encode() + body)
    stream = sock.makefile("rb")
    sock.close()  # the file object keeps the connection open until it is closed
    status = stream.readline().split(b" ", 2)
    if len(status) < 2 or status[1] != b"200":
        raise OSError(f"lab apid answered {b' '.join(status).decode(errors='replace').strip()}")
    while stream.readline() not in (b"\r\n", b"\n", b""):
        pass
    return stream


def _stream(resp: BinaryIO) -> int | str:
    code = 1
    out, err = sys.stdout, sys.stderr
    for raw in resp:
        if not raw.strip():
            continue
        msg = json.loads(raw)
        if "down" in msg:
            return str(msg["down"])
        if "o" in msg:
            out.write(msg["o"])
            out.flush()
        elif "e" in msg:
            err.write(msg["e"])
            err.flush()
        elif "x" in msg:
            code = int(msg["x"])
    return code


if __name__ == "__main__":
    sys.exit(main())
