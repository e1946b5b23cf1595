"""The transactional-outbox relay: webhook inbox rows → the payout workflow, by signal-with-start.

Each pass claims a batch of unforwarded rows (``FOR UPDATE SKIP LOCKED``: several relays, in
several API processes or ``integrations webhooks relay``, share the work without taking the same
row), forwards each to the workflow ``payout-<payout_id>`` (type ``Payout``, start argument
:class:`~wire.payouts.PayoutStart`, signal ``psp_event`` with a
:class:`~wire.payouts.PspEvent`), and in the same transaction marks the forwarded rows
``forwarded_at`` and the failed ones with ``attempts``, ``last_error`` and a backed-off
``next_attempt_at``.

Never lost: a row is marked forwarded only after Temporal accepted its signal; while Temporal is
down rows wait, with attempts counted, and go out when it returns. Never processed twice: a relay
that dies between the signal and the commit sends that signal again on the next pass, which is
harmless because the ``Payout`` workflow dedupes its ``psp_event`` signals by ``event_id``.

A late event for a payout whose workflow has already closed is not allowed to start a second run
(``REJECT_DUPLICATE``): the row is kept in the inbox with ``forward = false`` and the reason in
``last_error``, for ops.

Metrics (prometheus_client): ``webhook_inbox_backlog`` (rows waiting to be forwarded),
``webhook_inbox_oldest_unforwarded_seconds`` (the relay's lag), ``webhook_inbox_unassociated``
(events still without a payout), ``webhook_relay_forwarded`` and ``webhook_relay_failures``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from prometheus_client import Counter, Gauge
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from relays.loop import Backoff, PassOutcome, run_passes
from runtime.settings import Settings
from stores.inbox import STRIPE, event_object
from wire import workflow_ids as ids
from wire.payouts import PAYOUT_WORKFLOW, PSP_EVENT_SIGNAL, PayoutStart, PspEvent

log = logging.getLogger(__name__)

BACKLOG = Gauge("webhook_inbox_backlog", "Inbox events waiting to be forwarded to Temporal.")
OLDEST = Gauge(
    "webhook_inbox_oldest_unforwarded_seconds",
    "Age of the oldest inbox event waiting to be forwarded (the relay's lag).",
)
UNASSOCIATED = Gauge("webhook_inbox_unassociated", "Inbox events not yet tied to a payout.")
FORWARDED = Counter("webhook_relay_forwarded", "Inbox events forwarded by signal-with-start.")
FAILURES = Counter("webhook_relay_failures", "Signal-with-start attempts that failed.")

_WAITING = "forwarded_at IS NULL AND forward AND payout_id IS NOT NULL"
_CLAIM = f"""
SELECT inbox_id, provider, event_id, event_type, payout_id, balance_transaction, payload
FROM webhook_inbox
WHERE {_WAITING} AND next_attempt_at <= now()
ORDER BY next_attempt_at, received_at
LIMIT $1
FOR UPDATE SKIP LOCKED
"""  # noqa: S608 - constant fragments only
_DONE = """
UPDATE webhook_inbox SET forwarded_at = now(), attempts = attempts + 1, last_error = NULL
WHERE inbox_id = ANY($1::bigint[])
"""
# Exponential backoff per row, capped, with jitter so a recovering Temporal is not stampeded.
_FAILED = """
UPDATE webhook_inbox AS i
SET attempts = i.attempts + 1,
    last_error = f.error,
    next_attempt_at = now() + least($3::float8, $2::float8 * power(2, i.attempts))
                             * (0.5 + random() / 2) * interval '1 second'
FROM unnest($1::bigint[], $4::text[]) AS f(inbox_id, error)
WHERE i.inbox_id = f.inbox_id
"""
_CLOSED = """
UPDATE webhook_inbox SET forward = false, attempts = attempts + 1, last_error = $2
WHERE inbox_id = ANY($1::bigint[])
"""
_LAG = f"""
SELECT count(*) FILTER (WHERE {_WAITING}) AS backlog,
       extract(epoch FROM now() - min(received_at) FILTER (WHERE {_WAITING})) AS oldest,
       count(*) FILTER (WHERE payout_id IS NULL AND forwarded_at IS NULL) AS unassociated
