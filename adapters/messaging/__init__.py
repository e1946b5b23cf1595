"""Azure Service Bus and Event Hubs: publish domain events, consume commands, ingest streams.

Modules: ``envelope`` (the wire format, pure), ``connections`` (clients from settings),
``publisher`` (Service Bus topic and Event Hubs batches), ``commands`` (Service Bus queue →
Temporal signal, signal-with-start or update), ``checkpoints`` (the Event Hubs CheckpointStore in
PostgreSQL), ``streams`` (Event Hubs → workflows in batches), ``metrics``, ``runtime`` (the
consumers a worker process runs).

Errors::

    MessagingError
    ├── PoisonMessage        a message that can never succeed: dead-lettered with its reason
    └── NotConfigured        settings name no namespace or credential for what was asked
"""

from adapters.messaging.errors import MessagingError, NotConfigured, PoisonMessage

__all__ = ["MessagingError", "NotConfigured", "PoisonMessage"]
