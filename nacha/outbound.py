"""Build files we send: PPD credit/debit batches, re-presentments, and the controls, hashes and
blocking NACHA requires. Everything here is computed from the entries, never typed in."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Literal

from nacha.addenda05 import Addenda05
from nacha.batch_control import BatchControl
from nacha.batch_header import BatchHeader
from nacha.codes import TRANSACTION_CODES
from nacha.entry_detail import EntryDetail
from nacha.errors import NachaWriteError
from nacha.fields import is_digits
from nacha.file_control import FileControl
from nacha.file_header import FileHeader
from nacha.model import AnyBatchHeader, Batch, Entry, Layout, NachaFile
from nacha.routing import is_valid_routing_number

# NACHA Rules Subsection 2.12.4: a reinitiated (re-presented) entry carries "RETRY PYMT" in the
# Company Entry Description, and the same company name, company identification and amount.
RETRY_DESCRIPTION = "RETRY PYMT"
_HASH_MODULUS = 10**10


@dataclass(frozen=True, slots=True)
class Payment:
    """One credit or debit to a receiver's account, in integer cents."""

    routing_number: str
    account_number: str
    amount_cents: int
    name: str
    account_type: Literal["checking", "savings"] = "checking"
    individual_identification: str = ""
    # Payment-related information for one addenda 05 (PPD allows one, up to 80 characters).
    addenda: str | None = None


def transaction_code(
    account_type: Literal["checking", "savings"], *, credit: bool, prenote: bool = False
) -> int:
    """22/27 checking credit/debit, 32/37 savings; 23/28, 33/38 for prenotes."""
    base = 20 if account_type == "checking" else 30
    return base + (2 if credit else 7) + (1 if prenote else 0)


def trace_number(odfi: str, sequence: int) -> str:
    """ODFI identification (8 digits) + entry sequence number (7 digits)."""
    if not (len(odfi) == 8 and is_digits(odfi)) or not 0 < sequence < 10**7:
        raise NachaWriteError(
            "EntryDetail",
            "trace_number",
            "needs an 8-digit ODFI identification and a sequence 1-9999999",
        )
    return f"{odfi}{sequence:07d}"


def entry_for(payment: Payment, *, credit: bool, trace: str, prenote: bool = False) -> Entry:
    if not is_valid_routing_number(payment.routing_number):
        raise NachaWriteError(
            "EntryDetail", "routing_number", "routing number fails the ABA check digit"
        )
    if payment.amount_cents < 0 or (prenote and payment.amount_cents):
        raise NachaWriteError(
            "EntryDetail", "amount_cents", "amount must be non-negative cents (zero for a prenote)"
        )
    addenda: tuple[Addenda05, ...] = ()
    if payment.addenda is not None:
        addenda = (Addenda05(payment.addenda, 1, int(trace[-7:])),)
    detail = EntryDetail(
        transaction_code=transaction_code(payment.account_type, credit=credit, prenote=prenote),
        receiving_dfi=payment.routing_number[:8],
        check_digit=payment.routing_number[8],
        dfi_account_number=payment.account_number,
        amount_cents=payment.amount_cents,
        individual_identification=payment.individual_identification,
        individual_name=payment.name,
        discretionary_data="",
        addenda_record_indicator="1" if addenda else "0",
        trace_number=trace,
    )
    return Entry(detail, addenda)


def batch_control(header: AnyBatchHeader, entries: Sequence[Entry]) -> BatchControl:
    """The batch control NACHA requires: counts, entry hash and totals from the entries."""
    debit = credit = entry_hash = count = 0
    for e in entries:
        count += 1 + len(e.addenda)
        entry_hash += int(e.detail.receiving_dfi)
        tc = TRANSACTION_CODES.get(e.detail.transaction_code)
        if tc is not None and tc.is_credit:
            credit += e.detail.amount_cents
        elif tc is not None:
            debit += e.detail.amount_cents
    return BatchControl(
        service_class_code=header.service_class_code,
        entry_addenda_count=count,
        entry_hash=entry_hash % _HASH_MODULUS,
        total_debit_cents=debit,
        total_credit_cents=credit,
        company_identification=header.company_identification,
        originating_dfi=header.originating_dfi,
        batch_number=header.batch_number,
    )


