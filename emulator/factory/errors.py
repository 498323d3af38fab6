"""Typed errors of the emulated Image Factory.

Each carries the HTTP status upstream answers with and the message text upstream writes
(siderolabs/image-factory `internal/frontend/http`, `internal/profile`, `internal/artifacts`).
The installer pull errors are what a node's containerd reports when `talosctl upgrade` asks it to
pull an installer image the factory cannot serve.
"""

from __future__ import annotations


class FactoryError(Exception):
    """Base class; `status` is the HTTP status, `message` the upstream error text."""

    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidSchematic(FactoryError):
    """A POSTed schematic that does not decode (unknown field, wrong type, bad YAML)."""

    status = 400


class SchematicNotFound(FactoryError):
    """No schematic with this ID is registered."""

    status = 404

    def __init__(self, schematic_id: str) -> None:
        super().__init__(f'schematic ID "{schematic_id}" not found')
        self.schematic_id = schematic_id


class InvalidVersion(FactoryError):
    """A version that is not semver; upstream answers 500 "internal server error"."""

    status = 500


class VersionNotAvailable(FactoryError):
    """A well-formed Talos version the factory does not offer."""

    status = 404


class InvalidProfile(FactoryError):
    """An image path, or a schematic/version combination, the factory cannot build."""

    status = 400


class ExtensionNotAvailable(InvalidProfile):
    """An official extension of the schematic that does not exist for the Talos version."""


class InvalidImage(FactoryError):
    """An OCI repository name that is not an installer image."""

    status = 400


class EnterpriseOnly(FactoryError):
    """A feature of the Enterprise edition (checksums, signatures)."""

    status = 402


class InstallerPullError(FactoryError):
    """The installer image cannot be pulled; the message reads like containerd's pull failure.

    `cause` is the factory-side error behind it (None for a reference that is not a factory one).
    """

    def __init__(self, ref: str, reason: str, cause: FactoryError | None = None) -> None:
        super().__init__(f'failed to pull image "{ref}": failed to resolve reference "{ref}": '
                         f"{reason}")
        self.ref = ref
        self.cause = cause


class InstallerSchematicNotFound(InstallerPullError):
    """The registry answered 404: the schematic of the reference is not registered."""


class InstallerVersionNotFound(InstallerPullError):
    """The Talos version of the reference is not offered (404) or is not a version (500)."""


class InstallerBuildRefused(InstallerPullError):
    """The registry answered 400: e.g. an extension of the schematic missing for the version."""


class InvalidInstallerRef(InstallerPullError):
    """A reference that does not name an Image Factory installer (`<host>/installer/<id>:<v>`)."""

    def __init__(self, ref: str, why: str) -> None:
        super().__init__(ref, why, None)
