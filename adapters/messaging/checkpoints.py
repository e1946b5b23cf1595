"""The azure-eventhub ``CheckpointStore`` in PostgreSQL, so the service needs no Blob account.

Ownership is claimed with optimistic concurrency, as the Blob store does with ETags: a claim
carrying an etag succeeds only if the row still has it; a claim without one only if no one owns
the partition yet. ``last_modified_time`` is returned as epoch seconds, which is what the SDK's
load balancer compares with ``time.time()``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg
from azure.eventhub.aio import CheckpointStore

_KEY = ("fully_qualified_namespace", "eventhub_name", "consumer_group", "partition_id")

_LIST_OWNERSHIP = """
SELECT fully_qualified_namespace, eventhub_name, consumer_group, partition_id, owner_id,
       etag::text AS etag, extract(epoch FROM last_modified_time)::float8 AS last_modified_time
FROM eventhub_ownership
WHERE fully_qualified_namespace = $1 AND eventhub_name = $2 AND consumer_group = $3
"""
_CLAIM_NEW = """
INSERT INTO eventhub_ownership
    (fully_qualified_namespace, eventhub_name, consumer_group, partition_id, owner_id, etag)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT DO NOTHING
RETURNING extract(epoch FROM last_modified_time)::float8
"""
_CLAIM_EXISTING = """
UPDATE eventhub_ownership
SET owner_id = $5, etag = $6, last_modified_time = clock_timestamp()
WHERE fully_qualified_namespace = $1 AND eventhub_name = $2 AND consumer_group = $3
  AND partition_id = $4 AND etag = $7::uuid
RETURNING extract(epoch FROM last_modified_time)::float8
"""
_UPDATE_CHECKPOINT = """
INSERT INTO eventhub_checkpoints
    (fully_qualified_namespace, eventhub_name, consumer_group, partition_id, "offset",
     sequence_number)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (fully_qualified_namespace, eventhub_name, consumer_group, partition_id) DO UPDATE
SET "offset" = excluded."offset", sequence_number = excluded.sequence_number,
    updated_at = now()
WHERE eventhub_checkpoints.sequence_number IS NULL
   OR eventhub_checkpoints.sequence_number <= excluded.sequence_number
"""
_LIST_CHECKPOINTS = """
SELECT fully_qualified_namespace, eventhub_name, consumer_group, partition_id, "offset",
       sequence_number
FROM eventhub_checkpoints
WHERE fully_qualified_namespace = $1 AND eventhub_name = $2 AND consumer_group = $3
"""


class PostgresCheckpointStore(CheckpointStore):
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def list_ownership(
        self, fully_qualified_namespace: str, eventhub_name: str, consumer_group: str, **_: Any
    ) -> Iterable[dict[str, Any]]:
        rows = await self.pool.fetch(
            _LIST_OWNERSHIP, fully_qualified_namespace, eventhub_name, consumer_group
        )
        return [dict(row) for row in rows]

    async def claim_ownership(
        self, ownership_list: Iterable[dict[str, Any]], **_: Any
    ) -> Iterable[dict[str, Any]]:
        claimed: list[dict[str, Any]] = []
        async with self.pool.acquire() as conn:
            for ownership in ownership_list:
                key = [ownership[k] for k in _KEY]
                etag = uuid.uuid4()
                if ownership.get("etag"):
                    modified = await conn.fetchval(
                        _CLAIM_EXISTING, *key, ownership["owner_id"], etag, ownership["etag"]
                    )
                else:
                    modified = await conn.fetchval(_CLAIM_NEW, *key, ownership["owner_id"], etag)
                if modified is not None:
                    claimed.append({**ownership, "etag": str(etag), "last_modified_time": modified})
        return claimed

    async def update_checkpoint(self, checkpoint: dict[str, Any], **_: Any) -> None:
        offset = checkpoint.get("offset")
        await self.pool.execute(
            _UPDATE_CHECKPOINT,
            *(checkpoint[k] for k in _KEY),
            None if offset is None else str(offset),
            checkpoint.get("sequence_number"),
        )

    async def list_checkpoints(
        self, fully_qualified_namespace: str, eventhub_name: str, consumer_group: str, **_: Any
    ) -> Iterable[dict[str, Any]]:
        rows = await self.pool.fetch(
            _LIST_CHECKPOINTS, fully_qualified_namespace, eventhub_name, consumer_group
        )
        return [dict(row) for row in rows]
