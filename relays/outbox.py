"""The outbox relay: ``outbox_events`` rows → envelopes on the Service Bus events topic.

Workflows record domain events with the ``outbox.record`` activity (one row per deterministic
outbox ``message_id``). Each pass of the relay, in one transaction:

1. claims up to ``batch_size`` unpublished rows whose backoff has passed
   (``FOR UPDATE SKIP LOCKED``: relays in several workers, or ``integrations messaging relay``,
   share the work without taking the same row);
2. turns each into a versioned :class:`~wire.messaging.Envelope`: ``business_key`` and
   ``correlation_id`` are the outbox message id, ``subject`` the row's subject, ``data`` its
   payload, ``occurred_at`` its ``created_at``; so the envelope's ``message_id``
   (``uuid5(event_type, business_key)``) is the same on every attempt;
3. publishes them with :class:`~adapters.messaging.publisher.ServiceBusPublisher`;
4. marks them ``published_at``, or on failure counts ``attempts``, keeps ``last_error`` and
   backs the rows off (exponential, capped, jittered ``next_attempt_at``).

Exactly one message per row: a relay that dies after the send and before the commit leaves the
rows unpublished and unlocked; the next pass sends the same message ids again, and Service Bus
duplicate detection (``RequiresDuplicateDetection`` on the topic, window longer than the
longest outage) drops them. Nothing is lost: a row is marked only after the broker accepted it.

A row that can never be an envelope (an event type the contract refuses, data that looks like
raw PII) is parked: ``next_attempt_at = 'infinity'`` with the reason in ``last_error``, counted
in ``messaging_outbox_parked``; fix the row and set ``next_attempt_at = now()`` to release it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg
from pydantic import ValidationError

from adapters.messaging.metrics import (
    OUTBOX_BACKLOG,
    OUTBOX_FAILURES,
    OUTBOX_OLDEST,
    OUTBOX_PARKED,
    OUTBOX_PUBLISHED,
)
from relays.loop import Backoff, PassOutcome, run_passes
from wire.messaging import Envelope, PublishResult

log = logging.getLogger(__name__)

_CLAIM = """
SELECT message_id, event_type, subject, payload, created_at
FROM outbox_events
WHERE published_at IS NULL AND next_attempt_at <= now()
ORDER BY next_attempt_at, created_at
LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_DONE = """
UPDATE outbox_events SET published_at = now(), attempts = attempts + 1, last_error = NULL
WHERE message_id = ANY($1::text[])
"""
# Exponential backoff per row, capped, with jitter so a recovering namespace is not stampeded.
_FAILED = """
UPDATE outbox_events
SET attempts = attempts + 1,
    last_error = $4,
    next_attempt_at = now() + least($3::float8, $2::float8 * power(2, attempts))
                             * (0.5 + random() / 2) * interval '1 second'
WHERE message_id = ANY($1::text[])
"""
_PARKED = """
UPDATE outbox_events AS o
SET attempts = o.attempts + 1, last_error = p.error, next_attempt_at = 'infinity'
FROM unnest($1::text[], $2::text[]) AS p(message_id, error)
WHERE o.message_id = p.message_id
"""
_LAG = """
SELECT count(*) FILTER (WHERE next_attempt_at <> 'infinity') AS backlog,
       extract(epoch FROM now() - min(created_at) FILTER (WHERE next_attempt_at <> 'infinity'))
           AS oldest,
       count(*) FILTER (WHERE next_attempt_at = 'infinity') AS parked
FROM outbox_events
WHERE published_at IS NULL
"""


class Publisher(Protocol):
    async def publish(self, topic: str, envelopes: list[Envelope]) -> PublishResult: ...


