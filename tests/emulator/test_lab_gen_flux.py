"""The lab's `talosctl gen secrets|config`, `talosctl kubeconfig`, `flux bootstrap git` and the
lab directory as a git repository (emulator/talos/gen.py, emulator/flux.py, emulator/files.py).
Each runs the real DIR/bin/talosctl or DIR/bin/flux against a running lab."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from emulator.api import Lab

pytestmark = pytest.mark.lab
FLUX_OK_TAIL = [
    '◎ waiting for GitRepository "flux-system/flux-system" to be reconciled',
    "✔ GitRepository reconciled successfully",
    '◎ waiting for Kustomization "flux-system/flux-system" to be reconciled',
    "✔ Kustomization reconciled successfully",
    "► confirming components are healthy",
    "✔ all components are healthy",
]


@pytest.fixture(scope="module")
def shared(make_module_lab: Callable[..., Lab]) -> Lab:
    return make_module_lab()


def _run(lab: Lab, tool: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(lab.dir / "bin" / tool), *args],
        capture_output=True,
        text=True,
        env=lab.env(),
        cwd=cwd,
        timeout=60,
        check=False,
    )


def _kube(lab: Lab, plural: str, name: str) -> dict[str, Any]:
    cfg = yaml.safe_load((lab.dir / "kubeconfig").read_text())
    server, token = cfg["clusters"][0]["cluster"]["server"], cfg["users"][0]["user"]["token"]
    url = f"{server}/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/{plural}/{name}"
    resp = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    resp.raise_for_status()
    return resp.json()  # type: ignore[no-any-return]


def test_gen_secrets_then_config_twice_keeps_the_identity(shared: Lab, tmp_path: Path) -> None:
    out = _run(shared, "talosctl", "gen", "secrets", cwd=tmp_path)
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    bundle = yaml.safe_load((tmp_path / "secrets.yaml").read_text())
    assert set(bundle) == {"cluster", "secrets", "trustdinfo", "certs"}
    assert set(bundle["certs"]) == {"etcd", "k8s", "k8saggregator", "k8sserviceaccount", "os"}
    assert set(bundle["secrets"]) == {"bootstraptoken", "secretboxencryptionsecret"}
    assert oct((tmp_path / "secrets.yaml").stat().st_mode & 0o777) == "0o600"

    again = _run(shared, "talosctl", "gen", "secrets", cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr == 'file "secrets.yaml" already exists, use --force to overwrite\n'
    assert _run(shared, "talosctl", "gen", "secrets", "--force", cwd=tmp_path).returncode == 0
    bundle = yaml.safe_load((tmp_path / "secrets.yaml").read_text())

    image = "factory.talos.dev/installer/abc:v1.9.4"
    seen = []
    for run in ("a", "b"):
        args = [
            "gen",
            "config",
            "lab",
            "https://10.0.0.10:6443",
            "--with-secrets",
            "secrets.yaml",
            "--install-image",
            image,
            "--kubernetes-version",
            "1.32.2",
            "-o",
            run,
        ]
        out = _run(shared, "talosctl", *args, cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        assert out.stderr.splitlines() == [
            "generating PKI and tokens",
            f"Created {run}/controlplane.yaml",
            f"Created {run}/worker.yaml",
            f"Created {run}/talosconfig",
        ]
        cp = yaml.safe_load((tmp_path / run / "controlplane.yaml").read_text())
        worker = yaml.safe_load((tmp_path / run / "worker.yaml").read_text())
        talosconfig = yaml.safe_load((tmp_path / run / "talosconfig").read_text())
        assert cp["version"] == "v1alpha1" and cp["machine"]["type"] == "controlplane"
        assert worker["machine"]["type"] == "worker"
        assert cp["machine"]["token"] == bundle["trustdinfo"]["token"]
        assert cp["machine"]["ca"] == bundle["certs"]["os"]
        assert cp["machine"]["kubelet"]["image"] == "ghcr.io/siderolabs/kubelet:v1.32.2"
        assert cp["machine"]["install"]["disk"] == "/dev/sda"
        assert cp["machine"]["install"]["image"] == image
        assert cp["cluster"]["controlPlane"]["endpoint"] == "https://10.0.0.10:6443"
        assert cp["cluster"]["clusterName"] == "lab"
        assert cp["cluster"]["token"] == bundle["secrets"]["bootstraptoken"]
        assert cp["cluster"]["ca"] == bundle["certs"]["k8s"]
        assert cp["cluster"]["etcd"]["ca"] == bundle["certs"]["etcd"]
        assert cp["cluster"]["apiServer"]["image"] == "registry.k8s.io/kube-apiserver:v1.32.2"
        assert talosconfig["context"] == "lab"
        assert talosconfig["contexts"]["lab"]["endpoints"] == []
        seen.append((cp["cluster"]["id"], cp["cluster"]["secretboxEncryptionSecret"]))
    assert (
        seen[0]
        == seen[1]
        == (bundle["cluster"]["id"], bundle["secrets"]["secretboxencryptionsecret"])
    )

    refused = _run(
        shared,
        "talosctl",
        "gen",
        "config",
        "lab",
        "https://10.0.0.10:6443",
        "--with-secrets",
        "secrets.yaml",
        "-o",
        "a",
        cwd=tmp_path,
    )
    assert refused.returncode == 1
    assert refused.stderr == (
        "generating PKI and tokens\n"
        'file "a/controlplane.yaml" already exists, use --force to '
        "overwrite\n"
    )


def test_gen_config_defaults_patches_and_endpoint_errors(shared: Lab, tmp_path: Path) -> None:
    (tmp_path / "patch.yaml").write_text("machine:\n  install:\n    disk: /dev/vda\n")
    out = _run(
        shared,
        "talosctl",
        "gen",
        "config",
        "c1",
        "https://cp.example:6443",
        "--config-patch",
        "@patch.yaml",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert out.stderr.splitlines()[1] == f"Created {tmp_path}/controlplane.yaml"
    cp = yaml.safe_load((tmp_path / "controlplane.yaml").read_text())
    assert cp["machine"]["install"]["disk"] == "/dev/vda"
    assert cp["machine"]["install"]["image"] == "ghcr.io/siderolabs/installer:v1.9.6"
    bad = _run(shared, "talosctl", "gen", "config", "c1", "10.0.0.1:6443", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.startswith(
        'no scheme specified for the cluster endpoint URL\ntry: "https://10.0.0.1:6443"\n'
    )


def test_kubeconfig_force_writes_a_working_kubeconfig(shared: Lab, tmp_path: Path) -> None:
    dest = tmp_path / "kc" / "kubeconfig"
    out = _run(
        shared,
        "talosctl",
        "-n",
        shared.address("cp1"),
        "kubeconfig",
        str(dest),
        "--force",
        cwd=tmp_path,
    )
    assert (out.returncode, out.stdout, out.stderr) == (0, "", "")
    assert dest.read_text() == (shared.dir / "kubeconfig").read_text()
    again = _run(
        shared,
        "talosctl",
        "-n",
        shared.address("cp1"),
        "kubeconfig",
        str(dest),
        "--force",
        cwd=tmp_path,
    )
    assert again.returncode == 0, again.stderr
    no_merge = _run(
        shared,
        "talosctl",
        "-n",
        shared.address("cp1"),
        "kubeconfig",
        str(dest),
        "--merge=false",
        cwd=tmp_path,
    )
    assert no_merge.returncode == 1
    assert no_merge.stderr.startswith(
        f'kubeconfig file already exists, use --force to overwrite: "{dest}"\n'
    )
    worker = _run(
        shared,
        "talosctl",
        "-n",
        shared.address("w1"),
        "kubeconfig",
        str(tmp_path / "w"),
        cwd=tmp_path,
    )
    assert worker.returncode == 1
    assert worker.stderr.startswith(
        "error copying: rpc error: code = Unimplemented desc = "
        "kubeconfig is only available on control plane nodes"
    )
    kubectl = shutil.which("kubectl")
    if kubectl is not None:
        got = subprocess.run(
            [kubectl, "--kubeconfig", str(dest), "get", "nodes", "-o", "name"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert got.returncode == 0, got.stderr
        assert "node/cp1" in got.stdout.split()


def test_lab_dir_is_a_git_repository_with_the_commented_profile(shared: Lab) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    show = subprocess.run(
        [git, "-C", str(shared.dir), "show", "HEAD:cluster.yaml"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert show.stdout == (shared.dir / "cluster.yaml").read_text()
    assert show.stdout.startswith("# Generated by the lab")
    assert "\n# Nodes:" in show.stdout and "\n# Talos:" in show.stdout
    files = subprocess.run(
        [git, "-C", str(shared.dir), "ls-files"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()
    assert files == [".gitignore", "cluster.yaml"]
    status = subprocess.run(
        [git, "-C", str(shared.dir), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert status.stdout == ""
    who = subprocess.run(
        [git, "-C", str(shared.dir), "log", "-1", "--format=%an <%ae>"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert who.stdout.strip() == "lab <lab@lab.invalid>"
    profile = yaml.safe_load(show.stdout)
    secrets = Path(profile["rebuild"]["secrets"])
    assert secrets == shared.dir / "secrets.yaml"
    bundle = yaml.safe_load(secrets.read_text())
    assert set(bundle) == {"cluster", "secrets", "trustdinfo", "certs"}
    assert os.stat(secrets).st_mode & 0o777 == 0o600


def test_flux_bootstrap_git_then_flux_not_ready(
    make_lab: Callable[..., Lab], tmp_path: Path
) -> None:
    lab = make_lab()
    (tmp_path / "id").write_text("dummy key\n")
    args = [
        "bootstrap",
        "git",
        "--url=ssh://git@git.example/fleet.git",
        "--path=clusters/lab",
        "--branch=main",
        "--private-key-file=id",
        "--silent",
        "--timeout",
        "5m",
    ]
    out = _run(lab, "flux", *args, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stderr.splitlines()
    assert lines[0] == (
        '► cloning branch "main" from Git repository "ssh://git@git.example/fleet.git"'
    )
    assert '► applying source secret "flux-system/flux-system"' in lines
    assert lines[-6:] == FLUX_OK_TAIL
    kust = _kube(lab, "kustomizations", "flux-system")
    revision = kust["status"]["lastAttemptedRevision"]
    assert revision.startswith("main@sha1:") and len(revision) == len("main@sha1:") + 40
    assert kust["status"]["lastAppliedRevision"] == revision
    ready = next(c for c in kust["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("True", "ReconciliationSucceeded")
    assert ready["message"] == f"Applied revision: {revision}"
    assert kust["spec"]["path"] == "./clusters/lab"

    moved = _run(
        lab,
        "flux",
        *[a if a != "--path=clusters/lab" else "--path=other" for a in args],
        cwd=tmp_path,
    )
    assert moved.returncode == 1
    assert moved.stderr.splitlines()[-1] == (
        '✗ sync path configuration ("other") would overwrite path ("./clusters/lab") of '
        "existing Kustomization"
    )

    lab.fault("flux_not_ready", name="flux-system")
    failed = _run(lab, "flux", *args, cwd=tmp_path)
    assert failed.returncode == 1
    msg = "kustomize build failed: accumulating resources: missing resource apps/broken.yaml"
    assert failed.stderr.splitlines()[-5:] == [
        '◎ waiting for Kustomization "flux-system/flux-system" to be reconciled',
        f"✗ {msg}",
        "► confirming components are healthy",
        "✔ all components are healthy",
        "✗ bootstrap failed with 1 health check failure(s): error while waiting for "
        f"Kustomization to be ready: '{msg}'",
    ]

    version = _run(lab, "flux", "--version", cwd=tmp_path)
    assert (version.returncode, version.stdout) == (0, "flux version 2.9.0\n")
