"""Service Bus: publish and the command consumer, with the real azure-servicebus SDK against the
AMQP test peer, and real Temporal and PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest
from azure.servicebus import ServiceBusMessage, ServiceBusSubQueue
from azure.servicebus.aio import ServiceBusClient
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.messaging import envelope as wire
from adapters.messaging.publisher import publish_to_servicebus
from devstack.localstack.ports import free_port
from devstack.localstack.temporal import temporal_binary
from foundation.wire_model import WireModel
from relays.commands import (
    ROUTES,
    CommandConsumer,
    CommandRoute,
    dispatch,
)
from runtime.settings import Settings
from tests.amqp_peer import AmqpPeer
from wire.messaging import Envelope, PublishRequest
from wire.payouts import PspEvent


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def servicebus(running_peer: AmqpPeer) -> AsyncIterator[ServiceBusClient]:
    async with ServiceBusClient.from_connection_string(running_peer.connection_string()) as sb:
        yield sb


def psp_command(payout_id: str, event_id: str) -> Envelope:
    event = PspEvent(
        provider="stripe",
        event_id=event_id,
        type="charge.succeeded",
        created=datetime(2026, 11, 2, tzinfo=UTC),
        payout_id=payout_id,
        amount_minor=1000,
        currency="usd",
    )
    return Envelope(
        event_type="payout.psp_event",
        business_key=f"stripe/{event_id}",
        correlation_id=f"corr-{event_id}",
        data=event.model_dump(mode="json"),
    )


async def send(
    sb: ServiceBusClient, queue: str, *bodies: bytes, ids: list[str] | None = None
) -> None:
    async with sb.get_queue_sender(queue) as sender:
        for i, body in enumerate(bodies):
            await sender.send_messages(
                ServiceBusMessage(body, message_id=ids[i] if ids else str(uuid.uuid4()))
            )


async def signals(client: Client, workflow_id: str) -> list[str]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]


def consumer(
    sb: ServiceBusClient,
    queue: str,
    pool: asyncpg.Pool,
    client: Client,
    task_queue: str,
    **kw: object,
) -> CommandConsumer:
    async def dispatcher(route: CommandRoute, payload: WireModel) -> None:
        await dispatch(client, task_queue, route, payload)

    return CommandConsumer(sb, queue, pool, dispatcher, **kw)  # type: ignore[arg-type]


async def until(predicate: object, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()  # type: ignore[operator]
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


# --- publishing ----------------------------------------------------------------------------


async def test_publish_same_business_key_twice_is_one_message(
    servicebus: ServiceBusClient, running_peer: AmqpPeer
) -> None:
    topic, sub = _name("events"), "audit"
    running_peer.state.add_topic(topic, [sub])
    first = Envelope(
        event_type="payroll.completed",
        business_key="acme/2026-11-15",
        correlation_id="run-1",
        data={"employees": 3},
    )
    again = first.model_copy(update={"correlation_id": "run-1-retry"})
    again = Envelope.model_validate(again.model_dump() | {"message_id": ""})
    other = Envelope(
        event_type="payroll.completed", business_key="acme/2026-11-30", correlation_id="r2"
    )
    assert again.message_id == first.message_id != other.message_id

    result = await publish_to_servicebus(servicebus, topic, [first, other])
    assert result.published == 2 and result.batches == 1
    # A retried activity publishes the same fact again: duplicate detection drops it.
    await publish_to_servicebus(servicebus, topic, [again])

    async with servicebus.get_subscription_receiver(topic, sub) as receiver:
        received = await receiver.receive_messages(max_message_count=10, max_wait_time=3)
        for message in received:
            await receiver.complete_message(message)
    assert sorted(str(m.message_id) for m in received) == sorted(
        [first.message_id, other.message_id]
    )
    by_id = {m.message_id: m for m in received}
    decoded = wire.decode(b"".join(by_id[first.message_id].body))
    assert decoded.correlation_id == "run-1" and decoded.data == {"employees": 3}
    assert str(by_id[first.message_id].subject) == "payroll.completed"


async def test_publish_activity_batches_many(
    servicebus: ServiceBusClient, running_peer: AmqpPeer, settings: Settings
) -> None:
    from activities.messaging import MessagingActivities

    topic = _name("events")
    running_peer.state.add_topic(topic, ["all"])
    activities = MessagingActivities(
        settings.model_copy(
            update={"servicebus_connection_string": _secret(running_peer.connection_string())}
        )
    )
    envelopes = [
        Envelope(event_type="payout.reconciled", business_key=f"po_{i}", correlation_id="c")
        for i in range(500)
    ]
    try:
        result = await activities.publish_event(
            PublishRequest(envelopes=envelopes, destination=topic)
        )
    finally:
        await activities.close()
    assert result.published == 500
    entity = running_peer.state.entity(f"{topic}/subscriptions/all")
    assert entity is not None and len(entity.available) == 500


def _secret(value: str) -> object:
    from pydantic import SecretStr

    return SecretStr(value)


# --- the command consumer --------------------------------------------------------------------


async def test_command_becomes_a_signal_and_twice_is_one_signal(
    servicebus: ServiceBusClient,
    running_peer: AmqpPeer,
    pool: asyncpg.Pool,
    client: Client,
    workers: Settings,
) -> None:
    queue = _name("commands")
    running_peer.state.add_queue(queue)
    payout_id = f"po_{uuid.uuid4().hex[:10]}"
    command = psp_command(payout_id, "evt_1")
    body = wire.encode(command)
    # The same command delivered twice under different broker message ids (sent twice by a
    # producer without duplicate detection): one signal.
    await send(servicebus, queue, body, body)
    stop = asyncio.Event()
    run = asyncio.create_task(
        consumer(servicebus, queue, pool, client, workers.task_queue_general).run(stop)
    )
    try:
        entity = running_peer.state.entity(queue)
        assert entity is not None
        await until(lambda: not entity.available and not entity.locked)
    finally:
        stop.set()
        await run
    assert await signals(client, f"payout-{payout_id}") == ["psp_event"]
    state = await client.get_workflow_handle(f"payout-{payout_id}").query("state")
    assert state["event_ids"] == ["evt_1"]
    processed = await pool.fetchval(
        "SELECT count(*) FROM messaging_processed WHERE message_id = $1", command.message_id
    )
    assert processed == 1


async def test_invalid_commands_are_dead_lettered_with_reason(
    servicebus: ServiceBusClient, running_peer: AmqpPeer, pool: asyncpg.Pool, client: Client
) -> None:
    queue = _name("commands")
    running_peer.state.add_queue(queue)
    unknown = Envelope(event_type="payout.explode", business_key="k", correlation_id="c")
    bad_payload = Envelope(
        event_type="payout.psp_event", business_key="k2", correlation_id="c", data={"x": 1}
    )
    await send(
        servicebus,
        queue,
        b"not json at all",
        wire.encode(unknown),
        wire.encode(bad_payload),
        ids=["m-json", "m-unknown", "m-contract"],
    )
    stop = asyncio.Event()
    run = asyncio.create_task(consumer(servicebus, queue, pool, client, "unused").run(stop))
    try:
        dead = running_peer.state.entity(f"{queue}/$deadletterqueue")
        assert dead is not None
        await until(lambda: len(dead.available) == 3)
    finally:
        stop.set()
        await run
    async with servicebus.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as r:
        peeked = await r.peek_messages(max_message_count=10)
    reasons = {m.message_id: m.dead_letter_reason for m in peeked}
    assert reasons == {
        "m-json": "InvalidEnvelope",
        "m-unknown": "UnknownCommand",
        "m-contract": "ContractViolation",
    }
    assert all(m.delivery_count in (0, None) for m in peeked)  # dead-lettered at first sight


async def test_poison_message_dead_lettered_after_n_tries(
    servicebus: ServiceBusClient, running_peer: AmqpPeer, pool: asyncpg.Pool, client: Client
) -> None:
    queue = _name("commands")
    running_peer.state.add_queue(queue)
    attempts: list[int] = []

    async def explode(route: CommandRoute, payload: WireModel) -> None:
        attempts.append(1)
        raise RuntimeError("downstream refuses this payout for ever")

    command = psp_command("po_poison", "evt_p")
    await send(servicebus, queue, wire.encode(command), ids=["m-poison"])
    stop = asyncio.Event()
    poison = CommandConsumer(servicebus, queue, pool, explode, max_attempts=3)
    run = asyncio.create_task(poison.run(stop))
    try:
        dead = running_peer.state.entity(f"{queue}/$deadletterqueue")
        assert dead is not None
        await until(lambda: len(dead.available) == 1)
    finally:
        stop.set()
        await run
    assert len(attempts) == 3
    async with servicebus.get_queue_receiver(queue, sub_queue=ServiceBusSubQueue.DEAD_LETTER) as r:
        [message] = await r.receive_messages(max_message_count=1, max_wait_time=3)
        await r.complete_message(message)
    assert message.dead_letter_reason == "MaxAttemptsExceeded"
    assert "refuses this payout" in (message.dead_letter_error_description or "")
    # Rolled back each time: nothing was recorded as processed.
    assert not await pool.fetchval(
        "SELECT count(*) FROM messaging_processed WHERE message_id = $1", command.message_id
    )


@pytest.mark.slow
async def test_temporal_down_commands_abandoned_then_delivered(
    servicebus: ServiceBusClient,
    running_peer: AmqpPeer,
    pool: asyncpg.Pool,
    key_ring: object,
) -> None:
    from adapters.temporal_client import data_converter
    from wire.search_attributes import ALL

    queue = _name("commands")
    running_peer.state.add_queue(queue)
    port = free_port()

    async def server() -> WorkflowEnvironment:
        return await WorkflowEnvironment.start_local(
            data_converter=data_converter(key_ring),  # type: ignore[arg-type]
            search_attributes=ALL,
            dev_server_existing_path=temporal_binary(),
            dev_server_log_level="error",
            port=port,
        )

    env = await server()
    own_client = env.client
    await env.shutdown()  # Temporal is down while the commands arrive
    payout_ids = [f"po_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    await send(servicebus, queue, *(wire.encode(psp_command(p, f"evt_{p}")) for p in payout_ids))
    stop = asyncio.Event()
    run = asyncio.create_task(
        consumer(
            servicebus,
            queue,
            pool,
            own_client,
            "nobody-polls",
            max_attempts=2,
            max_backoff_seconds=1,
        ).run(stop)
    )
    entity = running_peer.state.entity(queue)
    assert entity is not None
    env2: WorkflowEnvironment | None = None
    try:
        await until(
            lambda: any(
                m.delivery_count >= 2 for m in [*entity.available, *entity.locked.values()]
            ),
            timeout=120,
        )
        dead = running_peer.state.entity(f"{queue}/$deadletterqueue")
        assert dead is not None and not dead.available  # transient: never dead-lettered
        env2 = await server()  # Temporal is back, same address
        await until(lambda: not entity.available and not entity.locked, timeout=120)
        for payout_id in payout_ids:
            assert await signals(env2.client, f"payout-{payout_id}") == ["psp_event"]
    finally:
        stop.set()
        await run
        if env2 is not None:
            await env2.shutdown()


def test_routes_name_real_contracts() -> None:
    assert set(ROUTES) == {"payout.psp_event", "payout.resolve"}
