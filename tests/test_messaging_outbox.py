"""The outbox relay: rows recorded by the real ``outbox.record`` activity reach the events topic
exactly once (real azure-servicebus SDK against the AMQP test peer, real PostgreSQL), also
when a relay dies between send and mark, when two relays run at once, and across an outage."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from azure.servicebus.aio import ServiceBusClient
from hypothesis import given
from hypothesis import strategies as st
from temporalio.testing import ActivityEnvironment

from activities.outbox import OutboxActivities
from adapters.messaging import envelope as wire
from adapters.messaging.publisher import ServiceBusPublisher
from relays.outbox import OutboxRelay, envelope_for
from tests.amqp_peer import AmqpPeer
from wire.ach import OutboxEvent
from wire.messaging import Envelope, PublishResult, message_id_for


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def publisher(running_peer: AmqpPeer) -> AsyncIterator[ServiceBusPublisher]:
    # retry_total=0: an outage fails the send at once and the relay's own backoff takes over.
    async with ServiceBusClient.from_connection_string(
        running_peer.connection_string(), retry_total=0
    ) as sb:
        publisher = ServiceBusPublisher(sb)
        yield publisher
        await publisher.close()


async def record(pool: asyncpg.Pool, *events: OutboxEvent) -> list[bool]:
    """Through the real activity, as a workflow's ``outbox.record`` call does."""
    activities = OutboxActivities(pool)
    env = ActivityEnvironment()
    return [await env.run(activities.record, event) for event in events]


def payout_events(n: int, run: str) -> list[OutboxEvent]:
    return [
        OutboxEvent(
            message_id=f"payout-po_{run}_{i}/payout.reconciled",
            event_type="payout.reconciled",
            subject=f"po_{run}_{i}",
            payload={"status": "reconciled", "detail": "reconciled"},
        )
        for i in range(n)
    ]


def delivered(peer: AmqpPeer, topic: str, sub: str = "audit") -> list[str]:
    entity = peer.state.entity(f"{topic}/subscriptions/{sub}")
    assert entity is not None
    with peer.state.lock:
        return [str(m.message_id) for m in [*entity.available, *entity.locked.values()]]


def expected_ids(events: list[OutboxEvent]) -> set[str]:
    return {message_id_for(e.event_type, e.message_id) for e in events}


async def drain(relay: OutboxRelay, pool: asyncpg.Pool, events: list[OutboxEvent]) -> None:
    """Passes until every one of ``events`` is marked published (others' rows go out too)."""
    ids = [e.message_id for e in events]
    for _ in range(200):
        waiting = await pool.fetchval(
            "SELECT count(*) FROM outbox_events WHERE message_id = ANY($1) "
            "AND published_at IS NULL",
            ids,
        )
        if not waiting:
            return
        result = await relay.publish_batch()
        if not result.claimed:
            await asyncio.sleep(0.05)
    raise AssertionError("outbox rows not published")


