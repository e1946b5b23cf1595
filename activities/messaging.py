"""Publish activities other workflows call: ``messaging.publish_event`` (Service Bus topic) and
``messaging.publish_stream`` (Event Hubs). Each envelope's message id is deterministic, so a
retried activity publishes nothing twice (Service Bus duplicate detection drops the repeat)."""

from __future__ import annotations

from dataclasses import dataclass, field

from azure.eventhub.aio import EventHubProducerClient
from azure.servicebus.aio import ServiceBusClient
from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.messaging.connections import eventhub_producer, servicebus_client
from adapters.messaging.errors import NotConfigured
from adapters.messaging.publisher import ServiceBusPublisher, publish_to_eventhub
from runtime.settings import Settings
from wire.messaging import PublishRequest, PublishResult


@dataclass
class MessagingActivities:
    settings: Settings
    _servicebus: ServiceBusClient | None = field(default=None, init=False)
    _publisher: ServiceBusPublisher | None = field(default=None, init=False)
    _producer: EventHubProducerClient | None = field(default=None, init=False)

    @activity.defn(name="messaging.publish_event")
    async def publish_event(self, request: PublishRequest) -> PublishResult:
        try:
            if self._publisher is None:
                self._servicebus = servicebus_client(self.settings)
                self._publisher = ServiceBusPublisher(self._servicebus)
        except NotConfigured as exc:
            raise ApplicationError(str(exc), type="NotConfigured", non_retryable=True) from None
        topic = request.destination or self.settings.servicebus_events_topic
        # One sender per topic for the worker's life: opening one per call cost ~10x (profiled).
        return await self._publisher.publish(topic, request.envelopes)

    @activity.defn(name="messaging.publish_stream")
    async def publish_stream(self, request: PublishRequest) -> PublishResult:
        try:
            if self._producer is None:
                self._producer = eventhub_producer(self.settings)
        except NotConfigured as exc:
            raise ApplicationError(str(exc), type="NotConfigured", non_retryable=True) from None
        return await publish_to_eventhub(self._producer, request.envelopes, request.partition_key)

    async def close(self) -> None:
        if self._publisher is not None:
            await self._publisher.close()
        if self._servicebus is not None:
            await self._servicebus.close()
        if self._producer is not None:
            await self._producer.close()
