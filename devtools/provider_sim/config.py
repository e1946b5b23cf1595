"""The simulator's knobs: credentials, webhook target, and the faults it plays."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SimConfig:
    client_id: str = "sim-client"
    client_secret: str = "sim-secret"  # noqa: S105 - a simulator's throwaway default
    token_seconds: int = 3600
    webhook_url: str | None = None  # where run status webhooks go (our API)
    webhook_secret: str = "sim-webhook-secret"  # noqa: S105 - overridden by the caller
    processing_seconds: float = 0.5  # how long a submitted run "computes"
    page_size: int = 500  # report page size when the client asks for none
    max_page_size: int = 2000
    # Faults: a share of requests answered 503 (random, seeded: the same seed, the same faults),
    # and a token bucket per client (429 with Retry-After when it is empty).
    fail_rate: float = 0.0
    seed: int = 0
    rate_per_second: float = 1000.0
    burst: int = 1000
    drop_webhooks: bool = False
    # Employees whose reported net is a cent off (to exercise reconciliation exceptions).
    skew_employees: set[str] = field(default_factory=set)
