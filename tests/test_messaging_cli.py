"""``integrations messaging publish|tail|dead-letters|relay`` as real processes against the AMQP
test peer (the peer runs in this process's thread, the CLI in its own)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import uuid
from typing import Any

import asyncpg
from azure.servicebus import ServiceBusMessage
from azure.servicebus.aio import ServiceBusClient
from pydantic import SecretStr

from runtime.settings import Settings
from tests.amqp_peer import AmqpPeer
from tests.plugins.services import settings_env
from tests.test_messaging_outbox import delivered, payout_events, record
from wire.messaging import message_id_for


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def peer_settings(settings: Settings, peer: AmqpPeer, **update: Any) -> Settings:
    return settings.model_copy(
        update={"servicebus_connection_string": SecretStr(peer.connection_string()), **update}
    )


async def cli(settings: Settings, *args: str, timeout: float = 120) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli.main",
        "messaging",
        *args,
        env=settings_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


async def test_published_event_shows_in_tail(running_peer: AmqpPeer, settings: Settings) -> None:
    topic = _name("events")
    running_peer.state.add_topic(topic, ["audit"])
    own = peer_settings(settings, running_peer, servicebus_events_topic=topic)
    code, out, err = await cli(
        own, "publish", "payout.reconciled", "po_cli_1", "--data", '{"status": "reconciled"}'
    )
    assert code == 0, err
    [result] = lines(out)
    assert result["message_id"] == message_id_for("payout.reconciled", "po_cli_1")
    # The same fact again: duplicate detection keeps one message.
    code, _, err = await cli(own, "publish", "payout.reconciled", "po_cli_1")
    assert code == 0, err

    code, out, err = await cli(own, "tail", f"{topic}/subscriptions/audit")
    assert code == 0, err
    tailed = lines(out)
    assert [m["message_id"] for m in tailed] == [result["message_id"]]
    assert tailed[0]["subject"] == "payout.reconciled" and tailed[0]["sequence_number"] == 1
    # tail peeks: the message is still there for its real consumer.
    assert delivered(running_peer, topic) == [result["message_id"]]


async def test_dead_lettered_message_shows_with_its_reason(
    running_peer: AmqpPeer, settings: Settings
) -> None:
    queue = _name("commands")
    running_peer.state.add_queue(queue)
    async with ServiceBusClient.from_connection_string(running_peer.connection_string()) as sb:
        async with sb.get_queue_sender(queue) as sender:
            await sender.send_messages(
                [
                    ServiceBusMessage(b"{}", message_id="m-dead"),
                    ServiceBusMessage(b"{}", message_id="m-alive"),
                ]
            )
        async with sb.get_queue_receiver(queue) as receiver:
            [message] = await receiver.receive_messages(max_message_count=1, max_wait_time=5)
            assert message.message_id == "m-dead"
            await receiver.dead_letter_message(
                message, reason="ContractViolation", error_description="payout_id: missing"
            )
    own = peer_settings(settings, running_peer)
    code, out, err = await cli(own, "dead-letters", queue)
    assert code == 0, err
    [dead] = lines(out)
    assert dead["message_id"] == "m-dead"
    assert dead["dead_letter_reason"] == "ContractViolation"
    assert dead["dead_letter_error_description"] == "payout_id: missing"
    code, out, err = await cli(own, "tail", queue)
    assert code == 0, err
    assert [m["message_id"] for m in lines(out)] == ["m-alive"]


async def test_relay_command_publishes_the_outbox_and_stops_on_sigterm(
    running_peer: AmqpPeer, settings: Settings, pool: asyncpg.Pool
) -> None:
    topic = _name("events")
    running_peer.state.add_topic(topic, ["audit"])
    events = payout_events(3, uuid.uuid4().hex[:6])
    await record(pool, *events)
    own = peer_settings(settings, running_peer, servicebus_events_topic=topic)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli.main",
        "messaging",
        "relay",
        env=settings_env(own),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        ids = [e.message_id for e in events]
        for _ in range(600):
            waiting = await pool.fetchval(
                "SELECT count(*) FROM outbox_events WHERE message_id = ANY($1) "
                "AND published_at IS NULL",
                ids,
            )
            if not waiting:
                break
            assert process.returncode is None, "relay exited early"
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the relay did not publish the outbox")
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, err.decode()
    expected = {message_id_for(e.event_type, e.message_id) for e in events}
    mine = [m for m in delivered(running_peer, topic) if m in expected]
    assert sorted(mine) == sorted(expected)


async def test_not_configured_is_a_clear_error(settings: Settings) -> None:
    code, _, err = await cli(settings, "tail", "anything")
    assert code == 2
    assert "INTEGRATIONS_SERVICEBUS_CONNECTION_STRING" in err
