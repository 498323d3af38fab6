"""Bad input stops the session before anything is contacted: exit 4 and one line naming the
file, the field and the reason. Profiles are for a "real" cluster on TEST-NET addresses with a
fake talosctl that records its calls, so "nothing contacted" is checked, not assumed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from emulator.faults import KINDS
from tests.harness.gate import (
    REPO,
    GateRun,
    fake_talosctl,
    lab_dirs,
    real_profile,
    run_gate,
    talosctl_calls,
)

USAGE_ERROR = 4


def assert_usage_error(run: GateRun, line: str, tmp_path: Path) -> None:
    """Exit 4, the exact error line, no traceback, no lab started, talosctl never asked."""
    __tracebackhide__ = True
    assert run.rc == USAGE_ERROR, run
    assert f"ERROR: {line}\n" in run.out, run
    assert run.traceback_free() and "INTERNALERROR" not in run.out, run
    assert lab_dirs(run) == [], "a lab was started for a bad input"
    assert [c for c in talosctl_calls(tmp_path) if "version --client" not in c] == []


def _bad_yaml(tmp: Path) -> Path:
    (tmp / "bad.yaml").write_text("name: office\nnodes: [cp1\n")
    return tmp / "bad.yaml"


def _text(tmp: Path) -> Path:
    (tmp / "words.yaml").write_text("just some words\n")
    return tmp / "words.yaml"


def _empty(tmp: Path) -> Path:
    (tmp / "empty.yaml").write_text("\n")
    return tmp / "empty.yaml"


def _dup_names(tmp: Path) -> Path:
    return real_profile(tmp, **{"nodes.workers": [{"name": "w1", "address": "192.0.2.20"},
                                                  {"name": "w1", "address": "192.0.2.21"}]})


def _dup_addresses(tmp: Path) -> Path:
    return real_profile(tmp, **{"nodes.workers": [{"name": "w1", "address": "192.0.2.20"},
                                                  {"name": "w2", "address": "192.0.2.20"}]})


def _bad_ip(tmp: Path) -> Path:
    return real_profile(tmp, **{"nodes.workers": [{"name": "w1", "address": "192.0.2.300"}]})


SECRET = "PVEAPIToken=root@pam!ci=6f1e0c3a-secret-value"


def _inline_secret(tmp: Path) -> Path:
    return real_profile(tmp, proxmox={"api": "https://pve.invalid:8006", "node": "pve",
                                      "token": SECRET, "template_vmid": 9000})


CASES: dict[str, tuple[Callable[[Path], Path], str]] = {
    # id: (make the profile in tmp, the expected error after "<file>: ")
    "missing-file": (lambda t: t / "absent.yaml", "no such profile file"),
    "empty-file": (_empty, "file is empty"),
    "not-yaml": (_bad_yaml, "not valid YAML: expected ',' or ']', but got '<stream end>' "
                            "(line 3, column 1)"),
    "not-a-mapping": (_text, "expected a mapping of profile fields at the top level, "
                             "got a string"),
    "unknown-field": (lambda t: real_profile(t, **{"talos.colour": "blue"}),
                      "talos: unknown field 'colour'"),
    "no-node-list": (lambda t: real_profile(t, nodes=None), "nodes: is required"),
    "no-control-plane": (lambda t: real_profile(t, **{"nodes.control_plane": None}),
                         "nodes.control_plane: at least one control plane is required"),
    "duplicate-names": (_dup_names, "nodes: duplicate node name 'w1'"),
    "duplicate-addresses": (_dup_addresses, "nodes: duplicate address '192.0.2.20' (w1 and w2)"),
    "invalid-ip": (_bad_ip, "nodes.workers[0].address: '192.0.2.300' is not a valid IP address"),
    "version-1.9": (lambda t: real_profile(t, **{"talos.version": 1.9}),
                    "talos.version: '1.9' is not a valid Talos version (expected e.g. v1.9.4)"),
    "version-v1.x": (lambda t: real_profile(t, **{"talos.version": "v1.x"}),
                     "talos.version: 'v1.x' is not a valid Talos version (expected e.g. v1.9.4)"),
    "kubernetes-v1.x": (lambda t: real_profile(t, **{"talos.kubernetes": "v1.x"}),
                        "talos.kubernetes: 'v1.x' is not a valid Kubernetes version "
                        "(expected e.g. 1.32.2)"),
    "schematic-not-hex64": (lambda t: real_profile(t, **{"talos.factory.schematic": "abc123"}),
                            "talos.factory.schematic: must be 64 lower-case hex characters"),
    "inline-secret": (_inline_secret, "proxmox.token: inline secret not allowed; use "
                                      "{env: NAME}, {file: PATH} or {pass: PATH}"),
    "talosconfig-missing": (lambda t: real_profile(t, **{"talos.talosconfig": "gone/tc"}),
                            "talos.talosconfig: {tmp}/gone/tc does not exist"),
    "kubeconfig-missing": (lambda t: real_profile(t, **{"talos.kubeconfig": "gone/kc"}),
                           "talos.kubeconfig: {tmp}/gone/kc does not exist"),
    "talosctl-not-found": (lambda t: real_profile(t, **{"talos.talosctl": "talosctl-nowhere"}),
                           "talos.talosctl: 'talosctl-nowhere' not found (install talosctl or "
                           "give its full path)"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_profile_is_a_usage_error_naming_file_field_reason(case: str, tmp_path: Path) -> None:
    make, reason = CASES[case]
    profile = make(tmp_path)
    run = run_gate(tmp_path, f"--cluster={profile}")
    assert_usage_error(run, f"{profile}: {reason.replace('{tmp}', str(tmp_path))}", tmp_path)
    assert SECRET not in run.out


def test_every_problem_of_a_profile_is_listed_with_its_field(tmp_path: Path) -> None:
    """Two problems: both named, each with its field (once: the first and "(and 1 more
    problem)", so the operator fixed one, ran again, and met the next)."""
    profile = real_profile(tmp_path, **{"talos.version": "v1.x", "talos.colour": "blue",
                                        "nodes.workers": [{"name": "w1",
                                                           "address": "192.0.2.300"}]})
    run = run_gate(tmp_path, f"--cluster={profile}")
    assert_usage_error(run, f"{profile}: 3 problems:", tmp_path)
    assert ("  talos.version: 'v1.x' is not a valid Talos version (expected e.g. v1.9.4)\n"
            "  talos: unknown field 'colour'\n"
            "  nodes.workers[0].address: '192.0.2.300' is not a valid IP address\n") in run.out, run
    assert "more problem" not in run.out


