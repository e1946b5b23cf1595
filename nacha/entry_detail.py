"""Entry Detail Record, type "6" (NACHA Appendix Two, "Entry Detail Record").

One layout covers every SEC code except IAT (``nacha.iat``): the SEC-specific names of positions
40-78 (CCD's receiving company, CTX's addenda count, WEB's payment type code, ARC's check serial
number) are kept in the generic fields below, so every entry round-trips byte for byte."""

from __future__ import annotations

from dataclasses import dataclass, field

from nacha.fields import Deviation, is_digits, number, write_alpha, write_number


@dataclass(frozen=True, slots=True)
class EntryDetail:
    # 2-3 Transaction Code: account type and debit/credit (22 checking credit, 27 checking
    # debit, ...; see ``nacha.codes.TRANSACTION_CODES``).
    transaction_code: int
    # 4-11 Receiving DFI Identification: first 8 digits of the RDFI routing number.
    receiving_dfi: str
    # 12 Check Digit: the ABA check digit of positions 4-11.
    check_digit: str
    # 13-29 DFI Account Number: alphameric, left-justified (PII: shown only masked).
    dfi_account_number: str
    # 30-39 Amount, in cents ($$$$$$$$cc). Zero for prenotes and for NOC/COR entries.
    amount_cents: int
    # 40-54 Individual Identification Number / Identification Number (optional).
    individual_identification: str
    # 55-76 Individual Name / Receiving Company Name (PII: never printed).
    individual_name: str
    # 77-78 Discretionary Data (WEB/TEL: Payment Type Code "R " or "S ").
    discretionary_data: str
    # 79 Addenda Record Indicator: "1" when one or more addenda follow, else "0".
    addenda_record_indicator: str
    # 80-94 Trace Number: ODFI identification (8) + entry sequence number (7), ascending in a
    # batch.
    trace_number: str
    record_number: int = field(default=0, compare=False)

    @property
    def routing_number(self) -> str:
        return self.receiving_dfi + self.check_digit


def parse_entry_detail(line: str, n: int, deviations: list[Deviation]) -> EntryDetail:
    # The hot path of a 100,000-entry file: plain slices, and the general field parser only
    # when a numeric field is not clean digits.
    code = line[1:3]
    amount = line[29:39]
    return EntryDetail(
        int(code) if is_digits(code) else number(code, n, "transaction_code", deviations),
        line[3:11],
        line[11:12],
        line[12:29].rstrip(),
        int(amount) if is_digits(amount) else number(amount, n, "amount_cents", deviations),
        line[39:54].rstrip(),
        line[54:76].rstrip(),
        line[76:78].rstrip(),
        line[78:79],
        line[79:94],
        n,
    )


def format_entry_detail(e: EntryDetail) -> str:
    r = "EntryDetail"
    return "".join(
        (
            "6",
            write_number(e.transaction_code, 2, r, "transaction_code"),
            write_alpha(e.receiving_dfi, 8, r, "receiving_dfi"),
            write_alpha(e.check_digit, 1, r, "check_digit"),
            write_alpha(e.dfi_account_number, 17, r, "dfi_account_number"),
            write_number(e.amount_cents, 10, r, "amount_cents"),
            write_alpha(e.individual_identification, 15, r, "individual_identification"),
            write_alpha(e.individual_name, 22, r, "individual_name"),
            write_alpha(e.discretionary_data, 2, r, "discretionary_data"),
            write_alpha(e.addenda_record_indicator, 1, r, "addenda_record_indicator"),
            write_alpha(e.trace_number, 15, r, "trace_number"),
        )
    )
