"""Activities: every side effect of the service (I/O only, idempotent, retry-safe)."""