async def until(predicate: Any, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


# --- the row → envelope mapping (pure) --------------------------------------------------------


@given(
    key=st.text(min_size=1, max_size=120).filter(str.strip),
    other=st.text(min_size=1, max_size=120).filter(str.strip),
    subject=st.from_regex(r"[a-z]{2}_[a-z0-9]{1,20}", fullmatch=True),
)
def test_envelope_id_is_stable_per_row_and_distinct_between_rows(
    key: str, other: str, subject: str
) -> None:
    row = {
        "message_id": key,
        "event_type": "payout.reconciled",
        "subject": subject,
        "payload": '{"status": "reconciled"}',
        "created_at": datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
    }
    first, again = envelope_for(row), envelope_for(dict(row))
    assert first == again  # a resend is byte-for-byte the same message
    assert wire.encode(first) == wire.encode(again)
    assert first.message_id == message_id_for("payout.reconciled", key)
    assert first.subject == subject and first.data == {"status": "reconciled"}
    if other != key:
        assert envelope_for(row | {"message_id": other}).message_id != first.message_id


# --- against the peer ------------------------------------------------------------------------


async def test_recorded_events_arrive_on_the_subscription_once(
    running_peer: AmqpPeer, publisher: ServiceBusPublisher, pool: asyncpg.Pool
) -> None:
    topic = _name("events")
    running_peer.state.add_topic(topic, ["audit"])
    events = payout_events(3, uuid.uuid4().hex[:6])
    # A retried activity records the same event again: still one row.
    assert await record(pool, *events, events[0]) == [True, True, True, False]
    relay = OutboxRelay(pool, publisher, topic, batch_size=2)
    await drain(relay, pool, events)
    await relay.publish_batch()  # nothing left of ours: nothing more is sent

    mine = [m for m in delivered(running_peer, topic) if m in expected_ids(events)]
    assert sorted(mine) == sorted(expected_ids(events))
    async with (
        ServiceBusClient.from_connection_string(running_peer.connection_string()) as sb,
        sb.get_subscription_receiver(topic, "audit") as receiver,
    ):
        received = await receiver.receive_messages(max_message_count=50, max_wait_time=3)
        for message in received:
            await receiver.complete_message(message)
    by_id = {str(m.message_id): m for m in received}
    first = events[0]
    message = by_id[message_id_for(first.event_type, first.message_id)]
    envelope = wire.decode(b"".join(message.body))
    assert envelope.event_type == "payout.reconciled" and envelope.schema_version == "1.1"
    assert envelope.business_key == first.message_id == envelope.correlation_id
    assert envelope.subject == first.subject and envelope.data == first.payload
    assert str(message.subject) == "payout.reconciled"
    rows = await pool.fetch(
        "SELECT published_at, attempts, last_error FROM outbox_events WHERE message_id = ANY($1)",
        [e.message_id for e in events],
    )
    assert all(r["published_at"] and r["attempts"] == 1 and not r["last_error"] for r in rows)


class CrashAfterSend:
    """Sends for real, then fails before the relay can mark the rows (a relay that died
    between the broker's accept and its commit)."""

    def __init__(self, inner: ServiceBusPublisher) -> None:
        self.inner = inner
        self.sent = 0

    async def publish(self, topic: str, envelopes: list[Envelope]) -> PublishResult:
        result = await self.inner.publish(topic, envelopes)
        self.sent += result.published
        raise RuntimeError("relay died after the send")


async def test_crash_between_send_and_mark_still_one_message_per_row(
    running_peer: AmqpPeer, publisher: ServiceBusPublisher, pool: asyncpg.Pool
) -> None:
    topic = _name("events")
    running_peer.state.add_topic(topic, ["audit"])
    events = payout_events(5, uuid.uuid4().hex[:6])
    await record(pool, *events)
    crashing = CrashAfterSend(publisher)
    dying = OutboxRelay(pool, crashing, topic, retry_base_seconds=0.01, retry_max_seconds=0.05)
    while crashing.sent < len(events):
        await dying.publish_batch()
    rows = await pool.fetch(
        "SELECT published_at, attempts, last_error FROM outbox_events WHERE message_id = ANY($1)",
        [e.message_id for e in events],
    )
    assert all(r["published_at"] is None and r["attempts"] >= 1 for r in rows)
    assert all("relay died" in r["last_error"] for r in rows)
    assert sorted(delivered(running_peer, topic)) == sorted(expected_ids(events))

    dropped = running_peer.state.dropped_duplicates
    await asyncio.sleep(0.1)  # past the rows' backoff
    await drain(OutboxRelay(pool, publisher, topic), pool, events)
    # Sent again under the same ids: duplicate detection dropped every one.
    assert running_peer.state.dropped_duplicates - dropped >= len(events)
    assert sorted(delivered(running_peer, topic)) == sorted(expected_ids(events))


async def test_relay_cancelled_mid_send_rolls_back_its_claim(
    running_peer: AmqpPeer, publisher: ServiceBusPublisher, pool: asyncpg.Pool
) -> None:
    """Killed (cancelled) after the send: the claim rolls back, no attempt is even counted."""
    topic = _name("events")
    running_peer.state.add_topic(topic, ["audit"])
    events = payout_events(2, uuid.uuid4().hex[:6])
    await record(pool, *events)
    sent, hang = asyncio.Event(), asyncio.Event()

    class SendThenHang:
        async def publish(self, topic: str, envelopes: list[Envelope]) -> PublishResult:
            result = await publisher.publish(topic, envelopes)
            sent.set()
            await hang.wait()
            return result

    task = asyncio.create_task(OutboxRelay(pool, SendThenHang(), topic).publish_batch())
    await asyncio.wait_for(sent.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    attempts = await pool.fetch(
        "SELECT attempts, published_at FROM outbox_events WHERE message_id = ANY($1)",
        [e.message_id for e in events],
    )
    assert all(r["attempts"] == 0 and r["published_at"] is None for r in attempts)
    await drain(OutboxRelay(pool, publisher, topic), pool, events)
    assert sorted(delivered(running_peer, topic)) == sorted(expected_ids(events))


async def test_two_relays_at_once_publish_each_row_once(
    running_peer: AmqpPeer, publisher: ServiceBusPublisher, pool: asyncpg.Pool
) -> None:
    topic = _name("events")
    running_peer.state.add_topic(topic, ["audit"])
    events = payout_events(60, uuid.uuid4().hex[:6])
    await record(pool, *events)
    async with ServiceBusClient.from_connection_string(running_peer.connection_string()) as sb2:
        other = ServiceBusPublisher(sb2)
        relays = [
            OutboxRelay(pool, publisher, topic, batch_size=7),
            OutboxRelay(pool, other, topic, batch_size=7),
        ]
        dropped = running_peer.state.dropped_duplicates
        await asyncio.gather(*(drain(r, pool, events) for r in relays))
        await other.close()
    mine = [m for m in delivered(running_peer, topic) if m in expected_ids(events)]
    assert len(mine) == len(events) and set(mine) == expected_ids(events)
    # SKIP LOCKED: the relays never took the same row, so nothing was even sent twice.
    assert running_peer.state.dropped_duplicates == dropped


@pytest.mark.slow
async def test_rows_wait_while_the_broker_is_down_and_go_out_once_it_is_back(
    running_peer: AmqpPeer, publisher: ServiceBusPublisher, pool: asyncpg.Pool
) -> None:
    topic = _name("events")
    running_peer.state.add_topic(topic, ["audit"])
    events = payout_events(4, uuid.uuid4().hex[:6])
    ids = [e.message_id for e in events]
    running_peer.stop()
    await record(pool, *events)
    relay = OutboxRelay(
        pool, publisher, topic, idle_seconds=0.1, retry_base_seconds=0.2, retry_max_seconds=1.0
    )
    stop = asyncio.Event()
    run = asyncio.create_task(relay.run(stop))
    try:

        async def failed_twice() -> bool:
            return bool(
                await pool.fetchval(
                    "SELECT bool_and(attempts >= 2 AND published_at IS NULL "
                    "AND last_error IS NOT NULL) FROM outbox_events WHERE message_id = ANY($1)",
                    ids,
                )
            )

        await until(failed_twice)
        lag = await relay.lag()
        assert lag.backlog >= len(events)
        running_peer.start()

        async def published() -> bool:
            return not await pool.fetchval(
                "SELECT count(*) FROM outbox_events WHERE message_id = ANY($1) "
                "AND published_at IS NULL",
                ids,
            )

        await until(published)
    finally:
        stop.set()
        await run
    assert sorted(delivered(running_peer, topic)) == sorted(expected_ids(events))


async def test_invalid_row_is_parked_and_does_not_block_the_others(
    running_peer: AmqpPeer, publisher: ServiceBusPublisher, pool: asyncpg.Pool
) -> None:
    topic = _name("events")
    running_peer.state.add_topic(topic, ["audit"])
    good = payout_events(1, uuid.uuid4().hex[:6])
    bad = OutboxEvent(
        message_id=f"bad-{uuid.uuid4().hex[:6]}",
        event_type="Not-A-Type",
        subject="x",
        payload={},
    )
    await record(pool, bad, *good)
    relay = OutboxRelay(pool, publisher, topic)
    await drain(relay, pool, good)
    row = await pool.fetchrow(
        "SELECT published_at, next_attempt_at = 'infinity' AS parked, last_error "
        "FROM outbox_events WHERE message_id = $1",
        bad.message_id,
    )
    assert row is not None and row["published_at"] is None
    assert row["parked"]
    assert row["last_error"].startswith("InvalidEnvelope: event_type")
    assert (await relay.lag()).parked >= 1
    assert delivered(running_peer, topic) == list(expected_ids(good))
