"""ABA routing numbers: the check digit (NACHA Appendix Two, "Check Digit"; ABA weights 3,7,1)."""

from __future__ import annotations

from nacha.fields import is_digits

_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7)


def check_digit(first_eight: str) -> int:
    """The check digit for the first eight digits of a routing number (the RDFI identification).

    Multiply each digit by 3, 7, 1, 3, 7, 1, 3, 7, sum, and take the amount that raises the sum
    to the next multiple of ten."""
    if len(first_eight) != 8 or not is_digits(first_eight):
        raise ValueError("a routing number's first eight characters must be digits")
    total = sum(int(d) * w for d, w in zip(first_eight, _WEIGHTS, strict=True))
    return (10 - total % 10) % 10


def is_valid_routing_number(routing_number: str) -> bool:
    """True for nine ASCII digits whose last is the check digit of the first eight."""
    if len(routing_number) != 9 or not is_digits(routing_number):
        return False
    return check_digit(routing_number[:8]) == int(routing_number[8])
