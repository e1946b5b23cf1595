"""Banking days on the Federal Reserve calendar (weekends and Fed holidays are not).

The calendar is computed once, at import, for 2000-2099: workflow code then only looks dates up
in a frozenset, and nothing is imported lazily inside Temporal's workflow sandbox.
"""

from __future__ import annotations

from datetime import date, timedelta

import holidays

FIRST_YEAR, LAST_YEAR = 2000, 2099
_FED_HOLIDAYS: frozenset[date] = frozenset(
    holidays.financial_holidays("XFED", years=range(FIRST_YEAR, LAST_YEAR + 1))
)


def is_banking_day(day: date) -> bool:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        raise ValueError(f"{day} is outside the banking calendar ({FIRST_YEAR}-{LAST_YEAR})")
    return day.weekday() < 5 and day not in _FED_HOLIDAYS


def next_banking_day(day: date) -> date:
    """``day`` itself when it is a banking day, else the next one."""
    while not is_banking_day(day):
        day += timedelta(days=1)
    return day


def add_banking_days(day: date, count: int) -> date:
    """The banking day ``count`` banking days after ``day`` (``count`` >= 0)."""
    if count < 0:
        raise ValueError("count must not be negative")
    current = day
    while count:
        current += timedelta(days=1)
        if is_banking_day(current):
            count -= 1
    return current
