"""The Image Factory over HTTP (httpx): do the installer images of a plan exist?

The installer `<host>/installer/<schematic>:<version>` is an OCI image served by the factory's
registry; its manifest answers HEAD /v2/installer/<schematic>/manifests/<version>.
"""

from __future__ import annotations

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
