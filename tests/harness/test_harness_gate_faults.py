"""The health gate fails on a lab with each relevant fault, naming the node/member and the cause,
and only the checks that fault explains fail (no collateral noise)."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.api import Lab
from tests.harness.gate import GateRun, lab_dirs, run_gate

pytestmark = pytest.mark.lab

ID = "[0-9a-f]{16}"
IP = r"127\.\d+\.\d+\.\d+"

# fault -> (the checks that must fail, exactly; one regex per check its findings must match)
IMMEDIATE: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "stale_etcd_member": ({"kind": "stale_etcd_member", "node": "cp1"}, {
        "etcd-member-count": rf"\[etcd-member-count\] etcd cluster: expected 3 members \(cp1, cp2, "
                             rf"cp3\), observed 4 members \(.*{ID}.*\)",
        "etcd-members-started": rf"\[etcd-members-started\] member {ID} \(peer http://{IP}:2380\): "
                                r"expected started, observed not started — hint: remove the stale "
                                rf"member with 'talosctl etcd remove-member {ID}'",
        "etcd-members-control-planes": rf"\[etcd-members-control-planes\] member {ID} \(peer "
                                       rf"http://{IP}:2380\): expected a peer address among the "
                                       r"control planes \(cp1=.*\), observed peer address",
    }),
    "etcd_member_down": ({"kind": "etcd_member_down", "node": "cp2"}, {
        "etcd-status-ok": r"\[etcd-status-ok\] etcd on cp2: expected a status without errors, "
                          r"observed no status: .*connection refused",
        "etcd-members-consistent": r"\[etcd-members-consistent\] etcd member list on cp2: expected "
                                   r"an answer, observed no answer: .*connection refused",
    }),
    "cordoned": ({"kind": "cordoned", "node": "w2"}, {
        "k8s-nodes-schedulable": r"\[k8s-nodes-schedulable\] node w2: expected schedulable, "
                                 r"observed cordoned \(spec.unschedulable: true\) — hint: once it "
                                 r"is healthy: 'kubectl uncordon w2'",
    }),
    "crashloop_pod": ({"kind": "crashloop_pod", "node": "w1"}, {
        "no-crashloop": r"\[no-crashloop\] pod default/crashloop-\w+ on w1: expected no container "
                        r"in CrashLoopBackOff, observed CrashLoopBackOff after \d+ restarts",
    }),
    "flux_not_ready": ({"kind": "flux_not_ready"}, {
        "flux-ready": r"\[flux-ready\] Kustomization flux-system/apps: expected Ready=True, "
                      r"observed Ready=False \(ReconciliationFailed: .+\)",
    }),
}


def assert_findings(run: GateRun, expected: dict[str, str], may_fail: tuple[str, ...] = ()
                    ) -> None:
    """Exit 1; the expected checks failed, each with a finding matching its regex, and no
    other check failed (except those in may_fail: consequences the lab may or may not show)."""
    __tracebackhide__ = True
    assert run.rc == 1, run
    assert set(expected) <= set(run.failed()) <= set(expected) | set(may_fail), run
    for check, pattern in expected.items():
        assert re.search(pattern, run.text(check)), f"{check}:\n{run.text(check)}"
    assert run.traceback_free(), run


def assert_lab_stopped(run: GateRun) -> None:
    """`--cluster=lab` started one lab of its own and stopped it (no process left)."""
    __tracebackhide__ = True
    (lab_dir,) = lab_dirs(run)
    state = json.loads((lab_dir / "lab.json").read_text())
    assert state["state"] == "stopped"
    assert not os.path.exists(f"/proc/{state['pid']}")


@pytest.mark.parametrize("fault", list(IMMEDIATE))
def test_gate_fails_on_a_lab_started_with_the_fault(fault: str, tmp_path: Path) -> None:
    spec, expected = IMMEDIATE[fault]
    faults = tmp_path / "faults.yaml"
    faults.write_text(yaml.safe_dump([spec]))
    run = run_gate(tmp_path, "--cluster=lab", f"--lab-faults={faults}")
    assert_findings(run, expected)
    assert_lab_stopped(run)


def wait_for(lab: Lab, node: str, done: Callable[[dict[str, Any]], bool], what: str,
             timeout: float = 30.0) -> dict[str, Any]:
    """Poll the lab's status until `done(node status)`; fail naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        status = next(n for n in lab.status()["nodes"] if n["name"] == node)
        if done(status):
            return status
        if time.monotonic() > deadline:
            pytest.fail(f"{node}: still not {what} after {timeout:g} s: {status}")
        time.sleep(0.05)  # polling a condition with a deadline


