"""Bookkeeping activities of intake, on PostgreSQL: feeds, the manifest, decisions, SLAs, alerts.

Natural keys and ``ON CONFLICT`` make every write safe to repeat: a retried activity, a replayed
workflow or a second run over the same file changes nothing the first one recorded.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.exceptions import ApplicationError
from temporalio.runtime import Runtime

from activities.audit import write_audit
from runtime.settings import Settings
from wire.audit import AuditEntry
from wire.intake import (
    DigestLookup,
    FeedConfig,
    IntakeAlert,
    IntakeRequest,
    KnownDigest,
    LoadedFeed,
    Outcome,
    Recorded,
    RecordRequest,
    SlaCheck,
    SlaResult,
)
from wire.workflow_ids import schedule_id

log = logging.getLogger(__name__)

# Alerts after which the feed cannot work until a person acts: its schedule is paused.
PAUSING_ALERTS = {"HostKeyMismatch", "AuthenticationRefused"}


def sla_deadline(feed: FeedConfig, now: datetime) -> datetime | None:
    """Today's deadline (in the feed's time zone) as UTC, or None when the feed has no SLA."""
    due = feed.schedule.sla_deadline
    if due is None:
        return None
    zone = ZoneInfo(feed.schedule.timezone)
    local_day = now.astimezone(zone).date()
    return datetime.combine(local_day, due, tzinfo=zone).astimezone(UTC)


# Every feed counter, each recorded with labels partner and feed (plus ``outcome`` or ``kind``).
FEED_COUNTERS = (
    "intake_files_received",
    "intake_bytes_received",
    "intake_dedupe_drops",
    "intake_validation_failures",
    "intake_schema_drift",
    "intake_sla_breaches",
    "intake_alerts",
    "intake_row_dedupe_drops",
)


def counter_description(name: str) -> str:
    # One description per name wherever it is created: the exporter keeps one per family.
    return f"file intake: {name.replace('_', ' ')}"


def feed_meter() -> MetricMeter:
    """The meter of the worker's Temporal runtime (its Prometheus port), for feed metrics.

    Not the activity's own meter: that one adds ``activity_type``, ``task_queue`` and
    ``namespace``, so its series would never be the ones the worker created at 0 at start
    (:func:`precreate_feed_counters`), and a feed's first event would be invisible. Only in
    async activities (the client is not available in sync ones)."""
    try:
        runtime = activity.client().service_client.config.runtime
    except RuntimeError:  # an ActivityEnvironment without a client (unit tests)
        return activity.metric_meter()
    return (runtime or Runtime.default()).metric_meter


def _count(name: str, feed: str, partner: str, value: int = 1, **labels: str) -> None:
    # Feed metrics go through the worker's Temporal runtime, so they share its Prometheus port.
    if value <= 0:
        return
    counter = feed_meter().create_counter(name, counter_description(name))
    counter.with_additional_attributes({"partner": partner, "feed": feed, **labels}).add(value)


def precreate_feed_counters(
    meter: MetricMeter, feeds: Iterable[tuple[str, str]], alert_kinds: Iterable[str]
) -> int:
    """Create every feed counter at 0 for each (partner, feed): a counter that first appears
    at 1 has no earlier sample, so Prometheus' ``increase()`` never sees its first event
    (deploy/observability/alerts.yml). Returns the number of series created."""
    kinds = sorted(alert_kinds)
    created = 0
    for partner, feed in feeds:
        for name in FEED_COUNTERS:
            extra: list[dict[str, str]] = [{}]
            if name == "intake_files_received":
                extra = [{"outcome": outcome} for outcome in get_args(Outcome)]
            elif name == "intake_alerts":
                extra = [{"kind": kind} for kind in kinds]
            for labels in extra:
                attributes = {"partner": partner, "feed": feed, **labels}
                counter = meter.create_counter(name, counter_description(name))
                counter.with_additional_attributes(attributes).add(0)
                created += 1
    return created


@dataclass
class IntakeRecords:
    pool: asyncpg.Pool
    settings: Settings
    client: Client | None = None

    @activity.defn(name="intake.load_feed")
    async def load_feed(self, request: IntakeRequest) -> LoadedFeed:
        row = await self.pool.fetchrow(
            "SELECT config, status FROM feeds WHERE partner_id = $1 AND feed = $2",
            request.partner_id,
            request.feed,
        )
        if row is None:
            raise ApplicationError(
                f"no feed {request.partner_id}/{request.feed}; create it with "
                "`integrations feeds create`",
                type="FeedNotFound",
                non_retryable=True,
            )
        return LoadedFeed(
            feed=FeedConfig.model_validate_json(row["config"]),
            file_task_queue=self.settings.task_queue_sftp,
        )

    @activity.defn(name="intake.lookup_digest")
    async def lookup_digest(self, lookup: DigestLookup) -> KnownDigest:
        decided = await self.pool.fetchrow(
            """SELECT outcome, reason FROM intake_events
               WHERE partner_id = $1 AND feed = $2 AND remote_name = $3 AND sha256 = $4""",
            lookup.partner_id,
            lookup.feed,
            lookup.remote_name,
            lookup.sha256,
        )
        row = await self.pool.fetchrow(
            "SELECT partner_id, feed, source_name, status FROM file_manifest WHERE sha256 = $1",
            lookup.sha256,
        )
        return KnownDigest(
            sha256=lookup.sha256,
            known=row is not None,
            status=row["status"] if row else None,
            source_name=row["source_name"] if row else None,
            partner_id=row["partner_id"] if row else None,
            feed=row["feed"] if row else None,
            decided_outcome=decided["outcome"] if decided else None,
            decided_reason=decided["reason"] if decided else None,
        )

    @activity.defn(name="intake.record")
    async def record(self, request: RecordRequest) -> Recorded:
        feed, decision, processed = request.feed, request.decision, request.processed
        now = datetime.now(UTC)
        deadline = sla_deadline(feed, request.received_at)
        on_time = None if deadline is None else request.received_at <= deadline
        warnings: list[str] = []
        async with self.pool.acquire() as conn, conn.transaction():
            first_time = False
            if processed is not None:
                file_id = await conn.fetchval(
                    """INSERT INTO file_manifest
                         (sha256, partner_id, feed, source_name, size_bytes, received_at, status,
                          landing_path, pgp_fingerprint, contract_name, schema_version,
                          rows_total, rows_valid, rows_invalid, details)
                       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                               $15::jsonb)
                       ON CONFLICT (sha256) DO NOTHING
                       RETURNING file_id""",
                    processed.sha256,
                    feed.partner_id,
                    feed.feed,
                    decision.remote_name,
                    processed.size,
                    request.received_at,
                    processed.outcome,
                    processed.landing_path,
                    processed.pgp_fingerprint,
                    processed.file_contract,
                    str(processed.schema_version),
                    processed.rows_total,
                    processed.rows_valid,
                    processed.rows_invalid,
                    json.dumps(
                        {
                            "parquet_path": processed.parquet_path,
                            "metadata_path": processed.metadata_path,
                            "report_path": processed.report_path,
                            "file_date": processed.file_date,
                            "reason": processed.reason,
                        }
                    ),
                )
                first_time = file_id is not None
            inserted = await conn.fetchval(
                """INSERT INTO intake_events
                     (partner_id, feed, remote_name, sha256, size_bytes, outcome, reason,
                      rows_total, rows_invalid, sequence, received_at, latency_ms, on_time,
                      schema_drift, workflow_id, rows_duplicate)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                           $16)
                   ON CONFLICT (partner_id, feed, remote_name, sha256) DO NOTHING
                   RETURNING intake_event_id""",
                feed.partner_id,
                feed.feed,
                decision.remote_name,
                decision.sha256 or "",
                decision.size,
                decision.outcome,
                decision.reason,
                decision.rows_total,
                decision.rows_invalid,
                decision.sequence,
                request.received_at,
                int((now - request.received_at).total_seconds() * 1000),
                on_time,
                decision.schema_drift,
                request.workflow_id,
                decision.rows_duplicate,
            )
            if first_time and decision.sequence is not None and decision.outcome == "landed":
                warnings = await self._advance_sequence(conn, feed, decision.sequence)
            if inserted is not None and decision.outcome == "landed":
                await conn.execute(
                    """UPDATE feeds
                          SET last_file_at = greatest(last_file_at, $3), updated_at = now()
                        WHERE partner_id = $1 AND feed = $2""",
                    feed.partner_id,
                    feed.feed,
                    request.received_at,
                )
        if inserted is not None:
            self._metrics(request, now)
        for warning in warnings:
            activity.logger.warning("feed %s/%s: %s", feed.partner_id, feed.feed, warning)
        return Recorded(first_time=first_time, sequence_warnings=warnings)

    async def _advance_sequence(
        self, conn: asyncpg.pool.PoolConnectionProxy, feed: FeedConfig, sequence: int
    ) -> list[str]:
        last = await conn.fetchval(
            "SELECT last_sequence FROM feeds WHERE partner_id = $1 AND feed = $2 FOR UPDATE",
            feed.partner_id,
            feed.feed,
        )
        warnings = []
        if last is not None and sequence <= last:
            warnings.append(f"sequence {sequence} repeats or is older than {last}")
        elif last is not None and sequence > last + 1:
            missing = f"{last + 1}" if sequence == last + 2 else f"{last + 1}-{sequence - 1}"
            warnings.append(f"sequence gap: {missing} not received before {sequence}")
        await conn.execute(
            """UPDATE feeds SET last_sequence = greatest(coalesce(last_sequence, $3), $3)
               WHERE partner_id = $1 AND feed = $2""",
            feed.partner_id,
            feed.feed,
            sequence,
        )
        return warnings

    def _metrics(self, request: RecordRequest, now: datetime) -> None:
        feed, decision = request.feed, request.decision
        partner, name = feed.partner_id, feed.feed
        _count("intake_files_received", name, partner, outcome=decision.outcome)
        _count("intake_bytes_received", name, partner, decision.size)
        if decision.outcome == "duplicate":
            _count("intake_dedupe_drops", name, partner)
        if decision.outcome == "quarantined" or (decision.rows_invalid or 0) > 0:
            _count("intake_validation_failures", name, partner)
        if decision.schema_drift:
            _count("intake_schema_drift", name, partner)
        latency = feed_meter().create_histogram_timedelta(
            "intake_processing_latency", "file intake: received to decided"
        )
        latency.with_additional_attributes({"partner": partner, "feed": name}).record(
            max(now - request.received_at, timedelta(0))
        )

    @activity.defn(name="intake.check_sla")
    async def check_sla(self, check: SlaCheck) -> SlaResult:
        feed = check.feed
        deadline = sla_deadline(feed, check.now)
        if deadline is None or check.now < deadline:
            return SlaResult(breached=False, deadline=deadline)
        zone = ZoneInfo(feed.schedule.timezone)
        day = check.now.astimezone(zone).date()
        day_start = datetime.combine(day, datetime.min.time(), tzinfo=zone).astimezone(UTC)
        landed = await self.pool.fetchval(
            """SELECT count(*) FROM intake_events
               WHERE partner_id = $1 AND feed = $2 AND outcome = 'landed'
                 AND received_at >= $3 AND received_at <= $4""",
            feed.partner_id,
            feed.feed,
            day_start,
            deadline,
        )
        if landed:
            return SlaResult(breached=False, deadline=deadline)
        raised = await self.pool.fetchval(
            """INSERT INTO sla_breaches (partner_id, feed, day, deadline) VALUES ($1, $2, $3, $4)
               ON CONFLICT DO NOTHING RETURNING day""",
            feed.partner_id,
            feed.feed,
            day,
            deadline,
        )
        if raised is not None:
            _count("intake_sla_breaches", feed.feed, feed.partner_id)
            activity.logger.warning(
                "SLA breach: %s/%s had no file by %s", feed.partner_id, feed.feed, deadline
            )
        return SlaResult(breached=True, raised_now=raised is not None, deadline=deadline)

    @activity.defn(name="intake.raise_alert")
    async def raise_alert(self, alert: IntakeAlert) -> bool:
        """Record the alert once per run and kind; pause the feed when a person must act."""
        new = await write_audit(
            self.pool,
            AuditEntry(
                event_id=f"{alert.workflow_id}/alert/{alert.kind}",
                actor="system:intake",
                action=f"intake.alert.{alert.kind}",
                subject=f"{alert.partner_id}/{alert.feed}",
                reason=alert.message[:2000],
            ),
        )
        if new:
            _count("intake_alerts", alert.feed, alert.partner_id, kind=alert.kind)
            activity.logger.error(
                "ALERT %s on feed %s/%s: %s",
                alert.kind,
                alert.partner_id,
                alert.feed,
                alert.message,
            )
        if alert.kind in PAUSING_ALERTS and self.client is not None:
            handle = self.client.get_schedule_handle(schedule_id(alert.partner_id, alert.feed))
            try:
                await handle.pause(note=f"paused by alert {alert.kind}: {alert.message[:200]}")
            except Exception as exc:  # a manual trigger may have no schedule; the alert stands
                activity.logger.warning("could not pause schedule: %s", type(exc).__name__)
        return new
