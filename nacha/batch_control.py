"""Company/Batch Control Record, type "8" (NACHA Appendix Two, "Company/Batch Control Record")."""

from __future__ import annotations

from dataclasses import dataclass, field

from nacha.fields import Deviation, alpha, number, write_alpha, write_number


@dataclass(frozen=True, slots=True)
class BatchControl:
    # 2-4 Service Class Code: the same as in the batch header.
    service_class_code: int
    # 5-10 Entry/Addenda Count: entry detail plus addenda records in the batch.
    entry_addenda_count: int
    # 11-20 Entry Hash: sum of the entries' 8-digit RDFI identifications (positions 4-11),
    # the 10 rightmost digits.
    entry_hash: int
    # 21-32 Total Debit Entry Dollar Amount, in cents.
    total_debit_cents: int
    # 33-44 Total Credit Entry Dollar Amount, in cents.
    total_credit_cents: int
    # 45-54 Company Identification: the same as in the batch header.
    company_identification: str
    # 55-73 Message Authentication Code (optional).
    message_authentication_code: str = ""
    # 74-79 Reserved: blank.
    reserved: str = ""
    # 80-87 Originating DFI Identification: the same as in the batch header.
    originating_dfi: str = ""
    # 88-94 Batch Number: the same as in the batch header.
    batch_number: int = 0
    record_number: int = field(default=0, compare=False)


def parse_batch_control(line: str, n: int, deviations: list[Deviation]) -> BatchControl:
    return BatchControl(
        service_class_code=number(line[1:4], n, "service_class_code", deviations),
        entry_addenda_count=number(line[4:10], n, "entry_addenda_count", deviations),
        entry_hash=number(line[10:20], n, "entry_hash", deviations),
        total_debit_cents=number(line[20:32], n, "total_debit_cents", deviations),
        total_credit_cents=number(line[32:44], n, "total_credit_cents", deviations),
        company_identification=alpha(line[44:54]),
        message_authentication_code=alpha(line[54:73]),
        reserved=alpha(line[73:79]),
        originating_dfi=alpha(line[79:87]),
        batch_number=number(line[87:94], n, "batch_number", deviations),
        record_number=n,
    )


def format_batch_control(c: BatchControl) -> str:
    r = "BatchControl"
    return "".join(
        (
            "8",
            write_number(c.service_class_code, 3, r, "service_class_code"),
            write_number(c.entry_addenda_count, 6, r, "entry_addenda_count"),
            write_number(c.entry_hash, 10, r, "entry_hash"),
            write_number(c.total_debit_cents, 12, r, "total_debit_cents"),
            write_number(c.total_credit_cents, 12, r, "total_credit_cents"),
            write_alpha(c.company_identification, 10, r, "company_identification"),
            write_alpha(c.message_authentication_code, 19, r, "message_authentication_code"),
            write_alpha(c.reserved, 6, r, "reserved"),
            write_alpha(c.originating_dfi, 8, r, "originating_dfi"),
            write_number(c.batch_number, 7, r, "batch_number"),
        )
    )
