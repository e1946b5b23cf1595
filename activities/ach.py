"""ACH activities: ingest return files, prepare re-presentments, block accounts, apply
corrections, record domain events and operator decisions. All keyed, all safe to repeat."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

import nacha
from activities.audit import write_audit
from activities.outbox import record_event
from adapters.column_crypto import lookup_hash, seal, unseal
from adapters.landing_zone import LandingZone, file_digest
from adapters.payload_codec import KeyRing
from nacha.batch_header import parse_batch_header
from nacha.entry_detail import parse_entry_detail
from nacha.file_header import parse_file_header
from runtime.settings import Settings
from stores.ach import AchInputError, ingest, lookup_key
from wire.ach import (
    BlockRequest,
    CorrectionRequest,
    IngestRequest,
    IngestSummary,
    OutboundFile,
    OutboxEvent,
    RepresentRequest,
)
from wire.audit import AuditEntry
from wire.intake import DeliverRequest, FeedConfig


@dataclass
class AchActivities:
    pool: asyncpg.Pool
    settings: Settings
    ring: KeyRing
    client: Client | None = None

    @activity.defn(name="ach.ingest")
    async def ingest_file(self, request: IngestRequest) -> IngestSummary:
        """Signal-with-start a case per return/NOC; a retry resumes after the last signalled."""
        assert self.client is not None
        details = activity.info().heartbeat_details
        resume_at = int(details[0]) + 1 if details else 0
        try:
            return await ingest(
                self.pool,
                self.client,
                self.settings,
                request,
                progress=lambda index: activity.heartbeat(index),
                resume_at=resume_at,
            )
        except AchInputError as exc:
            raise ApplicationError(str(exc), type="AchInput", non_retryable=True) from None

    @activity.defn(name="ach.prepare_representment")
    async def prepare_representment(self, request: RepresentRequest) -> OutboundFile:
        """Write the RETRY PYMT file once: its trace number and name are allocated per
        (original entry, attempt), so every retry rebuilds the very same bytes."""
        row = await self.pool.fetchrow(
            "SELECT entry_sealed FROM originations WHERE trace_number = $1",
            request.original_trace,
        )
        if row is None:
            raise ApplicationError(
                f"no origination {request.original_trace}",
                type="NoOrigination",
                non_retryable=True,
            )
        parts = json.loads(unseal(self.ring, row["entry_sealed"], "originations.entry_sealed"))
        file_header = parse_file_header(parts["file_header"], 1, [])
        batch_header = parse_batch_header(parts["batch_header"], 2, [])
        original = parse_entry_detail(parts["entry"], 3, [])
        file_name = f"RETRY-{request.original_trace}-{request.number}.ach"
        await self._allocate(request, batch_header.originating_dfi, file_name)
        allocated = await self.pool.fetchrow(
            "SELECT trace_number, effective_date FROM ach_representments "
            "WHERE original_trace = $1 AND number = $2",
            request.original_trace,
            request.number,
        )
        assert allocated is not None
        trace = allocated["trace_number"]
        batch = nacha.representment_batch(
            batch_header,
            original,
            trace_sequence=int(trace[-7:]),
            effective_entry_date=allocated["effective_date"],
        )
        created = datetime.combine(allocated["effective_date"], datetime.min.time(), UTC)
        outbound = nacha.build_file(
            immediate_destination=file_header.immediate_destination,
            immediate_origin=file_header.immediate_origin,
            destination_name=file_header.immediate_destination_name,
            origin_name=file_header.immediate_origin_name,
            created=created,
            batches=[batch],
        )
        problems = [p for p in nacha.validate(outbound, strict=True) if p.severity == "error"]
        if problems:
            raise ApplicationError(
                f"re-presentment would be invalid: {problems[0].message}",
                type="NachaInvalid",
                non_retryable=True,
            )
        content = nacha.write(outbound)
        landing = LandingZone(self.settings.landing_zone_dir)
        path = landing.outbound(request.partner_id, file_name)
        # Allocation makes every attempt build the very same bytes: the first one wins.
        landing.write_bytes(path, content)
        digest = file_digest(path)
        await self.pool.execute(
            "UPDATE ach_representments SET sha256 = $3 WHERE original_trace = $1 AND number = $2",
            request.original_trace,
            request.number,
            digest,
        )
        feed = await self._feed(request.partner_id, request.bank_feed)
        return OutboundFile(
            delivery=DeliverRequest(
                feed=feed,
                local_path=str(path),
                remote_name=file_name,
                sha256=digest,
                size=path.stat().st_size,
            ),
            trace_number=trace,
            original_trace=request.original_trace,
            number=request.number,
        )

    async def _allocate(self, request: RepresentRequest, odfi: str, file_name: str) -> None:
        """Give this attempt a trace number of its own, once: never one of our originations'
        (a re-presentment is a new entry) and never one already given out."""
        async with self.pool.acquire() as conn, conn.transaction():
            # One allocator at a time, so two workers never pick the same free number.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ach_trace_allocation'))")
            exists = await conn.fetchval(
                "SELECT 1 FROM ach_representments WHERE original_trace = $1 AND number = $2",
                request.original_trace,
                request.number,
            )
            if exists:
                return
            while True:
                candidate = odfi + str(
                    await conn.fetchval("SELECT nextval('ach_trace_sequence')")
                ).zfill(7)
                taken = await conn.fetchval(
                    """SELECT EXISTS (SELECT 1 FROM originations WHERE trace_number = $1)
                           OR EXISTS (SELECT 1 FROM ach_representments WHERE trace_number = $1)""",
                    candidate,
                )
                if not taken:
                    break
            await conn.execute(
                """INSERT INTO ach_representments
                     (original_trace, number, trace_number, effective_date, file_name)
                   VALUES ($1, $2, $3, $4, $5)""",
                request.original_trace,
                request.number,
                candidate,
                request.effective_date,
                file_name,
            )

    async def _feed(self, partner_id: str, feed: str) -> FeedConfig:
        config = await self.pool.fetchval(
            "SELECT config FROM feeds WHERE partner_id = $1 AND feed = $2", partner_id, feed
        )
        if config is None:
            raise ApplicationError(
                f"no bank feed {partner_id}/{feed} to deliver to",
                type="FeedNotFound",
                non_retryable=True,
            )
        return FeedConfig.model_validate_json(config)

    @activity.defn(name="ach.block_account")
    async def block_account(self, request: BlockRequest) -> bool:
        """No further debits to the account of this entry (unauthorized return)."""
        status = await self.pool.execute(
            """INSERT INTO blocked_accounts
                 (routing_number, account_lookup, account_last4, reason, trace_number)
               SELECT routing_number, account_lookup, account_last4, $2, trace_number
                 FROM originations WHERE trace_number = $1
               ON CONFLICT (routing_number, account_lookup) DO NOTHING""",
            request.trace_number,
            request.reason,
        )
        return bool(status.endswith(" 1"))

    @activity.defn(name="ach.apply_correction")
    async def apply_correction(self, request: CorrectionRequest) -> bool:
        """Record the correction (sealed) and update the payee's details where we know them."""
        secret = lookup_key(self.settings)
        async with self.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                """INSERT INTO ach_corrections (notice_id, trace_number, source, fields_sealed, due)
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (notice_id) DO NOTHING""",
                request.notice_id,
                request.trace_number,
                request.source,
                seal(self.ring, json.dumps(request.fields), "ach_corrections.fields_sealed"),
                request.due,
            )
            payee = await conn.fetchrow(
                "SELECT p.payee_id, p.routing_number FROM originations o "
                "JOIN payees p USING (payee_id) WHERE o.trace_number = $1",
                request.trace_number,
            )
            account = request.fields.get("account_number")
            routing = request.fields.get("routing_number") or (payee and payee["routing_number"])
            if payee is not None and (account or request.fields.get("routing_number")):
                updates: dict[str, str] = {"routing_number": str(routing)}
                if account:
                    updates["account_sealed"] = seal(self.ring, account, "payees.account_sealed")
                    updates["account_last4"] = account[-4:]
                    updates["account_lookup"] = lookup_hash(secret, str(routing), account)
                assignments = ", ".join(f"{k} = ${i}" for i, k in enumerate(updates, 2))
                await conn.execute(
                    f"UPDATE payees SET {assignments}, updated_at = now() WHERE payee_id = $1",  # noqa: S608 - fixed column names
                    payee["payee_id"],
                    *updates.values(),
                )
        return bool(status.endswith(" 1"))

    @activity.defn(name="ach.record_event")
    async def record_event(self, event: OutboxEvent) -> bool:
        """Put a domain event in the outbox once (published by the messaging relay)."""
        return await record_event(self.pool, event)

    @activity.defn(name="audit.write")
    async def audit(self, entry: AuditEntry) -> bool:
        return await write_audit(self.pool, entry)
