"""May an etcd snapshot of the old cluster be recovered into the rebuilt one? Pure.

The rules, each from upstream (read 2026-12 from snapshots of the repositories):

* Kubernetes: kube-apiserver must not skip minors ("Project policies for API deprecation and API
  change guidelines require kube-apiserver to not skip minor versions when upgrading, even in
  single-instance clusters", kubernetes/website version-skew-policy.md; kubeadm's
  MaximumAllowedMinorVersionUpgradeSkew = 1, cmd/kubeadm/app/phases/upgrade/policy.go; Talos'
  go-kubernetes upgrade/path.go only allows N -> N and N -> N+1). A recovered etcd holds objects
  stored by the old API server, so the new one may be at most one minor newer, never older.
* etcd: "Upgrades that skip a minor version are not supported and will likely fail"
  (etcd-io/website docs/v3.6/upgrades/upgrading-etcd.md); etcd 3.6 refuses data of 3.4 and older
  (server/storage/schema/schema.go at v3.6.7) and of a newer minor (CHANGELOG-3.6). Moving 3.5
  data to 3.6 needs 3.5.20 or later first (upgrade_3_6.md since 9889a83b: the "too many learner
  member" bug; later revisions raise the floor to 3.5.26 and 3.5.32 for rolling upgrades; a
  restore rewrites the membership, so the harness keeps the 3.5.20 floor: derived).
* Talos recovers with the etcdutl library compiled into machined (v1.12.4
  internal/app/machined/pkg/system/services/etcd.go recoverFromSnapshot), then starts its
  default etcd on the restored directory: the versions that matter are the Talos releases'
  default etcd (pkg/machinery/constants DefaultEtcdVersion), below. A machine config may pin
  another etcd image (cluster.etcd.image); the harness does not see that (derived limit).
"""

from __future__ import annotations

from model.versions import KubeVersion, TalosVersion

# Talos minor -> [(first patch, default etcd)], from DefaultEtcdVersion at each tag (siderolabs/
# talos pkg/machinery/constants/constants.go). Patches between two known points take the lower
# one: a conservative floor.
DEFAULT_ETCD: dict[tuple[int, int], list[tuple[int, tuple[int, int, int]]]] = {
    (1, 7): [(0, (3, 5, 13))],
    (1, 8): [(0, (3, 5, 16)), (4, (3, 5, 17))],
    (1, 9): [(0, (3, 5, 17)), (3, (3, 5, 18)), (5, (3, 5, 19)), (6, (3, 5, 21))],
    (1, 10): [(0, (3, 5, 21)), (9, (3, 5, 26))],
    (1, 11): [(0, (3, 6, 4)), (6, (3, 6, 5))],
    (1, 12): [(0, (3, 6, 7)), (11, (3, 6, 11))],
    (1, 13): [(0, (3, 6, 9)), (9, (3, 6, 12))],
}
ETCD_35_TO_36_FLOOR = (3, 5, 20)


def default_etcd(talos: TalosVersion) -> tuple[int, int, int] | None:
    """The etcd a Talos release runs by default (None: a minor the table does not know)."""
    points = DEFAULT_ETCD.get(talos.minor_line)
    if not points:
        return None
    found = points[0][1]
    for first_patch, etcd in points:
        if talos.patch >= first_patch:
            found = etcd
    return found


def _v(etcd: tuple[int, int, int]) -> str:
    return ".".join(map(str, etcd))


def restore_refusals(
    source: tuple[TalosVersion, KubeVersion], target: tuple[TalosVersion, KubeVersion]
) -> list[str]:
    """Why the snapshot of a cluster on `source` may not be recovered into `target` (empty:
    it may)."""
    (src_t, src_k), (dst_t, dst_k) = source, target
    out = []
    k_skip = dst_k.minor_line[1] - src_k.minor_line[1]
    if dst_k.minor_line[0] != src_k.minor_line[0] or not 0 <= k_skip <= 1:
        out.append(
            f"Kubernetes {src_k} -> {dst_k}: a recovered etcd holds objects the old API server "
            "stored, and kube-apiserver may not skip or go back minors (version skew policy); "
            f"rebuild into Kubernetes {src_k.minor_str}.x or the next minor, then upgrade "
            "Kubernetes in place (runbooks/in_place)"
        )
    src_e, dst_e = default_etcd(src_t), default_etcd(dst_t)
    if src_e is None or dst_e is None:
        unknown = src_t if src_e is None else dst_t
        out.append(f"the default etcd of Talos {unknown} is not known to the harness")
        return out
    if dst_e[:2] < src_e[:2] or dst_e[1] - src_e[1] > 1 or dst_e[0] != src_e[0]:
        out.append(
            f"etcd {_v(src_e)} (Talos {src_t}) -> {_v(dst_e)} (Talos {dst_t}): etcd may not skip "
            "or go back minors"
        )
    elif src_e[:2] == (3, 5) and dst_e[:2] == (3, 6) and src_e < ETCD_35_TO_36_FLOOR:
        out.append(
            f"etcd {_v(src_e)} (Talos {src_t}) -> {_v(dst_e)} (Talos {dst_t}): etcd 3.6 needs "
            f"3.5 data from {_v(ETCD_35_TO_36_FLOOR)} or later; upgrade in place first to a Talos "
            "whose etcd is (v1.9.6 or v1.10.x)"
        )
    return out
