"""kubectl (the real 1.32 binary) against the emulated API: discovery fallback, server-side
tables, cordon, and a drain refused by a PodDisruptionBudget."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from kube_live import LiveKube

KUBECTL = shutil.which("kubectl")
pytestmark = pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def lab() -> Iterator[LiveKube]:
    live = LiveKube()
    yield live
    live.stop()


@pytest.fixture
def kubectl(lab: LiveKube, tmp_path: Path) -> Run:
    config = lab.kubeconfig(tmp_path / "kubeconfig")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(HOME=str(tmp_path), KUBECONFIG=str(config), NO_PROXY="127.0.0.1")

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        assert KUBECTL is not None
        out = subprocess.run([KUBECTL, *args], capture_output=True, text=True, env=env,
                             timeout=60)
        if ok:
            assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
        return out

    return run


def rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.strip().splitlines()]


def test_get_nodes_and_wide(kubectl: Run) -> None:
    table = rows(kubectl("get", "nodes").stdout)
    assert table[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert table[1] == ["cp1", "Ready", "control-plane", "12d", "v1.32.0"]
    assert table[2][:3] == ["w1", "Ready", "<none>"]
    wide = rows(kubectl("get", "nodes", "-o", "wide").stdout)
    assert wide[0] == ["NAME", "STATUS", "ROLES", "AGE", "VERSION", "INTERNAL-IP", "EXTERNAL-IP",
                       "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]
    assert wide[1][5:] == ["127.0.10.1", "<none>", "Talos (v1.9.2)", "6.12.6-talos",
                           "containerd://2.0.2"]


def test_get_pods_all_namespaces_and_custom_resources(kubectl: Run) -> None:
    pods = rows(kubectl("get", "pods", "-A").stdout)
    assert pods[0] == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert ["kube-system", "kube-apiserver-cp1", "1/1", "Running", "0", "12d"] in pods
    assert len(pods) == 12
    backups = rows(kubectl("get", "backups.velero.io", "-A").stdout)
    assert backups == [["NAMESPACE", "NAME", "AGE"], ["velero", "daily-20261119", "20h"]]
    ks = rows(kubectl("get", "kustomizations", "-n", "flux-system").stdout)
    assert ks[0] == ["NAME", "AGE", "READY", "STATUS"] and ks[1][2] == "True"
    pdb = rows(kubectl("get", "pdb", "-n", "apps").stdout)
    assert pdb == [["NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"],
                   ["web", "N/A", "1", "1", "12d"]]


def test_cordon_and_uncordon(lab: LiveKube, kubectl: Run) -> None:
    assert kubectl("cordon", "w2").stdout.strip() == "node/w2 cordoned"
    assert lab.call(lab.store.get, "nodes", "w2")["spec"]["unschedulable"] is True
    assert rows(kubectl("get", "node", "w2").stdout)[1][1] == "Ready,SchedulingDisabled"
    assert kubectl("uncordon", "w2").stdout.strip() == "node/w2 uncordoned"
    assert "unschedulable" not in lab.call(lab.store.get, "nodes", "w2")["spec"]


def test_drain_is_refused_by_the_pod_disruption_budget(lab: LiveKube, kubectl: Run) -> None:
    out = kubectl("drain", "w1", "--ignore-daemonsets", "--timeout=2s", ok=False)
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "Cannot evict pod as it would violate the pod's disruption budget." in text
    assert "Warning: ignoring DaemonSet-managed Pods: kube-system/kube-proxy-" in text
    web_on_w1 = lab.call(lab.store.list, "pods", "apps", "app=web", "spec.nodeName=w1")[0]
    assert len(web_on_w1) == 1, "one web pod was evicted, the budget kept the other"


def test_errors_read_like_a_real_server(kubectl: Run) -> None:
    out = kubectl("get", "node", "w9", ok=False)
    assert out.stderr.strip() == 'Error from server (NotFound): nodes "w9" not found'
    out = kubectl("logs", "-n", "kube-system", "kube-apiserver-cp1", ok=False)
    assert "not emulated: GET pods/log" in out.stderr
    assert "Server Version: v1.32.0" in kubectl("version").stdout
