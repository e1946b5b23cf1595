"""Audit-log writes, idempotent on ``event_id``."""

from __future__ import annotations

import json

import asyncpg

from wire.audit import AuditEntry


async def write_audit(pool: asyncpg.Pool, entry: AuditEntry) -> bool:
    """Insert the entry; returns False when that event was already recorded (a retry)."""
    status = await pool.execute(
        """INSERT INTO audit_log (event_id, actor, action, subject, reason, details)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb)
           ON CONFLICT (event_id) DO NOTHING""",
        entry.event_id,
        entry.actor,
        entry.action,
        entry.subject,
        entry.reason,
        json.dumps(entry.details, default=str),
    )
    return bool(status.endswith(" 1"))
