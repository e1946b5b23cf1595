"""EDI control numbers in PostgreSQL (migrations/0006_edi.sql).

Inbound ISA13/GS06/ST02 per partner are recorded once: a repeat is detected, and gaps in a
partner's ISA13 sequence are reported. Our outbound ISA13 numbers come from one counter row per
partner, advanced by a single ``UPDATE ... RETURNING``: monotonic, never reused, safe with any
number of workers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from edi.datatypes import is_digits
from edi.results import ValidationResult

MAX_GAPS_REPORTED = 20
MAX_CONTROL_NUMBER = 999_999_999


@dataclass
class InboundRecord:
    duplicate: bool  # the interchange came before, in another file
    first_file_sha256: str
    gaps: list[int] = field(default_factory=list)  # ISA13s skipped since the highest before


async def record_inbound(
    pool: asyncpg.Pool,
    partner_id: str,
    result: ValidationResult,
    *,
    file_sha256: str,
    landing_path: str | None,
) -> list[InboundRecord]:
    """Record every readable interchange of ``result``; one record per interchange.

    The same file recorded again (an activity retry) is not a duplicate: only another file
    carrying the same ISA13 is."""
    records = []
    async with pool.acquire() as conn:
        for interchange in result.interchanges:
            if not is_digits(interchange.control_number, 9):  # ASCII: '¹'.isdigit() is true
                continue
            isa13 = int(interchange.control_number)
            async with conn.transaction():
                # Serialise per partner so gap detection sees a consistent highest number.
                await conn.execute(
                    "SELECT pg_advisory_xact_lock(hashtext('edi_inbound:' || $1))", partner_id
                )
                highest = await conn.fetchval(
                    "SELECT max(isa13) FROM edi_inbound_interchanges WHERE partner_id = $1",
                    partner_id,
                )
                inserted = await conn.fetchval(
                    """INSERT INTO edi_inbound_interchanges
                         (partner_id, isa13, sender, file_sha256, landing_path)
                       VALUES ($1, $2, $3, $4, $5)
                       ON CONFLICT (partner_id, isa13) DO NOTHING
                       RETURNING true""",
                    partner_id,
                    isa13,
                    interchange.sender,
                    file_sha256,
                    landing_path,
                )
                if inserted:
                    await conn.executemany(
                        """INSERT INTO edi_inbound_sets
                             (partner_id, isa13, gs06, st02, set_id, ack_code)
                           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING""",
                        [
                            (
                                partner_id,
                                isa13,
                                g.control_number,
                                s.control_number,
                                s.set_id,
                                s.ack_code,
                            )
                            for g in interchange.groups
                            for s in g.sets
                        ],
                    )
                    gaps = []
                    if highest is not None and isa13 > highest + 1:
                        gaps = list(range(highest + 1, min(isa13, highest + 1 + MAX_GAPS_REPORTED)))
                    records.append(InboundRecord(False, file_sha256, gaps))
                    continue
                first = await conn.fetchval(
                    "SELECT file_sha256 FROM edi_inbound_interchanges "
                    "WHERE partner_id = $1 AND isa13 = $2",
                    partner_id,
                    isa13,
                )
                duplicate = first != file_sha256
                if duplicate:
                    await conn.execute(
                        """UPDATE edi_inbound_interchanges
                              SET repeats = repeats + 1, last_repeat_at = now()
                            WHERE partner_id = $1 AND isa13 = $2""",
                        partner_id,
                        isa13,
                    )
                records.append(InboundRecord(duplicate, first))
    return records


async def allocate_outbound(pool: asyncpg.Pool, partner_id: str, purpose: str) -> int:
    """Our next interchange control number for ``partner_id``; the same ``purpose`` always
    gets the same number (retries), a new one always a higher number than any before."""
    async with pool.acquire() as conn, conn.transaction():
        existing = await conn.fetchval(
            "SELECT control_number FROM edi_outbound_interchanges "
            "WHERE partner_id = $1 AND purpose = $2",
            partner_id,
            purpose,
        )
        if existing is not None:
            return int(existing)
        await conn.execute(
            "INSERT INTO edi_outbound_counters (partner_id) VALUES ($1) ON CONFLICT DO NOTHING",
            partner_id,
        )
        # The row lock taken by this UPDATE is what makes allocation safe across workers.
        number = await conn.fetchval(
            """UPDATE edi_outbound_counters SET last_number = last_number + 1
                WHERE partner_id = $1 RETURNING last_number""",
            partner_id,
        )
        inserted = await conn.fetchval(
            """INSERT INTO edi_outbound_interchanges (partner_id, control_number, purpose)
               VALUES ($1, $2, $3) ON CONFLICT (partner_id, purpose) DO NOTHING
               RETURNING control_number""",
            partner_id,
            number,
            purpose,
        )
        if inserted is None:
            # Another worker allocated this purpose meanwhile: use theirs (ours stays a gap).
            theirs = await conn.fetchval(
                "SELECT control_number FROM edi_outbound_interchanges "
                "WHERE partner_id = $1 AND purpose = $2",
                partner_id,
                purpose,
            )
            return int(theirs)
        if number > MAX_CONTROL_NUMBER:
            raise OverflowError(f"partner {partner_id} has used every ISA13 control number")
        return int(number)
