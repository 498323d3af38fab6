"""Rewriting a profile as an operator would by hand (drivers/profile_file.py): only the values
that change; comments, order, quotes and flow lists kept; an invalid result refused with the file
untouched; the commit made in the profile's own repository, never pushed."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from drivers.profile_file import ProfileFileError, commit, rewrite
from model.profile import load_profile

REPO = Path(__file__).resolve().parents[2]
NEW = "88d1f7a5c4f1d3aba7df787c448c1d3d008ed29cfb34af53fa0df4336a56040b"


@pytest.fixture
def profile(tmp_path: Path) -> Path:
    path = tmp_path / "home.yaml"
    path.write_text((REPO / "clusters" / "example-home.yaml").read_text())
    return path


def test_only_the_changed_values_move(profile: Path) -> None:
    before = profile.read_text()
    diff = rewrite(profile, {
        "talos.version": "v1.12.4",
        "talos.kubernetes": "1.35.0",
        "talos.factory.schematic": NEW,
        "talos.factory.extensions": ["siderolabs/iscsi-tools", "siderolabs/qemu-guest-agent",
                                     "siderolabs/util-linux-tools"],
        "proxmox.template_vmid": 9100,
    })
    after = profile.read_text()
    loaded = load_profile(profile)
    assert (str(loaded.talos.version), str(loaded.talos.kubernetes)) == ("v1.12.4", "1.35.0")
    assert loaded.talos.factory.schematic == NEW and loaded.proxmox is not None
    assert loaded.proxmox.template_vmid == 9100
    # every comment is still there, and the line count is the same: nothing was reflowed
    comments = [ln.split("#", 1)[1] for ln in before.splitlines() if "#" in ln]
    assert all(c in after for c in comments)
    assert len(after.splitlines()) == len(before.splitlines())
    changed = [ln for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    assert len(changed) == 5, diff
    assert "  extensions: [siderolabs/iscsi-tools, siderolabs/qemu-guest-agent, " \
           "siderolabs/util-linux-tools]" in after  # still a flow list
    assert rewrite(profile, {"talos.version": "v1.12.4"}) == ""  # no change, no write


def test_a_block_list_that_grows_keeps_the_comment_that_follows_it(tmp_path: Path) -> None:
    # ruamel attaches what follows a block list (blank line, the next section's comment) to its
    # last item: found on the lab's generated profile, whose `nodes:` comment went missing
    path = tmp_path / "p.yaml"
    text = (REPO / "clusters" / "lab.yaml").read_text().replace(
        "    extensions: [siderolabs/iscsi-tools, siderolabs/qemu-guest-agent]\n",
        "    extensions:\n    - siderolabs/iscsi-tools\n    - siderolabs/qemu-guest-agent\n\n"
        "# Nodes: where they run\n")
    path.write_text(text)
    rewrite(path, {"talos.factory.extensions": ["siderolabs/iscsi-tools",
                                                "siderolabs/qemu-guest-agent",
                                                "siderolabs/util-linux-tools"]})
    assert ("    - siderolabs/util-linux-tools\n\n# Nodes: where they run\nnodes:\n"
            in path.read_text())


def test_an_invalid_result_is_refused_and_nothing_written(profile: Path) -> None:
    before = profile.read_text()
    with pytest.raises(ProfileFileError, match="the change would make the profile invalid: .*"
                                               "talos.version"):
        rewrite(profile, {"talos.version": "1.12"})
    with pytest.raises(ProfileFileError, match="no talos.nope to change talos.nope.x in"):
        rewrite(profile, {"talos.nope.x": 1})
    assert profile.read_text() == before


def test_the_commit_is_local_and_names_the_file_only(
        profile: Path, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    ident = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
             "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    for key, value in ident.items():
        monkeypatch.setenv(key, value)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / "other.txt").write_text("not part of the commit\n")
    subprocess.run(["git", "-C", str(tmp_path), "add", "home.yaml"], check=True)
    subprocess.run(["git", "-C", str(tmp_path), "commit", "-qm", "init"], check=True)
    rewrite(profile, {"talos.version": "v1.12.4"})
    sha = commit(profile, "feat(talos): upgrade to Talos v1.12.4 with K8s 1.35.0")
    show = subprocess.run(["git", "-C", str(tmp_path), "show", "--stat", "--format=%s", sha],
                          capture_output=True, text=True, check=True).stdout
    assert show.splitlines()[0] == "feat(talos): upgrade to Talos v1.12.4 with K8s 1.35.0"
    assert "home.yaml" in show and "other.txt" not in show
    lone = tmp_path_factory.mktemp("no-repo") / "p.yaml"
    lone.write_text("x: 1\n")
    in_repo = subprocess.run(["git", "-C", str(lone.parent), "rev-parse"],
                             capture_output=True).returncode == 0
    assert not in_repo, "the temporary directory is inside a git repository"
    with pytest.raises(ProfileFileError, match="git rev-parse failed: fatal: not a git "
                                               "repository"):
        commit(lone, "x")
