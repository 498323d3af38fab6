"""Phase 3, Kubernetes first: talosctl upgrade-k8s --to the older version, one minor per step,
a dry run first (runbooks/phases/kubernetes.py)."""

from runbooks.phases.kubernetes import test_kubernetes_back  # noqa: F401
from runbooks.phases.kubernetes import test_kubernetes_dry_run as test_kubernetes_back_dry_run  # noqa: F401