FROM webhook_inbox
WHERE forwarded_at IS NULL
"""  # noqa: S608 - constant fragments only


@dataclass(frozen=True)
class Lag:
    backlog: int
    oldest_seconds: float
    unassociated: int


@dataclass(frozen=True)
class BatchResult:
    claimed: int = 0
    forwarded: int = 0
    failed: int = 0
    closed: int = 0


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def psp_event(
    provider: str,
    event_id: str,
    event_type: str,
    payout_id: str,
    payload: dict[str, Any],
    received_at: datetime | None = None,
) -> PspEvent:
    """The reconciliation fields of a stored event (ids, amounts, status; never PII)."""
    obj = event_object(provider, payload)
    created = _time(payload.get("created" if provider == STRIPE else "timestamp"))
    return PspEvent(
        provider=provider,
        event_id=event_id,
        type=event_type,
        created=created or received_at or datetime.now(UTC),
        payout_id=payout_id,
        object_type=_str(obj.get("object")),
        object_id=_str(obj.get("id")),
        amount_minor=_int(obj.get("amount")),
        amount_refunded_minor=_int(obj.get("amount_refunded")),
        fee_minor=_int(obj.get("fee")),
        currency=_str(obj.get("currency")),
        balance_transaction=_str(obj.get("balance_transaction")),
        status=_str(obj.get("status")),
        arrival_date=_time(obj.get("arrival_date")),
        livemode=payload.get("livemode") if isinstance(payload.get("livemode"), bool) else None,
    )


class InboxRelay:
    """Forwards inbox rows to Temporal; :meth:`run` loops until ``stop`` is set."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: Client,
        settings: Settings,
        *,
        batch_size: int = 200,
        concurrency: int = 32,
        idle_seconds: float = 0.2,
        retry_base_seconds: float = 1.0,
        retry_max_seconds: float = 300.0,
        rpc_timeout: timedelta = timedelta(seconds=10),
    ) -> None:
        self.pool = pool
        self.client = client
        self.task_queue = settings.task_queue_general
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.idle_seconds = idle_seconds
        self.retry_base_seconds = retry_base_seconds
        self.retry_max_seconds = retry_max_seconds
        self.rpc_timeout = rpc_timeout
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def _forward(self, row: asyncpg.Record) -> None:
        payload = row["payload"]
        if isinstance(payload, str):  # asyncpg returns jsonb as text unless a codec is set
            payload = json.loads(payload)
        event = psp_event(
            row["provider"], row["event_id"], row["event_type"], row["payout_id"], payload
        )
        await self.client.start_workflow(
            PAYOUT_WORKFLOW,
            PayoutStart(payout_id=row["payout_id"], provider=row["provider"]),
            id=ids.workflow_id("Payout", row["payout_id"]),
            task_queue=self.task_queue,
            start_signal=PSP_EVENT_SIGNAL,
            start_signal_args=[event],
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            rpc_timeout=self.rpc_timeout,
        )

    async def forward_batch(self) -> BatchResult:
        """Claim, forward and mark one batch; returns what happened to it."""
        gate = asyncio.Semaphore(self.concurrency)

        async def attempt(row: asyncpg.Record) -> BaseException | None:
            async with gate:
                try:
                    await self._forward(row)
                except Exception as exc:
                    return exc
                return None

        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(_CLAIM, self.batch_size)
            if not rows:
                return BatchResult()
            outcomes = await asyncio.gather(*(attempt(r) for r in rows))
            done = [r["inbox_id"] for r, exc in zip(rows, outcomes, strict=True) if exc is None]
            closed = [
                r["inbox_id"]
                for r, exc in zip(rows, outcomes, strict=True)
                if isinstance(exc, WorkflowAlreadyStartedError)
            ]
            failed = [
                (r["inbox_id"], f"{type(exc).__name__}: {exc}"[:500])
                for r, exc in zip(rows, outcomes, strict=True)
                if exc is not None and not isinstance(exc, WorkflowAlreadyStartedError)
            ]
            if done:
                await conn.execute(_DONE, done)
            if closed:
                await conn.execute(
                    _CLOSED, closed, "payout workflow already closed: kept, not sent"
                )
            if failed:
                await conn.execute(
                    _FAILED,
                    [i for i, _ in failed],
                    self.retry_base_seconds,
                    self.retry_max_seconds,
                    [e for _, e in failed],
                )
        FORWARDED.inc(len(done))
        FAILURES.inc(len(failed))
        if failed:
            # One line per batch, the error class only: Temporal's messages may echo ids.
            log.warning(
                "relay: %d of %d events not forwarded (%s); will retry",
                len(failed),
                len(rows),
                failed[0][1].split(":", 1)[0],
            )
        if closed:
            log.warning("relay: %d late event(s) for closed payout workflows kept", len(closed))
        return BatchResult(
            claimed=len(rows), forwarded=len(done), failed=len(failed), closed=len(closed)
        )

    async def lag(self) -> Lag:
        """Backlog and oldest waiting age, also published on the gauges."""
        row = await self.pool.fetchrow(_LAG)
        assert row is not None
        lag = Lag(
            backlog=int(row["backlog"]),
            oldest_seconds=float(row["oldest"] or 0.0),
            unassociated=int(row["unassociated"]),
        )
        BACKLOG.set(lag.backlog)
        OLDEST.set(lag.oldest_seconds)
        UNASSOCIATED.set(lag.unassociated)
        return lag

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Forward until ``stop`` (or :meth:`stop`); survives PostgreSQL and Temporal outages."""
        stop = stop or self._stop

        async def one_pass() -> PassOutcome:
            result = await self.forward_batch()
            return PassOutcome.of(result.claimed, result.forwarded + result.closed, result.failed)

        backoff = Backoff(
            self.idle_seconds,
            self.retry_base_seconds,
            self.retry_max_seconds,
            escalate_on_failed_rows=False,
        )
        await run_passes(one_pass, self.lag, stop, backoff, "relay")

    def start(self) -> asyncio.Task[None]:
        """Run in the background (the API's lifespan); :meth:`stop` ends it."""
        self._stop.clear()
        self._task = asyncio.create_task(self.run(self._stop), name="inbox-relay")
        return self._task

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None
