"""The Image Factory over HTTP (httpx): do the installer images of a plan exist?

The installer `<host>/installer/<schematic>:<version>` is an OCI image served by the factory's
registry; its manifest answers HEAD /v2/installer/<schematic>/manifests/<version>.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import allure
import httpx

from drivers.errors import DriverError

MANIFEST_TYPES = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


class Factory:
    """One Image Factory (base URL from the profile's talos.factory.url)."""

    def __init__(self, url: str, *, timeout: float = 15.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def installer_exists(self, image: str) -> tuple[bool, str]:
        """(exists, detail) for an installer reference `<host>/installer/<schematic>:<tag>`."""
        host, _, rest = image.partition("/")
        repo, _, tag = rest.rpartition(":")
        if urlsplit(self.url).netloc != host:
            return False, f"image host {host} is not this factory ({self.url})"
        url = f"{self.url}/v2/{repo}/manifests/{tag}"
        with allure.step(f"HEAD {url}"):
            try:
                resp = httpx.head(url, headers={"Accept": MANIFEST_TYPES}, timeout=self.timeout)
            except httpx.HTTPError as e:
                raise DriverError(f"Image Factory {self.url} unreachable: {e}") from None
        if resp.status_code == 200:
            return True, resp.headers.get("Docker-Content-Digest", "present")
        if resp.status_code == 404:
            return False, "manifest unknown (404)"
        raise DriverError(f"Image Factory {url}: unexpected HTTP {resp.status_code}")

    def create_schematic(self, schematic_yaml: str) -> str:
        """POST /schematics: the ID the Factory gives this schematic (it stores it, so its
        images can be asked for). Only `id` is read: older Factory releases answer nothing else
        (reference §5)."""
        url = f"{self.url}/schematics"
        with allure.step(f"POST {url}"):
            allure.attach(schematic_yaml, "schematic", allure.attachment_type.YAML)
            resp = self._call("POST", url, content=schematic_yaml.encode())
        if resp.status_code not in (200, 201):
            raise DriverError(f"Image Factory POST {url}: HTTP {resp.status_code}: {_text(resp)}")
        try:
            sid = resp.json()["id"]
        except (ValueError, KeyError, TypeError):
            raise DriverError(
                f"Image Factory POST {url}: no schematic id in the answer: {_text(resp)}"
            ) from None
        allure.attach(str(sid), "schematic id", allure.attachment_type.TEXT)
        return str(sid)

    def schematic_yaml(self, sid: str) -> str | None:
        """GET /schematics/<id>: the schematic's YAML, or None when the Factory does not know it."""
        url = f"{self.url}/schematics/{sid}"
        with allure.step(f"GET {url}"):
            resp = self._call("GET", url)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise DriverError(f"Image Factory GET {url}: HTTP {resp.status_code}: {_text(resp)}")
        allure.attach(resp.text, f"schematic {sid[:12]}", allure.attachment_type.YAML)
        return resp.text

    def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return httpx.request(method, url, timeout=self.timeout, **kwargs)
        except httpx.HTTPError as e:
            raise DriverError(f"Image Factory {self.url} unreachable: {e}") from None


def _text(resp: httpx.Response) -> str:
    """The Factory's error text (plain, one line), clipped."""
    return " ".join(resp.text.split())[:200] or "(empty body)"


def image_size(url: str, timeout: float = 120.0) -> int:
    """HEAD of a Factory image asset: its Content-Length (the Factory builds the asset before
    answering, so this also proves schematic x version x extensions can be built, rebuild.md
    §1); DriverError with the Factory's answer otherwise."""
    with allure.step(f"HEAD {url}"):
        try:
            resp = httpx.head(url, timeout=timeout, follow_redirects=False)
        except httpx.HTTPError as e:
            raise DriverError(f"Image Factory unreachable for {url}: {e}") from None
    if resp.status_code != 200:
        raise DriverError(f"Image Factory HEAD {url}: HTTP {resp.status_code}: {_text(resp)}")
    length = resp.headers.get("Content-Length", "")
    if not length.isdigit():
        raise DriverError(f"Image Factory HEAD {url}: no Content-Length")
    return int(length)
