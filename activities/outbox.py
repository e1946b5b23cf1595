"""The outbox of domain events: recorded once per deterministic message id, published later
by the messaging relay (issue: Azure messaging)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import asyncpg
from temporalio import activity

from wire.ach import OutboxEvent


async def record_event(pool: asyncpg.Pool, event: OutboxEvent) -> bool:
    """Insert the event; False when that message id was already recorded (a retry)."""
    status = await pool.execute(
        """INSERT INTO outbox_events (message_id, event_type, subject, payload)
           VALUES ($1, $2, $3, $4::jsonb) ON CONFLICT (message_id) DO NOTHING""",
        event.message_id,
        event.event_type,
        event.subject,
        json.dumps(event.payload, default=str),
    )
    return bool(status.endswith(" 1"))


@dataclass
class OutboxActivities:
    pool: asyncpg.Pool

    @activity.defn(name="outbox.record")
    async def record(self, event: OutboxEvent) -> bool:
        return await record_event(self.pool, event)
