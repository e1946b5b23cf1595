"""A BAI2 file as read: typed records in their file → group → account nesting.

Every record keeps ``line``, the 1-based line of the file it starts on, and ``lines``, how many
physical records it spans (itself and its ``88`` continuations): the trailers count those.
Amounts are integers in minor units, signed as the file writes them (``None``: blank or not a
number, which the reader records as a problem). Nothing here is validated: that is
``payouts.bai2.validation``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file, at ``line`` (1-based; 0 for the whole file). ``message``
    never holds an account number or a statement text."""

    line: int
    code: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message}"


@dataclass(frozen=True, slots=True)
class Funds:
    """Funds type and its availability (BAI2 funds types ``0 1 2 S V D Z``)."""

    type: str = ""
    value_date: date | None = None  # V
    value_time: time | None = None  # V
    immediate: int | None = None  # S
    one_day: int | None = None  # S
    two_or_more_days: int | None = None  # S
    distributions: tuple[tuple[int, int], ...] = ()  # D: (days, amount)


@dataclass(frozen=True, slots=True)
class FileHeader:  # 01
    line: int
    lines: int
    sender: str
    receiver: str
    created: date | None
    file_id: str
    record_length: int | None
    version: str


@dataclass(frozen=True, slots=True)
class GroupHeader:  # 02
    line: int
    lines: int
    receiver: str
    originator: str
    status: str
    as_of_date: date | None
    currency: str | None


@dataclass(frozen=True, slots=True)
class Summary:
    """One status (balance) or summary of an ``03`` record: type code, amount, item count."""

    type_code: str
    amount: int | None
    item_count: int | None
    funds: Funds


@dataclass(frozen=True, slots=True)
class AccountHeader:  # 03
    line: int
    lines: int
    account_number: str  # PII: never in a message
    currency: str | None
    summaries: tuple[Summary, ...]


@dataclass(frozen=True, slots=True)
class Detail:  # 16
    line: int
    lines: int
    type_code: str
    amount: int | None
    funds: Funds
    bank_reference: str
    customer_reference: str
    text: str


@dataclass(frozen=True, slots=True)
class AccountTrailer:  # 49
    line: int
    lines: int
    control_total: int | None
    records: int | None


@dataclass(frozen=True, slots=True)
class GroupTrailer:  # 98
    line: int
    lines: int
    control_total: int | None
    accounts: int | None
    records: int | None


@dataclass(frozen=True, slots=True)
class FileTrailer:  # 99
    line: int
    lines: int
    control_total: int | None
    groups: int | None
    records: int | None


@dataclass(slots=True)
class Account:
    header: AccountHeader
    details: list[Detail] = field(default_factory=list)
    trailer: AccountTrailer | None = None

    @property
    def records(self) -> int:
        """Physical records from the 03 through the 49, continuations included."""
        tail = self.trailer.lines if self.trailer else 0
        return self.header.lines + sum(d.lines for d in self.details) + tail

    @property
    def computed_total(self) -> int:
        """Every amount of the 03 and its 16 records, as the 49 control total adds them."""
        summaries = sum(s.amount or 0 for s in self.header.summaries)
        return summaries + sum(d.amount or 0 for d in self.details)


@dataclass(slots=True)
class Group:
    header: GroupHeader
    accounts: list[Account] = field(default_factory=list)
    trailer: GroupTrailer | None = None

    @property
    def records(self) -> int:
        tail = self.trailer.lines if self.trailer else 0
        return self.header.lines + sum(a.records for a in self.accounts) + tail


@dataclass(slots=True)
class Bai2File:
    header: FileHeader | None = None
    groups: list[Group] = field(default_factory=list)
    trailer: FileTrailer | None = None
    records: int = 0  # physical records read (blank lines not counted)
    deviations: list[Problem] = field(default_factory=list)  # what the reader met
