"""X12 numeric data element types, checked with ASCII patterns only.

``str.isdigit`` is true for superscripts (``'¹'``) and other Unicode digits that a Latin-1
decoded byte can become, after which ``int()`` raises; ``Decimal`` reads exponents
(``1E+1000002``) that X12 never allows. So every numeric check in the EDI code is one of these.

X12.6 3.5: N (numeric, implied decimals Nn) is an optional minus sign and digits; R (decimal) is
an optional minus sign, digits and an optional decimal point; no plus sign, no exponent, no
thousands separator. The sign and point do not count towards the element's length.
"""

from __future__ import annotations

import re
from decimal import Decimal

DIGITS = re.compile(r"[0-9]+", re.ASCII)
NUMERIC = re.compile(r"-?[0-9]+", re.ASCII)  # N, N0..N9
DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)  # R
# The longest numeric element in X12 is 18 digits; more is never a real amount or count.
MAX_NUMERIC_DIGITS = 18


def is_digits(value: str, width: int | None = None) -> bool:
    """ASCII digits only (and exactly ``width`` of them when given)."""
    return DIGITS.fullmatch(value) is not None and (width is None or len(value) == width)


def as_int(value: str) -> int | None:
    """An unsigned count or control number, or None when ``value`` is not one."""
    if not is_digits(value) or len(value) > MAX_NUMERIC_DIGITS:
        return None
    return int(value)


def numeric_problem(value: str, kind: str) -> str | None:
    """Why ``value`` is not a valid element of type ``kind`` ("R", "N" or "N0".."N9"), or None."""
    pattern = DECIMAL if kind == "R" else NUMERIC
    if pattern.fullmatch(value) is None:
        return f"is not an X12 {kind} value (digits, an optional minus sign" + (
            " and decimal point)" if kind == "R" else ")"
        )
    if sum(c.isascii() and c.isdigit() for c in value) > MAX_NUMERIC_DIGITS:
        return f"has more than {MAX_NUMERIC_DIGITS} digits"
    return None


def as_decimal(value: str, implied_decimals: int = 0) -> Decimal | None:
    """``value`` as a Decimal when it is a valid R (or Nn with ``implied_decimals``), else None."""
    if numeric_problem(value, "R" if not implied_decimals else "N") is not None:
        return None
    number = Decimal(value)
    return number.scaleb(-implied_decimals) if implied_decimals else number
