"""Publish envelopes: to a Service Bus topic, or to an event hub, in as few batches as fit.

The message id is the envelope's deterministic id: a retried activity sends the same ids again,
and Service Bus duplicate detection (enable ``RequiresDuplicateDetection`` on the topic) drops
them. Within one call, repeated ids are sent once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any, cast

from azure.eventhub import EventData
from azure.eventhub.aio import EventHubProducerClient
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient, ServiceBusSender

from adapters.messaging import envelope as wire
from adapters.messaging.metrics import PUBLISHED
from wire.messaging import Envelope, PublishResult


def unique(envelopes: Sequence[Envelope]) -> list[Envelope]:
    seen: set[str] = set()
    out = []
    for item in envelopes:
        if item.message_id not in seen:
            seen.add(item.message_id)
            out.append(item)
    return out


def servicebus_message(item: Envelope) -> ServiceBusMessage:
    return ServiceBusMessage(
        wire.encode(item),
        message_id=item.message_id,
        correlation_id=item.correlation_id,
        subject=item.event_type,
        content_type=wire.CONTENT_TYPE,
        application_properties=cast(Any, wire.application_properties(item)),
    )


def event_data(item: Envelope) -> EventData:
    event = EventData(wire.encode(item))
    event.message_id = item.message_id
    event.correlation_id = item.correlation_id
    event.content_type = wire.CONTENT_TYPE
    event.properties = cast(Any, wire.application_properties(item))
    return event


async def _send_batches(sender: ServiceBusSender, items: Sequence[Envelope]) -> int:
    batches = 0
    batch = await sender.create_message_batch()
    for item in items:
        message = servicebus_message(item)
        try:
            batch.add_message(message)
        except ValueError:  # MessageSizeExceededError: this batch is full
            await sender.send_messages(batch)
            batches += 1
            batch = await sender.create_message_batch()
            batch.add_message(message)
    if len(batch):
        await sender.send_messages(batch)
        batches += 1
    return batches


def _result(topic: str, items: Sequence[Envelope], batches: int) -> PublishResult:
    PUBLISHED.labels(topic).inc(len(items))
    return PublishResult(
        published=len(items), message_ids=[i.message_id for i in items], batches=batches
    )


async def publish_to_servicebus(
    client: ServiceBusClient, topic: str, envelopes: Sequence[Envelope]
) -> PublishResult:
    """One-shot publish on a sender of its own (the CLI). Anything that publishes repeatedly
    uses :class:`ServiceBusPublisher`: opening a sender costs a connection, a token and a link
    attach, which profiling showed dominates small publishes (docs/messaging.md)."""
    items = unique(envelopes)
    async with client.get_topic_sender(topic) as sender:
        batches = await _send_batches(sender, items)
    return _result(topic, items, batches)


class ServiceBusPublisher:
    """Publishes to topics over one long-lived sender per topic.

    Sends on one topic are serialised (a sender is one AMQP link); a send that fails closes
    that sender, so the next call opens a fresh one (the SDK already retried inside)."""

    def __init__(self, client: ServiceBusClient) -> None:
        self.client = client
        self._senders: dict[str, ServiceBusSender] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def publish(self, topic: str, envelopes: Sequence[Envelope]) -> PublishResult:
        items = unique(envelopes)
        async with self._locks.setdefault(topic, asyncio.Lock()):
            sender = self._senders.get(topic)
            if sender is None:
                sender = self.client.get_topic_sender(topic)
                self._senders[topic] = sender
            try:
                batches = await _send_batches(sender, items)
            except BaseException:
                self._senders.pop(topic, None)
                with contextlib.suppress(Exception):
                    await sender.close()
                raise
        return _result(topic, items, batches)

    async def close(self) -> None:
        """Close the senders (not the client, which the caller owns)."""
        senders, self._senders = list(self._senders.values()), {}
        for sender in senders:
            with contextlib.suppress(Exception):
                await sender.close()


async def publish_to_eventhub(
    producer: EventHubProducerClient,
    envelopes: Sequence[Envelope],
    partition_key: str | None = None,
) -> PublishResult:
    items = unique(envelopes)
    batches = 0
    options: dict[str, Any] = {"partition_key": partition_key} if partition_key else {}
    batch = await producer.create_batch(**options)
    for item in items:
        event = event_data(item)
        try:
            batch.add(event)
        except ValueError:  # this batch is full
            await producer.send_batch(batch)
            batches += 1
            batch = await producer.create_batch(**options)
            batch.add(event)
    if len(batch):
        await producer.send_batch(batch)
        batches += 1
    PUBLISHED.labels(producer.eventhub_name).inc(len(items))
    return PublishResult(
        published=len(items), message_ids=[i.message_id for i in items], batches=batches
    )
