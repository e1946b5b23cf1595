"""The PSP's payout report: payouts, balance transactions and the links between them, as CSV.

The layouts are Stripe's, as Fivetran syncs them (``payout``, ``balance_transaction``,
``payout_balance_transaction`` tables): one header row, comma-separated, RFC 4180 quoting, UTF-8
with or without a BOM, CRLF or LF line ends. Stripe amounts are integers in the currency's
smallest unit (cents for USD, yen for JPY), so they are kept as ``int`` as they are and never pass
through a float. Timestamps carry no zone: Stripe and Fivetran write them in UTC.

Readers stream: ``iter_*`` yield typed rows one at a time and append what is wrong with a row to a
``problems`` list instead of raising, so a 1,000,000-row report costs one row of memory at a time.
``read_*`` collect the rows for small files and tests. Only a file that cannot be read at all
raises ``PspReportUnreadable``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Final, Generic, TypeVar

from payouts.currencies import is_currency_code
from payouts.errors import PspReportUnreadable

ReportSource = Path | bytes | IO[bytes]


class Category(StrEnum):
    """What a balance transaction is, whatever the PSP calls it."""

    CHARGE = "charge"  # captured card payments (Stripe: charge, payment)
    REFUND = "refund"
    DISPUTE = "dispute"
    ADJUSTMENT = "adjustment"
    FEE = "fee"  # a fee of its own (Stripe: stripe_fee …), besides each row's ``fee`` column
    PAYOUT = "payout"  # a payout's own debit, or a failed/cancelled payout coming back
    OTHER = "other"


# Stripe's balance-transaction ``type`` values (API reference, "Balance Transaction object").
_TYPE_CATEGORY: Final[dict[str, Category]] = {
    **dict.fromkeys(("charge", "payment"), Category.CHARGE),
    **dict.fromkeys(
        (
            "refund",
            "payment_refund",
            "payment_failure_refund",
            "payment_reversal",
            "refund_failure",
        ),
        Category.REFUND,
    ),
    **dict.fromkeys(("dispute", "dispute_reversal", "issuing_dispute"), Category.DISPUTE),
    **dict.fromkeys(
        ("adjustment", "reserve_transaction", "reserved_funds", "anticipation_repayment"),
        Category.ADJUSTMENT,
    ),
    **dict.fromkeys(
        (
            "stripe_fee",
            "stripe_fx_fee",
            "tax_fee",
            "network_cost",
            "application_fee",
            "application_fee_refund",
        ),
        Category.FEE,
    ),
    **dict.fromkeys(
        (
            "payout",
            "payout_cancel",
            "payout_failure",
            "payout_reversal",
            "payout_minimum_balance_hold",
            "payout_minimum_balance_release",
        ),
        Category.PAYOUT,
    ),
}

# Stripe's ``reporting_category`` (when the report has it) is finer than ``type``: a dispute is
# ``type=adjustment`` but ``reporting_category=dispute``, so it wins.
_REPORTING_CATEGORY: Final[dict[str, Category]] = {
    "charge": Category.CHARGE,
    "refund": Category.REFUND,
    "refund_failure": Category.REFUND,
    "partial_capture_reversal": Category.REFUND,
    "dispute": Category.DISPUTE,
    "dispute_reversal": Category.DISPUTE,
    "fee": Category.FEE,
    "other_adjustment": Category.ADJUSTMENT,
    "payout": Category.PAYOUT,
    "payout_reversal": Category.PAYOUT,
}


def categorise(type_: str, reporting_category: str | None = None) -> Category:
    """Normalise a PSP transaction type (and Stripe's reporting category, if known)."""
    if reporting_category:
        found = _REPORTING_CATEGORY.get(reporting_category.strip().lower())
        if found is not None:
            return found
    return _TYPE_CATEGORY.get(type_.strip().lower(), Category.OTHER)


@dataclass(frozen=True, slots=True)
class Payout:
    """One payout row. ``amount`` is in minor units; negative when the PSP debits the bank."""

    id: str
    amount: int
    currency: str  # ISO 4217, upper case
    arrival_date: date
    status: str | None = None  # paid, in_transit, pending, failed, canceled
    statement_descriptor: str | None = None
    balance_transaction_id: str | None = None  # the payout's own debit of the PSP balance
    created: datetime | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class BalanceTransaction:
    """One balance-transaction row: ``net == amount - fee``, all in minor units."""

    id: str
    amount: int
    fee: int
    net: int
    currency: str  # ISO 4217, upper case
    type: str  # the PSP's own word, lower case
    category: Category
    payout_id: str | None = None  # the report's own column (Stripe: automatic_payout_id)
    source: str | None = None  # the charge, refund or payout it comes from
    status: str | None = None
    created: datetime | None = None
    available_on: datetime | None = None
    line: int = 0


@dataclass(frozen=True, slots=True)
class PayoutLink:
    """One row of the payout ↔ balance-transaction link table."""

    payout_id: str
    balance_transaction_id: str
    line: int = 0


@dataclass(frozen=True, slots=True)
class RowProblem:
    """Why row ``line`` (1-based physical line of the file) was skipped."""

    line: int
    message: str
    record_id: str | None = None
    column: str | None = None
    layout: str = ""  # payouts, balance_transactions or payout_links


R = TypeVar("R")


@dataclass(slots=True)
class ParsedRows(Generic[R]):
    rows: list[R] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)


