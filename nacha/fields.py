"""Fixed-width field codecs shared by the record modules.

NACHA Operating Rules, Appendix Two ("ACH Record Format Specifications"): every record is 94
characters; alphameric fields are left-justified and space-filled, numeric fields right-justified
and zero-filled; dates are YYMMDD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from nacha.errors import NachaWriteError

RECORD_LENGTH = 94
_DIGITS = re.compile(r"[0-9]+")


def is_digits(value: str) -> bool:
    """Only ASCII digits 0-9, at least one. ``str.isdigit`` also accepts superscripts ('¹',
    which ``int`` refuses) and other scripts' digits: never use it on partner data."""
    return _DIGITS.fullmatch(value) is not None


@dataclass(frozen=True, slots=True)
class Deviation:
    """Something the reader tolerated, or a field it could not parse: the validator reports it.

    ``record_number`` is the 1-based position of the record (line) in the file; ``field`` the
    model field, or ``None`` for the whole record. ``tolerated`` deviations (CRLF, padding, short
    lines) are warnings in lenient validation and errors in strict validation."""

    record_number: int
    field: str | None
    code: str
    message: str
    tolerated: bool = False


def alpha(value: str) -> str:
    """An alphameric field as read: trailing fill removed, leading spaces kept."""
    return value.rstrip()


def number(value: str, record_number: int, field: str, deviations: list[Deviation]) -> int:
    """A numeric field; a non-numeric one reads as 0 and is recorded (never raised)."""
    if is_digits(value):
        return int(value)
    stripped = value.strip()
    if is_digits(stripped):
        deviations.append(
            Deviation(
                record_number,
                field,
                "numeric_not_zero_filled",
                f"{field} must be zero-filled digits, found spaces",
                tolerated=True,
            )
        )
        return int(stripped)
    deviations.append(
        Deviation(
            record_number,
            field,
            "not_numeric",
            f"{field} must be digits only ({len(value)} characters)",
        )
    )
    return 0


def yymmdd(value: str, record_number: int, field: str, deviations: list[Deviation]) -> date | None:
    """A YYMMDD date (NACHA: years 00-99 are 2000-2099); blank or zeros are ``None``."""
    if not value.strip() or value == "000000":
        return None
    if len(value) == 6 and is_digits(value):
        try:
            return date(2000 + int(value[0:2]), int(value[2:4]), int(value[4:6]))
        except ValueError:
            pass
    deviations.append(
        Deviation(record_number, field, "bad_date", f"{field} must be a date YYMMDD, got {value!r}")
    )
    return None


def write_alpha(value: str, width: int, record: str, field: str) -> str:
    if len(value) > width:
        raise NachaWriteError(record, field, f"{len(value)} characters do not fit in {width}")
    return value.ljust(width)


def write_number(value: int, width: int, record: str, field: str) -> str:
    text = str(value)
    if value < 0 or len(text) > width:
        raise NachaWriteError(record, field, f"{value} does not fit {width} digits")
    return text.zfill(width)


def write_date(value: date | None, empty: str = "      ") -> str:
    """YYMMDD; ``empty`` is how the field says "no date" (blanks, or zeros in numeric fields)."""
    return value.strftime("%y%m%d") if value is not None else empty


def mask(account_number: str) -> str:
    """An account number shown to people: only the last four characters."""
    tail = account_number.strip()[-4:]
    return f"****{tail}" if tail else ""
