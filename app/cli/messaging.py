"""``integrations messaging``: publish an event, tail a subscription, list dead letters, run the
outbox relay."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Annotated

import typer
from azure.servicebus import ServiceBusSubQueue
from pydantic import ValidationError

from adapters.messaging.connections import servicebus_client
from adapters.messaging.errors import NotConfigured
from adapters.messaging.publisher import publish_to_servicebus
from app.cli import support as cli_support
from wire.messaging import Envelope

messaging_app = typer.Typer(
    help=(
        "Azure Service Bus ops: publish an event, tail a subscription, read dead letters, "
        "relay the outbox."
    ),
    no_args_is_help=True,
)


_settings = cli_support.settings


def _summary(message: object) -> dict[str, object]:
    m = message  # a ServiceBusReceivedMessage; the body stays out (it may be large)
    return {
        "sequence_number": getattr(m, "sequence_number", None),
        "message_id": getattr(m, "message_id", None),
        "subject": getattr(m, "subject", None),
        "correlation_id": getattr(m, "correlation_id", None),
        "delivery_count": getattr(m, "delivery_count", None),
        "dead_letter_reason": getattr(m, "dead_letter_reason", None),
        "dead_letter_error_description": getattr(m, "dead_letter_error_description", None),
    }


@messaging_app.command()
def publish(
    event_type: Annotated[str, typer.Argument(help="e.g. payout.reconciled")],
    business_key: Annotated[str, typer.Argument(help="What the fact is about (gives the id).")],
    data: Annotated[str, typer.Option(help="JSON object of PII-free facts.")] = "{}",
    topic: Annotated[str | None, typer.Option(help="Default: the configured topic.")] = None,
    correlation_id: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Publish one event envelope to the Service Bus topic (same key twice: one message)."""
    settings = _settings()
    try:
        envelope = Envelope(
            event_type=event_type,
            business_key=business_key,
            correlation_id=correlation_id or str(uuid.uuid4()),
            data=json.loads(data),
        )
    except (ValidationError, json.JSONDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run() -> None:
        async with servicebus_client(settings) as client:
            result = await publish_to_servicebus(
                client, topic or settings.servicebus_events_topic, [envelope]
            )
        typer.echo(json.dumps({"message_id": result.message_ids[0]}))

    _run(run())


@messaging_app.command()
def tail(
    entity: Annotated[str, typer.Argument(help="A queue, or <topic>/subscriptions/<name>.")],
    count: Annotated[int, typer.Option(min=1, max=1000)] = 20,
) -> None:
    """Peek at the next messages without taking them (one JSON line each, no bodies)."""
    _peek(entity, count, dead_letters=False)


@messaging_app.command("dead-letters")
def dead_letters(
    entity: Annotated[str, typer.Argument(help="A queue, or <topic>/subscriptions/<name>.")],
    count: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """List an entity's dead-lettered messages with their reasons (peeked, not removed)."""
    _peek(entity, count, dead_letters=True)


def _peek(entity: str, count: int, *, dead_letters: bool) -> None:
    settings = _settings()
    sub_queue = ServiceBusSubQueue.DEAD_LETTER if dead_letters else None

    async def run() -> None:
        async with servicebus_client(settings) as client:
            parts = entity.split("/")
            if len(parts) == 3 and parts[1].lower() == "subscriptions":
                receiver = client.get_subscription_receiver(parts[0], parts[2], sub_queue=sub_queue)
            else:
                receiver = client.get_queue_receiver(entity, sub_queue=sub_queue)
            async with receiver:
                for message in await receiver.peek_messages(max_message_count=count):
                    typer.echo(json.dumps(_summary(message), default=str))

    _run(run())


@messaging_app.command()
def relay(
    batch_size: Annotated[int, typer.Option(min=1, max=5000)] = 200,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics here (default: the app metrics port)."),
    ] = None,
) -> None:
    """Publish outbox events to the events topic until SIGTERM or Ctrl-C (safe beside the
    relays in the workers: rows are claimed with SKIP LOCKED)."""
    from relays.messaging import run_outbox_relay
    from stores.db import DatabaseUnavailable, create_pool

    settings = cli_support.relay_process(metrics_port)

    async def run() -> None:
        pool = await create_pool(settings)
        stop = cli_support.stop_on_signals()
        try:
            await run_outbox_relay(settings, pool, stop, batch_size=batch_size)
        finally:
            await pool.close()

    try:
        _run(run())
    except DatabaseUnavailable as exc:
        typer.echo(f"error: {exc}; hint: is PostgreSQL up?", err=True)
        raise typer.Exit(69) from None  # EX_UNAVAILABLE (app/cli/exit_codes.py)


def _run(coro: object) -> None:
    try:
        asyncio.run(coro)  # type: ignore[arg-type]
    except NotConfigured as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
