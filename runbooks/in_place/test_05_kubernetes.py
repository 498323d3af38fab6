"""Phase 5, Kubernetes: talosctl upgrade-k8s against the primary, one minor per hop, a dry run
first (runbooks/phases/kubernetes.py)."""

from runbooks.phases.kubernetes import test_kubernetes_dry_run, test_upgrade_kubernetes  # noqa: F401
