"""What `talosctl upgrade` and `talosctl upgrade-k8s` print (reference §3.1, §3.4), exactly.

Pure text builders, stdlib only; re-exported by emulator.talos.formats. Format strings follow
cmd/talosctl/pkg/talos/action/{tracker,node}.go and pkg/cluster/kubernetes/*.go at v1.11.0.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

from emulator.talos.gotext import (
    go_quote,
    go_quote_list,
    go_time_string,
    go_value,
    member_id_hex,
    rpc_error,
    semver,
    semver_key,
    tabwriter,
    version_minor,
)

_PROCESS_START_NS = time.monotonic_ns()


# ---------------------------------------------------------------------------------------------
# upgrade (§3.1)
# ---------------------------------------------------------------------------------------------
UPGRADE_ACK = "Upgrade request received"


def upgrade_ack_table(nodes: Sequence[str], started: Sequence[str] | None = None,
                      ack: str = UPGRADE_ACK) -> str:
    """Return the `upgrade --wait=false` table (rows are "%s\\t%s\\t%s\\t\\n": STARTED is padded).

    `started` are time.Now() strings; by default they are made from the clock.
    """
    times = list(started) if started is not None else [go_now() for _ in nodes]
    return tabwriter([["NODE", "ACK", "STARTED"],
                      *([n, ack, t, ""] for n, t in zip(nodes, times, strict=True))])


def go_now() -> str:
    """Return time.Now().String() for this process (local zone, monotonic since import)."""
    return go_time_string(time.time_ns(), time.monotonic_ns() - _PROCESS_START_NS)


def tracker_line(node: str, message: str) -> str:
    """Return one non-TTY progress line of `upgrade --wait`: `"<node>": <message>`."""
    return f"{go_quote(node)}: {message}"


def phase_message(phase: str, action: str) -> str:
    """Return `phase: <name> action: START|STOP`."""
    return f"phase: {phase} action: {action}"


def task_message(task: str, action: str) -> str:
    """Return `task: <name> action: START|STOP`."""
    return f"task: {task} action: {action}"


def sequence_message(sequence: str, action: str, error: str = "", code: str = "FATAL") -> str:
    """Return `sequence: <name> action: <A>` (+ ` error: [code: <msg> message: <code>]`)."""
    err = f" error: [code: {error} message: {code}]" if error else ""
    return f"sequence: {sequence} action: {action}{err}"


def _proto_text_list(conditions: Iterable[tuple[str, str]]) -> str:
    return "[" + " ".join(f"name:{go_quote(n)} reason:{go_quote(r)}" for n, r in conditions) + "]"


def machine_status_message(stage: str, ready: bool,
                           unmet: Iterable[tuple[str, str]] = ()) -> str:
    """Return `stage: BOOTING ready: false unmetCond: [name:"nodeReady" reason:"..."]`."""
    return (f"stage: {stage.upper().replace(' ', '_')} ready: {go_value(ready)} "
            f"unmetCond: {_proto_text_list(unmet)}")


def service_message(service: str, message: str, healthy: bool) -> str:
    """Return `service: <id> message: <msg> healthy: <bool>`."""
    return f"service: {service} message: {message} healthy: {go_value(healthy)}"


WAITING_FOR_ACTOR = "waiting for actor ID"
STOP_ALL_SERVICES_ERROR = "error: stopAllServices task completed"
UNAVAILABLE_RETRYING = "unavailable, retrying..."
EVENTS_CONDITION_MET = "events check condition met"
POST_CHECK_PASSED = "post check passed"


def actor_message(actor_id: str) -> str:
    """Return `actor ID: <uuid>`."""
    return f"actor ID: {actor_id}"


def upgrade_phases(reboot_mode: str = "default", drain: bool = True
                   ) -> list[tuple[str, list[str]]]:
    """Return the v1.11 Upgrade sequence: (phase, tasks); kexec only in reboot mode default."""
    phases = [("drain", ["cordonAndDrainNode"])] if drain else []
    phases += [("cleanup", ["stopAllPods"]), ("dbus", ["stopDBus"]),
               ("stopServices", ["stopServicesForUpgrade"]), ("unmount", ["unmountPodMounts"]),
               ("unmountBind", ["unmountSystemDiskBindMounts"]),
               ("unmountSystem", ["unmountEphemeralPartition"]),
               ("volumeFinalize", ["teardownLifecycle"]), ("upgrade", ["upgrade"]),
               ("meta", ["reloadMeta"])]
    if reboot_mode == "default":
        phases.append(("kexec", ["kexecPrepare"]))
    return phases + [("stopEverything", ["stopAllServices"]), ("reboot", ["reboot"])]


BOOT_PHASES: list[tuple[str, list[str]]] = [
    ("memorySizeCheck", ["memorySizeCheck"]), ("diskSizeCheck", ["diskSizeCheck"]),
    ("env", ["setUserEnvVars", "waitForCARoots"]), ("dbus", ["startDBus"]),
    ("ephemeral", ["mountEphemeralPartition"]), ("udevSetup", ["writeUdevRules"]),
    ("userDisks", ["mountUserDisks"]), ("userSetup", ["writeUserFiles"]),
    ("startEverything", ["startAllServices"]),
]


def upgrade_before_reboot_messages(actor_id: str, reboot_mode: str = "default",
                                   drain: bool = True) -> list[str]:
    """Return the progress messages from the request until the tracker loses the node.

    They end with `task: stopAllServices action: START` and the expected
    `error: stopAllServices task completed`.
    """
    msgs = [WAITING_FOR_ACTOR, actor_message(actor_id), sequence_message("upgrade", "START")]
    for phase, tasks in upgrade_phases(reboot_mode, drain):
        msgs.append(phase_message(phase, "START"))
        for task in tasks:
            msgs.append(task_message(task, "START"))
            if task == "stopAllServices":
                return msgs + [STOP_ALL_SERVICES_ERROR]
            msgs.append(task_message(task, "STOP"))
        msgs.append(phase_message(phase, "STOP"))
    return msgs


def upgrade_after_reboot_messages(nodename: str, unavailable: int = 1) -> list[str]:
    """Return representative messages from the reboot to success for one node.

    `unavailable` retries, then the replayed boot events of the new boot (actor ID ""), the
    kubelet coming up, and the end: `events check condition met`, `post check passed`.
    """
    # reasons as in the captured samples: BOOTING "is not ready", RUNNING "status is not ..."
    not_ready = [("nodeReady", f"node {go_quote(nodename)} is not ready")]
    msgs = [UNAVAILABLE_RETRYING] * unavailable
    msgs.append(sequence_message("boot", "START"))
    for phase, tasks in BOOT_PHASES[:-1]:
        msgs.append(phase_message(phase, "START"))
        for task in tasks:
            msgs += [task_message(task, "START"), task_message(task, "STOP")]
        msgs.append(phase_message(phase, "STOP"))
    msgs += [phase_message("startEverything", "START"), task_message("startAllServices", "START"),
             machine_status_message("booting", False, not_ready),
             service_message("kubelet", "Health check successful", True),
             machine_status_message("booting", True),
             task_message("startAllServices", "STOP"), phase_message("startEverything", "STOP"),
             sequence_message("boot", "STOP"),
             machine_status_message("running", False, [
                 ("nodeReady", f"node {go_quote(nodename)} status is not available yet")]),
             EVENTS_CONDITION_MET, POST_CHECK_PASSED]
    return msgs


def sequence_failure_messages(sequence: str, error: str, code: str = "FATAL") -> list[str]:
    """Return the lines of a failed sequence: the event, the tracker's error, the final error."""
    return [sequence_message(sequence, "STOP", error, code), f"error: sequence error: {error}",
            f"sequence error: {error}"]


