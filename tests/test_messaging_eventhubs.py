"""Event Hubs: the stream consumer with its PostgreSQL checkpoint store, through the real
azure-eventhub SDK against the AMQP test peer (several partitions, restarts, a peer outage)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence

import asyncpg
from azure.eventhub.aio import EventHubConsumerClient, EventHubProducerClient

from adapters.messaging.checkpoints import PostgresCheckpointStore
from adapters.messaging.publisher import publish_to_eventhub
from adapters.messaging.streams import StreamConsumer
from tests.amqp_peer import AmqpPeer
from wire.messaging import Envelope


async def until(predicate: object, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


def events(prefix: str, count: int) -> list[Envelope]:
    return [
        Envelope(event_type="ach.return.received", business_key=f"{prefix}-{i}", correlation_id="c")
        for i in range(count)
    ]


async def publish(peer: AmqpPeer, hub: str, envelopes: list[Envelope]) -> None:
    async with EventHubProducerClient.from_connection_string(
        peer.connection_string(), eventhub_name=hub
    ) as producer:
        # One batch per partition key: the peer spreads them over the partitions.
        for i in range(0, len(envelopes), 10):
            await publish_to_eventhub(producer, envelopes[i : i + 10], partition_key=f"k{i}")


def stream_consumer(
    peer: AmqpPeer, hub: str, pool: asyncpg.Pool, seen: list[str]
) -> StreamConsumer:
    async def handler(batch: Sequence[Envelope]) -> None:
        seen.extend(e.business_key for e in batch)

    client = EventHubConsumerClient.from_connection_string(
        peer.connection_string(),
        consumer_group="$Default",
        eventhub_name=hub,
        checkpoint_store=PostgresCheckpointStore(pool),
        load_balancing_interval=1,
    )
    return StreamConsumer(client, pool, handler, batch_size=20, max_in_flight_batches=2)


async def test_checkpoints_in_postgres_and_restart_resumes(
    running_peer: AmqpPeer, pool: asyncpg.Pool
) -> None:
    hub = f"stream-{uuid.uuid4().hex[:8]}"
    running_peer.state.add_event_hub(hub, 3)
    first, second = events("a", 60), events("b", 60)
    await publish(running_peer, hub, first)
    sizes = [len(p.events) for p in running_peer.state.event_hubs[hub].partitions]
    assert all(sizes) and sum(sizes) == 60  # spread over several partitions

    seen: list[str] = []
    stop = asyncio.Event()
    run = asyncio.create_task(stream_consumer(running_peer, hub, pool, seen).run(stop))
    await until(lambda: len(seen) >= 60)
    await asyncio.sleep(1)
    stop.set()
    await run
    rows = await pool.fetch(
        "SELECT partition_id, sequence_number FROM eventhub_checkpoints WHERE eventhub_name = $1",
        hub,
    )
    assert {r["partition_id"]: r["sequence_number"] for r in rows} == {
        str(i): n - 1 for i, n in enumerate(sizes)
    }

    # A new consumer (a restarted worker) resumes from the checkpoints: only the new events.
    await publish(running_peer, hub, second)
    stop = asyncio.Event()
    run = asyncio.create_task(stream_consumer(running_peer, hub, pool, seen).run(stop))
    await until(lambda: len(seen) >= 120)
    await asyncio.sleep(2)
    stop.set()
    await run
    assert sorted(seen) == sorted(e.business_key for e in first + second)  # none lost, none twice


async def test_peer_outage_consumer_reconnects_and_resumes(
    running_peer: AmqpPeer, pool: asyncpg.Pool
) -> None:
    hub = f"stream-{uuid.uuid4().hex[:8]}"
    running_peer.state.add_event_hub(hub, 2)
    before, after = events("x", 40), events("y", 40)
    await publish(running_peer, hub, before)
    seen: list[str] = []
    stop = asyncio.Event()
    run = asyncio.create_task(stream_consumer(running_peer, hub, pool, seen).run(stop))
    try:
        await until(lambda: len(seen) >= 40)
        running_peer.stop()  # the broker goes away under a running consumer
        await asyncio.sleep(2)
        running_peer.start()
        await publish(running_peer, hub, after)
        await until(lambda: len(seen) >= 80, timeout=120)
        await asyncio.sleep(2)
    finally:
        stop.set()
        await run
    assert sorted(seen) == sorted(e.business_key for e in before + after)


async def test_redelivered_events_are_handed_off_once(
    running_peer: AmqpPeer, pool: asyncpg.Pool
) -> None:
    hub = f"stream-{uuid.uuid4().hex[:8]}"
    running_peer.state.add_event_hub(hub, 2)
    batch = events("dup", 10)
    await publish(running_peer, hub, batch)
    await publish(running_peer, hub, batch)  # a producer that retried a whole send
    seen: list[str] = []
    stop = asyncio.Event()
    run = asyncio.create_task(stream_consumer(running_peer, hub, pool, seen).run(stop))
    await until(lambda: len(seen) >= 10)
    await asyncio.sleep(2)
    stop.set()
    await run
    assert sorted(seen) == sorted(e.business_key for e in batch)
