"""Phase 6, verify: every health check again, from scratch, against the target; the run record
is closed as finished (runbooks/phases/verify.py)."""

from runbooks.phases.verify import test_verify_everything  # noqa: F401