def etcd_quorum_refusal(members: int) -> str:
    """Return ValidateForUpgrade's quorum refusal."""
    return (f"etcd member count({members}) is insufficient to maintain quorum if upgrade "
            "commences")


def etcd_not_started_refusal(member_id: int) -> str:
    """Return ValidateForUpgrade's refusal for an unstarted member."""
    return (f"etcd member {member_id_hex(member_id)} is not started, all members must be running "
            "to perform an upgrade")


def etcd_unhealthy_refusal(member_id: int, cause: str = "context deadline exceeded") -> str:
    """Return ValidateForUpgrade's refusal for an unhealthy member."""
    return (f"etcd member {member_id_hex(member_id)} is not healthy; all members must be healthy "
            f"to perform an upgrade: {cause}")


def etcd_validation_error(refusal: str, code: str = "Unknown") -> str:
    """Return how the Upgrade API call fails for an etcd refusal (as the tracker prints it)."""
    return rpc_error(code, f"error validating etcd for upgrade: {refusal}")


def preflight_error(host: str, target: str) -> str:
    """Return the installer pre-flight error for a host/target pair outside the allowed span.

    Older host than the target's minimum -> `too old to upgrade`; otherwise `too new to
    downgrade` (versions printed without the `v`).
    """
    word = "too old to upgrade" if semver_key(host) < semver_key(target) else \
        "too new to downgrade"
    return f"pre-flight checks failed: host version {semver(host)} is {word} to Talos " \
           f"{semver(target)}"


