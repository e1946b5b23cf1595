"""Small summaries of a NACHA file that travel through Temporal (claim check: never the file).

``ReturnNotice`` and ``ChangeNotice`` carry what the return workflow needs about one returned
entry or NOC, account numbers included: payloads are encrypted by the project's codec, and
nothing here is ever logged. ``FileSummary`` is for reports and holds no account number or name.
"""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Final

from foundation.wire_model import WireModel, wire_model
from nacha.addenda99 import (
    AnyReturnAddenda,
    ContestedReturnAddenda,
    DishonoredReturnAddenda,
    ReturnAddenda,
)
from nacha.change_codes import change_code
from nacha.codes import TRANSACTION_CODES
from nacha.model import Batch, Entry, NachaFile
from nacha.return_reasons import ReturnCategory, TimeLimitUnit, return_reason
from nacha.validation import Problem

# A broken 100,000-entry file could yield 100,000 problems; a summary keeps the first ones.
MAX_PROBLEMS: Final = 500


@wire_model("nacha.return_notice", "1.0")
class ReturnNotice(WireModel):
    """One returned entry (addenda 99), keyed by the original entry's trace number."""

    return_code: str
    category: ReturnCategory
    description: str
    known_code: bool
    time_limit_days: int | None
    time_limit_unit: TimeLimitUnit
    original_trace_number: str
    original_rdfi: str
    trace_number: str
    amount_cents: int
    transaction_code: int
    is_debit: bool
    routing_number: str
    account_number: str
    sec_code: str
    company_identification: str
    company_entry_description: str
    effective_entry_date: date | None
    date_of_death: date | None = None
    addenda_information: str = ""
    # Dishonored and contested returns: the return they dishonor or contest.
    return_trace_number: str | None = None
    return_reason_code: str | None = None


@wire_model("nacha.change_notice", "1.0")
class ChangeNotice(WireModel):
    """One notification of change (addenda 98), or a refused NOC (C61-C69)."""

    change_code: str
    description: str
    refused: bool
    original_trace_number: str
    original_rdfi: str
    trace_number: str
    sec_code: str
    company_identification: str
    corrected_account_number: str | None = None
    corrected_routing_number: str | None = None
    corrected_transaction_code: int | None = None
    corrected_individual_name: str | None = None
    corrected_individual_identification: str | None = None
    corrected_company_name: str | None = None
    corrected_company_identification: str | None = None
    corrected_receiving_dfi_identification: str | None = None
    corrected_sec_code: str | None = None
    # Refused NOCs: the change code being refused.
    refused_change_code: str | None = None


@wire_model("nacha.file_summary", "1.0")
class FileSummary(WireModel):
    """What a file holds and what is wrong with it; no account numbers, no names."""

    immediate_destination: str | None
    immediate_origin: str | None
    file_creation_date: date | None
    batch_count: int
    entry_count: int
    addenda_count: int
    debit_total_cents: int
    credit_total_cents: int
    returns_by_code: dict[str, int]
    nocs_by_code: dict[str, int]
    strict: bool
    valid: bool
    error_count: int
    warning_count: int
    problems: list[Problem]
    problems_truncated: bool = False


def return_notice(batch: Batch, entry: Entry) -> ReturnNotice | None:
    """The entry's first addenda 99 as a notice (``return_notices`` gives one per addenda 99)."""
    a = entry.return_addenda
    if a is None:
        return None
    return _return_notice(batch, entry, a)


