"""Read a BAI2 file into typed records: tolerant, never judging totals (``validation`` does).

The reader walks the lines once; ``88`` continuations are gathered with the record they continue
(``fields.FieldStream`` joins them). What it cannot make sense of becomes a ``Problem`` in
``deviations``; it raises only ``BankStatementUnreadable``, and only when the input is not a
BAI2 file at all (no ``01`` first) or breaks a size limit, so every input ends in bounded time.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Final

from payouts.bai2 import fields
from payouts.bai2.fields import FieldStream
from payouts.bai2.model import (
    Account,
    AccountHeader,
    AccountTrailer,
    Bai2File,
    Detail,
    FileHeader,
    FileTrailer,
    Funds,
    Group,
    GroupHeader,
    GroupTrailer,
    Problem,
    Summary,
)
from payouts.errors import BankStatementUnreadable

# A BAI2 line is 80 characters in most files and rarely longer than a few hundred: 4096 leaves
# room for any real bank while keeping one line from holding the whole file.
MAX_LINE_CHARS: Final = 4096
# A million physical records is a month of a very busy account (and some 330 MB read); a file
# beyond it is refused.
MAX_RECORDS: Final = 1_000_000
# 88 continuations of one record; the text is clipped far shorter downstream anyway.
MAX_CONTINUATIONS: Final = 1000
# Status and summary amounts of one 03 record: the BAI2 code list has fewer than 200.
MAX_SUMMARIES: Final = 500
# Funds type D: number of distributions (the spec's example has 2 or 3).
MAX_DISTRIBUTIONS: Final = 99

# Funds types with no fields of their own; one shared value each (a file has millions of 16s).
_PLAIN_FUNDS: Final = {kind: Funds(kind) for kind in ("", "0", "1", "2", "Z")}
_KNOWN: Final = frozenset({"01", "02", "03", "16", "49", "88", "98", "99"})


def _refuse(reason: str) -> BankStatementUnreadable:
    return BankStatementUnreadable("bai2", reason)


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # BAI2 is ASCII; Latin-1 maps every byte, so a stray one spoils a field, not the file.
        return data.decode("latin-1")


def _lines(text: str, max_line_chars: int) -> Iterator[tuple[int, str]]:
    """(1-based line number, line) without its line end; CRLF, LF and CR all end a line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    start = 0
    number = 0
    while start <= len(text):
        end = text.find("\n", start)
        if end == -1:
            end = len(text)
        number += 1
        if end - start > max_line_chars:
            raise _refuse(f"line {number} is longer than {max_line_chars} characters")
        yield number, text[start:end]
        start = end + 1


class _Record:
    """One logical record: its code, first line, and the parts of every physical line."""

    __slots__ = ("code", "line", "padded", "parts")

    def __init__(self, code: str, line: int, part: str, padded: bool) -> None:
        self.code = code
        self.line = line
        self.parts = [part]
        self.padded = [padded]

    def stream(self) -> FieldStream:
        return FieldStream(self.parts, self.padded)


def read(
    data: bytes | str,
    *,
    max_line_chars: int = MAX_LINE_CHARS,
    max_records: int = MAX_RECORDS,
    max_continuations: int = MAX_CONTINUATIONS,
) -> Bai2File:
    """Read a whole BAI2 file (its bytes or text). Raises ``BankStatementUnreadable`` only when
    the input is not BAI2 (empty, no ``01`` file header first) or breaks a limit."""
    text = _decode(data)
    if not text.strip():
        raise _refuse("the file is empty")
    # Counted up front, so a file far over the limit is refused before any record is read.
    if max(text.count("\n"), text.count("\r")) > max_records:
        raise _refuse(f"more than {max_records} lines")
    builder = _Builder()
    current: _Record | None = None
    record_length: int | None = None
    for number, line in _lines(text, max_line_chars):
        if not line.strip():
            continue  # blank lines (a trailing newline, padding blocks) are not records
        builder.file.records += 1
        if builder.file.records > max_records:
            raise _refuse(f"more than {max_records} records")
        code, comma, rest = line.partition(",")
        code = code.strip()
        if current is None and builder.file.header is None and code != "01":
            raise _refuse(f"line {number} is not a 01 file header: not a BAI2 file")
        padded = record_length is not None and len(line) == record_length
        if code == "88":
            if current is None:
                builder.problem(number, "orphan_continuation", "an 88 record continues nothing")
                continue
            if len(current.parts) > max_continuations:
                raise _refuse(
                    f"line {number}: more than {max_continuations} continuations of the "
                    f"{current.code} record at line {current.line}"
                )
            current.parts.append(rest)
            current.padded.append(padded)
            continue
        if current is not None:
            builder.add(current)
            if current.code == "01" and builder.file.header is not None:
                record_length = builder.file.header.record_length
        if code not in _KNOWN or not comma:
            builder.problem(
                number,
                "unknown_record",
                f"record code {code[:8]!r} is not a BAI2 record (01 02 03 16 49 88 98 99)",
            )
            current = None
            continue
        current = _Record(code, number, rest, padded)
    if current is not None:
        builder.add(current)
    builder.finish()
    return builder.file


