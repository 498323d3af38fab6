"""The flux CLI, for the one call the rebuild makes: `flux bootstrap git` (flux2 v2.9.0
cmd/flux/bootstrap_git.go; rebuild.md §4). Its output goes to stderr with ►/✔/◎/✗ markers; a
failure is a non-zero exit with the ✗ line naming the object and its message."""

from __future__ import annotations

from pathlib import Path

from drivers.process import Completed, Runner


def bootstrap_git(
    runner: Runner,
    cli: str,
    kubeconfig: Path,
    *,
    url: str,
    path: str,
    branch: str,
    private_key_file: Path | None,
    timeout: float,
) -> Completed:
    """`flux bootstrap git --url --path --branch --silent --timeout Ns` against the cluster of
    `kubeconfig`; CommandFailed on a non-zero exit (the caller names the step)."""
    argv = [
        cli,
        "bootstrap",
        "git",
        f"--url={url}",
        f"--path={path}",
        f"--branch={branch}",
        "--silent",
        f"--timeout={int(timeout)}s",
        f"--kubeconfig={kubeconfig}",
    ]
    if private_key_file is not None:
        argv.append(f"--private-key-file={private_key_file}")
    return runner.run(argv, timeout=timeout + 30, env={"KUBECONFIG": str(kubeconfig)})


def failure_line(stderr: str) -> str:
    """The ✗ line flux printed (its reason), else the last line."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    failed = [ln for ln in lines if ln.startswith("✗")]
    return (failed or lines or ["no output"])[-1]
