"""Notification of Change codes C01-C14 and refused-NOC codes C61-C69 (NACHA Operating Rules,
Appendix Five, "Notification of Change"), and the corrected data each lays out in positions
36-64 of the addenda 98 record.

The originator must make a NOC's change within six banking days of receiving it, or before its
next entry to the receiver, whichever is later (Rules Subsection 2.11.1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from nacha.fields import is_digits


@dataclass(frozen=True, slots=True)
class ChangeCode:
    code: str
    description: str
    refused: bool
    known: bool = True

    @property
    def carries_correction(self) -> bool:
        """The NOC lays out corrected data to apply (C13 only reports an addenda format error)."""
        return self.known and not self.refused and self.code != "C13"


_ROWS: Final = (
    ("C01", "Incorrect DFI Account Number"),
    ("C02", "Incorrect Routing Number"),
    ("C03", "Incorrect Routing Number and Incorrect DFI Account Number"),
    ("C04", "Incorrect Individual Name/Receiving Company Name"),
    ("C05", "Incorrect Transaction Code"),
    ("C06", "Incorrect DFI Account Number and Incorrect Transaction Code"),
    (
        "C07",
        "Incorrect Routing Number, Incorrect DFI Account Number, and Incorrect Transaction Code",
    ),
    ("C08", "Incorrect Receiving DFI Identification (IAT only)"),
    ("C09", "Incorrect Individual Identification Number"),
    ("C10", "Incorrect Company Name"),
    ("C11", "Incorrect Company Identification"),
    ("C12", "Incorrect Company Name and Company Identification"),
    ("C13", "Addenda Format Error"),
    ("C14", "Incorrect SEC Code for Outbound International Payment"),
    ("C61", "Misrouted Notification of Change"),
    ("C62", "Incorrect Trace Number"),
    ("C63", "Incorrect Company Identification Number"),
    ("C64", "Incorrect Individual Identification Number/Identification Number"),
    ("C65", "Incorrectly Formatted Corrected Data"),
    ("C66", "Incorrect Discretionary Data"),
    ("C67", "Routing Number Not From Original Entry Detail Record"),
    ("C68", "DFI Account Number Not From Original Entry Detail Record"),
    ("C69", "Incorrect Transaction Code"),
)

CHANGE_CODES: Final[dict[str, ChangeCode]] = {
    code: ChangeCode(code, text, code.startswith("C6")) for code, text in _ROWS
}


def change_code(code: str) -> ChangeCode:
    """The table row for ``code``; an unknown code is kept with an 'unknown' description."""
    return CHANGE_CODES.get(code) or ChangeCode(
        code, "Unknown change code (not in the NACHA table)", code.startswith("C6"), known=False
    )


@dataclass(frozen=True, slots=True)
class Correction:
    """What a NOC says is right now; only the fields its change code carries are set."""

    account_number: str | None = None
    routing_number: str | None = None
    transaction_code: int | None = None
    individual_name: str | None = None
    individual_identification: str | None = None
    company_name: str | None = None
    company_identification: str | None = None
    receiving_dfi_identification: str | None = None
    sec_code: str | None = None


def _text(data: str, start: int, end: int) -> str | None:
    value = data[start:end].strip()
    return value or None


def _code(data: str, start: int, end: int) -> int | None:
    value = data[start:end].strip()
    return int(value) if is_digits(value) else None


def parse_correction(code: str, corrected_data: str) -> Correction:
    """Corrected Data (positions 36-64; offsets below are from position 36) per Appendix Five."""
    d = corrected_data.ljust(29)
    match code:
        case "C01":  # 36-52 correct DFI account number
            return Correction(account_number=_text(d, 0, 17))
        case "C02":  # 36-44 correct routing number (with check digit)
            return Correction(routing_number=_text(d, 0, 9))
        case "C03":  # 36-44 routing, 45-47 blank, 48-64 account number
            return Correction(routing_number=_text(d, 0, 9), account_number=_text(d, 12, 29))
        case "C04":  # 36-57 individual name / receiving company name
            return Correction(individual_name=_text(d, 0, 22))
        case "C05":  # 36-37 transaction code
            return Correction(transaction_code=_code(d, 0, 2))
        case "C06":  # 36-52 account number, 53-56 blank, 57-58 transaction code
            return Correction(account_number=_text(d, 0, 17), transaction_code=_code(d, 21, 23))
        case "C07":  # 36-44 routing, 45-61 account number, 62-63 transaction code
            return Correction(
                routing_number=_text(d, 0, 9),
                account_number=_text(d, 9, 26),
                transaction_code=_code(d, 26, 28),
            )
        case "C08":  # 36-64 foreign receiving DFI identification
            return Correction(receiving_dfi_identification=_text(d, 0, 29))
        case "C09":  # 36-57 individual identification number
            return Correction(individual_identification=_text(d, 0, 22))
        case "C10":  # 36-51 company name
            return Correction(company_name=_text(d, 0, 16))
        case "C11":  # 36-45 company identification
            return Correction(company_identification=_text(d, 0, 10))
        case "C12":  # 36-51 company name, 52-61 company identification
            return Correction(company_name=_text(d, 0, 16), company_identification=_text(d, 16, 26))
        case "C14":  # 36-38 SEC code
            return Correction(sec_code=_text(d, 0, 3))
        case _:  # C13 (information only), refused NOCs and unknown codes carry no correction
            return Correction()
