"""Addenda Record type code "99": returns (NACHA Appendix Two, "Addenda Record for Return
Entries"; Rules Article Three, Subsection 3.8 and Appendix Four), with the layouts of dishonored
returns (R61, R62, R67-R70, sent by the ODFI) and contested dishonored returns (R71-R77, sent
by the RDFI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from nacha.fields import Deviation, write_alpha, write_date, yymmdd
from nacha.return_reasons import CONTESTED_LAYOUT_CODES, DISHONORED_LAYOUT_CODES


@dataclass(frozen=True, slots=True)
class ReturnAddenda:
    # 4-6 Return Reason Code: R01-R85 (Appendix Four); unknown codes are kept as sent.
    return_code: str
    # 7-21 Original Entry Trace Number: the trace number of the entry being returned.
    original_trace_number: str
    # 22-27 Date of Death, YYMMDD: only for R14/R15 (blank otherwise).
    date_of_death: date | None
    # 28-35 Original Receiving DFI Identification.
    original_rdfi: str
    # 36-79 Addenda Information (free text from the RDFI).
    addenda_information: str
    # 80-94 Trace Number of the return entry.
    trace_number: str
    record_number: int = field(default=0, compare=False)

    type_code = "99"


@dataclass(frozen=True, slots=True)
class DishonoredReturnAddenda:
    # 4-6 Dishonored Return Reason Code: R61, R62, R67, R68, R69, R70.
    return_code: str
    # 7-21 Original Entry Trace Number.
    original_trace_number: str
    # 28-35 Original Receiving DFI Identification.
    original_rdfi: str
    # 39-53 Return Trace Number: the trace number of the return being dishonored.
    return_trace_number: str
    # 54-56 Return Settlement Date (Julian day).
    return_settlement_date: str
    # 57-58 Return Reason Code of the dishonored return, without the "R".
    return_reason_code: str
    # 59-79 Addenda Information.
    addenda_information: str
    # 80-94 Trace Number.
    trace_number: str
    record_number: int = field(default=0, compare=False)

    type_code = "99"


@dataclass(frozen=True, slots=True)
class ContestedReturnAddenda:
    # 4-6 Contested Dishonored Return Reason Code: R71-R77.
    return_code: str
    # 7-21 Original Entry Trace Number.
    original_trace_number: str
    # 22-27 Date Original Entry Returned, YYMMDD.
    date_original_entry_returned: date | None
    # 28-35 Original Receiving DFI Identification.
    original_rdfi: str
    # 36-38 Original Settlement Date (Julian day).
    original_settlement_date: str
    # 39-53 Return Trace Number.
    return_trace_number: str
    # 54-56 Return Settlement Date (Julian day).
    return_settlement_date: str
    # 57-58 Return Reason Code, without the "R".
    return_reason_code: str
    # 59-73 Dishonored Return Trace Number.
    dishonored_return_trace_number: str
    # 74-76 Dishonored Return Settlement Date (Julian day).
    dishonored_return_settlement_date: str
    # 77-78 Dishonored Return Reason Code, without the "R".
    dishonored_return_reason_code: str
    # 80-94 Trace Number.
    trace_number: str
    record_number: int = field(default=0, compare=False)

    type_code = "99"


AnyReturnAddenda = ReturnAddenda | DishonoredReturnAddenda | ContestedReturnAddenda


def parse_addenda99(line: str, n: int, deviations: list[Deviation]) -> AnyReturnAddenda:
    code = line[3:6]
    if code in DISHONORED_LAYOUT_CODES:
        return DishonoredReturnAddenda(
            return_code=code,
            original_trace_number=line[6:21],
            original_rdfi=line[27:35].rstrip(),
            return_trace_number=line[38:53],
            return_settlement_date=line[53:56].rstrip(),
            return_reason_code=line[56:58].rstrip(),
            addenda_information=line[58:79].rstrip(),
            trace_number=line[79:94],
            record_number=n,
        )
    if code in CONTESTED_LAYOUT_CODES:
        return ContestedReturnAddenda(
            return_code=code,
            original_trace_number=line[6:21],
            date_original_entry_returned=yymmdd(
                line[21:27], n, "date_original_entry_returned", deviations
            ),
            original_rdfi=line[27:35].rstrip(),
            original_settlement_date=line[35:38].rstrip(),
            return_trace_number=line[38:53],
            return_settlement_date=line[53:56].rstrip(),
            return_reason_code=line[56:58].rstrip(),
            dishonored_return_trace_number=line[58:73],
            dishonored_return_settlement_date=line[73:76].rstrip(),
            dishonored_return_reason_code=line[76:78].rstrip(),
            trace_number=line[79:94],
            record_number=n,
        )
    return ReturnAddenda(
        return_code=code,
        original_trace_number=line[6:21],
        date_of_death=yymmdd(line[21:27], n, "date_of_death", deviations),
        original_rdfi=line[27:35].rstrip(),
        addenda_information=line[35:79].rstrip(),
        trace_number=line[79:94],
        record_number=n,
    )


def format_addenda99(a: AnyReturnAddenda) -> str:
    r = type(a).__name__
    head = (
        "799"
        + write_alpha(a.return_code, 3, r, "return_code")
        + write_alpha(a.original_trace_number, 15, r, "original_trace_number")
    )
    body: tuple[str, ...]
    if isinstance(a, ReturnAddenda):
        body = (
            write_date(a.date_of_death),
            write_alpha(a.original_rdfi, 8, r, "original_rdfi"),
            write_alpha(a.addenda_information, 44, r, "addenda_information"),
        )
    elif isinstance(a, DishonoredReturnAddenda):
        body = (
            " " * 6,  # 22-27 reserved
            write_alpha(a.original_rdfi, 8, r, "original_rdfi"),
            " " * 3,  # 36-38 reserved
            write_alpha(a.return_trace_number, 15, r, "return_trace_number"),
            write_alpha(a.return_settlement_date, 3, r, "return_settlement_date"),
            write_alpha(a.return_reason_code, 2, r, "return_reason_code"),
            write_alpha(a.addenda_information, 21, r, "addenda_information"),
        )
    else:
        body = (
            write_date(a.date_original_entry_returned),
            write_alpha(a.original_rdfi, 8, r, "original_rdfi"),
            write_alpha(a.original_settlement_date, 3, r, "original_settlement_date"),
            write_alpha(a.return_trace_number, 15, r, "return_trace_number"),
            write_alpha(a.return_settlement_date, 3, r, "return_settlement_date"),
            write_alpha(a.return_reason_code, 2, r, "return_reason_code"),
            write_alpha(a.dishonored_return_trace_number, 15, r, "dishonored_return_trace_number"),
            write_alpha(a.dishonored_return_settlement_date, 3, r, "dishonored_settlement_date"),
            write_alpha(a.dishonored_return_reason_code, 2, r, "dishonored_return_reason_code"),
            " ",  # 79 reserved
        )
    return head + "".join(body) + write_alpha(a.trace_number, 15, r, "trace_number")
