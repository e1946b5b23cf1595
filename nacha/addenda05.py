"""Addenda Record type code "05" (NACHA Appendix Two, "Addenda Record" for CCD, CTX, PPD, WEB,
CIE, TEL...): payment-related information for the receiver."""

from __future__ import annotations

from dataclasses import dataclass, field

from nacha.fields import Deviation, number, write_alpha, write_number


@dataclass(frozen=True, slots=True)
class Addenda05:
    # 4-83 Payment Related Information: free text, or ANSI X12 / NACHA-endorsed banking
    # conventions for CCD/CTX.
    payment_related_information: str
    # 84-87 Addenda Sequence Number: 1 for the first addenda of an entry, ascending.
    addenda_sequence_number: int
    # 88-94 Entry Detail Sequence Number: the last 7 digits of the entry's trace number.
    entry_detail_sequence_number: int
    record_number: int = field(default=0, compare=False)

    type_code = "05"


def parse_addenda05(line: str, n: int, deviations: list[Deviation]) -> Addenda05:
    return Addenda05(
        payment_related_information=line[3:83].rstrip(),
        addenda_sequence_number=number(line[83:87], n, "addenda_sequence_number", deviations),
        entry_detail_sequence_number=number(
            line[87:94], n, "entry_detail_sequence_number", deviations
        ),
        record_number=n,
    )


def format_addenda05(a: Addenda05) -> str:
    r = "Addenda05"
    return "".join(
        (
            "705",
            write_alpha(a.payment_related_information, 80, r, "payment_related_information"),
            write_number(a.addenda_sequence_number, 4, r, "addenda_sequence_number"),
            write_number(a.entry_detail_sequence_number, 7, r, "entry_detail_sequence_number"),
        )
    )


@dataclass(frozen=True, slots=True)
class OtherAddenda:
    """An addenda type this package does not model field by field (02 for POS/SHR/MTE, or a
    type code a bank made up): kept verbatim so the file still round-trips."""

    # 2-3 Addenda Type Code.
    type_code: str
    # 4-94 the rest of the record, as sent.
    content: str
    record_number: int = field(default=0, compare=False)


def parse_other_addenda(line: str, n: int, deviations: list[Deviation]) -> OtherAddenda:
    return OtherAddenda(type_code=line[1:3], content=line[3:94].rstrip(), record_number=n)


def format_other_addenda(a: OtherAddenda) -> str:
    r = "OtherAddenda"
    return (
        "7" + write_alpha(a.type_code, 2, r, "type_code") + write_alpha(a.content, 91, r, "content")
    )
