"""Phase 6, verify: every health check again, from scratch, against the rollback's target; the
rollback is noted as finished in the record (runbooks/phases/verify.py)."""

from runbooks.phases.verify import test_verify_everything  # noqa: F401
