"""Service Bus and Event Hubs clients from settings: a connection string (a SAS policy with only
Send or Listen), or Entra ID with an azure-identity credential. Never from code."""

from __future__ import annotations

from typing import Any

from azure.eventhub.aio import EventHubConsumerClient, EventHubProducerClient
from azure.servicebus.aio import ServiceBusClient

from adapters.messaging.errors import NotConfigured
from runtime.settings import Settings


def _credential(settings: Settings) -> Any:
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential(managed_identity_client_id=settings.azure_client_id)


def servicebus_configured(settings: Settings) -> bool:
    return bool(settings.servicebus_connection_string or settings.servicebus_namespace)


def eventhubs_configured(settings: Settings) -> bool:
    return bool(
        settings.eventhubs_name
        and (settings.eventhubs_connection_string or settings.eventhubs_namespace)
    )


def servicebus_client(settings: Settings) -> ServiceBusClient:
    if settings.servicebus_connection_string is not None:
        return ServiceBusClient.from_connection_string(
            settings.servicebus_connection_string.get_secret_value()
        )
    if settings.servicebus_namespace:
        return ServiceBusClient(settings.servicebus_namespace, _credential(settings))
    raise NotConfigured(
        "missing setting INTEGRATIONS_SERVICEBUS_CONNECTION_STRING "
        "(or INTEGRATIONS_SERVICEBUS_NAMESPACE)"
    )


def _eventhub_name(settings: Settings) -> str:
    if not settings.eventhubs_name:
        raise NotConfigured("missing setting INTEGRATIONS_EVENTHUBS_NAME")
    return settings.eventhubs_name


def eventhub_producer(settings: Settings) -> EventHubProducerClient:
    name = _eventhub_name(settings)
    if settings.eventhubs_connection_string is not None:
        return EventHubProducerClient.from_connection_string(
            settings.eventhubs_connection_string.get_secret_value(), eventhub_name=name
        )
    if settings.eventhubs_namespace:
        return EventHubProducerClient(settings.eventhubs_namespace, name, _credential(settings))
    raise NotConfigured("missing setting INTEGRATIONS_EVENTHUBS_CONNECTION_STRING")


def eventhub_consumer(settings: Settings, **kwargs: Any) -> EventHubConsumerClient:
    name = _eventhub_name(settings)
    group = settings.eventhubs_consumer_group
    if settings.eventhubs_connection_string is not None:
        return EventHubConsumerClient.from_connection_string(
            settings.eventhubs_connection_string.get_secret_value(),
            consumer_group=group,
            eventhub_name=name,
            **kwargs,
        )
    if settings.eventhubs_namespace:
        return EventHubConsumerClient(
            settings.eventhubs_namespace, name, group, _credential(settings), **kwargs
        )
    raise NotConfigured("missing setting INTEGRATIONS_EVENTHUBS_CONNECTION_STRING")
