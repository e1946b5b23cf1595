"""Event Hubs → workflows: validated, deduplicated events handed off in batches, checkpointed in
PostgreSQL after the hand-off.

Per partition the SDK calls :meth:`StreamConsumer.on_batch` with up to ``batch_size`` events and
waits for it, so a slow hand-off stops the pulling; a semaphore bounds how many partitions hand
off at once (``max_in_flight_batches``). A batch is handled as: decode each event (an invalid
one is counted and skipped: a stream has no dead-letter queue), drop the ones whose message id
is already in ``messaging_processed``, hand the rest to ``handler`` (one call per batch), record
their ids, then checkpoint the batch's last event. A crash after the hand-off and before the
record hands the same events again on restart, so handlers must be idempotent (workflow ids are
business keys; signals dedupe); the record keeps a restarted consumer from doing it twice in
the common case. A hand-off that fails is retried with backoff: the checkpoint does not move
past events that were not handed off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
from azure.eventhub import EventData
from azure.eventhub.aio import EventHubConsumerClient, PartitionContext

from adapters.messaging import envelope as wire
from adapters.messaging.errors import PoisonMessage
from adapters.messaging.metrics import CONSUMER_LAG, IN_FLIGHT, STREAM_EVENTS
from wire.messaging import Envelope

log = logging.getLogger(__name__)

BatchHandler = Callable[[Sequence[Envelope]], Awaitable[None]]

_SEEN = """
SELECT message_id FROM messaging_processed WHERE source = $1 AND message_id = ANY($2::text[])
"""
_RECORD = """
INSERT INTO messaging_processed (source, message_id, event_type)
SELECT $1, m, t FROM unnest($2::text[], $3::text[]) AS x(m, t)
ON CONFLICT DO NOTHING
"""


class StreamConsumer:
    def __init__(
        self,
        client: EventHubConsumerClient,
        pool: asyncpg.Pool,
        handler: BatchHandler,
        *,
        batch_size: int = 100,
        max_in_flight_batches: int = 4,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.client = client
        self.pool = pool
        self.handler = handler
        self.batch_size = batch_size
        self.slots = asyncio.Semaphore(max_in_flight_batches)
        self.max_backoff = max_backoff_seconds
        self.name = client.eventhub_name
        self.source = f"eventhubs:{self.name}/{client._consumer_group}"

    async def run(self, stop: asyncio.Event) -> None:
        """Receive until ``stop``; the SDK reconnects on its own and resumes from checkpoints."""
        receiving = asyncio.create_task(
            self.client.receive_batch(
                self.on_batch,
                max_batch_size=self.batch_size,
                max_wait_time=1,
                starting_position="-1",  # where no checkpoint exists yet: the beginning
                prefetch=self.batch_size,
            )
        )
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopping.cancel()
            await self.client.close()  # makes receive_batch return
            await asyncio.gather(receiving, return_exceptions=True)

    async def on_batch(self, context: PartitionContext, events: list[EventData]) -> None:
        if not events:
            return
        async with self.slots:
            IN_FLIGHT.labels(self.source).inc()
            try:
                await self._hand_off(events)
                await context.update_checkpoint(events[-1])
                self._lag(context, events[-1])
            finally:
                IN_FLIGHT.labels(self.source).dec()

    async def _hand_off(self, events: list[EventData]) -> None:
        envelopes: list[Envelope] = []
        for event in events:
            try:
                envelopes.append(wire.decode(b"".join(event.body)))  # type: ignore[arg-type]
            except PoisonMessage as poison:
                STREAM_EVENTS.labels(self.name, "invalid").inc()
                log.warning(
                    "skipped invalid event seq %s: %s", event.sequence_number, poison.reason
                )
        unique: dict[str, Envelope] = {e.message_id: e for e in envelopes}
        failures = 0
        while True:
            try:
                await self._deliver(list(unique.values()))
                return
            except Exception:
                failures += 1
                log.warning("stream hand-off failed (%d); retrying", failures, exc_info=True)
                await asyncio.sleep(min(self.max_backoff, 0.25 * 2 ** min(failures, 8)))

    async def _deliver(self, envelopes: list[Envelope]) -> None:
        if not envelopes:
            return
        ids = [e.message_id for e in envelopes]
        seen = {r["message_id"] for r in await self.pool.fetch(_SEEN, self.source, ids)}
        fresh = [e for e in envelopes if e.message_id not in seen]
        STREAM_EVENTS.labels(self.name, "duplicate").inc(len(envelopes) - len(fresh))
        if fresh:
            await self.handler(fresh)
            await self.pool.execute(
                _RECORD,
                self.source,
                [e.message_id for e in fresh],
                [e.event_type for e in fresh],
            )
        STREAM_EVENTS.labels(self.name, "handled").inc(len(fresh))

    def _lag(self, context: PartitionContext, last: EventData) -> None:
        props: dict[str, Any] | None = context.last_enqueued_event_properties
        if props and props.get("sequence_number") is not None:
            lag = max(0, int(props["sequence_number"]) - int(last.sequence_number or 0))
            CONSUMER_LAG.labels(self.name, context.partition_id).set(lag)


async def sample_lag(
    client: EventHubConsumerClient, checkpoints: Callable[[], Awaitable[dict[str, int]]]
) -> dict[str, int]:
    """Consumer lag per partition: last enqueued sequence number - last checkpointed one."""
    done = await checkpoints()
    lag: dict[str, int] = {}
    for partition in await client.get_partition_ids():
        props = await client.get_partition_properties(partition)
        last = int(props["last_enqueued_sequence_number"])
        lag[partition] = max(0, last - done.get(partition, -1))
        CONSUMER_LAG.labels(client.eventhub_name, partition).set(lag[partition])
    return lag