@dataclass(slots=True)
class PspReport:
    """A whole report: rows of the three files (``links`` is ``None`` when no link file came)."""

    payouts: list[Payout]
    transactions: list[BalanceTransaction]
    links: list[PayoutLink] | None = None
    problems: list[RowProblem] = field(default_factory=list)


_Builder = Callable[[int, dict[str, int], list[str]], R]


class _RowError(ValueError):
    def __init__(self, column: str, message: str) -> None:
        self.column = column
        super().__init__(message)


# -- the CSV seam ----------------------------------------------------------------------------

_PAYOUT_COLUMNS: Final = ("id", "amount", "currency", "arrival_date")
_TRANSACTION_COLUMNS: Final = ("id", "amount", "fee", "net", "currency", "type")
_LINK_COLUMNS: Final = ("payout_id", "balance_transaction_id")
# ISO 8601 with a zone and microseconds is 32 characters; epoch seconds far fewer.
_MAX_TIMESTAMP_CHARS: Final = 64


def _open(source: ReportSource) -> tuple[IO[bytes], bool]:
    """The byte stream and whether we opened it (and so must close it)."""
    if isinstance(source, bytes):
        return io.BytesIO(source), True
    if isinstance(source, Path):
        try:
            return source.open("rb"), True
        except OSError as error:
            raise PspReportUnreadable(f"cannot open {source.name}: {error.strerror}") from error
    return source, False


def _records(
    source: ReportSource, layout: str, required: tuple[str, ...], problems: list[RowProblem]
) -> Iterator[tuple[int, dict[str, int], list[str]]]:
    """Yield ``(line, column index, fields)`` per data row; rows of the wrong width or with
    bytes that are not UTF-8 become problems. Raises only ``PspReportUnreadable``."""
    stream, owned = _open(source)
    try:
        # utf-8-sig drops a BOM; "replace" lets one bad byte spoil one row, not the file.
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text, strict=False)
        try:
            header = next(reader, None)
        except (csv.Error, OSError) as error:
            raise PspReportUnreadable(f"cannot read the header: {error}") from error
        if header is None:
            raise PspReportUnreadable("the file is empty")
        index = {name.strip().lower(): i for i, name in enumerate(header)}
        missing = [name for name in required if name not in index]
        if missing:
            raise PspReportUnreadable(
                f"not this report's layout: column(s) {', '.join(missing)} missing from the "
                f"header (expected at least {', '.join(required)})"
            )
        width = len(header)
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                problems.append(RowProblem(reader.line_num, f"not CSV: {error}", layout=layout))
                continue
            except OSError as error:
                raise PspReportUnreadable(f"cannot read line {reader.line_num}: {error}") from error
            line = reader.line_num
            if not fields or (len(fields) == 1 and not fields[0].strip()):
                continue  # blank line, e.g. a trailing CRLF
            if len(fields) != width:
                message = f"{len(fields)} fields where the header has {width}"
                problems.append(RowProblem(line, message, fields[0] or None, layout=layout))
                continue
            if "\ufffd" in "".join(fields):
                problems.append(
                    RowProblem(line, "bytes that are not UTF-8", fields[0] or None, layout=layout)
                )
                continue
            yield line, index, fields
    finally:
        if owned:
            stream.close()