class _Builder:
    """Nests records into groups and accounts and notes every record out of place."""

    def __init__(self) -> None:
        self.file = Bai2File()
        self.group: Group | None = None
        self.account: Account | None = None

    def problem(self, line: int, code: str, message: str) -> None:
        self.file.deviations.append(Problem(line, code, message))

    def add(self, record: _Record) -> None:
        if self.file.trailer is not None:
            self.problem(record.line, "after_file_trailer", "a record after the 99 file trailer")
            return
        handler = getattr(self, f"_r{record.code}")
        handler(record, record.stream())

    def _close_account(self, line: int, why: str) -> None:
        if self.account is not None:
            self.problem(
                line,
                "missing_account_trailer",
                f"the account at line {self.account.header.line} has no 49 trailer before {why}",
            )
            self.account = None

    def _close_group(self, line: int, why: str) -> None:
        self._close_account(line, why)
        if self.group is not None:
            self.problem(
                line,
                "missing_group_trailer",
                f"the group at line {self.group.header.line} has no 98 trailer before {why}",
            )
            self.group = None

    def _r01(self, record: _Record, s: FieldStream) -> None:
        if self.file.header is not None:
            self.problem(record.line, "second_file_header", "a second 01 file header")
            return
        sender, receiver, created, _time, file_id = (s.optional() for _ in range(5))
        record_length, _block, version = (s.optional() for _ in range(3))
        self.file.header = FileHeader(
            line=record.line,
            lines=len(record.parts),
            sender=sender.strip(),
            receiver=receiver.strip(),
            created=self._date(record.line, "file creation date", created),
            file_id=file_id.strip(),
            record_length=fields.count(record_length),
            version=version.strip(),
        )

    def _r02(self, record: _Record, s: FieldStream) -> None:
        self._close_group(record.line, "the 02 group header at this line")
        receiver, originator, status, as_of, _as_of_time, currency = (
            s.optional() for _ in range(6)
        )
        self.group = Group(
            GroupHeader(
                line=record.line,
                lines=len(record.parts),
                receiver=receiver.strip(),
                originator=originator.strip(),
                status=status.strip(),
                as_of_date=self._date(record.line, "as-of date", as_of),
                currency=currency.strip().upper() or None,
            )
        )
        self.file.groups.append(self.group)

    def _r03(self, record: _Record, s: FieldStream) -> None:
        if self.group is None:
            self.problem(record.line, "outside_group", "an 03 account record outside a group")
            return
        self._close_account(record.line, "the 03 account record at this line")
        number = s.optional().strip()
        currency = s.optional().strip().upper() or None
        summaries: list[Summary] = []
        groups = 0
        while (code := s.next()) is not None:
            groups += 1  # empty ones too: a line of bare commas must not run on
            if groups > MAX_SUMMARIES:
                self.problem(
                    record.line, "too_many_summaries", f"more than {MAX_SUMMARIES} summaries"
                )
                break
            code = code.strip()
            amount_text = s.optional()
            count_text = s.optional()
            funds = self._funds(record.line, s)
            if not code and not amount_text.strip():
                continue  # an empty trailing summary: nothing reported
            if not fields.is_type_code(code):
                self.problem(
                    record.line, "bad_type_code", f"summary type code {code[:8]!r} is not 3 digits"
                )
            summaries.append(
                Summary(
                    code, self._amount(record.line, amount_text), fields.count(count_text), funds
                )
            )
        header = AccountHeader(record.line, len(record.parts), number, currency, tuple(summaries))
        self.account = Account(header)
        self.group.accounts.append(self.account)

    def _r16(self, record: _Record, s: FieldStream) -> None:
        if self.account is None:
            self.problem(record.line, "outside_account", "a 16 detail record outside an account")
            return
        code = (s.next() or "").strip()
        if not fields.is_type_code(code):
            self.problem(
                record.line, "bad_type_code", f"detail type code {code[:8]!r} is not 3 digits"
            )
        amount = self._amount(record.line, s.optional())
        funds = self._funds(record.line, s)
        bank_reference = s.optional().strip()
        customer_reference = s.optional().strip()
        self.account.details.append(
            Detail(
                line=record.line,
                lines=len(record.parts),
                type_code=code,
                amount=amount,
                funds=funds,
                bank_reference=bank_reference,
                customer_reference=customer_reference,
                text=s.text(),
            )
        )

    def _r49(self, record: _Record, s: FieldStream) -> None:
        if self.account is None:
            self.problem(record.line, "outside_account", "a 49 account trailer with no account")
            return
        total, records = s.optional(), s.optional()
        self.account.trailer = AccountTrailer(
            record.line,
            len(record.parts),
            self._amount(record.line, total),
            self._count(record.line, "49 number of records", records),
        )
        self.account = None

    def _r98(self, record: _Record, s: FieldStream) -> None:
        if self.group is None:
            self.problem(record.line, "outside_group", "a 98 group trailer with no group")
            return
        self._close_account(record.line, "the 98 group trailer at this line")
        total, accounts, records = s.optional(), s.optional(), s.optional()
        self.group.trailer = GroupTrailer(
            record.line,
            len(record.parts),
            self._amount(record.line, total),
            self._count(record.line, "98 number of accounts", accounts),
            self._count(record.line, "98 number of records", records),
        )
        self.group = None

    def _r99(self, record: _Record, s: FieldStream) -> None:
        self._close_group(record.line, "the 99 file trailer at this line")
        total, groups, records = s.optional(), s.optional(), s.optional()
        self.file.trailer = FileTrailer(
            record.line,
            len(record.parts),
            self._amount(record.line, total),
            self._count(record.line, "99 number of groups", groups),
            self._count(record.line, "99 number of records", records),
        )

    def finish(self) -> None:
        if self.file.trailer is None:
            self._close_group(0, "the end of the file")
            self.problem(
                0,
                "missing_file_trailer",
                "the file ends without a 99 file trailer: it is incomplete (cut off in transfer?)",
            )

    # -- fields ----------------------------------------------------------------------------

    def _amount(self, line: int, text: str) -> int | None:
        if not text.strip():
            return None
        value = fields.amount(text)
        if value is None:
            self.problem(
                line,
                "bad_amount",
                f"amount {text[:24]!r} is not a signed whole number of minor units",
            )
        return value

    def _count(self, line: int, name: str, text: str) -> int | None:
        if not text.strip():
            return None
        value = fields.count(text)
        if value is None:
            self.problem(line, "bad_count", f"{name} {text[:24]!r} is not a number")
        return value

    def _date(self, line: int, name: str, text: str) -> date | None:
        if not text.strip():
            return None
        value = fields.yymmdd(text.strip())
        if value is None:
            self.problem(line, "bad_date", f"{name} {text[:24]!r} is not a date YYMMDD")
        return value

    def _funds(self, line: int, s: FieldStream) -> Funds:
        """Funds type and the fields it brings (BAI2 "Funds Type": S three amounts, V a value
        date and time, D a count of day/amount pairs)."""
        kind = s.optional().strip().upper()
        plain = _PLAIN_FUNDS.get(kind)
        if plain is not None:
            return plain
        if kind == "V":
            day, at = s.optional().strip(), s.optional().strip()
            when = fields.hhmm(at) if at else None
            if at and when is None:
                self.problem(line, "bad_time", f"value time {at[:8]!r} is not HHMM")
            return Funds(kind, value_date=self._date(line, "value date", day), value_time=when)
        if kind == "S":
            immediate, one, two = (self._amount(line, s.optional()) for _ in range(3))
            return Funds(kind, immediate=immediate, one_day=one, two_or_more_days=two)
        if kind == "D":
            n = self._count(line, "number of distributions", s.optional()) or 0
            if n > MAX_DISTRIBUTIONS:
                self.problem(
                    line,
                    "too_many_distributions",
                    f"{n} distributions (at most {MAX_DISTRIBUTIONS})",
                )
                n = 0
            pairs = []
            for _ in range(n):
                days = self._count(line, "distribution days", s.optional())
                value = self._amount(line, s.optional())
                pairs.append((days or 0, value or 0))
            return Funds(kind, distributions=tuple(pairs))
        self.problem(line, "bad_funds_type", f"funds type {kind[:8]!r} is not 0 1 2 S V D or Z")
        return Funds(kind)
