"""International ACH Transactions (IAT): the IAT batch header, IAT entry detail and the
mandatory addenda 10-16 and optional 17/18 (NACHA Appendix Two, "IAT Company/Batch Header
Record", "IAT Entry Detail Record", "IAT Addenda Records"; Rules Subsection 2.5.8)."""

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

# Addenda 10-16 are mandatory on every IAT entry; up to two 17s and five 18s are optional.
IAT_MANDATORY_ADDENDA: tuple[str, ...] = ("10", "11", "12", "13", "14", "15", "16")
IAT_ADDENDA_TYPES = frozenset({*IAT_MANDATORY_ADDENDA, "17", "18"})


@dataclass(frozen=True, slots=True)
class IatBatchHeader:
    # 2-4 Service Class Code.
    service_class_code: int
    # 5-20 IAT Indicator: blank, or "IATCOR" text for IAT NOCs.
    iat_indicator: str
    # 21-22 Foreign Exchange Indicator: FV (fixed to variable), VF, FF.
    foreign_exchange_indicator: str
    # 23 Foreign Exchange Reference Indicator: 1 rate, 2 reference number, 3 blank.
    foreign_exchange_reference_indicator: str
    # 24-38 Foreign Exchange Reference.
    foreign_exchange_reference: str
    # 39-40 ISO Destination Country Code.
    iso_destination_country_code: str
    # 41-50 Originator Identification.
    company_identification: str
    # 51-53 Standard Entry Class Code: "IAT".
    sec_code: str
    # 54-63 Company Entry Description.
    company_entry_description: str
    # 64-66 ISO Originating Currency Code.
    iso_originating_currency_code: str
    # 67-69 ISO Destination Currency Code.
    iso_destination_currency_code: str
    # 70-75 Effective Entry Date, YYMMDD.
    effective_entry_date: date | None
    # 76-78 Settlement Date (Julian), inserted by the operator.
    settlement_date: str
    # 79 Originator Status Code.
    originator_status_code: str
    # 80-87 Originating DFI Identification (or the Gateway Operator's).
    originating_dfi: str
    # 88-94 Batch Number.
    batch_number: int
    record_number: int = field(default=0, compare=False)


def parse_iat_batch_header(line: str, n: int, deviations: list[Deviation]) -> IatBatchHeader:
    return IatBatchHeader(
        service_class_code=number(line[1:4], n, "service_class_code", deviations),
        iat_indicator=alpha(line[4:20]),
        foreign_exchange_indicator=alpha(line[20:22]),
        foreign_exchange_reference_indicator=alpha(line[22:23]),
        foreign_exchange_reference=alpha(line[23:38]),
        iso_destination_country_code=alpha(line[38:40]),
        company_identification=alpha(line[40:50]),
        sec_code=line[50:53],
        company_entry_description=alpha(line[53:63]),
        iso_originating_currency_code=alpha(line[63:66]),
        iso_destination_currency_code=alpha(line[66:69]),
        effective_entry_date=yymmdd(line[69:75], n, "effective_entry_date", deviations),
        settlement_date=alpha(line[75:78]),
        originator_status_code=line[78:79],
        originating_dfi=alpha(line[79:87]),
        batch_number=number(line[87:94], n, "batch_number", deviations),
        record_number=n,
    )


def format_iat_batch_header(h: IatBatchHeader) -> str:
    r = "IatBatchHeader"
    return "".join(
        (
            "5",
            write_number(h.service_class_code, 3, r, "service_class_code"),
            write_alpha(h.iat_indicator, 16, r, "iat_indicator"),
            write_alpha(h.foreign_exchange_indicator, 2, r, "foreign_exchange_indicator"),
            write_alpha(h.foreign_exchange_reference_indicator, 1, r, "fx_reference_indicator"),
            write_alpha(h.foreign_exchange_reference, 15, r, "foreign_exchange_reference"),
            write_alpha(h.iso_destination_country_code, 2, r, "iso_destination_country_code"),
            write_alpha(h.company_identification, 10, r, "company_identification"),
            write_alpha(h.sec_code, 3, r, "sec_code"),
            write_alpha(h.company_entry_description, 10, r, "company_entry_description"),
            write_alpha(h.iso_originating_currency_code, 3, r, "iso_originating_currency_code"),
            write_alpha(h.iso_destination_currency_code, 3, r, "iso_destination_currency_code"),
            write_date(h.effective_entry_date, empty="000000"),
            write_alpha(h.settlement_date, 3, r, "settlement_date"),
            write_alpha(h.originator_status_code, 1, r, "originator_status_code"),
            write_alpha(h.originating_dfi, 8, r, "originating_dfi"),
            write_number(h.batch_number, 7, r, "batch_number"),
        )
    )


