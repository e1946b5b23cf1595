"""PSP report parts and bank statements landed by file intake, kept in PostgreSQL.

A day's report is complete when its payouts and balance-transaction parts have landed (and its
link part, when the partner has a feed for links). It is then reconciled once, as a whole, and
each payout's outcome stored, so a Payout workflow reads one row rather than re-reading a file of
a million transactions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

import asyncpg

from payouts.reconciliation import PayoutReconciliation

REQUIRED_PARTS = ("payouts", "balance_transactions")


@dataclass(frozen=True, slots=True)
class LandedPart:
    path: str
    sha256: str


@dataclass(frozen=True, slots=True)
class CompleteReport:
    report_id: str
    parts: dict[str, LandedPart]


def report_id(parts: dict[str, LandedPart]) -> str:
    """Same parts (by content), same id: a report delivered twice is reconciled once."""
    joined = "|".join(f"{name}={parts[name].sha256}" for name in sorted(parts))
    return hashlib.sha256(joined.encode()).hexdigest()


async def record_part(
    pool: asyncpg.Pool, partner_id: str, day: date, part: str, path: str, sha256: str
) -> CompleteReport | None:
    """Record a landed part; return the day's report if it is now complete."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            """INSERT INTO psp_report_parts (partner_id, report_date, part, path, sha256)
               VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (partner_id, report_date, part)
               DO UPDATE SET path = excluded.path, sha256 = excluded.sha256, landed_at = now()
               WHERE psp_report_parts.sha256 <> excluded.sha256""",
            partner_id,
            day,
            part,
            path,
            sha256,
        )
        rows = await conn.fetch(
            "SELECT part, path, sha256 FROM psp_report_parts "
            "WHERE partner_id = $1 AND report_date = $2",
            partner_id,
            day,
        )
        wants_links = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM feeds WHERE partner_id = $1 "
            "AND config->>'report_part' = 'links')",
            partner_id,
        )
    parts = {r["part"]: LandedPart(r["path"], r["sha256"]) for r in rows}
    needed = (*REQUIRED_PARTS, "links") if wants_links else REQUIRED_PARTS
    if any(name not in parts for name in needed):
        return None
    return CompleteReport(report_id=report_id(parts), parts=parts)


async def stored_report(pool: asyncpg.Pool, report: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT payouts, exceptions, row_problems, handed_off FROM psp_reports "
        "WHERE report_id = $1",
        report,
    )


async def store_outcomes(
    pool: asyncpg.Pool,
    report: str,
    partner_id: str,
    day: date,
    outcomes: list[PayoutReconciliation],
    row_problems: int,
) -> None:
    """Store every payout's outcome with the report, once (a concurrent twin does nothing)."""
    async with pool.acquire() as conn, conn.transaction():
        inserted = await conn.fetchval(
            """INSERT INTO psp_reports
                   (report_id, partner_id, report_date, payouts, exceptions, row_problems)
               VALUES ($1, $2, $3, $4, $5, $6)
               ON CONFLICT (report_id) DO NOTHING RETURNING true""",
            report,
            partner_id,
            day,
            len(outcomes),
            sum(1 for o in outcomes if o.status == "exception"),
            row_problems,
        )
        if inserted:
            await conn.copy_records_to_table(
                "payout_reconciliations",
                records=[
                    (report, n, o.payout_id, o.model_dump_json()) for n, o in enumerate(outcomes)
                ],
                columns=["report_id", "ordinal", "payout_id", "outcome"],
            )


async def payouts_from(pool: asyncpg.Pool, report: str, start: int, limit: int) -> list[str]:
    rows = await pool.fetch(
        "SELECT payout_id FROM payout_reconciliations WHERE report_id = $1 AND ordinal >= $2 "
        "ORDER BY ordinal LIMIT $3",
        report,
        start,
        limit,
    )
    return [r["payout_id"] for r in rows]


async def mark_handed_off(pool: asyncpg.Pool, report: str, upto: int) -> None:
    await pool.execute(
        "UPDATE psp_reports SET handed_off = greatest(handed_off, $2) WHERE report_id = $1",
        report,
        upto,
    )


async def stored_outcome(
    pool: asyncpg.Pool, report: str, payout_id: str
) -> PayoutReconciliation | None:
    raw = await pool.fetchval(
        "SELECT outcome FROM payout_reconciliations WHERE report_id = $1 AND payout_id = $2",
        report,
        payout_id,
    )
    return None if raw is None else PayoutReconciliation.model_validate_json(raw)


async def record_statement(
    pool: asyncpg.Pool, sha256: str, partner_id: str, path: str, credits: int
) -> int | None:
    """Record a landed statement; return how many payouts it was already handed to (None when
    it has not been handed off yet)."""
    await pool.execute(
        """INSERT INTO bank_statement_files (sha256, partner_id, path, credits)
           VALUES ($1, $2, $3, $4) ON CONFLICT (sha256) DO NOTHING""",
        sha256,
        partner_id,
        path,
        credits,
    )
    signalled: int | None = await pool.fetchval(
        "SELECT signalled FROM bank_statement_files WHERE sha256 = $1", sha256
    )
    return signalled


async def mark_statement_signalled(pool: asyncpg.Pool, sha256: str, signalled: int) -> None:
    await pool.execute(
        "UPDATE bank_statement_files SET signalled = $2 WHERE sha256 = $1", sha256, signalled
    )
