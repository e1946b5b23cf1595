"""Prometheus metrics of the consumers (served on the worker's metrics port)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PUBLISHED = Counter("messaging_published", "Messages published.", ["destination"])
COMMANDS = Counter("messaging_commands", "Service Bus commands by outcome.", ["queue", "outcome"])
DEAD_LETTERED = Counter(
    "messaging_dead_lettered", "Messages we dead-lettered, by reason.", ["queue", "reason"]
)
IN_FLIGHT = Gauge("messaging_in_flight", "Messages or batches being handled now.", ["consumer"])
STREAM_EVENTS = Counter(
    "messaging_stream_events", "Event Hubs events by outcome.", ["eventhub", "outcome"]
)
CONSUMER_LAG = Gauge(
    "messaging_consumer_lag",
    "Events enqueued in a partition after the last one we handled.",
    ["eventhub", "partition"],
)

# The outbox relay (outbox_relay.py).
OUTBOX_BACKLOG = Gauge("messaging_outbox_backlog", "Outbox events waiting to be published.")
OUTBOX_OLDEST = Gauge(
    "messaging_outbox_oldest_unpublished_seconds",
    "Age of the oldest outbox event waiting to be published (the relay's lag).",
)
OUTBOX_PARKED = Gauge(
    "messaging_outbox_parked", "Outbox events that can never be published (see last_error)."
)
OUTBOX_PUBLISHED = Counter("messaging_outbox_published", "Outbox events published.")
OUTBOX_FAILURES = Counter(
    "messaging_outbox_failures", "Outbox events not published on a pass, by kind.", ["kind"]
)
