"""The consumers a worker process runs, when settings configure them (workers/runner.py): the
command consumer, the stream consumer, and the outbox relay (whenever Service Bus is
configured, unless ``servicebus_outbox_relay`` is false)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Sequence

import asyncpg
from azure.servicebus.aio import ServiceBusClient
from temporalio.client import Client

from adapters.messaging.checkpoints import PostgresCheckpointStore
from adapters.messaging.connections import (
    eventhub_consumer,
    eventhubs_configured,
    servicebus_client,
    servicebus_configured,
)
from adapters.messaging.errors import PoisonMessage
from adapters.messaging.metrics import STREAM_EVENTS
from adapters.messaging.publisher import ServiceBusPublisher
from adapters.messaging.streams import BatchHandler, StreamConsumer
from foundation.wire_model import WireModel
from relays.commands import (
    ROUTES,
    CommandConsumer,
    CommandRoute,
    dispatch,
    parse_command,
)
from relays.outbox import OutboxRelay
from runtime.settings import Settings
from wire.messaging import Envelope

log = logging.getLogger(__name__)


def outbox_relay_configured(settings: Settings) -> bool:
    return settings.servicebus_outbox_relay and servicebus_configured(settings)


def consumers_configured(settings: Settings) -> bool:
    return bool(
        (settings.servicebus_commands_queue and servicebus_configured(settings))
        or (settings.eventhubs_consume and eventhubs_configured(settings))
        or outbox_relay_configured(settings)
    )


def workflow_hand_off(client: Client, task_queue: str, concurrency: int = 16) -> BatchHandler:
    """Stream events with a command route go to their workflow (signal-with-start, …), at most
    ``concurrency`` at once; others are counted as unrouted."""
    limit = asyncio.Semaphore(concurrency)

    async def one(envelope: Envelope) -> None:
        try:
            _, route, payload = parse_command(envelope.model_dump_json().encode(), ROUTES)
        except PoisonMessage as poison:
            STREAM_EVENTS.labels("handoff", poison.reason).inc()
            return
        async with limit:
            await dispatch(client, task_queue, route, payload)

    async def hand_off(envelopes: Sequence[Envelope]) -> None:
        await asyncio.gather(*(one(e) for e in envelopes))

    return hand_off


async def run_messaging(
    settings: Settings, client: Client, pool: asyncpg.Pool, stop: asyncio.Event
) -> None:
    """Run the configured consumers until ``stop``."""
    runs = []
    if settings.servicebus_commands_queue and servicebus_configured(settings):
        servicebus = servicebus_client(settings)

        async def dispatcher(route: CommandRoute, payload: WireModel) -> None:
            await dispatch(client, settings.task_queue_general, route, payload)

        consumer = CommandConsumer(
            servicebus,
            settings.servicebus_commands_queue,
            pool,
            dispatcher,
            max_attempts=settings.servicebus_max_delivery_attempts,
            max_in_flight=settings.servicebus_max_in_flight,
        )
        log.info("consuming commands from %s", settings.servicebus_commands_queue)
        runs.append(_closing(servicebus, consumer.run(stop)))
    if settings.eventhubs_consume and eventhubs_configured(settings):
        stream = StreamConsumer(
            eventhub_consumer(settings, checkpoint_store=PostgresCheckpointStore(pool)),
            pool,
            workflow_hand_off(client, settings.task_queue_general),
            batch_size=settings.eventhubs_batch_size,
            max_in_flight_batches=settings.eventhubs_max_in_flight_batches,
        )
        log.info("consuming event hub %s", settings.eventhubs_name)
        runs.append(stream.run(stop))
    if outbox_relay_configured(settings):
        runs.append(run_outbox_relay(settings, pool, stop))
    await asyncio.gather(*runs)


async def run_outbox_relay(
    settings: Settings, pool: asyncpg.Pool, stop: asyncio.Event, *, batch_size: int = 200
) -> None:
    """The outbox relay on a client and sender of its own until ``stop``."""
    servicebus = servicebus_client(settings)
    publisher = ServiceBusPublisher(servicebus)
    relay = OutboxRelay(pool, publisher, settings.servicebus_events_topic, batch_size=batch_size)
    log.info("relaying the outbox to topic %s", settings.servicebus_events_topic)
    async with servicebus:
        try:
            await relay.run(stop)
        finally:
            await publisher.close()


async def _closing(servicebus: ServiceBusClient, run: Awaitable[None]) -> None:
    async with servicebus:
        await run