@dataclass(frozen=True, slots=True)
class IatEntryDetail:
    # 2-3 Transaction Code.
    transaction_code: int
    # 4-11 Receiving DFI Identification (the gateway's, for outbound IAT).
    receiving_dfi: str
    # 12 Check Digit.
    check_digit: str
    # 13-16 Number of Addenda Records: 7 mandatory plus optional 17/18 (and 98/99).
    addenda_count: int
    # 17-29 Reserved.
    # 30-39 Amount, in cents.
    amount_cents: int
    # 40-74 Foreign Receiver's Account Number / DFI Account Number (PII: shown only masked).
    dfi_account_number: str
    # 75-76 Reserved.
    # 77 Gateway Operator OFAC Screening Indicator.
    ofac_screening_indicator: str
    # 78 Secondary OFAC Screening Indicator.
    secondary_ofac_screening_indicator: str
    # 79 Addenda Record Indicator: always "1" for IAT.
    addenda_record_indicator: str
    # 80-94 Trace Number.
    trace_number: str
    record_number: int = field(default=0, compare=False)

    @property
    def routing_number(self) -> str:
        return self.receiving_dfi + self.check_digit


def parse_iat_entry_detail(line: str, n: int, deviations: list[Deviation]) -> IatEntryDetail:
    return IatEntryDetail(
        transaction_code=number(line[1:3], n, "transaction_code", deviations),
        receiving_dfi=line[3:11],
        check_digit=line[11:12],
        addenda_count=number(line[12:16], n, "addenda_count", deviations),
        amount_cents=number(line[29:39], n, "amount_cents", deviations),
        dfi_account_number=line[39:74].rstrip(),
        ofac_screening_indicator=alpha(line[76:77]),
        secondary_ofac_screening_indicator=alpha(line[77:78]),
        addenda_record_indicator=line[78:79],
        trace_number=line[79:94],
        record_number=n,
    )


def format_iat_entry_detail(e: IatEntryDetail) -> str:
    r = "IatEntryDetail"
    return "".join(
        (
            "6",
            write_number(e.transaction_code, 2, r, "transaction_code"),
            write_alpha(e.receiving_dfi, 8, r, "receiving_dfi"),
            write_alpha(e.check_digit, 1, r, "check_digit"),
            write_number(e.addenda_count, 4, r, "addenda_count"),
            " " * 13,
            write_number(e.amount_cents, 10, r, "amount_cents"),
            write_alpha(e.dfi_account_number, 35, r, "dfi_account_number"),
            "  ",
            write_alpha(e.ofac_screening_indicator, 1, r, "ofac_screening_indicator"),
            write_alpha(e.secondary_ofac_screening_indicator, 1, r, "secondary_ofac"),
            write_alpha(e.addenda_record_indicator, 1, r, "addenda_record_indicator"),
            write_alpha(e.trace_number, 15, r, "trace_number"),
        )
    )


@dataclass(frozen=True, slots=True)
class IatAddenda:
    """IAT addenda 10-18: names and addresses of originator and receiver, the ODFI and RDFI,
    remittance and correspondent banks. Positions 4-87 are kept as sent (names are PII)."""

    # 2-3 Addenda Type Code: 10-18.
    type_code: str
    # 4-87 the type's fields (e.g. 10: transaction type code, foreign payment amount,
    # receiver name; 17/18 end with the addenda sequence number in 84-87).
    content: str
    # 88-94 Entry Detail Sequence Number: last 7 digits of the entry's trace number.
    entry_detail_sequence_number: int
    record_number: int = field(default=0, compare=False)


def parse_iat_addenda(line: str, n: int, deviations: list[Deviation]) -> IatAddenda:
    return IatAddenda(
        type_code=line[1:3],
        content=line[3:87].rstrip(),
        entry_detail_sequence_number=number(
            line[87:94], n, "entry_detail_sequence_number", deviations
        ),
        record_number=n,
    )


def format_iat_addenda(a: IatAddenda) -> str:
    r = "IatAddenda"
    return "".join(
        (
            "7",
            write_alpha(a.type_code, 2, r, "type_code"),
            write_alpha(a.content, 84, r, "content"),
            write_number(a.entry_detail_sequence_number, 7, r, "entry_detail_sequence_number"),
        )
    )