def _return_notice(batch: Batch, entry: Entry, a: AnyReturnAddenda) -> ReturnNotice:
    d = entry.detail
    reason = return_reason(a.return_code)
    tc = TRANSACTION_CODES.get(d.transaction_code)
    h = batch.header
    return ReturnNotice(
        return_code=a.return_code,
        category=reason.category,
        description=reason.description,
        known_code=reason.known,
        time_limit_days=reason.time_limit_days,
        time_limit_unit=reason.time_limit_unit,
        original_trace_number=a.original_trace_number,
        original_rdfi=a.original_rdfi,
        trace_number=d.trace_number,
        amount_cents=d.amount_cents,
        transaction_code=d.transaction_code,
        is_debit=tc is not None and not tc.is_credit,
        routing_number=d.routing_number,
        account_number=d.dfi_account_number,
        sec_code=h.sec_code,
        company_identification=h.company_identification,
        company_entry_description=h.company_entry_description,
        effective_entry_date=h.effective_entry_date,
        date_of_death=a.date_of_death if isinstance(a, ReturnAddenda) else None,
        addenda_information=(
            a.addenda_information if not isinstance(a, ContestedReturnAddenda) else ""
        ),
        return_trace_number=(
            a.return_trace_number
            if isinstance(a, DishonoredReturnAddenda | ContestedReturnAddenda)
            else None
        ),
        return_reason_code=(
            a.return_reason_code
            if isinstance(a, DishonoredReturnAddenda | ContestedReturnAddenda)
            else None
        ),
    )


def change_notice(batch: Batch, entry: Entry) -> ChangeNotice | None:
    a = entry.noc
    if a is None:
        return None
    known = change_code(a.change_code)
    c = a.correction
    return ChangeNotice(
        change_code=a.change_code,
        description=known.description,
        refused=a.is_refused,
        original_trace_number=a.original_trace_number,
        original_rdfi=a.original_rdfi,
        trace_number=entry.detail.trace_number,
        sec_code=batch.header.sec_code,
        company_identification=batch.header.company_identification,
        corrected_account_number=c.account_number,
        corrected_routing_number=c.routing_number,
        corrected_transaction_code=c.transaction_code,
        corrected_individual_name=c.individual_name,
        corrected_individual_identification=c.individual_identification,
        corrected_company_name=c.company_name,
        corrected_company_identification=c.company_identification,
        corrected_receiving_dfi_identification=c.receiving_dfi_identification,
        corrected_sec_code=c.sec_code,
        refused_change_code=a.refused_change_code or None if a.is_refused else None,
    )


def return_notices(file: NachaFile) -> list[ReturnNotice]:
    """One notice per addenda 99: an entry carrying several (a return, its dishonor, a
    contest) reports every code, not only the first."""
    return [_return_notice(b, e, a) for b, e in file.entries() for a in e.returns]


def change_notices(file: NachaFile) -> list[ChangeNotice]:
    return [n for b, e in file.entries() if (n := change_notice(b, e)) is not None]


def summarize(file: NachaFile, problems: list[Problem], *, strict: bool) -> FileSummary:
    entries = addenda = debit = credit = 0
    returns: Counter[str] = Counter()
    nocs: Counter[str] = Counter()
    for _, e in file.entries():
        entries += 1
        addenda += len(e.addenda)
        tc = TRANSACTION_CODES.get(e.detail.transaction_code)
        if tc is not None and tc.is_credit:
            credit += e.detail.amount_cents
        elif tc is not None:
            debit += e.detail.amount_cents
        if e.addenda:
            for r in e.returns:
                returns[r.return_code] += 1
            if (n := e.noc) is not None:
                nocs[n.change_code] += 1
    errors = sum(p.severity == "error" for p in problems)
    h = file.header
    return FileSummary(
        immediate_destination=h.immediate_destination if h else None,
        immediate_origin=h.immediate_origin if h else None,
        file_creation_date=h.file_creation_date if h else None,
        batch_count=len(file.batches),
        entry_count=entries,
        addenda_count=addenda,
        debit_total_cents=debit,
        credit_total_cents=credit,
        returns_by_code=dict(sorted(returns.items())),
        nocs_by_code=dict(sorted(nocs.items())),
        strict=strict,
        valid=errors == 0,
        error_count=errors,
        warning_count=len(problems) - errors,
        problems=problems[:MAX_PROBLEMS],
        problems_truncated=len(problems) > MAX_PROBLEMS,
    )
