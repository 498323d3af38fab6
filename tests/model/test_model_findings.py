"""Findings read as one line at 3 a.m.; secrets and roles print safely."""

from __future__ import annotations

import json

import pytest

from model.findings import Category, Finding
from model.roles import Role
from model.secrets import SecretRef


def stale_member() -> Finding:
    return Finding(
        check="etcd-members-started",
        subject="member 7f3c9a1b2c3d4e5f (cp2)",
        expected="started",
        observed="not started",
        hint="remove the stale member with 'talosctl etcd remove-member 7f3c9a1b2c3d4e5f' "
        "after confirming it is gone",
        category=Category.ETCD,
    )


def test_str_is_one_operator_line() -> None:
    assert str(stale_member()) == (
        "[etcd-members-started] member 7f3c9a1b2c3d4e5f (cp2): expected started, observed not "
        "started — hint: remove the stale member with 'talosctl etcd remove-member "
        "7f3c9a1b2c3d4e5f' after confirming it is gone"
    )


def test_multiline_observations_are_flattened_and_empty_hint_left_out() -> None:
    finding = Finding(
        "k8s-nodes-ready",
        "node w1",
        "Ready=True",
        "Ready=False (runtime\n  network not ready)",
        "",
        Category.NODE_READINESS,
    )
    assert str(finding) == (
        "[k8s-nodes-ready] node w1: expected Ready=True, observed Ready=False (runtime network "
        "not ready)"
    )


def test_to_dict_is_json_ready() -> None:
    data = stale_member().to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["category"] == "etcd"
    assert data["subject"] == "member 7f3c9a1b2c3d4e5f (cp2)"


def test_findings_are_frozen() -> None:
    with pytest.raises(AttributeError):
        stale_member().observed = "started"  # type: ignore[misc]


def test_categories() -> None:
    assert [c.value for c in Category] == [
        "etcd",
        "node_readiness",
        "version_mismatch",
        "extensions",
        "workloads",
        "flux",
        "harness_error",
        "backups",
    ]
    assert [c.label for c in Category] == [
        "etcd", "node readiness", "version mismatch", "extensions", "workloads", "Flux",
        "harness error", "backups"]


def test_roles_use_talos_spelling() -> None:
    assert Role("controlplane") is Role.CONTROL_PLANE
    assert Role("worker") is Role.WORKER
    assert str(Role.CONTROL_PLANE) == "controlplane"
    assert Role.CONTROL_PLANE.label == "control plane"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"env": "PVE_TOKEN"}, SecretRef("env", "PVE_TOKEN")),
        ({"file": "~/.pve/token"}, SecretRef("file", "~/.pve/token")),
        ({"pass": " infra/pve-token "}, SecretRef("pass", "infra/pve-token")),
    ],
)
def test_secret_references_parse(value: object, expected: SecretRef) -> None:
    assert SecretRef.parse(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "s3cr3t-token-value",
            "inline secret not allowed; use {env: NAME}, {file: PATH} or {pass: PATH}",
        ),
        (42, "inline secret not allowed"),
        ({}, "exactly one of env, file or pass \\(got nothing\\)"),
        ({"env": ""}, "env: expected a non-empty name or path"),
        ({"env": ["A"]}, "env: expected a non-empty name or path"),
    ],
)
def test_bad_secret_references_never_echo_the_value(value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        SecretRef.parse(value)
    assert "s3cr3t" not in str(info.value)


def test_secret_reference_prints_only_where_it_lives() -> None:
    ref = SecretRef("pass", "infra/pve-token")
    assert repr(ref) == "SecretRef(pass:infra/pve-token)"
    assert str(ref) == "{pass: infra/pve-token}"
    with pytest.raises(ValueError, match="unknown secret kind 'vault'"):
        SecretRef("vault", "x")  # type: ignore[arg-type]
