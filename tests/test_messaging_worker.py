"""``integrations worker`` (a real process) starts the Service Bus command consumer and the
outbox relay when the settings configure Service Bus: a command on the queue becomes a signal
on a real workflow, an outbox row reaches the events topic."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
from pydantic import SecretStr
from temporalio.client import Client

from adapters.messaging import envelope as wire
from runtime.settings import Settings
from tests.amqp_peer import AmqpPeer
from tests.plugins.services import spawn_worker, stop_processes
from tests.test_messaging_outbox import delivered, payout_events, record, until
from tests.test_messaging_servicebus import psp_command, send, signals
from wire.messaging import message_id_for


async def test_worker_consumes_commands_and_relays_the_outbox(
    running_peer: AmqpPeer, settings: Settings, client: Client, pool: asyncpg.Pool
) -> None:
    suffix = uuid.uuid4().hex[:8]
    queue, topic = f"commands-{suffix}", f"events-{suffix}"
    running_peer.state.add_queue(queue)
    running_peer.state.add_topic(topic, ["audit"])
    own = settings.model_copy(
        update={
            "servicebus_connection_string": SecretStr(running_peer.connection_string()),
            "servicebus_commands_queue": queue,
            "servicebus_events_topic": topic,
            # Its own task queue: only the spawned worker can run the workflow the command hits.
            "task_queue_general": f"general-{suffix}",
        }
    )
    worker = spawn_worker(own, "general")
    try:
        payout_id = f"po_{suffix}"
        from azure.servicebus.aio import ServiceBusClient

        async with ServiceBusClient.from_connection_string(running_peer.connection_string()) as sb:
            await send(sb, queue, wire.encode(psp_command(payout_id, "evt_w1")))
        handle = client.get_workflow_handle(f"payout-{payout_id}")

        async def signalled() -> bool:
            assert worker.poll() is None, "the worker exited"
            try:
                return await signals(client, handle.id) == ["psp_event"]
            except Exception:  # not started yet
                return False

        await until(signalled, timeout=120)
        state = await handle.query("state")  # answered by the spawned worker
        assert state["event_ids"] == ["evt_w1"]
        entity = running_peer.state.entity(queue)
        assert entity is not None
        await until(lambda: not entity.available and not entity.locked)

        events = payout_events(2, suffix)
        await record(pool, *events)
        expected = {message_id_for(e.event_type, e.message_id) for e in events}
        await until(lambda: expected <= set(delivered(running_peer, topic)), timeout=60)
        assert sorted(m for m in delivered(running_peer, topic) if m in expected) == sorted(
            expected
        )
    finally:
        await asyncio.to_thread(stop_processes, worker)
    assert worker.returncode == 0