def ppd_batch(
    *,
    company_name: str,
    company_identification: str,
    odfi_routing_number: str,
    entry_description: str,
    effective_entry_date: date,
    payments: Iterable[Payment],
    credit: bool,
    batch_number: int = 1,
    first_trace_sequence: int = 1,
    sec_code: str = "PPD",
) -> Batch:
    """A batch of PPD credits (payroll) or debits (collections), with its control."""
    odfi = odfi_routing_number[:8]
    header = BatchHeader(
        service_class_code=220 if credit else 225,
        company_name=company_name,
        company_discretionary_data="",
        company_identification=company_identification,
        sec_code=sec_code,
        company_entry_description=entry_description,
        company_descriptive_date="",
        effective_entry_date=effective_entry_date,
        settlement_date="",
        originator_status_code="1",
        originating_dfi=odfi,
        batch_number=batch_number,
    )
    entries = tuple(
        entry_for(p, credit=credit, trace=trace_number(odfi, first_trace_sequence + i))
        for i, p in enumerate(payments)
    )
    return Batch(header, entries, batch_control(header, entries))


def representment_batch(
    original_header: BatchHeader,
    original: EntryDetail,
    *,
    trace_sequence: int,
    effective_entry_date: date,
    batch_number: int = 1,
) -> Batch:
    """A re-presentment of a debit returned R01/R09 (Rules 2.12.4): the same company name,
    company identification and amount, "RETRY PYMT" as the company entry description and a new
    trace number. The caller enforces "at most twice within 180 days"."""
    tc = TRANSACTION_CODES.get(original.transaction_code)
    code = original.transaction_code
    if tc is not None and tc.return_or_noc:
        code += 1  # a return's code (26, 36) -> the original debit's (27, 37)
    if TRANSACTION_CODES.get(code) is None or TRANSACTION_CODES[code].is_credit:
        raise NachaWriteError("EntryDetail", "transaction_code", "only a debit can be re-presented")
    header = replace(
        original_header,
        service_class_code=225,
        company_entry_description=RETRY_DESCRIPTION,
        effective_entry_date=effective_entry_date,
        settlement_date="",
        batch_number=batch_number,
        record_number=0,
    )
    detail = replace(
        original,
        transaction_code=code,
        addenda_record_indicator="0",
        trace_number=trace_number(original_header.originating_dfi, trace_sequence),
        record_number=0,
    )
    entries = (Entry(detail),)
    return Batch(header, entries, batch_control(header, entries))


def with_controls(file: NachaFile) -> NachaFile:
    """The same file with every batch control and the file control computed from its entries,
    blocked to ten records (for a file we send)."""
    batches = tuple(
        Batch(b.header, b.entries, batch_control(b.header, b.entries)) for b in file.batches
    )
    records = (
        (1 if file.header is not None else 0)
        + 1
        + sum(2 + sum(1 + len(e.addenda) for e in b.entries) for b in batches)
    )
    control = FileControl(
        batch_count=len(batches),
        block_count=-(-records // 10),
        entry_addenda_count=sum(c.entry_addenda_count for b in batches if (c := b.control)),
        entry_hash=sum(c.entry_hash for b in batches if (c := b.control)) % _HASH_MODULUS,
        total_debit_cents=sum(c.total_debit_cents for b in batches if (c := b.control)),
        total_credit_cents=sum(c.total_credit_cents for b in batches if (c := b.control)),
    )
    return NachaFile(file.header, batches, control, layout=Layout())


def build_file(
    *,
    immediate_destination: str,
    immediate_origin: str,
    destination_name: str,
    origin_name: str,
    created: datetime,
    batches: Sequence[Batch],
    file_id_modifier: str = "A",
    reference_code: str = "",
) -> NachaFile:
    """An outbound file: header, the batches renumbered 1..n, controls and blocking computed."""
    header = FileHeader(
        priority_code="01",
        immediate_destination=immediate_destination,
        immediate_origin=immediate_origin,
        file_creation_date=created.date(),
        file_creation_time=created.strftime("%H%M"),
        file_id_modifier=file_id_modifier,
        immediate_destination_name=destination_name,
        immediate_origin_name=origin_name,
        reference_code=reference_code,
    )
    numbered = tuple(
        Batch(replace(b.header, batch_number=i, record_number=0), b.entries, None)
        for i, b in enumerate(batches, 1)
    )
    return with_controls(NachaFile(header, numbered, None))
