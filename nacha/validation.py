"""Validate a NACHA file model: every problem, with its record number, field and a message a
partner can act on. Validation never stops at the first problem and never raises.

``strict=True`` is for files we send: everything the reader tolerated (CRLF, short lines,
missing blocking or batch controls) and every formatting rule is an error. ``strict=False`` is
for files banks send us: tolerated deviations and ordering rules are warnings; wrong totals,
counts, hashes, check digits and unknown codes are errors either way.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict

from nacha.addenda05 import Addenda05
from nacha.addenda98 import NocAddenda
from nacha.addenda99 import ContestedReturnAddenda, DishonoredReturnAddenda, ReturnAddenda
from nacha.batch_header import BatchHeader
from nacha.change_codes import CHANGE_CODES, change_code
from nacha.codes import (
    MULTI_ADDENDA_SEC_CODES,
    SEC_CODES,
    SERVICE_CLASS_CODES,
    TRANSACTION_CODES,
    TransactionCode,
)
from nacha.fields import is_digits
from nacha.iat import IAT_MANDATORY_ADDENDA, IatAddenda
from nacha.model import AnyBatchHeader, AnyEntryDetail, Batch, Entry, NachaFile
from nacha.return_reasons import RETURN_REASONS
from nacha.routing import check_digit, is_valid_routing_number

Severity = Literal["error", "warning"]
_HASH_MODULUS = 10**10  # entry hashes keep the 10 rightmost digits


class Problem(BaseModel):
    """One thing wrong with a file. ``code`` is stable for programs; ``message`` is for people
    and never contains an account number or a name."""

    model_config = ConfigDict(frozen=True)

    record_number: int
    field: str | None
    code: str
    message: str
    severity: Severity


class _Report:
    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.problems: list[Problem] = []

    def error(self, n: int, field: str | None, code: str, message: str) -> None:
        self.problems.append(
            Problem(record_number=n, field=field, code=code, message=message, severity="error")
        )

    def rule(self, n: int, field: str | None, code: str, message: str) -> None:
        """A formatting rule: an error in strict mode, a warning in lenient mode."""
        self.problems.append(
            Problem(
                record_number=n,
                field=field,
                code=code,
                message=message,
                severity="error" if self.strict else "warning",
            )
        )

    def warning(self, n: int, field: str | None, code: str, message: str) -> None:
        self.problems.append(
            Problem(record_number=n, field=field, code=code, message=message, severity="warning")
        )


def validate(file: NachaFile, *, strict: bool) -> list[Problem]:
    """Every problem in ``file``, in record order."""
    report = _Report(strict)
    for d in file.deviations:
        if d.tolerated:
            report.rule(d.record_number, d.field, d.code, d.message)
        else:
            report.error(d.record_number, d.field, d.code, d.message)

    position = 1  # the record number a record would have when written, for built files
    if file.header is not None:
        _file_header(file, report)
        position += 1
    routing_memo: dict[str, bool] = {}
    file_hash = file_debit = file_credit = file_entries = 0
    last_batch_number = 0
    for batch in file.batches:
        n_batch = batch.header.record_number or position
        if batch.header.batch_number <= last_batch_number:
            report.rule(
                n_batch,
                "batch_number",
                "batch_number_order",
                f"batch number {batch.header.batch_number} is not greater than the "
                f"previous batch's {last_batch_number}: batch numbers must ascend",
            )
        last_batch_number = batch.header.batch_number
        count, entry_hash, debit, credit, position = _batch(batch, n_batch, report, routing_memo)
        file_entries += count
        file_hash += entry_hash
        file_debit += debit
        file_credit += credit
    _file_control(file, report, position, file_entries, file_hash, file_debit, file_credit)
    report.problems.sort(key=lambda p: p.record_number)
    return report.problems


def _file_header(file: NachaFile, report: _Report) -> None:
    h = file.header
    assert h is not None
    n = h.record_number or 1
    if h.priority_code != "01":
        report.rule(n, "priority_code", "priority_code", "priority code (positions 2-3) must be 01")
    if not is_valid_routing_number(h.immediate_destination):
        report.error(
            n,
            "immediate_destination",
            "bad_routing_number",
            f"immediate destination {h.immediate_destination!r} (positions 4-13) must be "
            "a blank and a 9-digit routing number with a valid check digit",
        )
    if not h.immediate_origin:
        report.error(
            n, "immediate_origin", "missing_field", "immediate origin (positions 14-23) is blank"
        )
    if h.file_creation_date is None:
        report.error(
            n,
            "file_creation_date",
            "missing_field",
            "file creation date (positions 24-29) must be a date YYMMDD",
        )
    if h.file_creation_time and not (
        len(h.file_creation_time) == 4
        and is_digits(h.file_creation_time)
        and int(h.file_creation_time[:2]) < 24
        and int(h.file_creation_time[2:]) < 60
    ):
        report.rule(
            n, "file_creation_time", "bad_time", "file creation time (positions 30-33) must be HHMM"
        )
    if not (re.fullmatch("[A-Z0-9]", h.file_id_modifier)):
        report.error(
            n,
            "file_id_modifier",
            "bad_file_id_modifier",
            "file ID modifier (position 34) must be A-Z or 0-9",
        )
    for name, value, want in (
        ("record_size", h.record_size, "094"),
        ("blocking_factor", h.blocking_factor, "10"),
        ("format_code", h.format_code, "1"),
    ):
        if value != want:
            report.error(
                n, name, f"bad_{name}", f"{name.replace('_', ' ')} must be {want}, got {value!r}"
            )


def _batch(
    batch: Batch, n_header: int, report: _Report, routing_memo: dict[str, bool]
) -> tuple[int, int, int, int, int]:
    """One batch: its header (record type 5), each entry (type 6) with its addenda (type 7),
    then its control (type 8) against what the entries add up to. Returns the batch's
    entry/addenda count, entry hash, debit and credit totals, and the next record position."""
    h = batch.header
    iat = not isinstance(h, BatchHeader)
    sec = h.sec_code
    odfi = h.originating_dfi
    service = h.service_class_code
    _batch_header(h, n_header, report)

    position = n_header + 1
    count = entry_hash = debit = credit = 0
    last_trace = ""
    for entry in batch.entries:
        d = entry.detail
        n = d.record_number or position
        position += 1 + len(entry.addenda)
        count += 1 + len(entry.addenda)
        tc = _transaction_code(entry, n, service, report)
        if tc is not None:
            if tc.is_credit:
                credit += d.amount_cents
            else:
                debit += d.amount_cents
        entry_hash += _receiving_dfi(d, n, report, routing_memo)
        if not d.dfi_account_number.strip():
            report.error(n, "dfi_account_number", "missing_field", "DFI account number is blank")
        _trace_number(entry, n, odfi, last_trace, report)
        last_trace = d.trace_number
        _addenda(entry.addenda, d, n, sec, iat, report)

    if batch.control is None:
        return count, entry_hash, debit, credit, position
    totals = (count, entry_hash % _HASH_MODULUS, debit, credit)
    _batch_control(batch, batch.control.record_number or position, totals, report)
    return count, entry_hash, debit, credit, position + 1


def _batch_header(h: AnyBatchHeader, n: int, report: _Report) -> None:
    """The batch header record (type 5): codes from the NACHA tables, mandatory fields."""
    sec = h.sec_code
    if sec not in SEC_CODES:
        report.error(
            n,
            "sec_code",
            "unknown_sec_code",
            f"standard entry class code {sec!r} (positions 51-53) is not a NACHA SEC code",
        )
    if h.service_class_code not in SERVICE_CLASS_CODES:
        report.error(
            n,
            "service_class_code",
            "unknown_service_class_code",
            f"service class code {h.service_class_code} (positions 2-4) must be 200, "
            "220, 225 or 280",
        )
    odfi = h.originating_dfi
    if not (len(odfi) == 8 and is_digits(odfi)):
        report.error(
            n,
            "originating_dfi",
            "bad_originating_dfi",
            "originating DFI identification (positions 80-87) must be 8 digits",
        )
    if not h.company_identification.strip():
        report.error(
            n,
            "company_identification",
            "missing_field",
            "company identification (positions 41-50) is blank",
        )
    if isinstance(h, BatchHeader) and report.strict and not h.company_name.strip():
        report.error(n, "company_name", "missing_field", "company name (positions 5-20) is blank")
    if not h.company_entry_description.strip():
        report.rule(
            n,
            "company_entry_description",
            "missing_field",
            "company entry description (positions 54-63) is blank",
        )
    if report.strict and h.effective_entry_date is None and sec not in ("COR",):
        report.error(
            n,
            "effective_entry_date",
            "missing_field",
            "effective entry date (positions 70-75) must be a date YYMMDD",
        )


def _transaction_code(
    entry: Entry, n: int, service: int, report: _Report
) -> TransactionCode | None:
    """The entry's transaction code (positions 2-3): a NACHA code, of the side the batch's
    service class allows (220 credits only, 225 debits only), zero for a prenote, and a
    return or NOC code only with its addenda 98 or 99. ``None`` for an unknown code."""
    d = entry.detail
    tc = TRANSACTION_CODES.get(d.transaction_code)
    if tc is None:
        report.error(
            n,
            "transaction_code",
            "unknown_transaction_code",
            f"transaction code {d.transaction_code:02d} (positions 2-3) is not a "
            "NACHA transaction code",
        )
        return None
    if tc.is_credit:
        if service == 225:
            report.error(
                n,
                "transaction_code",
                "credit_in_debit_batch",
                f"credit transaction code {tc.code} in a debits-only batch (service class 225)",
            )
    elif service == 220:
        report.error(
            n,
            "transaction_code",
            "debit_in_credit_batch",
            f"debit transaction code {tc.code} in a credits-only batch (service class 220)",
        )
    if tc.zero_amount and d.amount_cents:
        report.error(
            n,
            "amount_cents",
            "nonzero_prenote",
            f"transaction code {tc.code} ({tc.description}) must have a zero amount",
        )
    if tc.return_or_noc and entry.return_addenda is None and entry.noc is None:
        report.error(
            n,
            "transaction_code",
            "return_code_without_addenda",
            f"transaction code {tc.code} is for returns and NOCs but the entry "
            "has no addenda 98 or 99",
        )
    return tc


def _receiving_dfi(
    d: AnyEntryDetail, n: int, report: _Report, routing_memo: dict[str, bool]
) -> int:
    """The receiving DFI (positions 4-11) and check digit (position 12) form an ABA routing
    number. Returns what the entry adds to the entry hash (the 8-digit DFI, else 0)."""
    rdfi = d.receiving_dfi
    routing = rdfi + d.check_digit
    ok = routing_memo.get(routing)
    if ok is None:
        ok = routing_memo[routing] = is_valid_routing_number(routing)
    if not ok:
        if len(rdfi) == 8 and is_digits(rdfi):
            msg = (
                f"routing number {routing} fails the ABA check digit: the check digit "
                f"(position 12) should be {check_digit(rdfi)}"
            )
        else:
            msg = "receiving DFI identification (positions 4-11) must be 8 digits"
        report.error(n, "check_digit", "bad_routing_number", msg)
    return int(rdfi) if is_digits(rdfi) else 0


def _trace_number(entry: Entry, n: int, odfi: str, last_trace: str, report: _Report) -> None:
    """The trace number (positions 80-94): 15 digits, ascending within the batch, starting
    with the originating DFI (except on returns and NOCs, which keep the original's)."""
    trace = entry.detail.trace_number
    if not (is_digits(trace) and len(trace) == 15):
        report.error(
            n,
            "trace_number",
            "bad_trace_number",
            "trace number (positions 80-94) must be 15 digits",
        )
        return
    if trace <= last_trace:
        report.rule(
            n,
            "trace_number",
            "trace_number_order",
            f"trace number {trace} does not ascend within the batch",
        )
    if not trace.startswith(odfi) and not (entry.return_addenda or entry.noc):
        report.rule(
            n,
            "trace_number",
            "trace_number_odfi",
            f"trace number {trace} must start with the batch's originating DFI "
            f"identification {odfi}",
        )


def _batch_control(
    batch: Batch, nc: int, totals: tuple[int, int, int, int], report: _Report
) -> None:
    """The batch control record (type 8): its totals are the entries', its identifying
    fields the batch header's."""
    c = batch.control
    h = batch.header
    assert c is not None
    count, entry_hash, debit, credit = totals
    checks = (
        ("entry_addenda_count", c.entry_addenda_count, count, "entry/addenda count"),
        ("entry_hash", c.entry_hash, entry_hash, "entry hash"),
        ("total_debit_cents", c.total_debit_cents, debit, "total debit amount (cents)"),
        ("total_credit_cents", c.total_credit_cents, credit, "total credit amount (cents)"),
    )
    for field, declared, actual, label in checks:
        if declared != actual:
            report.error(
                nc,
                field,
                f"batch_{field}_mismatch",
                f"batch {h.batch_number} control says {label} {declared} but its "
                f"entries give {actual}",
            )
    for field, declared_s, expected_s in (
        ("service_class_code", str(c.service_class_code), str(h.service_class_code)),
        # Compared without padding: banks justify the 10-character id either way.
        (
            "company_identification",
            c.company_identification.strip(),
            h.company_identification.strip(),
        ),
        ("originating_dfi", c.originating_dfi, h.originating_dfi),
        ("batch_number", str(c.batch_number), str(h.batch_number)),
    ):
        if declared_s != expected_s:
            report.error(
                nc,
                field,
                "batch_control_header_mismatch",
                f"batch control {field.replace('_', ' ')} {declared_s!r} differs from "
                f"the batch header's {expected_s!r}",
            )


_RETURN_ADDENDA = (ReturnAddenda, DishonoredReturnAddenda, ContestedReturnAddenda)
_RETURN_OR_NOC_ADDENDA = (NocAddenda, *_RETURN_ADDENDA)


def _addenda(
    addenda: tuple[object, ...], d: object, n: int, sec: str, iat: bool, report: _Report
) -> None:
    """An entry's addenda records (type 7): the indicator that announces them, each record by
    its type code, then the rules on the set (how many of each, COR, IAT)."""
    indicator = getattr(d, "addenda_record_indicator", "0")
    if indicator != ("1" if addenda else "0"):
        _addenda_indicator(indicator, addenda, n, report)
    if not addenda:
        if sec == "COR":
            report.error(
                n,
                None,
                "cor_without_noc",
                "a COR entry must carry one addenda 98 (notification of change)",
            )
        return
    trace = getattr(d, "trace_number", "")
    sequence = int(trace[-7:]) if is_digits(trace[-7:]) else -1
    fives = 0
    returns_or_nocs = 0
    for i, a in enumerate(addenda, 1):
        na = getattr(a, "record_number", 0) or n + i
        if isinstance(a, Addenda05):
            fives += 1
            _addenda05(a, na, fives, sequence, report)
        elif isinstance(a, NocAddenda):
            returns_or_nocs += 1
            _noc_addenda(a, na, report)
        elif isinstance(a, _RETURN_ADDENDA):
            returns_or_nocs += 1
            _return_addenda(a, na, report)
        elif isinstance(a, IatAddenda) and not iat:
            report.error(
                na,
                "type_code",
                "iat_addenda_outside_iat",
                f"addenda type {a.type_code} is only used in IAT batches",
            )
    _addenda_counts(addenda, n, sec, fives, returns_or_nocs, report)
    if iat and not returns_or_nocs:
        _iat_addenda(addenda, d, n, report)


def _addenda_indicator(
    indicator: object, addenda: tuple[object, ...], n: int, report: _Report
) -> None:
    """The addenda record indicator (position 79) says whether addenda follow the entry."""
    if indicator not in ("0", "1"):
        report.error(
            n,
            "addenda_record_indicator",
            "bad_addenda_indicator",
            "addenda record indicator (position 79) must be 0 or 1",
        )
    elif indicator == "1" and not addenda:
        report.error(
            n,
            "addenda_record_indicator",
            "addenda_indicator_mismatch",
            "addenda record indicator is 1 but no addenda record follows the entry",
        )
    elif indicator == "0" and addenda:
        report.error(
            n,
            "addenda_record_indicator",
            "addenda_indicator_mismatch",
            f"addenda record indicator is 0 but {len(addenda)} addenda record(s) follow",
        )


def _addenda05(a: Addenda05, na: int, expected: int, sequence: int, report: _Report) -> None:
    """Addenda 05 (payment related information): numbered 1, 2, ... under their entry, and
    naming the entry by the last 7 digits of its trace number."""
    if a.addenda_sequence_number != expected:
        report.rule(
            na,
            "addenda_sequence_number",
            "addenda_sequence",
            f"addenda sequence number (positions 84-87) is "
            f"{a.addenda_sequence_number}, expected {expected}",
        )
    if a.entry_detail_sequence_number != sequence:
        report.error(
            na,
            "entry_detail_sequence_number",
            "addenda_entry_sequence",
            "entry detail sequence number (positions 88-94) must be the last 7 "
            "digits of the entry's trace number",
        )


def _noc_addenda(a: NocAddenda, na: int, report: _Report) -> None:
    """Addenda 98 (notification of change): a known change code, with its corrected data."""
    if a.change_code not in CHANGE_CODES:
        # Unlike an unknown return code (still a return to hand to ops), a NOC whose
        # change code is not in Appendix Five says nothing we can apply: a problem.
        report.error(
            na,
            "change_code",
            "unknown_change_code",
            f"change code {a.change_code!r} is not in the NACHA table (C01-C14, "
            "C61-C69): the notification of change cannot be applied",
        )
    elif change_code(a.change_code).carries_correction and not a.corrected_data.strip():
        report.error(
            na,
            "corrected_data",
            "missing_field",
            f"NOC {a.change_code} has no corrected data (positions 36-64)",
        )


def _return_addenda(
    a: ReturnAddenda | DishonoredReturnAddenda | ContestedReturnAddenda, na: int, report: _Report
) -> None:
    """Addenda 99 (return, dishonored or contested return): a return reason code Rnn and the
    original entry's trace number."""
    if not re.fullmatch("R[0-9]{2}", a.return_code):
        report.error(
            na,
            "return_code",
            "bad_return_code",
            "return reason code (positions 4-6) must be R and two digits",
        )
    elif a.return_code not in RETURN_REASONS:
        report.warning(
            na,
            "return_code",
            "unknown_return_code",
            f"return reason code {a.return_code!r} is not in the NACHA table: kept as unknown",
        )
    if not (is_digits(a.original_trace_number)):
        report.error(
            na,
            "original_trace_number",
            "bad_trace_number",
            "original entry trace number (positions 7-21) must be 15 digits",
        )


def _addenda_counts(
    addenda: tuple[object, ...], n: int, sec: str, fives: int, returns_or_nocs: int, report: _Report
) -> None:
    """How many of each an entry may carry: one addenda 98 or 99 at most, the NOC a COR entry
    must have, one addenda 05 unless its SEC code allows more."""
    if returns_or_nocs > 1:
        codes = [
            a.change_code if isinstance(a, NocAddenda) else a.return_code
            for a in addenda
            if isinstance(a, _RETURN_OR_NOC_ADDENDA)
        ]
        report.error(
            n,
            None,
            "multiple_return_addenda",
            f"an entry carries at most one addenda 98 or 99; this one carries "
            f"{len(codes)}: {', '.join(repr(c) for c in codes)}",
        )
    if sec == "COR" and not any(isinstance(a, NocAddenda) for a in addenda):
        report.error(
            n,
            None,
            "cor_without_noc",
            "a COR entry must carry one addenda 98 (notification of change)",
        )
    if sec not in MULTI_ADDENDA_SEC_CODES and fives > 1:
        report.error(
            n,
            None,
            "too_many_addenda",
            f"{sec} entries carry at most one addenda 05, found {fives}",
        )


def _iat_addenda(addenda: tuple[object, ...], d: object, n: int, report: _Report) -> None:
    """An IAT entry carries the seven mandatory addenda 10-16, in order, and says how many
    addenda follow it."""
    types = tuple(a.type_code for a in addenda if isinstance(a, IatAddenda))
    if types[:7] != IAT_MANDATORY_ADDENDA:
        report.error(
            n,
            None,
            "iat_addenda_missing",
            "an IAT entry must be followed by addenda 10 to 16, in order",
        )
    declared = getattr(d, "addenda_count", len(addenda))
    if declared != len(addenda):
        report.error(
            n,
            "addenda_count",
            "iat_addenda_count",
            f"number of addenda records (positions 13-16) says {declared}, found {len(addenda)}",
        )


def _file_control(
    file: NachaFile,
    report: _Report,
    position: int,
    entries: int,
    entry_hash: int,
    debit: int,
    credit: int,
) -> None:
    c = file.control
    physical = file.record_count or position
    if file.record_count and file.record_count % 10:
        report.rule(
            file.record_count,
            None,
            "not_blocked",
            f"the file has {file.record_count} records, not a multiple of 10: fill the "
            "last block with records of 9s (blocking factor 10)",
        )
    if c is None:
        return
    nc = c.record_number or position
    checks = (
        ("batch_count", c.batch_count, len(file.batches), "batch count"),
        ("block_count", c.block_count, -(-physical // 10), "block count"),
        ("entry_addenda_count", c.entry_addenda_count, entries, "entry/addenda count"),
        ("entry_hash", c.entry_hash, entry_hash % _HASH_MODULUS, "entry hash"),
        ("total_debit_cents", c.total_debit_cents, debit, "total debit amount (cents)"),
        ("total_credit_cents", c.total_credit_cents, credit, "total credit amount (cents)"),
    )
    for field, declared, actual, label in checks:
        if declared != actual:
            report.error(
                nc,
                field,
                f"file_{field}_mismatch",
                f"file control says {label} {declared} but the file holds {actual}",
            )
    if c.reserved.strip():
        report.rule(
            nc,
            "reserved",
            "reserved_not_blank",
            "positions 56-94 of the file control are reserved and must be blank",
        )
