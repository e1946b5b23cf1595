"""ISO 4217 minor units: how many decimals a currency's amounts carry.

Stripe reports amounts in the currency's smallest unit already (a zero-decimal currency such as
JPY in whole yen); BAI2 amounts carry implied decimals per currency; camt amounts are decimal
strings. This table turns the decimal ones into integer minor units.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Final

# ISO 4217 currencies whose minor unit is not 2 (the default); from the ISO 4217 list one.
_EXPONENTS: Final[dict[str, int]] = {
    **dict.fromkeys(
        [
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "UYI",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ],
        0,
    ),
    **dict.fromkeys(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"], 3),
    **dict.fromkeys(["CLF", "UYW"], 4),
}


# camt's ActiveOrHistoricCurrencyAndAmount allows 18 digits in total: nothing larger is money.
_MAX_DIGITS: Final = 18
# xs:decimal's lexical space (XML Schema 1.1 Part 2, 3.3.3): ASCII digits, one optional point,
# no exponent. Python's Decimal() also takes "1E2", "NaN" and Arabic-Indic digits, so the text
# is checked first; [0-9] matches ASCII digits only, unlike \d. The length cap keeps a hostile
# 10,000-digit "amount" from costing anything.
_XS_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_MAX_DECIMAL_CHARS: Final = 64


def minor_unit_exponent(currency: str) -> int:
    """Decimals of ``currency`` (ISO 4217 alpha code, any case); 2 when not listed."""
    return _EXPONENTS.get(currency.upper(), 2)


def is_currency_code(value: str) -> bool:
    """Three ASCII letters, as ISO 4217 alpha codes are."""
    return len(value) == 3 and value.isascii() and value.isalpha()


def parse_decimal(text: str) -> Decimal:
    """An ``xs:decimal`` (leading and trailing XML whitespace allowed); ``ValueError`` for
    anything else, exponents and non-ASCII digits included."""
    value = text.strip(" \t\r\n")
    if len(value) > _MAX_DECIMAL_CHARS or _XS_DECIMAL.fullmatch(value) is None:
        raise ValueError(f"not an xs:decimal amount: {text[:_MAX_DECIMAL_CHARS]!r}")
    return Decimal(value)


def to_minor_units(amount: str, currency: str) -> int:
    """``"8.85"`` EUR → 885. Raises ``ValueError`` when ``amount`` is not a plain non-negative
    ``xs:decimal`` or has more decimals than the currency allows (money is never rounded)."""
    value = parse_decimal(amount)
    if value < 0:
        raise ValueError(f"not a non-negative finite amount: {amount!r}")
    if value.adjusted() >= _MAX_DIGITS:
        raise ValueError(f"amount {amount!r} is implausibly large")
    scaled = value.scaleb(minor_unit_exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount!r} has more decimals than {currency.upper()} allows")
    return int(scaled)