def _text(fields: list[str], index: dict[str, int], column: str) -> str | None:
    i = index.get(column)
    if i is None:
        return None
    value = fields[i].strip()
    return value or None


def _required(fields: list[str], index: dict[str, int], column: str) -> str:
    value = _text(fields, index, column)
    if value is None:
        raise _RowError(column, f"{column} is empty")
    return value


def _int(fields: list[str], index: dict[str, int], column: str) -> int:
    value = _required(fields, index, column)
    # Stripe writes minor units as plain integers; "12.50" here would mean a major-unit report.
    body = value[1:] if value[:1] in "+-" else value
    if not (body.isascii() and body.isdigit()) or len(body) > 18:
        raise _RowError(column, f"{column} {value!r} is not an integer amount in minor units")
    return int(value)


def _currency(fields: list[str], index: dict[str, int]) -> str:
    value = _required(fields, index, "currency")
    if not is_currency_code(value):
        raise _RowError("currency", f"currency {value!r} is not an ISO 4217 code")
    return value.upper()


def _timestamp(fields: list[str], index: dict[str, int], column: str) -> datetime | None:
    value = _text(fields, index, column)
    if value is None:
        return None
    if len(value) > _MAX_TIMESTAMP_CHARS:
        raise _RowError(column, f"{column} of {len(value)} characters is not a timestamp")
    try:
        if value.isascii() and value.isdigit():  # the API's epoch seconds
            return datetime.fromtimestamp(int(value), UTC)
        parsed = datetime.fromisoformat(value)
        # No zone in the file means UTC (Stripe, Fivetran); convert any stated zone to UTC.
        # Inside the try: 0001-01-01T00:00+01:00 overflows on the way to UTC, and that is
        # this row's problem, not the report's.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise _RowError(column, f"{column} {value!r} is not a timestamp") from None


def _parse_rows(
    source: ReportSource,
    layout: str,
    required: tuple[str, ...],
    make_builder: Callable[[dict[str, int]], _Builder[R]],
    problems: list[RowProblem],
) -> Iterator[R]:
    build: _Builder[R] | None = None
    for line, index, fields in _records(source, layout, required, problems):
        if build is None:
            build = make_builder(index)
        try:
            yield build(line, index, fields)
        except _RowError as error:
            record_id = fields[index[required[0]]].strip() or None
            problems.append(RowProblem(line, str(error), record_id, error.column, layout))


# -- the three layouts -------------------------------------------------------------------------


def _payout(line: int, index: dict[str, int], fields: list[str]) -> Payout:
    arrival = _timestamp(fields, index, "arrival_date")
    if arrival is None:
        raise _RowError("arrival_date", "arrival_date is empty")
    return Payout(
        id=_required(fields, index, "id"),
        amount=_int(fields, index, "amount"),
        currency=_currency(fields, index),
        arrival_date=arrival.date(),
        status=_text(fields, index, "status"),
        statement_descriptor=_text(fields, index, "statement_descriptor"),
        balance_transaction_id=_text(fields, index, "balance_transaction_id"),
        created=_timestamp(fields, index, "created"),
        line=line,
    )


