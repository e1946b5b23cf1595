"""ACH bookkeeping shared by the CLI and the activities: importing what we originated, and
ingesting a bank's return/NOC file into one durable case per original entry. Only SQL and
Temporal calls live here; what a file's notices are and whether a return is late is decided in
the ACH returns core (``ach_returns.notices``).

Ingest is idempotent: each case is reached by signal-with-start on ``ach-return-<original
trace>``, and a case ignores a notice it has already seen, so the same file ingested twice
starts nothing twice.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import asyncpg
from temporalio.client import Client

import nacha
from ach_returns.notices import notices_in, within_time_limit
from ach_returns.state_machine import NocNotice, OriginalEntry, ReturnNotice
from adapters.column_crypto import lookup_hash, seal
from adapters.payload_codec import KeyRing
from nacha.batch_header import BatchHeader, format_batch_header
from nacha.entry_detail import EntryDetail, format_entry_detail
from nacha.file_header import format_file_header
from runtime.settings import Settings
from wire import workflow_ids as ids
from wire.ach import AchReturnStart, IngestRequest, IngestSummary
from wire.search_attributes import ach_return_search_attributes

SIGNAL_CONCURRENCY = 64  # signal-with-starts in flight; the dev server takes ~70/s


class AchInputError(ValueError):
    """A file that cannot be used (unreadable, or not what the command expects)."""


def lookup_key(settings: Settings) -> bytes:
    return base64.b64decode(settings.require("pii_lookup_key"))


def workflow_id(original_trace: str) -> str:
    return ids.workflow_id("AchReturn", original_trace)


# --- originations -------------------------------------------------------------------------------


async def import_originations(
    pool: asyncpg.Pool,
    ring: KeyRing,
    secret: bytes,
    path: Path,
    *,
    partner_id: str,
    bank_feed: str,
    source: str,
) -> int:
    """Record every entry of an outbound file we sent, so its returns find it. Returns the
    number of new originations (re-importing the same file adds none)."""
    try:
        ach_file = nacha.read(path)
    except nacha.NachaReadError as exc:
        raise AchInputError(f"{path.name}: {exc}") from None
    if ach_file.header is None:
        raise AchInputError(f"{path.name}: no file header")
    file_header = ach_file.header
    rows = []
    for batch, entry in ach_file.entries():
        detail, header = entry.detail, batch.header
        if not isinstance(detail, EntryDetail) or not isinstance(header, BatchHeader):
            continue  # IAT originations are not re-presentable here
        effective = header.effective_entry_date or file_header.file_creation_date
        sealed = seal(
            ring,
            json.dumps(
                {
                    "file_header": format_file_header(file_header),
                    "batch_header": format_batch_header(header),
                    "entry": format_entry_detail(detail),
                }
            ),
            "originations.entry_sealed",
        )
        rows.append(
            (
                detail.trace_number,
                partner_id,
                bank_feed,
                header.sec_code,
                detail.transaction_code,
                detail.amount_cents,
                detail.routing_number,
                detail.dfi_account_number.strip()[-4:],
                lookup_hash(secret, detail.routing_number, detail.dfi_account_number.strip()),
                effective,
                effective,  # originators leave the settlement date blank; it settles then
                sealed,
                source,
            )
        )
    inserted = 0
    async with pool.acquire() as conn, conn.transaction():
        for row in rows:
            status = await conn.execute(
                """INSERT INTO originations
                     (trace_number, partner_id, bank_feed, sec_code, transaction_code,
                      amount_cents, routing_number, account_last4, account_lookup,
                      effective_date, settlement_date, entry_sealed, source)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                   ON CONFLICT (trace_number) DO NOTHING""",
                *row,
            )
            inserted += status.endswith(" 1")
    return inserted


# --- returns and NOCs -----------------------------------------------------------------------------


async def _to_cases(
    pool: asyncpg.Pool, notices: list[tuple[str, ReturnNotice | NocNotice]]
) -> list[tuple[str, ReturnNotice | NocNotice]]:
    """A return of a re-presentment names the re-presentment's trace number: it belongs to the
    case of the entry that was re-presented."""
    rows = await pool.fetch(
        "SELECT trace_number, original_trace FROM ach_representments "
        "WHERE trace_number = ANY($1::text[])",
        [trace for trace, _ in notices],
    )
    case_of = {r["trace_number"]: r["original_trace"] for r in rows}
    return [(case_of.get(trace, trace), notice) for trace, notice in notices]


async def _originals(
    pool: asyncpg.Pool, traces: Sequence[str]
) -> dict[str, tuple[OriginalEntry, str, str]]:
    rows = await pool.fetch(
        """SELECT trace_number, partner_id, bank_feed, payee_id, sec_code, transaction_code,
                  amount_cents, routing_number, account_last4, effective_date, settlement_date
             FROM originations WHERE trace_number = ANY($1::text[])""",
        list(traces),
    )
    return {
        r["trace_number"]: (
            OriginalEntry(
                trace_number=r["trace_number"],
                amount_cents=r["amount_cents"],
                settlement_date=r["settlement_date"],
                effective_date=r["effective_date"],
                transaction_code=r["transaction_code"],
                sec_code=r["sec_code"],
                routing_number=r["routing_number"],
                account_last4=r["account_last4"],
                payee_id=r["payee_id"],
            ),
            r["partner_id"],
            r["bank_feed"],
        )
        for r in rows
    }


async def ingest(
    pool: asyncpg.Pool,
    client: Client,
    settings: Settings,
    request: IngestRequest,
    *,
    progress: Callable[[int], None] | None = None,
    resume_at: int = 0,
) -> IngestSummary:
    """Signal-with-start one case per returned or corrected original entry."""
    try:
        ach_file = nacha.read(Path(request.path))
    except nacha.NachaReadError as exc:
        raise AchInputError(f"{Path(request.path).name}: {exc}") from None
    problems = [p for p in nacha.validate(ach_file, strict=False) if p.severity == "error"]
    notices = await _to_cases(pool, notices_in(ach_file, request.received_on))
    originals = await _originals(pool, sorted({trace for trace, _ in notices}))
    summary = IngestSummary(
        entries=sum(1 for _ in ach_file.entries()),
        returns=sum(isinstance(n, ReturnNotice) for _, n in notices),
        nocs=sum(isinstance(n, NocNotice) for _, n in notices),
        problems=len(problems),
        returns_by_code=dict(Counter(n.code for _, n in notices if isinstance(n, ReturnNotice))),
        unmatched=sum(trace not in originals for trace, _ in notices),
    )
    gate = asyncio.Semaphore(SIGNAL_CONCURRENCY)

    async def signal(index: int, trace: str, notice: ReturnNotice | NocNotice) -> None:
        matched = originals.get(trace)
        if isinstance(notice, ReturnNotice) and matched is not None:
            notice = notice.model_copy(
                update={
                    "within_time_limit": within_time_limit(
                        notice.code, matched[0].settlement_date, notice.received_on
                    )
                }
            )
        start = AchReturnStart(
            trace_number=trace,
            partner_id=matched[1] if matched else request.partner_id,
            bank_feed=matched[2] if matched else request.bank_feed,
            original=matched[0] if matched else None,
            file_task_queue=settings.task_queue_sftp,
        )
        signal_name = "return_received" if isinstance(notice, ReturnNotice) else "noc_received"
        async with gate:
            await client.start_workflow(
                "AchReturn",
                start,
                id=workflow_id(trace),
                task_queue=settings.task_queue_general,
                start_signal=signal_name,
                start_signal_args=[notice],
                search_attributes=ach_return_search_attributes(start, notice.code),
            )
        if progress is not None:
            progress(index)

    pending = list(enumerate(notices))[resume_at:]
    for chunk_start in range(0, len(pending), 500):
        chunk = pending[chunk_start : chunk_start + 500]
        await asyncio.gather(*(signal(i, trace, n) for i, (trace, n) in chunk))
    summary.signalled = len(pending)
    return summary