def test_gate_fails_when_a_rebooted_worker_never_gets_ready(
        make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab()
    lab.fault("never_ready", node="w1")
    before = wait_for(lab, "w1", lambda n: True, "read")["boot_id"]
    # --wait=false: like a real talosctl, `reboot --wait` would wait for a Ready that never comes
    done = lab.talosctl("reboot", "--wait=false", "-n", lab.address("w1"), timeout=60)
    assert done.returncode == 0, done.stderr
    wait_for(lab, "w1", lambda n: n["boot_id"] != before and n["stage"] == "running"
             and n["busy"] is None, "back from its reboot")
    run = run_gate(tmp_path, f"--cluster={lab.profile}")
    assert_findings(run, {
        "k8s-nodes-ready": r"\[k8s-nodes-ready\] node w1: expected Ready=True, observed "
                           r"Ready=False \(KubeletNotReady: .+\)",
        "machine-running-ready": r"\[machine-running-ready\] node w1: expected stage running, "
                                 r"ready, observed stage running, not ready \(unmet: nodeReady: "
                                 r"node \"w1\" is not ready\)",
    }, may_fail=("kube-proxy-ready", "coredns-ready"))  # their pods on w1 may be unready too


def test_gate_fails_when_an_upgrade_dropped_an_extension(
        make_lab: Callable[..., Lab], tmp_path: Path) -> None:
    lab = make_lab()
    factory = yaml.safe_load(lab.profile.read_text())["talos"]["factory"]
    image = (f"{factory['url'].split('://', 1)[1]}/installer/{factory['schematic']}:v1.9.4")
    lab.fault("extension_missing", node="w1", extension="siderolabs/iscsi-tools")
    done = lab.talosctl("upgrade", "--image", image, "--preserve", "-n", lab.address("w1"),
                        timeout=120)
    assert done.returncode == 0, done.stderr
    run = run_gate(tmp_path, f"--cluster={lab.profile}")
    assert_findings(run, {
        "extensions-present": r"\[extensions-present\] node w1: expected extensions "
                              r"siderolabs/iscsi-tools, siderolabs/qemu-guest-agent, observed "
                              r"missing siderolabs/iscsi-tools \(installed: qemu-guest-agent, "
                              r"schematic\)",
        # the profile still says v1.9.2: the upgraded node is also a version mismatch
        "talos-version": r"\[talos-version\] node w1: expected v1.9.2, observed v1.9.4",
    })


NODES = ("cp1", "cp2", "cp3", "w1", "w2", "w3")


@pytest.mark.parametrize(("node", "client"), [
    ("cp1", "v1.9.6"),  # the first control plane: first in every -n list, the etcd/API primary
    ("w2", "v1.14.0-rc.1"),  # v1.14: per-node error lines, get stopped by the version check
    ("cp1", "v1.14.0-rc.1"),  # ... and `etcd status` with `error from node` after the rows
    ("cp3", "v1.13.9"),
])
def test_one_node_down_costs_only_that_nodes_verdicts(make_lab: Callable[..., Lab],
                                                       tmp_path: Path, node: str,
                                                       client: str) -> None:
    """node_down (the machine is off): the gate fails, every finding names that node, and every
    other node's checks are judged and pass (once, one down first node failed every node)."""
    lab = make_lab(faults=[{"kind": "node_down", "node": node}], lab={"talosctl": client})
    run = run_gate(tmp_path, f"--cluster={lab.profile}")
    assert run.rc == 1, run
    assert run.traceback_free(), run
    assert {"apid-ready", "machine-running-ready", "k8s-nodes-ready"} <= set(run.failed())
    others = [n for n in NODES if n != node]
    for check in run.failed():
        text = run.text(check)
        findings = [ln for ln in text.splitlines() if ln.strip().startswith("[")]
        assert findings, f"{check}: no finding\n{text}"
        for finding in findings:
            assert re.search(rf"\b{node}\b", finding), f"{check} does not name {node}: {finding}"
            named = [n for n in others if re.search(rf"\b{n}\b", finding.split(" — hint:")[0])]
            assert named == [], f"{check} blames {named} for {node} being down: {finding}"
    passed = set(run.verdicts) - set(run.failed())
    assert {"talos-version", "kubelet-version", "etcd-no-alarms", "flux-ready"} <= passed, run
