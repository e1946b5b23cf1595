"""Row de-duplication across a feed's files within a window, by the contract's natural key.

Runs on the file workers (it reads the landed Parquet) and writes fingerprints to PostgreSQL.
Idempotent: a file's own fingerprints carry its digest, so a retry never counts its rows as
duplicates of themselves.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg
import pyarrow as pa
import pyarrow.parquet as pq
from temporalio import activity

from activities.intake_records import counter_description, feed_meter
from adapters.landing_zone import LandingZone
from intake.file_contract import load_contract
from intake.row_keys import first_occurrences, key_fingerprints
from runtime.settings import Settings
from wire.intake import Deduped, DedupeRequest


def _unique_rows(path: Path, columns: tuple[str, ...]) -> tuple[pa.Table, list[bytes], list[bool]]:
    table = pq.read_table(path)
    fingerprints = key_fingerprints(table, columns)
    return table, fingerprints, first_occurrences(fingerprints)


@dataclass
class RowDedupe:
    pool: asyncpg.Pool
    settings: Settings

    @activity.defn(name="intake.dedupe_rows")
    async def dedupe_rows(self, request: DedupeRequest) -> Deduped:
        feed = request.feed
        contract = load_contract(self.settings.file_contracts_dir / f"{feed.file_contract}.toml")
        columns = tuple(contract.natural_key)
        window = timedelta(days=feed.dedupe_window_days or 0)
        path = Path(request.parquet_path)
        # pyarrow and hashing are CPU work: off the event loop.
        table, fingerprints, keep = await asyncio.to_thread(_unique_rows, path, columns)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "CREATE TEMP TABLE incoming (row_no int, key_hash bytea) ON COMMIT DROP"
            )
            await conn.copy_records_to_table(
                "incoming", records=list(enumerate(fingerprints)), columns=["row_no", "key_hash"]
            )
            seen_elsewhere = await conn.fetch(
                """SELECT i.row_no FROM incoming i
                   JOIN intake_row_keys k
                     ON k.partner_id = $1 AND k.feed = $2 AND k.key_hash = i.key_hash
                  WHERE k.file_sha256 <> $3 AND k.seen_at >= $4""",
                feed.partner_id,
                feed.feed,
                request.sha256,
                request.received_at - window,
            )
            # Remember this file's keys; a key whose last sighting fell out of the window is
            # taken over, one still inside it stays with the file that had it first.
            await conn.execute(
                """INSERT INTO intake_row_keys (partner_id, feed, key_hash, file_sha256, seen_at)
                   SELECT DISTINCT $1, $2, key_hash, $3, $4::timestamptz FROM incoming
                   ON CONFLICT (partner_id, feed, key_hash) DO UPDATE
                     SET file_sha256 = excluded.file_sha256, seen_at = excluded.seen_at
                     WHERE intake_row_keys.seen_at < $4::timestamptz - $5::interval""",
                feed.partner_id,
                feed.feed,
                request.sha256,
                request.received_at,
                window,
            )
        for record in seen_elsewhere:
            keep[record["row_no"]] = False
        duplicates = keep.count(False)
        unique_path = None
        if duplicates:
            landing = LandingZone(self.settings.landing_zone_dir)
            unique = landing.unique_of(path)
            unique_rows = table.filter(pa.array(keep))
            await asyncio.to_thread(
                landing.publish, unique, lambda tmp: pq.write_table(unique_rows, tmp)
            )
            unique_path = str(unique)
            meter = feed_meter().create_counter(
                "intake_row_dedupe_drops", counter_description("intake_row_dedupe_drops")
            )
            meter.with_additional_attributes({"partner": feed.partner_id, "feed": feed.feed}).add(
                duplicates
            )
        return Deduped(
            rows_checked=len(fingerprints),
            rows_duplicate=duplicates,
            unique_parquet_path=unique_path,
        )