def _transaction_builder(index: dict[str, int]) -> _Builder[BalanceTransaction]:
    """The row builder for one header: column positions resolved once, not per row (the
    balance-transaction file is the one with a million rows)."""
    optional = {
        name: index.get(name) for name in ("payout_id", "source", "status", "reporting_category")
    }

    def text(fields: list[str], column: str) -> str | None:
        i = optional[column]
        return (fields[i].strip() or None) if i is not None else None

    def build(line: int, index: dict[str, int], fields: list[str]) -> BalanceTransaction:
        amount = _int(fields, index, "amount")
        fee = _int(fields, index, "fee")
        net = _int(fields, index, "net")
        if net != amount - fee:
            # Stripe: "net = amount - fee"; a row that breaks it cannot be summed either way.
            raise _RowError("net", f"net {net} is not amount {amount} - fee {fee}")
        type_ = _required(fields, index, "type").lower()
        return BalanceTransaction(
            id=_required(fields, index, "id"),
            amount=amount,
            fee=fee,
            net=net,
            currency=_currency(fields, index),
            type=type_,
            category=categorise(type_, text(fields, "reporting_category")),
            payout_id=text(fields, "payout_id"),
            source=text(fields, "source"),
            status=text(fields, "status"),
            created=_timestamp(fields, index, "created"),
            available_on=_timestamp(fields, index, "available_on"),
            line=line,
        )

    return build


def _link(line: int, index: dict[str, int], fields: list[str]) -> PayoutLink:
    return PayoutLink(
        payout_id=_required(fields, index, "payout_id"),
        balance_transaction_id=_required(fields, index, "balance_transaction_id"),
        line=line,
    )


def iter_payouts(source: ReportSource, problems: list[RowProblem]) -> Iterator[Payout]:
    """Stream the payouts file (columns ``id, amount, currency, arrival_date`` at least)."""
    return _parse_rows(source, "payouts", _PAYOUT_COLUMNS, lambda _: _payout, problems)


def iter_balance_transactions(
    source: ReportSource, problems: list[RowProblem]
) -> Iterator[BalanceTransaction]:
    """Stream the balance-transactions file (``id, amount, fee, net, currency, type`` at
    least; ``payout_id``, ``source``, ``reporting_category`` and the timestamps when present)."""
    return _parse_rows(
        source, "balance_transactions", _TRANSACTION_COLUMNS, _transaction_builder, problems
    )


def iter_payout_links(source: ReportSource, problems: list[RowProblem]) -> Iterator[PayoutLink]:
    """Stream the payout ↔ balance-transaction link file."""
    return _parse_rows(source, "payout_links", _LINK_COLUMNS, lambda _: _link, problems)


def _collect(
    iterate: Callable[[ReportSource, list[RowProblem]], Iterable[R]], source: ReportSource
) -> ParsedRows[R]:
    parsed: ParsedRows[R] = ParsedRows()
    parsed.rows.extend(iterate(source, parsed.problems))
    return parsed


def read_payouts(source: ReportSource) -> ParsedRows[Payout]:
    return _collect(iter_payouts, source)


def read_balance_transactions(source: ReportSource) -> ParsedRows[BalanceTransaction]:
    return _collect(iter_balance_transactions, source)


def read_payout_links(source: ReportSource) -> ParsedRows[PayoutLink]:
    return _collect(iter_payout_links, source)


def read_report(
    payouts: ReportSource,
    balance_transactions: ReportSource,
    links: ReportSource | None = None,
) -> PspReport:
    """Read the two (or three) files of one report; problems of all of them, in file order."""
    problems: list[RowProblem] = []
    report = PspReport(
        payouts=list(iter_payouts(payouts, problems)),
        transactions=list(iter_balance_transactions(balance_transactions, problems)),
        links=None if links is None else list(iter_payout_links(links, problems)),
        problems=problems,
    )
    return report