WAIT_INSECURE_ERROR = "cannot use --wait and --insecure together"


# ---------------------------------------------------------------------------------------------
# upgrade-k8s (§3.4)
# ---------------------------------------------------------------------------------------------
def k8s_path(from_version: str, to_version: str) -> str:
    """Return go-kubernetes Path.String(): `1.32->1.34`."""
    (fa, fb), (ta, tb) = version_minor(from_version), version_minor(to_version)
    return f"{fa}.{fb}->{ta}.{tb}"


def k8s_path_supported(from_version: str, to_version: str, max_minor: int | None = None) -> bool:
    """Return Path.IsSupported(): the same minor or the next one (1.19+, up to max_minor)."""
    (fa, fb), (ta, tb) = version_minor(from_version), version_minor(to_version)
    ok = fa == ta == 1 and fb >= 19 and tb in (fb, fb + 1)
    return ok and (max_minor is None or tb <= max_minor)


def k8s_unsupported_path_error(from_version: str, to_version: str) -> str:
    """Return `unsupported upgrade path 1.32->1.34 (from "1.32.0" to "1.34.1")`."""
    f, t = from_version.lstrip("v"), to_version.lstrip("v")
    return f"unsupported upgrade path {k8s_path(f, t)} (from {go_quote(f)} to {go_quote(t)})"


def k8s_compat_error(node: str, k8s_version: str, talos_version: str, too_new: bool) -> str:
    """Return `compatibility check failed on node "X": version of Kubernetes ... Talos ...`."""
    word = "new" if too_new else "old"
    return (f"compatibility check failed on node {go_quote(node)}: version of Kubernetes "
            f"{semver(k8s_version)} is too {word} to be used with Talos {semver(talos_version)}")


def k8s_detected_line(version: str) -> str:
    """Return `automatically detected the lowest Kubernetes version 1.29.1`."""
    return f"automatically detected the lowest Kubernetes version {version.lstrip('v')}"


def k8s_discovered_lines(control_planes: Sequence[str], workers: Sequence[str],
                         upgrade_kubelet: bool = True) -> list[str]:
    """Return the discovered controlplane (and, with kubelet upgrade, worker) node lines."""
    out = [f"discovered controlplane nodes {go_quote_list(control_planes)}"]
    if upgrade_kubelet:
        out.append(f"discovered worker nodes {go_quote_list(workers)}")
    return out


def k8s_compat_line(node: str, talos_version: str, k8s_version: str) -> str:
    """Return the v1.11+ line `> "<node>": Talos version 1.11.0 is compatible with ...`."""
    return (f"> {go_quote(node)}: Talos version {semver(talos_version)} is compatible with "
            f"Kubernetes version {k8s_version.lstrip('v')}")


def k8s_checks_lines(from_version: str, to_version: str) -> list[str]:
    """Return the removed-flags/API check lines, present only for a minor-version step (1.24+)."""
    (_, fb), (_, tb) = version_minor(from_version), version_minor(to_version)
    if tb != fb + 1 or fb < 24:
        return []
    return ["checking for removed Kubernetes component flags",
            "checking for removed Kubernetes API resource versions"]


K8S_IMAGES = {"kube-apiserver": "registry.k8s.io/kube-apiserver",
              "kube-controller-manager": "registry.k8s.io/kube-controller-manager",
              "kube-scheduler": "registry.k8s.io/kube-scheduler",
              "kube-proxy": "registry.k8s.io/kube-proxy",
              "kubelet": "ghcr.io/siderolabs/kubelet"}
K8S_STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def k8s_node_line(node: str, text: str, closing: bool = False) -> str:
    """Return ` > "<node>": <text>` (or ` < ` for the closing line)."""
    return f" {'<' if closing else '>'} {go_quote(node)}: {text}"


def k8s_prepull_lines(control_planes: Sequence[str], nodes: Sequence[str], to_version: str,
                      upgrade_kubelet: bool = True, images: Mapping[str, str] = K8S_IMAGES,
                      kubelet_suffix: Mapping[str, str] | None = None) -> list[str]:
    """Return the pre-pull lines: each static-pod image on every control plane, then kubelet.

    `nodes` are control planes then workers (the kubelet order); kubelet_suffix maps a node
    to its image suffix (`-fat`/`-slim`).
    """
    to = to_version.lstrip("v")
    out = [k8s_node_line(n, f"pre-pulling {images[c]}:v{to}")
           for c in K8S_STATIC_PODS for n in control_planes]
    if upgrade_kubelet:
        out += [k8s_node_line(n, f"pre-pulling {images['kubelet']}:v{to}"
                                 f"{(kubelet_suffix or {}).get(n, '')}") for n in nodes]
    return out