def test_unknown_cluster_name_lists_the_known_ones(tmp_path: Path) -> None:
    run = run_gate(tmp_path, "--cluster=nope")
    known = sorted(p.stem for p in (REPO / "clusters").glob("*.yaml"))
    assert_usage_error(run, f"unknown cluster 'nope': no clusters/nope.yaml "
                            f"(known: {', '.join(known)})", tmp_path)


def test_runbook_without_cluster_says_how_to_pick_one(tmp_path: Path) -> None:
    run = run_gate(tmp_path)
    assert_usage_error(run, "no cluster chosen: runbooks need --cluster=NAME "
                            "(clusters/NAME.yaml), --cluster=PATH/TO/profile.yaml, or "
                            "--cluster=lab for the bundled emulated lab", tmp_path)


def test_talosctl_that_is_not_talosctl_is_a_usage_error(tmp_path: Path) -> None:
    """A binary whose output cannot be parsed as talosctl's stops the session before any
    node is asked (only `version --client`, which contacts nothing, ran)."""
    profile = real_profile(tmp_path)
    log = tmp_path / "garbage.calls"
    fake_talosctl(tmp_path / "talosctl",
                  f'#!/bin/sh\necho "$*" >> "{log}"\necho "<html>502 Bad Gateway {{{{{{"\n')
    run = run_gate(tmp_path, f"--cluster={profile}")
    assert_usage_error(
        run, f"{profile}: talos.talosctl: {tmp_path}/talosctl does not answer `version --client` "
             "like talosctl: cannot parse talosctl version --client --short: no 'Talos vX.Y.Z' "
             "line (first line: '<html>502 Bad Gateway {{{')", tmp_path)
    assert log.read_text().splitlines() == [
        f"--talosconfig {tmp_path}/talosconfig version --client --short"]


