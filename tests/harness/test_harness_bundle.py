"""The evidence bundle's manifest and its verification (drivers/bundle.py and the documented
command, scripts/verify_bundle.py): intact is exit 0; each changed, missing or extra file is
named, exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from drivers.bundle import archive, verify, write_manifest

REPO = Path(__file__).resolve().parents[2]


def _bundle(tmp_path: Path) -> Path:
    d = tmp_path / "bundle-in_place-home-20261207T100000Z"
    (d / "allure-results").mkdir(parents=True)
    (d / "report.html").write_text("<html>report</html>")
    (d / "allure-results" / "a-result.json").write_text('{"status": "passed"}')
    (d / "run-summary.txt").write_text("in_place on home (CHG-7): passed\n")
    write_manifest(d, {"runbook": "in_place", "cluster": "home", "change": "CHG-7"})
    return d


def _verify(target: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "scripts" / "verify_bundle.py"),
                           str(target)], capture_output=True, text=True, timeout=60, check=False)


def test_the_manifest_names_every_file_with_its_sha256_and_the_run(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["run"] == {"runbook": "in_place", "cluster": "home", "change": "CHG-7"}
    assert sorted(manifest["files"]) == ["allure-results/a-result.json", "report.html",
                                         "run-summary.txt"]
    assert all(len(h) == 64 for h in manifest["files"].values())
    assert verify(d) == []
    done = _verify(d)
    assert (done.returncode, done.stdout) == (0, f"{d}: intact\n")


def test_a_changed_a_missing_and_an_extra_file_are_each_named(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    (d / "run-summary.txt").write_text("in_place on home (CHG-7): failed\n")  # edited after
    (d / "report.html").unlink()
    (d / "allure-results" / "b-result.json").write_text("{}")
    assert verify(d) == ["missing: report.html", "changed: run-summary.txt",
                         "extra: allure-results/b-result.json"]
    done = _verify(d)
    assert done.returncode == 1
    assert done.stdout.splitlines() == [f"{d}: missing: report.html",
                                        f"{d}: changed: run-summary.txt",
                                        f"{d}: extra: allure-results/b-result.json"]


def test_the_archive_verifies_too_and_a_bundle_without_manifest_is_refused(tmp_path: Path) -> None:
    d = _bundle(tmp_path)
    packed = archive(d)
    assert packed.name == d.name + ".tar.gz"
    assert _verify(packed).returncode == 0
    (d / "manifest.json").unlink()
    done = _verify(d)
    assert done.returncode == 1 and "no readable manifest" in done.stdout
    assert _verify(tmp_path / "nothing-here").returncode == 2


def _key() -> tuple[str, str]:
    """A fresh Ed25519 key: (private PEM, public raw base64)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from drivers.bundle import public_key_text

    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return pem, public_key_text(key.public_key())


def test_a_signed_bundle_verifies_with_its_signer_and_not_once_the_manifest_is_edited(
        tmp_path: Path) -> None:
    from drivers.bundle import sign

    d = _bundle(tmp_path)
    pem, public = _key()
    assert sign(d, pem) == public
    assert verify(d) == [] and verify(d, public) == []
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "verify_bundle.py"), str(d),
                           "--key", public], capture_output=True, text=True, timeout=60,
                          check=False)
    assert (done.returncode, done.stdout) == (0, f"{d}: intact\n")
    _, other = _key()
    assert verify(d, other) == [f"signed by another key: {public}"]
    # editing a file and re-hashing the manifest to match is exactly what the signature stops
    (d / "run-summary.txt").write_text("in_place on home (CHG-7): passed, honest\n")
    write_manifest(d, {"runbook": "in_place", "cluster": "home", "change": "CHG-7"})
    assert verify(d) == ["bad signature: manifest.json was changed after it was signed"]


def test_an_unsigned_bundle_fails_when_a_signer_is_required_and_a_bad_key_is_refused(
        tmp_path: Path) -> None:
    import pytest

    from drivers.bundle import SigningError, sign

    d = _bundle(tmp_path)
    _, public = _key()
    assert verify(d, public) == ["not signed: no manifest.json.sig (a signer was required)"]
    with pytest.raises(SigningError, match="not an Ed25519 private key"):
        sign(d, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----")
    assert not (d / "manifest.json.sig").exists()
