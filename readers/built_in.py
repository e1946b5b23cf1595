"""Built-in file contracts: formats whose own reader is the validator.

NACHA files are checked by the NACHA reader (lenient, as inbound files are), PSP report parts by
``payouts.psp_report``'s readers, bank statements (BAI2, camt.052/053/054) by
``payouts.bank_statements``. Each check streams or reads the local file once and returns the same
shape: how many rows, every problem with its record and field, and whether the file is unreadable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import nacha
from edi.envelope import count_segments, decode, read_separators
from edi.errors import EnvelopeError
from payouts import (
    PayoutsError,
    RowProblem,
    iter_balance_transactions,
    iter_payout_links,
    iter_payouts,
    read_bank_statement,
)
from wire.intake import (
    BANK_STATEMENT_CONTRACT,
    NACHA_CONTRACT,
    PSP_REPORT_CONTRACT,
    X12_CONTRACT,
    FeedConfig,
)


@dataclass(frozen=True, slots=True)
class BuiltInProblem:
    record: int | str
    field: str
    code: str
    message: str
    severity: Literal["error", "warning"]


@dataclass(slots=True)
class BuiltInCheck:
    kind: str  # how the report names the format: "NACHA", "PSP report", "bank statement"
    rows: int | None = None
    problems: list[BuiltInProblem] = field(default_factory=list)
    unreadable: str = ""

    @property
    def errors(self) -> list[BuiltInProblem]:
        return [p for p in self.problems if p.severity == "error"]


def check_nacha(path: Path) -> BuiltInCheck:
    check = BuiltInCheck(kind="NACHA")
    try:
        ach_file = nacha.read(path)
        problems = nacha.validate(ach_file, strict=False)
    except nacha.NachaReadError as exc:
        check.unreadable = str(exc)
        return check
    check.rows = sum(1 for _ in ach_file.entries())
    check.problems = [
        BuiltInProblem(p.record_number, p.field or "", p.code, p.message, p.severity)
        for p in problems
    ]
    return check


_REPORT_READERS: dict[str, Callable[[Path, list[RowProblem]], Iterable[object]]] = {
    "payouts": iter_payouts,
    "balance_transactions": iter_balance_transactions,
    "links": iter_payout_links,
}


def check_psp_report(path: Path, part: str) -> BuiltInCheck:
    """A row the reader cannot use is a warning: the file lands and reconciliation itemises the
    payout it belonged to. A file without the part's required columns is unreadable."""
    check = BuiltInCheck(kind="PSP report")
    problems: list[RowProblem] = []
    try:
        usable = sum(1 for _ in _REPORT_READERS[part](path, problems))
    except PayoutsError as exc:
        check.unreadable = str(exc)
        return check
    check.rows = usable + len(problems)
    check.problems = [
        BuiltInProblem(p.line, p.column or "", "row_skipped", p.message, "warning")
        for p in problems
    ]
    return check


def check_bank_statement(path: Path) -> BuiltInCheck:
    check = BuiltInCheck(kind="bank statement")
    try:
        statement = read_bank_statement(path)
    except PayoutsError as exc:
        check.unreadable = str(exc)
        return check
    check.rows = len(statement.lines)
    check.problems = [
        BuiltInProblem("", "", "entry_skipped", message, "warning")
        for message in statement.problems
    ]
    return check


def check_x12(path: Path) -> BuiltInCheck:
    """Only "is it X12 at all": anything that starts with an ISA lands, because a broken
    envelope is answered with a TA1 by edi.accept, which the partner's translator understands
    better than a CSV report. Rows are the transaction sets (ST segments), counted as the file
    streams by (its size limits are edi.accept's)."""
    check = BuiltInCheck(kind="X12")
    with path.open("rb") as source:
        head = source.read(4096)
    text = decode(head)[0].lstrip()
    try:
        separators = read_separators(text)
    except EnvelopeError as exc:
        if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"ISA"):
            check.unreadable = f"not an X12 interchange: {exc}"
            return check
        check.problems.append(BuiltInProblem(1, "ISA", "envelope", str(exc), "warning"))
        return check
    check.rows = count_segments(path, separators, "ST")
    return check


def check_built_in(feed: FeedConfig, path: Path) -> BuiltInCheck:
    if feed.file_contract == NACHA_CONTRACT:
        return check_nacha(path)
    if feed.file_contract == PSP_REPORT_CONTRACT:
        assert feed.report_part is not None  # FeedConfig's validator guarantees it
        return check_psp_report(path, feed.report_part)
    if feed.file_contract == BANK_STATEMENT_CONTRACT:
        return check_bank_statement(path)
    if feed.file_contract == X12_CONTRACT:
        return check_x12(path)
    raise ValueError(f"{feed.file_contract!r} is not a built-in contract")