def test_bad_lab_profile_starts_no_lab(tmp_path: Path) -> None:
    raw = yaml.safe_load((REPO / "clusters" / "lab.yaml").read_text())
    raw["talos"]["version"] = "v1.x"
    profile = tmp_path / "lab-variant.yaml"
    profile.write_text(yaml.safe_dump(raw))
    run = run_gate(tmp_path, f"--cluster={profile}")
    assert_usage_error(run, f"{profile}: talos.version: 'v1.x' is not a valid Talos version "
                            "(expected e.g. v1.9.4)", tmp_path)


def test_missing_lab_faults_file_starts_no_lab(tmp_path: Path) -> None:
    run = run_gate(tmp_path, "--cluster=lab", f"--lab-faults={tmp_path}/faults.yaml")
    assert_usage_error(run, f"--lab-faults: {tmp_path}/faults.yaml does not exist", tmp_path)


def test_unknown_fault_in_lab_faults_starts_no_lab(tmp_path: Path) -> None:
    faults = tmp_path / "faults.yaml"
    faults.write_text("- {kind: meteor_strike, node: w1}\n")
    run = run_gate(tmp_path, "--cluster=lab", f"--lab-faults={faults}")
    assert_usage_error(run, f"lab: {faults}: [0]: unknown fault 'meteor_strike' (known: "
                            f"{', '.join(sorted(KINDS))})", tmp_path)


@pytest.mark.parametrize(("target", "batch", "line"), [
    ("runbooks/in_place", "0", "--batch 0: a batch has at least one worker"),
    ("runbooks/rollback", "3", "--batch 3: a rollback takes workers back one at a time"),
])
def test_impossible_batches_are_usage_errors(tmp_path: Path, target: str, batch: str,
                                             line: str) -> None:
    profile = real_profile(tmp_path, **{"upgrade.target": {"talos": "v1.9.4"}})
    run = run_gate(tmp_path, f"--cluster={profile}", "--batch", batch, target=target)
    assert_usage_error(run, line, tmp_path)


def test_an_unreadable_run_record_stops_a_rollback_from_guessing(tmp_path: Path) -> None:
    """The newest record might be the broken one: undoing an older upgrade instead would be
    wrong, so the rollback refuses, naming the file, before anything is asked of the cluster."""
    profile = real_profile(tmp_path, **{"backups": {"etcd_snapshot_dir": str(tmp_path / "b")}})
    runs = tmp_path / "b" / "runs"
    runs.mkdir(parents=True)
    (runs / "office-v1.9.2-1.32.0-to-v1.9.4-1.32.2-20261207T100000Z.json").write_text("{trunc")
    run = run_gate(tmp_path, f"--cluster={profile}", target="runbooks/rollback")
    assert run.rc == USAGE_ERROR, run
    assert (f"ERROR: {profile}: cannot plan the rollback: cannot tell which upgrade to undo: 1 "
            f"file(s) in {runs} are not readable run records ({runs}/office-v1.9.2-1.32.0-to-"
            "v1.9.4-1.32.2-20261207T100000Z.json: not a readable run record: ") in run.out, run
    assert "pass --rollback-from PATH" in run.out
    assert [c for c in talosctl_calls(tmp_path) if "version --client" not in c] == []
