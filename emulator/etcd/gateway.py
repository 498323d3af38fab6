"""The etcd v3 JSON gateway (grpc-gateway on the client port) over plain http, with httpx.

Paths are etcd 3.4's (`api/etcdserverpb/rpc.proto`): member list/add/remove under
`/v3/cluster/member/`, status/alarm/snapshot/transfer-leadership under `/v3/maintenance/`,
`/v3/kv/put` (keys and values base64), and `GET /health` (`{"health": "true"}`).
"""

from __future__ import annotations

import base64
from typing import Any

import httpx

from emulator.etcd.errors import EtcdApiError, EtcdMemberDown, EtcdTimeout

MEMBER_LIST = "/v3/cluster/member/list"
MEMBER_ADD = "/v3/cluster/member/add"
MEMBER_REMOVE = "/v3/cluster/member/remove"
MEMBER_PROMOTE = "/v3/cluster/member/promote"
STATUS = "/v3/maintenance/status"
ALARM = "/v3/maintenance/alarm"
TRANSFER_LEADERSHIP = "/v3/maintenance/transfer-leadership"
KV_PUT = "/v3/kv/put"
KV_RANGE = "/v3/kv/range"
KV_DELETE_RANGE = "/v3/kv/deleterange"
# Plain HTTP on loopback: no TLS context (loading the CA bundle costs ~20 ms per client) and no
# proxy settings from the environment (a proxy must never see lab traffic).
_PLAIN: dict[str, Any] = {"verify": False, "trust_env": False}


def client_url(address: str, port: int) -> str:
    """Return `http://<address>:<port>`."""
    return f"http://{address}:{port}"


def _decode(resp: httpx.Response, base_url: str, path: str) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        raise EtcdApiError(f"HTTP {resp.status_code} from {base_url}{path}: "
                           f"{resp.text.strip()[:200]}") from None
    if not isinstance(data, dict):
        raise EtcdApiError(f"HTTP {resp.status_code} from {base_url}{path}: not a JSON object")
    if resp.status_code != 200 or ("error" in data and "code" in data):
        raise EtcdApiError(str(data.get("message") or data.get("error") or data),
                           int(data.get("code", 0)))
    return data


def _timeout(base_url: str, path: str, timeout: float) -> EtcdTimeout:
    return EtcdTimeout(f"etcd at {base_url} did not answer POST {path} within {timeout:g}s")


def _down(base_url: str, exc: Exception) -> EtcdMemberDown:
    return EtcdMemberDown(f"etcd at {base_url} does not answer: {str(exc) or type(exc).__name__}")


def post(base_url: str, path: str, body: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """POST a JSON body and return the JSON reply.

    Raises EtcdMemberDown if nothing answers, EtcdTimeout if the reply is late, EtcdApiError
    with etcd's own message (e.g. `etcdserver: member not found`) if etcd refuses.
    """
    try:
        resp = httpx.post(base_url + path, json=body, timeout=timeout, **_PLAIN)
    except httpx.TimeoutException:
        raise _timeout(base_url, path, timeout) from None
    except httpx.TransportError as exc:
        raise _down(base_url, exc) from None
    return _decode(resp, base_url, path)


async def apost(
    base_url: str, path: str, body: dict[str, Any], timeout: float = 5.0
) -> dict[str, Any]:
    """Async `post`: same reply and errors."""
    try:
        async with httpx.AsyncClient(timeout=timeout, **_PLAIN) as client:
            resp = await client.post(base_url + path, json=body)
    except httpx.TimeoutException:
        raise _timeout(base_url, path, timeout) from None
    except httpx.TransportError as exc:
        raise _down(base_url, exc) from None
    return _decode(resp, base_url, path)


def _no_health(base_url: str, exc: Exception, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"{base_url}/health: no answer within {timeout:g}s"
    return f"{base_url}/health: {str(exc) or type(exc).__name__}"


def _health_verdict(resp: httpx.Response, base_url: str) -> str | None:
    try:
        body = resp.json()
    except ValueError:
        return f"{base_url}/health: not JSON (HTTP {resp.status_code})"
    if resp.status_code == 200 and str(body.get("health")) == "true":
        return None
    reason = body.get("reason") or ""
    return f"{base_url}/health: health={body.get('health')!s}{' ' + reason if reason else ''}"


def health(base_url: str, timeout: float = 2.0) -> str | None:
    """Return None if `GET /health` says healthy, else a one-line reason (never raises)."""
    try:
        resp = httpx.get(base_url + "/health", timeout=timeout, **_PLAIN)
    except httpx.TransportError as exc:
        return _no_health(base_url, exc, timeout)
    return _health_verdict(resp, base_url)


async def ahealth(base_url: str, timeout: float = 2.0) -> str | None:
    """Async `health`: None if healthy, else a one-line reason (never raises)."""
    try:
        async with httpx.AsyncClient(timeout=timeout, **_PLAIN) as client:
            resp = await client.get(base_url + "/health")
    except httpx.TransportError as exc:
        return _no_health(base_url, exc, timeout)
    return _health_verdict(resp, base_url)


async def aget_ok(url: str, timeout: float = 0.2) -> bool:
    """Return True if a GET of `url` answers at all (any status) within `timeout`."""
    try:
        async with httpx.AsyncClient(timeout=timeout, **_PLAIN) as client:
            await client.get(url)
    except httpx.TransportError:
        return False
    return True


def b64(text: str | bytes) -> str:
    """Return base64 of a key or value, as the gateway's bytes fields expect."""
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def put(base_url: str, key: str, value: str | bytes, timeout: float = 5.0) -> None:
    """Put one key; raise as `post` does."""
    post(base_url, KV_PUT, {"key": b64(key), "value": b64(value)}, timeout)
