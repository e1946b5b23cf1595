"""What validating a file found: row errors, file-level problems, schema drift and the summary.

These are small models that travel through workflow history (claim check: the rows themselves do
not), so the error sample is capped. Values are masked here, when a finding is made, so no later
step can leak a PII value by forgetting to.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict

from foundation.pii import mask_value
from foundation.wire_model import WireModel, wire_model

# Values of non-PII columns are still cut short: a report is for finding the row, not copying it.
MAX_SHOWN_VALUE: Final = 64
MAX_LISTED: Final = 20  # column names listed in a drift description


class Rule(StrEnum):
    """The rule a row or file broke; stable identifiers a partner's tooling can match on."""

    # cell rules
    REQUIRED = "required"
    TYPE = "type"
    MAX_LENGTH = "max_length"
    PATTERN = "pattern"
    ENUM = "enum"
    ENCODING = "encoding"
    # row rules
    COLUMN_COUNT = "column_count"
    RECORD_LENGTH = "record_length"
    # file rules
    EMPTY_FILE = "empty_file"
    NO_ROWS = "no_rows"
    FILE_TOO_LARGE = "file_too_large"
    SCHEMA_DRIFT = "schema_drift"
    MALFORMED_FILE = "malformed_file"
    UNTERMINATED_QUOTE = "unterminated_quote"
    TOO_MANY_BAD_ROWS = "too_many_bad_rows"
    # limits on hostile input (intake.read_limits): checked before the parser sees the bytes
    LINE_TOO_LONG = "line_too_long"
    TOO_MANY_COLUMNS = "too_many_columns"
    # the reader was stopped (readers.sandbox): the file is refused, not retried
    READ_TIMED_OUT = "read_timed_out"
    READ_OUT_OF_MEMORY = "read_out_of_memory"
    READ_CRASHED = "read_crashed"


def shown_value(value: str | None, *, pii: bool) -> str | None:
    if value is None:
        return None
    if pii:
        return mask_value(value)
    return value if len(value) <= MAX_SHOWN_VALUE else value[: MAX_SHOWN_VALUE - 1] + "…"


class RowError(BaseModel):
    """One broken rule in one row. ``row`` counts data rows from 1 (a header is not a row, nor is
    a blank line); ``column`` is None for a rule about the whole row. ``value`` is already masked
    when the column is PII."""

    model_config = ConfigDict(frozen=True)

    row: int
    column: str | None
    rule: Rule
    value: str | None
    message: str


class FileProblem(BaseModel):
    """A rule the file as a whole broke."""

    model_config = ConfigDict(frozen=True)

    rule: Rule
    message: str


class RuleCount(BaseModel):
    model_config = ConfigDict(frozen=True)

    column: str | None
    rule: Rule
    count: int


def _listed(items: Iterable[str]) -> str:
    """The first few items, then how many more: the description becomes a quarantine reason in
    workflow history, and a hostile header can have thousands of columns."""
    shown = list(items)
    if len(shown) <= MAX_LISTED:
        return ", ".join(shown)
    return ", ".join(shown[:MAX_LISTED]) + f" and {len(shown) - MAX_LISTED:,} more"


class SchemaDrift(BaseModel):
    """How the header differs from the contract."""

    model_config = ConfigDict(frozen=True)

    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()  # (expected, found)
    duplicated: tuple[str, ...] = ()
    reordered: bool = False  # informational: columns are matched by name

    @property
    def breaking(self) -> bool:
        return bool(self.missing or self.unexpected or self.renamed or self.duplicated)

    def describe(self) -> str:
        parts = []
        if self.missing:
            parts.append("missing column(s) " + _listed(map(repr, self.missing)))
        if self.renamed:
            parts.append(
                "renamed column(s) "
                + _listed(f"{found!r} (expected {want!r})" for want, found in self.renamed)
            )
        if self.unexpected:
            parts.append("unexpected column(s) " + _listed(map(repr, self.unexpected)))
        if self.duplicated:
            parts.append("repeated column(s) " + _listed(map(repr, self.duplicated)))
        if self.reordered:
            parts.append("columns in another order (accepted)")
        return "; ".join(parts) or "header matches"


@wire_model("intake_validation_summary", "1.0")
class ValidationSummary(WireModel):
    """The outcome of validating one file against one contract."""

    file_contract: str  # the file contract's name, e.g. "acme_customers"
    schema_version: int
    status: Literal["accepted", "rejected"]
    bytes: int
    rows_total: int
    rows_valid: int
    rows_invalid: int
    bad_row_percent: Decimal
    file_problems: tuple[FileProblem, ...] = ()
    schema_drift: SchemaDrift | None = None
    error_counts: tuple[RuleCount, ...] = ()
    errors: tuple[RowError, ...] = ()  # the first ones, by row; see errors_truncated
    errors_truncated: bool = False
    parquet_path: str | None = None  # valid rows, when asked for and the file was read through

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"