def envelope_for(row: Mapping[str, Any]) -> Envelope:
    """Pure: one outbox row → its envelope (the same envelope however often it is built)."""
    payload = row["payload"]
    if isinstance(payload, str):  # asyncpg returns jsonb as text unless a codec is set
        payload = json.loads(payload)
    return Envelope(
        event_type=row["event_type"],
        business_key=row["message_id"],
        correlation_id=row["message_id"],
        subject=row["subject"],
        occurred_at=row["created_at"],
        data=payload if isinstance(payload, dict) else {"value": payload},
    )


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    return f"InvalidEnvelope: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"[:500]


@dataclass(frozen=True)
class Lag:
    backlog: int
    oldest_seconds: float
    parked: int


@dataclass(frozen=True)
class BatchResult:
    claimed: int = 0
    published: int = 0
    failed: int = 0
    parked: int = 0


class OutboxRelay:
    """Publishes outbox rows; :meth:`run` loops until ``stop`` is set."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        publisher: Publisher,
        topic: str,
        *,
        batch_size: int = 200,
        idle_seconds: float = 0.5,
        retry_base_seconds: float = 1.0,
        retry_max_seconds: float = 300.0,
        send_timeout_seconds: float = 60.0,
    ) -> None:
        self.pool = pool
        self.publisher = publisher
        self.topic = topic
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.send_timeout_seconds = send_timeout_seconds

    async def publish_batch(self) -> BatchResult:
        """Claim, publish and mark one batch; returns what happened to it."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self.batch_size)
            if not rows:
                return BatchResult()
            envelopes: list[Envelope] = []
            ids: list[str] = []
            parked: list[tuple[str, str]] = []
            for row in rows:
                try:
                    envelopes.append(envelope_for(dict(row)))
                    ids.append(row["message_id"])
                except ValidationError as exc:
                    parked.append((row["message_id"], _reason(exc)))
            if parked:
                await conn.execute(_PARKED, [i for i, _ in parked], [e for _, e in parked])
                OUTBOX_FAILURES.labels("parked").inc(len(parked))
                log.warning("outbox relay: parked %d invalid event(s)", len(parked))
            if not envelopes:
                return BatchResult(claimed=len(rows), parked=len(parked))
            try:
                # The rows stay locked while we send: a crash here rolls the claim back and
                # the next pass resends the same message ids (dropped as duplicates).
                await asyncio.wait_for(
                    self.publisher.publish(self.topic, envelopes), self.send_timeout_seconds
                )
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"[:500]
                await conn.execute(
                    _FAILED, ids, self.retry_base_seconds, self.retry_max_seconds, error
                )
                OUTBOX_FAILURES.labels("send").inc(len(ids))
                # The error class only: broker messages may echo entity names, never payloads.
                log.warning(
                    "outbox relay: %d event(s) not published (%s); will retry",
                    len(ids),
                    type(exc).__name__,
                )
                return BatchResult(claimed=len(rows), failed=len(ids), parked=len(parked))
            await conn.execute(_DONE, ids)
        OUTBOX_PUBLISHED.inc(len(ids))
        return BatchResult(claimed=len(rows), published=len(ids), parked=len(parked))

    async def lag(self) -> Lag:
        """Backlog, oldest waiting age and parked rows, also set on the gauges."""
        row = await self.pool.fetchrow(_LAG)
        assert row is not None
        lag = Lag(
            backlog=int(row["backlog"]),
            oldest_seconds=float(row["oldest"] or 0.0),
            parked=int(row["parked"]),
        )
        OUTBOX_BACKLOG.set(lag.backlog)
        OUTBOX_OLDEST.set(lag.oldest_seconds)
        OUTBOX_PARKED.set(lag.parked)
        return lag

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop``; survives PostgreSQL and Service Bus outages."""

        async def one_pass() -> PassOutcome:
            result = await self.publish_batch()
            return PassOutcome.of(result.claimed, result.published + result.parked, result.failed)

        backoff = Backoff(
            self.idle_seconds,
            self.retry_base_seconds,
            self.retry_max_seconds,
            escalate_on_failed_rows=True,
        )
        await run_passes(one_pass, self.lag, stop, backoff, "outbox relay")
