"""Messaging throughput against the AMQP test peer (tests/amqp_peer), same run:

1. the peer's ceiling: a bare azure-servicebus send loop (pre-built batches of 100);
2. Service Bus publish through adapters.messaging.publisher (envelopes, batches of up to
   500 per call): ``ServiceBusPublisher`` (one sender per topic, what the activity and the
   outbox relay use), and the one-shot ``publish_to_servicebus`` (a sender per call, the CLI);
3. Event Hubs stream consumer: events/s into PostgreSQL-checkpointed batches (3 partitions).

Needs a PostgreSQL DSN with migrations applied (owner or app role):
    python benchmarks/messaging_throughput.py --dsn postgresql://... [--count 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from azure.eventhub.aio import EventHubConsumerClient, EventHubProducerClient
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient

from adapters.messaging.checkpoints import PostgresCheckpointStore
from adapters.messaging.publisher import (
    ServiceBusPublisher,
    publish_to_eventhub,
    publish_to_servicebus,
)
from adapters.messaging.streams import StreamConsumer
from devstack.localstack.ports import free_port
from tests.amqp_peer import AmqpPeer, BrokerState, sdk_shim
from wire.messaging import Envelope


def envelopes(prefix: str, n: int) -> list[Envelope]:
    return [
        Envelope(event_type="payout.reconciled", business_key=f"{prefix}-{i}", correlation_id="b")
        for i in range(n)
    ]


async def main(dsn: str, count: int) -> None:
    sdk_shim.install()
    peer = AmqpPeer(
        BrokerState(
            topics={"bare": ["s"], "events": ["s"], "oneshot": ["s"]}, event_hubs={"hub": 3}
        ),
        free_port(),
    )
    peer.start()
    cs = peer.connection_string()
    try:
        async with ServiceBusClient.from_connection_string(cs) as sb:
            async with sb.get_topic_sender("bare") as sender:
                start = time.perf_counter()
                for i in range(0, count, 100):
                    await sender.send_messages(
                        [ServiceBusMessage(b"x" * 200, message_id=f"m{i + j}") for j in range(100)]
                    )
                bare = count / (time.perf_counter() - start)
            items = envelopes("sb", count)
            publisher = ServiceBusPublisher(sb)
            start = time.perf_counter()
            for i in range(0, count, 500):
                await publisher.publish("events", items[i : i + 500])
            ours = count / (time.perf_counter() - start)
            await publisher.close()
            items = envelopes("once", count)
            start = time.perf_counter()
            for i in range(0, count, 500):
                await publish_to_servicebus(sb, "oneshot", items[i : i + 500])
            oneshot = count / (time.perf_counter() - start)
        print(f"service bus bare SDK send loop (peer ceiling): {bare:,.0f} msg/s")
        print(f"service bus ServiceBusPublisher (one sender):  {ours:,.0f} msg/s")
        print(f"service bus publish_to_servicebus (per call):  {oneshot:,.0f} msg/s")

        async with EventHubProducerClient.from_connection_string(cs, eventhub_name="hub") as p:
            items = envelopes("eh", count)
            for i in range(0, count, 200):
                await publish_to_eventhub(p, items[i : i + 200], partition_key=f"k{i}")
        async with asyncpg.create_pool(dsn, min_size=1, max_size=8) as pool:
            await pool.execute("DELETE FROM eventhub_checkpoints WHERE eventhub_name = 'hub'")
            await pool.execute("DELETE FROM eventhub_ownership WHERE eventhub_name = 'hub'")
            await pool.execute(
                "DELETE FROM messaging_processed WHERE source LIKE 'eventhubs:hub/%'"
            )
            done: list[int] = []
            finished = asyncio.Event()

            async def handler(batch: Sequence[Envelope]) -> None:
                done.append(len(batch))
                if sum(done) >= count:
                    finished.set()

            client = EventHubConsumerClient.from_connection_string(
                cs,
                consumer_group="$Default",
                eventhub_name="hub",
                checkpoint_store=PostgresCheckpointStore(pool),
                load_balancing_interval=1,
            )
            stop = asyncio.Event()
            start = time.perf_counter()
            run = asyncio.create_task(
                StreamConsumer(client, pool, handler, batch_size=200).run(stop)
            )
            await finished.wait()
            elapsed = time.perf_counter() - start
            stop.set()
            await run
        print(
            f"event hubs consumer, PG-checkpointed batches: {count / elapsed:,.0f} events/s "
            f"({len(done)} batches, incl. ownership claim)"
        )
    finally:
        peer.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--count", type=int, default=5000)
    args = parser.parse_args()
    asyncio.run(main(args.dsn, args.count))
