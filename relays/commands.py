"""Commands from a Service Bus queue → Temporal: signal, signal-with-start or update.

For each message (peek-lock, at most ``max_in_flight`` at once, no prefetch, so a slow Temporal
or PostgreSQL stops the pulling):

1. decode and validate the envelope and the command's contract; a message that fails is
   dead-lettered at once with the reason (``InvalidEnvelope``, ``UnknownCommand``,
   ``ContractViolation``, ``Rejected`` for an update its validator refused);
2. claim its ``message_id`` in ``messaging_processed`` and act, in one transaction: a command
   delivered twice is acted on once (the second is completed as a duplicate);
3. complete it. A transient failure (Temporal or PostgreSQL down) rolls the claim back, waits
   with backoff and abandons the message: it comes back, it is never dead-lettered for that.
   Any other failure abandons it until its ``max_attempts``-th delivery, then dead-letters it
   with ``MaxAttemptsExceeded``. Service Bus counts abandons too: give the queue a
   MaxDeliveryCount well above ``max_attempts`` (docs/messaging.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import asyncpg
from azure.servicebus import ServiceBusReceivedMessage
from azure.servicebus.aio import ServiceBusClient, ServiceBusReceiver
from pydantic import ValidationError
from temporalio.client import Client, WorkflowUpdateFailedError

from adapters.messaging import envelope as wire
from adapters.messaging.errors import DEAD_LETTER_REASONS, PoisonMessage, is_transient
from adapters.messaging.metrics import COMMANDS, DEAD_LETTERED, IN_FLIGHT
from foundation.wire_model import WireModel
from wire import workflow_ids as ids
from wire.messaging import Envelope, PayoutResolveCommand
from wire.payout_case import Resolve
from wire.payouts import PAYOUT_WORKFLOW, PSP_EVENT_SIGNAL, PayoutStart, PspEvent

log = logging.getLogger(__name__)

Action = Literal["signal", "signal_with_start", "update"]
RPC_TIMEOUT = timedelta(seconds=10)


@dataclass(frozen=True)
class CommandRoute:
    """How one command type reaches its workflow."""

    command: str
    payload: type[WireModel]
    action: Action
    workflow: str  # the workflow type
    workflow_id: Callable[[Any], str]
    handler: str  # the signal or update name
    start: Callable[[Any], WireModel] | None = None  # signal-with-start's start argument
    arg: Callable[[Any], WireModel] | None = None  # what the handler receives (the payload)


ROUTES: dict[str, CommandRoute] = {
    route.command: route
    for route in (
        CommandRoute(
            command="payout.psp_event",
            payload=PspEvent,
            action="signal_with_start",
            workflow=PAYOUT_WORKFLOW,
            workflow_id=lambda e: ids.workflow_id("Payout", e.payout_id),
            handler=PSP_EVENT_SIGNAL,
            start=lambda e: PayoutStart(payout_id=e.payout_id, provider=e.provider),
        ),
        CommandRoute(
            command="payout.resolve",
            payload=PayoutResolveCommand,
            action="update",
            workflow=PAYOUT_WORKFLOW,
            workflow_id=lambda c: ids.workflow_id("Payout", c.payout_id),
            handler="resolve",
            arg=lambda c: Resolve(actor=c.actor, reason=c.reason, resolution=c.resolution),
        ),
    )
}


def parse_command(
    body: bytes, routes: Mapping[str, CommandRoute]
) -> tuple[Envelope, CommandRoute, WireModel]:
    """Pure: envelope → route and validated payload, or :class:`PoisonMessage`."""
    envelope = wire.decode(body)
    route = routes.get(envelope.event_type)
    if route is None:
        raise PoisonMessage("UnknownCommand", f"no route for {envelope.event_type!r}")
    try:
        payload = route.payload.model_validate(envelope.data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PoisonMessage("ContractViolation", f"{where}: {first['msg']}") from None
    return envelope, route, payload


async def dispatch(
    client: Client, task_queue: str, route: CommandRoute, payload: WireModel
) -> None:
    """Send one validated command to Temporal."""
    workflow_id = route.workflow_id(payload)
    arg = route.arg(payload) if route.arg else payload
    if route.action == "signal_with_start":
        assert route.start is not None
        await client.start_workflow(
            route.workflow,
            route.start(payload),
            id=workflow_id,
            task_queue=task_queue,
            start_signal=route.handler,
            start_signal_args=[arg],
            rpc_timeout=RPC_TIMEOUT,
        )
    elif route.action == "signal":
        await client.get_workflow_handle(workflow_id).signal(
            route.handler, arg, rpc_timeout=RPC_TIMEOUT
        )
    else:
        try:
            await client.get_workflow_handle(workflow_id).execute_update(
                route.handler, arg, rpc_timeout=RPC_TIMEOUT
            )
        except WorkflowUpdateFailedError as exc:
            raise PoisonMessage("Rejected", str(exc.cause or exc)) from None


_CLAIM = """
INSERT INTO messaging_processed (source, message_id, event_type) VALUES ($1, $2, $3)
ON CONFLICT DO NOTHING RETURNING 1
"""

Dispatcher = Callable[[CommandRoute, WireModel], Awaitable[None]]


class CommandConsumer:
    """Consumes one queue until ``stop`` is set."""

    def __init__(
        self,
        servicebus: ServiceBusClient,
        queue: str,
        pool: asyncpg.Pool,
        dispatcher: Dispatcher,
        *,
        routes: Mapping[str, CommandRoute] = ROUTES,
        max_attempts: int = 5,
        max_in_flight: int = 16,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.servicebus = servicebus
        self.queue = queue
        self.source = f"servicebus:{queue}"
        self.pool = pool
        self.dispatcher = dispatcher
        self.routes = routes
        self.max_attempts = max_attempts
        self.max_in_flight = max_in_flight
        self.max_backoff = max_backoff_seconds
        self._transient_failures = 0
        # Every outcome and dead-letter reason at 0 from the start, so the first dead letter is
        # an increase Prometheus sees (deploy/observability/alerts.yml).
        for reason in DEAD_LETTER_REASONS:
            DEAD_LETTERED.labels(queue, reason)
        for outcome in ("completed", "duplicate", "dead_lettered", "abandoned"):
            COMMANDS.labels(queue, outcome)

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and handle until ``stop``; a lost connection is reopened after a pause."""
        while not stop.is_set():
            try:
                async with self.servicebus.get_queue_receiver(
                    self.queue, prefetch_count=0
                ) as receiver:
                    while not stop.is_set():
                        await self._backoff(stop)
                        messages = await receiver.receive_messages(
                            max_message_count=self.max_in_flight, max_wait_time=1
                        )
                        if messages:
                            IN_FLIGHT.labels(self.source).set(len(messages))
                            await asyncio.gather(*(self.handle(receiver, m) for m in messages))
                            IN_FLIGHT.labels(self.source).set(0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("command consumer on %s lost its receiver; reopening", self.queue)
                await _sleep(stop, 1.0)

    async def _backoff(self, stop: asyncio.Event) -> None:
        # Stop pulling while Temporal or PostgreSQL is down: exponential, capped.
        if self._transient_failures:
            await _sleep(stop, min(self.max_backoff, 0.25 * 2 ** min(self._transient_failures, 8)))

    async def handle(self, receiver: ServiceBusReceiver, message: ServiceBusReceivedMessage) -> str:
        """Handle one delivery; returns the outcome (also counted in metrics)."""
        outcome = await self._outcome(message)
        if outcome[0] in ("completed", "duplicate"):
            await receiver.complete_message(message)
        elif outcome[0] == "dead_lettered":
            reason, description = outcome[1], outcome[2]
            await receiver.dead_letter_message(
                message, reason=reason, error_description=description
            )
            DEAD_LETTERED.labels(self.queue, reason).inc()
            log.warning("dead-lettered %s: %s", message.message_id, reason)
        else:
            await receiver.abandon_message(message)
        COMMANDS.labels(self.queue, outcome[0]).inc()
        return outcome[0]

    async def _outcome(self, message: ServiceBusReceivedMessage) -> tuple[str, str, str]:
        try:
            envelope, route, payload = parse_command(_body(message), self.routes)
            async with self.pool.acquire() as conn, conn.transaction():
                claimed = await conn.fetchval(
                    _CLAIM, self.source, envelope.message_id, envelope.event_type
                )
                if claimed is None:
                    return "duplicate", "", ""
                await self.dispatcher(route, payload)
        except PoisonMessage as poison:
            return "dead_lettered", poison.reason, poison.description
        except Exception as exc:
            if is_transient(exc):
                self._transient_failures += 1
                log.warning("transient failure on %s, abandoning: %s", message.message_id, exc)
                return "abandoned", "", ""
            attempts = (message.delivery_count or 0) + 1
            log.exception("command %s failed (attempt %d)", message.message_id, attempts)
            if attempts >= self.max_attempts:
                return "dead_lettered", "MaxAttemptsExceeded", f"{type(exc).__name__}: {exc}"
            return "abandoned", "", ""
        self._transient_failures = 0
        return "completed", "", ""


def _body(message: ServiceBusReceivedMessage) -> bytes:
    return b"".join(bytes(part) for part in message.body)


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
