"""The polling loop both table relays run (the webhook inbox to Temporal, the outbox to Service
Bus): pass after pass until stopped, at once after a full healthy batch, briefly when idle, with
capped exponential backoff after failures, and the lag gauges refreshed about once a second.

A pass that raises (PostgreSQL away, or a bug) rolled its transaction back, so nothing was marked
and nothing is lost: the loop logs, backs off and carries on rather than die.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PassOutcome:
    drained: bool  # every claimed row was settled: there may be more right away
    failed: bool  # some rows failed (they carry their own backoff in the table)

    @classmethod
    def of(cls, claimed: int, settled: int, failed: int) -> PassOutcome:
        """A pass that claimed ``claimed`` rows and settled (sent or closed) ``settled``."""
        return cls(drained=bool(claimed) and settled == claimed, failed=bool(failed))


@dataclass(frozen=True)
class Backoff:
    idle_seconds: float
    retry_base_seconds: float
    retry_max_seconds: float
    # Do consecutive passes with failed rows back the loop off further (the outbox), or only
    # passes that raised (the inbox, whose rows already back off one by one)?
    escalate_on_failed_rows: bool

    def pause(self, failures: int, failed_rows: bool) -> float:
        if not failures and not failed_rows:
            return self.idle_seconds
        return float(min(self.retry_max_seconds, self.retry_base_seconds * 2 ** min(failures, 8)))


async def run_passes(
    one_pass: Callable[[], Awaitable[PassOutcome]],
    refresh_gauges: Callable[[], Awaitable[object]],
    stop: asyncio.Event,
    backoff: Backoff,
    name: str,
) -> None:
    failures = 0
    last_gauges = 0.0
    while not stop.is_set():
        try:
            outcome = await one_pass()
            failures = failures + 1 if outcome.failed and backoff.escalate_on_failed_rows else 0
            if time.monotonic() - last_gauges >= 1.0:
                last_gauges = time.monotonic()
                await refresh_gauges()
        except Exception as exc:
            failures += 1
            log.warning("%s: pass failed (%s); backing off", name, type(exc).__name__)
            outcome = PassOutcome(drained=False, failed=False)
        if outcome.drained:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff.pause(failures, outcome.failed))
