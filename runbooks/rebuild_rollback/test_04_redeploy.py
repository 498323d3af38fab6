"""Phase 4, redeploy from the old template, as the rebuild's phase 5 does it (the same steps):
clones with their old MACs, each proven in maintenance mode on the old Talos, configs with the
old installer and the cluster's secrets, applied one node at a time, etcd recovered from the
pre-rebuild snapshot, the kubeconfig and the lock, every node Ready."""

from runbooks.rebuild.test_05_redeploy import (  # noqa: F401
    test_clones_in_maintenance,
    test_configs_applied,
    test_etcd_bootstrapped,
    test_kubeconfig_written,
    test_machine_configs_generated,
    test_nodes_ready,
    test_vms_cloned,
)
