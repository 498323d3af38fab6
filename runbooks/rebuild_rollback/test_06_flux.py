"""Phase 6, Flux: bootstrapped again and Ready, as the rebuild's phase 7 does it."""

from runbooks.rebuild.test_07_flux import test_flux_bootstrapped, test_flux_ready  # noqa: F401
