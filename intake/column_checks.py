"""One contract column compiled into vectorised Arrow checks over a batch of text values.

Each check runs once per batch over the whole column (``pyarrow.compute``), never once per row.
A cell reports at most one broken rule, the first in this order: encoding, required, type (or
enum), max_length, pattern — so a partner fixes the most basic problem first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from intake.file_contract import FORMAT_DIRECTIVES, Column, ColumnType
from intake.findings import Rule

# Up to 18 digits always fits int64 (max 9,223,372,036,854,775,807). Arrow's cast refuses a
# leading "+", so the contract does too.
_INTEGER: Final = r"^-?[0-9]{1,18}$"
# The HTML living standard's "valid e-mail address" (what browsers accept), except that the
# domain needs a dot: a partner's customer is not "ann@localhost".
_EMAIL: Final = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_MAX_EMAIL: Final = 254  # RFC 5321 §4.5.3.1.3: a forward-path is at most 256 octets with <>
_OFFSET: Final = r"(?:[+-]\d{2}:?\d{2}|Z)$"
_DIRECTIVE_WIDTH: Final = {"%Y": 4, "%%": 1}


@dataclass(frozen=True)
class Failure:
    """Cells of one column breaking one rule in a batch (``mask`` is true there, never null)."""

    rule: Rule
    message: str
    mask: pa.BooleanArray
    count: int


def _null_of(arrow_type: pa.DataType) -> pa.Scalar:
    return pa.scalar(None, arrow_type)


def keep_where(values: pa.Array, ok: pa.Array) -> pa.Array:
    """``values`` with null wherever ``ok`` is false. Zero-copy when it can be: only the
    validity bitmap changes (``if_else`` would copy every string, 200 ms per million)."""
    if values.offset == 0 and ok.offset == 0 and ok.null_count == 0:
        if values.null_count:
            ok = pc.and_(ok, pc.is_valid(values))
        if ok.offset == 0:
            return pa.Array.from_buffers(
                values.type, len(values), [ok.buffers()[1], *values.buffers()[1:]]
            )
    return pc.if_else(ok, values, _null_of(values.type))


def _confirm(values: pa.Array, accepted: pa.Array, present: pa.Array, pattern: str) -> pa.Array:
    """``accepted`` (a cheap, sure test) widened by ``pattern`` on the present values it did not
    accept — usually a handful, so the regex runs on those alone."""
    doubtful = pc.and_(present, pc.invert(accepted))
    if not pc.any(doubtful).as_py():
        return accepted
    retried = pc.match_substring_regex(values.filter(doubtful), pattern=pattern)
    return pc.replace_with_mask(accepted, doubtful, pc.fill_null(retried, False))


# "-MM-DD" for every day of a leap year: with the year's four digits, the whole ISO shape.
_MONTH_DAYS: Final = pa.array(
    [
        f"-{month:02d}-{day:02d}"
        for month, days in enumerate((31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31), 1)
        for day in range(1, days + 1)
    ],
    pa.string(),
)


def _iso_dates(values: pa.Array) -> pa.Array:
    """Which values are real ``YYYY-MM-DD`` dates (years 0001-9999), by table look-up rather
    than strptime: exact (no 30 February) and it spares the time-zone database Arrow's strptime
    loads on first use (0.15 s)."""
    year = pc.utf8_slice_codeunits(values, 0, 4)
    month_day = pc.utf8_slice_codeunits(values, 4, 10)
    ok = pc.and_(
        pc.and_(pc.equal(pc.binary_length(values), 10), pc.ascii_is_decimal(year)),
        pc.and_(pc.is_in(month_day, value_set=_MONTH_DAYS), pc.not_equal(year, "0000")),
    )
    ok = pc.fill_null(ok, False)
    leap_day = pc.fill_null(pc.and_(ok, pc.equal(month_day, "-02-29")), False)
    if pc.any(leap_day).as_py():
        years = pc.cast(year.filter(leap_day), pa.int64())

        def divisible(by: int) -> pa.Array:
            return pc.equal(pc.multiply(pc.divide(years, by), by), years)

        # Gregorian leap years: divisible by 4, except centuries not divisible by 400.
        leap = pc.or_(pc.and_(divisible(4), pc.invert(divisible(100))), divisible(400))
        ok = pc.replace_with_mask(ok, leap_day, leap)
    return ok


@dataclass(frozen=True)
class _DateShape:
    """A strptime format compiled into the exact regex it accepts and where its day sits."""

    regex: str
    day_offset: int
    zoned: bool
    local_format: str  # the format without %z

    @classmethod
    def of(cls, fmt: str) -> _DateShape:
        regex = "^"
        offset = 0
        day_offset = -1
        for piece in re.findall(r"%.|[^%]", fmt):
            if piece == "%d":
                day_offset = offset
            if piece in FORMAT_DIRECTIVES:
                regex += FORMAT_DIRECTIVES[piece]
                offset += _DIRECTIVE_WIDTH.get(piece, 2)
            else:
                regex += re.escape(piece)
                offset += 1
        return cls(regex + "$", day_offset, fmt.endswith("%z"), fmt.removesuffix("%z"))


class ColumnCheck:
    """The compiled checks for one column; ``run`` returns the typed values and the failures."""

    def __init__(self, column: Column, *, timezone: str, strip: bool = False) -> None:
        self.column = column
        self.timezone = timezone
        self.strip = strip
        kind = column.type
        self.arrow_type: pa.DataType = {
            ColumnType.INTEGER: pa.int64(),
            ColumnType.DECIMAL: pa.decimal128(column.decimal_precision, column.scale or 0),
            ColumnType.DATE: pa.date32(),
            ColumnType.DATETIME: pa.timestamp("us", tz="UTC"),
            ColumnType.BOOLEAN: pa.bool_(),
        }.get(kind, pa.string())
        self._pattern = f"^(?:{column.pattern})$" if column.pattern is not None else None
        self._shape = (
            _DateShape.of(column.date_format)
            if kind in (ColumnType.DATE, ColumnType.DATETIME)
            else None
        )
        if kind is ColumnType.DECIMAL:
            scale = column.scale or 0
            whole = column.decimal_precision - scale
            fraction = rf"(?:\.[0-9]{{1,{scale}}})?" if scale else ""
            self._decimal = rf"^-?[0-9]{{1,{whole}}}{fraction}$"
        if kind is ColumnType.ENUM:
            allowed = list(column.values or ())
            if not column.case_sensitive:
                allowed = [v.lower() for v in allowed]
            self._allowed = pa.array(allowed, pa.string())
        if kind is ColumnType.BOOLEAN:
            self._true = pa.array([v.lower() for v in column.true_values], pa.string())
            self._boolean = pa.array(
                [v.lower() for v in (*column.true_values, *column.false_values)], pa.string()
            )
        self.messages = self._messages()

    def _messages(self) -> dict[Rule, str]:
        column = self.column
        kind = column.type
        type_message = {
            ColumnType.STRING: "",
            ColumnType.INTEGER: "not a whole number (digits, optional '-', at most 18 digits)",
            ColumnType.DECIMAL: f"not a decimal number ({column.rule_text()})",
            ColumnType.DATE: f"not a valid date in the format {column.date_format}",
            ColumnType.DATETIME: f"not a valid date and time in the format {column.date_format}",
            ColumnType.EMAIL: "not an e-mail address",
            ColumnType.BOOLEAN: f"not a yes/no value ({column.rule_text()})",
            ColumnType.ENUM: "",
        }[kind]
        shown = ", ".join((column.values or ())[:20])
        return {
            Rule.REQUIRED: "a value is required",
            Rule.TYPE: type_message,
            Rule.ENUM: f"not one of the allowed values: {shown}",
            Rule.MAX_LENGTH: f"longer than {column.max_length} characters",
            Rule.PATTERN: f"does not match the pattern {column.pattern}",
        }

    def run(
        self, values: pa.Array, already_failed: pa.BooleanArray | None = None
    ) -> tuple[pa.Array, list[Failure]]:
        """Check a batch of string values (null = absent). ``already_failed`` marks cells that
        broke a rule upstream (an encoding error) and so report nothing more here."""
        if self.strip:
            values = pc.utf8_trim_whitespace(values)
        # Byte length is read off the offsets; character length is only needed for max_length.
        present = pc.fill_null(pc.greater(pc.binary_length(values), 0), False)
        failures: list[Failure] = []
        failed = already_failed

        def add(rule: Rule, broken: Any) -> None:
            nonlocal failed
            mask = pc.fill_null(broken, False)
            if failed is not None:
                mask = pc.and_(mask, pc.invert(failed))
            count = pc.sum(mask).as_py() or 0
            if count:
                failures.append(Failure(rule, self.messages[rule], mask, count))
                failed = mask if failed is None else pc.or_(failed, mask)

        if self.column.required:
            add(Rule.REQUIRED, pc.invert(present))
        typed, ok = self._parse(values, present)
        if ok is not None:
            rule = Rule.ENUM if self.column.type is ColumnType.ENUM else Rule.TYPE
            add(rule, pc.and_(present, pc.invert(ok)))
        if self.column.max_length is not None:
            add(Rule.MAX_LENGTH, pc.greater(pc.utf8_length(values), self.column.max_length))
        if self._pattern is not None:
            add(
                Rule.PATTERN,
                pc.and_(
                    present, pc.invert(pc.match_substring_regex(values, pattern=self._pattern))
                ),
            )
        return typed, failures

    def _parse(self, values: pa.Array, present: pa.Array) -> tuple[pa.Array, Any]:
        """The typed column (null where absent or invalid) and the mask of well-formed values
        (None when every present value is well-formed)."""
        kind = self.column.type
        if kind is ColumnType.STRING:
            return keep_where(values, present), None  # an empty value is absent: null
        if kind is ColumnType.EMAIL:
            # The regex admits ASCII only, so bytes are characters for any value it accepts.
            ok = pc.and_(
                pc.match_substring_regex(values, pattern=_EMAIL),
                pc.less_equal(pc.binary_length(values), _MAX_EMAIL),
            )
            return keep_where(values, present), ok
        if kind is ColumnType.ENUM:
            folded = values if self.column.case_sensitive else pc.utf8_lower(values)
            return keep_where(values, present), pc.is_in(folded, value_set=self._allowed)
        if kind is ColumnType.BOOLEAN:
            folded = pc.utf8_lower(values)
            ok = pc.is_in(folded, value_set=self._boolean)
            typed = pc.if_else(ok, pc.is_in(folded, value_set=self._true), _null_of(pa.bool_()))
            return typed, ok
        if kind is ColumnType.INTEGER:
            # Plain digits pass a check ten times cheaper than the regex; only the rest (signs,
            # junk) goes through it.
            plain = pc.and_(
                pc.ascii_is_decimal(values), pc.less_equal(pc.binary_length(values), 18)
            )
            ok = _confirm(values, pc.fill_null(plain, False), present, _INTEGER)
            return pc.cast(keep_where(values, ok), self.arrow_type), ok
        if kind is ColumnType.DECIMAL:
            ok = pc.fill_null(pc.match_substring_regex(values, pattern=self._decimal), False)
            # The regex guarantees every value left casts, so one bad cell cannot fail the batch.
            return pc.cast(keep_where(values, ok), self.arrow_type), ok
        return self._parse_time(values, present)

    def _parse_time(self, values: pa.Array, present: pa.Array) -> tuple[pa.Array, Any]:
        shape = self._shape
        assert shape is not None
        fmt = self.column.date_format
        if self.column.type is ColumnType.DATE and fmt == "%Y-%m-%d":
            ok = _iso_dates(values)
            # Every value left is a real date, so Arrow's exact ISO cast cannot fail.
            return pc.cast(keep_where(values, ok), pa.date32()), ok
        shaped = pc.fill_null(pc.match_substring_regex(values, pattern=shape.regex), False)
        cleaned = keep_where(values, shaped)
        local_text = (
            pc.replace_substring_regex(cleaned, pattern=_OFFSET, replacement="")
            if shape.zoned
            else cleaned
        )
        local = pc.strptime(local_text, format=shape.local_format, unit="s", error_is_null=True)
        # Arrow's strptime rolls 30 February over to 2 March; the day it read must be the day
        # written, or the date does not exist.
        written_day = pc.cast(
            pc.utf8_slice_codeunits(cleaned, shape.day_offset, shape.day_offset + 2), pa.int64()
        )
        ok = pc.fill_null(pc.equal(pc.day(local), written_day), False)
        if self.column.type is ColumnType.DATE:
            return pc.cast(local, pa.date32()), ok
        if shape.zoned:
            instant = pc.strptime(cleaned, format=fmt, unit="s", error_is_null=True)
            ok = pc.and_(ok, pc.is_valid(instant))
        else:
            # A time without an offset is in the contract's zone. In the autumn hour that
            # happens twice, take the first; a time skipped in spring moves past the gap.
            instant = pc.assume_timezone(
                local, timezone=self.timezone, ambiguous="earliest", nonexistent="latest"
            )
        return pc.cast(instant, self.arrow_type), ok
