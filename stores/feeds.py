"""Feeds: register a partner feed (its config in PostgreSQL, its intake Schedule in Temporal),
steer its Schedule, and score it.

The Schedule ``intake-<partner>-<feed>`` starts a ``FileIntake`` run per tick; overlapping runs
are skipped, so one feed never has two intakes at once. ``temporal schedule`` sees the same ids.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleBackfill,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError

from runtime.settings import Settings
from wire.intake import FeedConfig, IntakeRequest
from wire.workflow_ids import schedule_id


class FeedConfigError(ValueError):
    """A feed file is not a valid feed configuration; the message names the field."""


def load_feed_file(path: Path) -> FeedConfig:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FeedConfigError(f"{path}: {exc}") from None
    return parse_feed(data, str(path))


def parse_feed(data: dict[str, Any], source: str = "<feed>") -> FeedConfig:
    try:
        return FeedConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise FeedConfigError(f"{source}: {problems}") from None


def schedule_for(feed: FeedConfig, settings: Settings) -> Schedule:
    spec = (
        ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(minutes=m))])
        if (m := feed.schedule.interval_minutes)
        else ScheduleSpec(
            cron_expressions=[feed.schedule.cron or ""], time_zone_name=feed.schedule.timezone
        )
    )
    return Schedule(
        action=ScheduleActionStartWorkflow(
            "FileIntake",
            IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
            id=feed.schedule_id,
            task_queue=settings.task_queue_general,
        ),
        spec=spec,
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(hours=1)
        ),
        state=ScheduleState(note=f"intake of {feed.partner_id}/{feed.feed}"),
    )


async def register_feed(
    pool: asyncpg.Pool, client: Client, settings: Settings, feed: FeedConfig
) -> bool:
    """Store the feed and create (or update) its Schedule. Returns True when it is new."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO partners (partner_id, display_name) VALUES ($1, $2)
               ON CONFLICT (partner_id) DO NOTHING""",
            feed.partner_id,
            feed.display_name or feed.partner_id,
        )
        created = await conn.fetchval(
            """INSERT INTO feeds (partner_id, feed, config) VALUES ($1, $2, $3::jsonb)
               ON CONFLICT (partner_id, feed)
               DO UPDATE SET config = excluded.config, updated_at = now()
               RETURNING (xmax = 0)""",
            feed.partner_id,
            feed.feed,
            feed.model_dump_json(),
        )
    schedule = schedule_for(feed, settings)
    try:
        await client.create_schedule(feed.schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        async def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(feed.schedule_id).update(replace)
    return bool(created)


async def set_paused(
    pool: asyncpg.Pool, client: Client, partner_id: str, feed: str, paused: bool, note: str
) -> None:
    handle = client.get_schedule_handle(schedule_id(partner_id, feed))
    if paused:
        await handle.pause(note=note)
    else:
        await handle.unpause(note=note)
    await pool.execute(
        "UPDATE feeds SET status = $3, updated_at = now() WHERE partner_id = $1 AND feed = $2",
        partner_id,
        feed,
        "paused" if paused else "active",
    )


async def trigger(client: Client, partner_id: str, feed: str) -> None:
    await client.get_schedule_handle(schedule_id(partner_id, feed)).trigger(
        overlap=ScheduleOverlapPolicy.SKIP
    )


async def backfill(
    client: Client, partner_id: str, feed: str, start: datetime, end: datetime
) -> None:
    """Run the ticks between ``start`` and ``end`` one after another (buffered, never parallel)."""
    await client.get_schedule_handle(schedule_id(partner_id, feed)).backfill(
        ScheduleBackfill(start_at=start, end_at=end, overlap=ScheduleOverlapPolicy.BUFFER_ALL)
    )


@dataclass(frozen=True)
class FeedStatus:
    partner_id: str
    feed: str
    status: str
    last_sequence: int | None
    last_file_at: datetime | None
    schedule_paused: bool | None
    next_run: datetime | None


async def list_feeds(pool: asyncpg.Pool, client: Client) -> list[FeedStatus]:
    rows = await pool.fetch(
        "SELECT partner_id, feed, status, last_sequence, last_file_at FROM feeds ORDER BY 1, 2"
    )
    out = []
    for row in rows:
        paused, next_run = None, None
        try:
            desc = await client.get_schedule_handle(
                schedule_id(row["partner_id"], row["feed"])
            ).describe()
            paused = desc.schedule.state.paused
            upcoming = desc.info.next_action_times
            next_run = upcoming[0] if upcoming else None
        except RPCError:  # a feed whose schedule is gone still lists, with unknowns
            paused = None
        out.append(
            FeedStatus(
                row["partner_id"],
                row["feed"],
                row["status"],
                row["last_sequence"],
                row["last_file_at"],
                paused,
                next_run,
            )
        )
    return out


SCORECARD_SQL = """
SELECT e.partner_id,
       e.feed,
       count(*)                                              AS files_received,
       count(*) FILTER (WHERE e.outcome = 'landed')          AS landed,
       count(*) FILTER (WHERE e.outcome = 'duplicate')       AS duplicates,
       count(*) FILTER (WHERE e.outcome = 'quarantined')     AS rejected,
       count(*) FILTER (WHERE e.on_time)                     AS on_time,
       count(*) FILTER (WHERE e.on_time IS NOT NULL)         AS with_deadline,
       coalesce(sum(e.rows_invalid), 0)                      AS rows_invalid,
       coalesce(sum(e.rows_total), 0)                        AS rows_total,
       coalesce(sum(e.size_bytes), 0)                        AS bytes,
       count(*) FILTER (WHERE e.schema_drift)                AS schema_drift,
       (SELECT count(*) FROM sla_breaches b
         WHERE b.partner_id = e.partner_id AND b.feed = e.feed
           AND b.day >= (now() - $1::interval)::date)       AS sla_breaches,
       max(e.decided_at)                                     AS last_decided_at
  FROM intake_events e
 WHERE e.decided_at >= now() - $1::interval
   AND ($2::text IS NULL OR e.partner_id = $2)
 GROUP BY e.partner_id, e.feed
 ORDER BY e.partner_id, e.feed
"""


async def scorecard(
    pool: asyncpg.Pool, days: int = 30, partner_id: str | None = None
) -> list[dict[str, Any]]:
    """Per feed over the last ``days``: files, on time, rejected, error rate, bytes, drift."""
    rows = await pool.fetch(SCORECARD_SQL, timedelta(days=days), partner_id)
    card = []
    for row in rows:
        item = dict(row)
        item["error_rate"] = (
            round(item["rows_invalid"] / item["rows_total"], 6) if item["rows_total"] else 0.0
        )
        item["on_time_rate"] = (
            round(item["on_time"] / item["with_deadline"], 4) if item["with_deadline"] else None
        )
        card.append(item)
    return card


QUARANTINED_SQL = """
SELECT remote_name, sha256, size_bytes, decided_at, reason, rows_total, rows_invalid, workflow_id
  FROM intake_events
 WHERE partner_id = $1 AND feed = $2 AND outcome = 'quarantined'
   AND decided_at >= now() - $3::interval
 ORDER BY decided_at DESC, intake_event_id DESC
"""


async def quarantined(
    pool: asyncpg.Pool, partner_id: str, feed: str, days: int = 30
) -> list[dict[str, Any]]:
    """A feed's quarantined files over the last ``days``, newest first (no file contents: the
    partner's ``quarantine/<name>`` and ``outbox/<name>.errors.csv`` hold the file and report)."""
    rows = await pool.fetch(QUARANTINED_SQL, partner_id, feed, timedelta(days=days))
    return [dict(row) for row in rows]
