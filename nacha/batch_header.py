"""Company/Batch Header Record, type "5" (NACHA Appendix Two, "Company/Batch Header Record").

IAT batches use a different layout for the same record type: see ``nacha.iat``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from nacha.fields import (
    Deviation,
    alpha,
    number,
    write_alpha,
    write_date,
    write_number,
    yymmdd,
)


@dataclass(frozen=True, slots=True)
class BatchHeader:
    # 2-4 Service Class Code: 200 mixed, 220 credits only, 225 debits only.
    service_class_code: int
    # 5-20 Company Name: the originator, as the receiver knows it.
    company_name: str
    # 21-40 Company Discretionary Data (optional).
    company_discretionary_data: str
    # 41-50 Company Identification: usually "1" + the originator's EIN.
    company_identification: str
    # 51-53 Standard Entry Class Code: PPD, CCD, WEB, COR...
    sec_code: str
    # 54-63 Company Entry Description: shown to the receiver; "RETRY PYMT" for a
    # re-presented entry, "REVERSAL" for reversals (NACHA Rules Subsection 2.12.4).
    company_entry_description: str
    # 64-69 Company Descriptive Date (optional, free text shown to the receiver).
    company_descriptive_date: str
    # 70-75 Effective Entry Date, YYMMDD: the banking day the originator intends to settle.
    effective_entry_date: date | None
    # 76-78 Settlement Date (Julian): inserted by the ACH Operator; blank from originators.
    settlement_date: str
    # 79 Originator Status Code: "1" for an ODFI that is not a federal agency.
    originator_status_code: str
    # 80-87 Originating DFI Identification: first 8 digits of the ODFI routing number.
    originating_dfi: str
    # 88-94 Batch Number: ascending within the file.
    batch_number: int
    record_number: int = field(default=0, compare=False)


def parse_batch_header(line: str, n: int, deviations: list[Deviation]) -> BatchHeader:
    return BatchHeader(
        service_class_code=number(line[1:4], n, "service_class_code", deviations),
        company_name=alpha(line[4:20]),
        company_discretionary_data=alpha(line[20:40]),
        company_identification=alpha(line[40:50]),
        sec_code=line[50:53],
        company_entry_description=alpha(line[53:63]),
        company_descriptive_date=alpha(line[63:69]),
        effective_entry_date=yymmdd(line[69:75], n, "effective_entry_date", deviations),
        settlement_date=alpha(line[75:78]),
        originator_status_code=line[78:79],
        originating_dfi=alpha(line[79:87]),
        batch_number=number(line[87:94], n, "batch_number", deviations),
        record_number=n,
    )


def format_batch_header(h: BatchHeader) -> str:
    r = "BatchHeader"
    return "".join(
        (
            "5",
            write_number(h.service_class_code, 3, r, "service_class_code"),
            write_alpha(h.company_name, 16, r, "company_name"),
            write_alpha(h.company_discretionary_data, 20, r, "company_discretionary_data"),
            write_alpha(h.company_identification, 10, r, "company_identification"),
            write_alpha(h.sec_code, 3, r, "sec_code"),
            write_alpha(h.company_entry_description, 10, r, "company_entry_description"),
            write_alpha(h.company_descriptive_date, 6, r, "company_descriptive_date"),
            write_date(h.effective_entry_date, empty="000000"),
            write_alpha(h.settlement_date, 3, r, "settlement_date"),
            write_alpha(h.originator_status_code, 1, r, "originator_status_code"),
            write_alpha(h.originating_dfi, 8, r, "originating_dfi"),
            write_number(h.batch_number, 7, r, "batch_number"),
        )
    )