def k8s_static_pod_header(component: str, to_version: str) -> str:
    """Return `updating "kube-apiserver" to version "1.30.1"`."""
    return f"updating {go_quote(component)} to version {go_quote(to_version.lstrip('v'))}"


def k8s_static_pod_lines(component: str, node: str, old_image: str, to_version: str,
                         from_version: str = "", dry_run: bool = False,
                         waiting: Sequence[str] = ()) -> list[str]:
    """Return one control plane's block for a static pod (talos_managed.go).

    old_image is the image in the machine config ("" if unset: from_version is shown then);
    a node already at the target
    gets no `update` line but is still patched/waited for. `waiting` are extra messages
    (`kube-apiserver: pod is not ready, waiting`) printed before `successfully updated`.
    """
    to = to_version.lstrip("v")
    out = [k8s_node_line(node, "starting update")]
    if old_image != f"{K8S_IMAGES[component]}:v{to}":
        version = old_image.partition(":")[2]
        out.append(f" > update {component}: {version or from_version.lstrip('v')} -> {to}")
        if dry_run:
            return out + [" > skipped in dry-run"]
    elif dry_run:
        return out
    out += [k8s_node_line(node, "machine configuration patched"),
            k8s_node_line(node, f"waiting for {component} pod update")]
    out += [k8s_node_line(node, w) for w in waiting]
    return out + [k8s_node_line(node, "successfully updated", closing=True)]


def k8s_config_mismatch(component: str, got: str, expected: str) -> str:
    """Return `kube-apiserver: waiting, config version mismatch: got "1", expected "2"`."""
    return f"{component}: waiting, config version mismatch: got {go_quote(got)}, " \
           f"expected {go_quote(expected)}"


def k8s_kube_proxy_lines(control_planes: Sequence[str], to_version: str,
                         dry_run: bool = False) -> list[str]:
    """Return `updating kube-proxy to version "X"` and a ` > "<cp>": starting update` each."""
    out = [f"updating kube-proxy to version {go_quote(to_version.lstrip('v'))}"]
    for n in control_planes:
        out.append(k8s_node_line(n, "starting update"))
        if dry_run:
            out.append(" > skipped in dry-run")
    return out


def k8s_kubelet_header(to_version: str, upgrade_kubelet: bool = True) -> str:
    """Return `updating kubelet to version "X"` (or `skipped updating kubelet`)."""
    if not upgrade_kubelet:
        return "skipped updating kubelet"
    return f"updating kubelet to version {go_quote(to_version.lstrip('v'))}"


def k8s_kubelet_lines(node: str, old_version: str, to_version: str, dry_run: bool = False,
                      already: bool = False) -> list[str]:
    """Return one node's kubelet block (kubelet.go); old_version like `1.29.1` or `v1.29.1`."""
    to = to_version.lstrip("v")
    out = [k8s_node_line(node, "starting update")]
    if not already:
        out.append(f" > update kubelet: {old_version.lstrip('v')} -> {to}")
        if dry_run:
            return out + [" > skipped in dry-run"]
    elif dry_run:
        return out
    out.append(k8s_node_line(node, "machine configuration patched"))
    if not already:
        out.append(k8s_node_line(node, "waiting for kubelet restart"))
    return out + [k8s_node_line(node, "waiting for node update"),
                  k8s_node_line(node, "successfully updated", closing=True)]


def k8s_manifest_path(api_version: str, kind: str, name: str, namespace: str = "") -> str:
    """Return a manifest's path as go-kubernetes prints it: `apps/v1.DaemonSet/ns/name`."""
    return f"{api_version}.{kind}/{namespace + '/' if namespace else ''}{name}"


def k8s_manifest_lines(manifests: Sequence[tuple[str, str | None]], dry_run: bool = False
                       ) -> list[str]:
    """Return the `updating manifests` block: (path, diff or None when unchanged) pairs.

    Without --dry-run it ends with `waiting for all manifests to be applied` and a waiting
    line per applied manifest.
    """
    out = ["updating manifests"]
    applied = []
    for path, diff in manifests:
        out.append(f" > processing manifest {path}")
        if diff is None:
            out.append(" < no changes")
            continue
        out += [diff, " < dry run, change skipped" if dry_run else " < applied successfully"]
        applied.append(path)
    if dry_run:
        return out
    return out + ["waiting for all manifests to be applied",
                  *(f" > waiting for {p}" for p in applied)]
