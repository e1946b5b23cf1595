"""The error report sent to a partner for a file that broke its contract.

Two renderings of one ``ValidationSummary``: JSON for the partner's tooling and CSV for people
(one line per broken rule: row, column, rule, value, message; file-level problems first, with no
row). Values were masked when the findings were made; rendering masks again against the contract,
so a summary built elsewhere cannot put an unmasked PII value in front of anyone.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from typing import Any, Final

from foundation.pii import mask_value
from intake.file_contract import CsvFileContract, FixedWidthFileContract
from intake.findings import RowError, ValidationSummary

REPORT_COLUMNS: Final = ("row", "column", "rule", "value", "message")
_NUMBER: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def _cell(value: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula (OWASP "CSV injection");
    # the value came from a file we do not trust, so neutralise it unless it is just a number.
    if value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


def _safe_errors(
    summary: ValidationSummary, contract: CsvFileContract | FixedWidthFileContract | None
) -> Iterable[RowError]:
    pii = {c.name for c in contract.columns if c.pii} if contract is not None else set()
    for error in summary.errors:
        if error.value is not None and (error.column in pii or error.column is None):
            # A row-level error carries no value, and a PII column's value is masked: enforce.
            value = None if error.column is None else mask_value(error.value)
            yield error.model_copy(update={"value": value})
        else:
            yield error


def report_dict(
    summary: ValidationSummary,
    contract: CsvFileContract | FixedWidthFileContract | None = None,
    *,
    file_name: str | None = None,
) -> dict[str, Any]:
    """The report as plain JSON-ready data."""
    return {
        "file": file_name,
        "contract": summary.file_contract,
        "schema_version": summary.schema_version,
        "status": summary.status,
        "rows_total": summary.rows_total,
        "rows_valid": summary.rows_valid,
        "rows_invalid": summary.rows_invalid,
        "bad_row_percent": str(summary.bad_row_percent),
        "file_problems": [p.model_dump(mode="json") for p in summary.file_problems],
        "schema_drift": (
            summary.schema_drift.model_dump(mode="json") if summary.schema_drift else None
        ),
        "error_counts": [c.model_dump(mode="json") for c in summary.error_counts],
        "errors": [e.model_dump(mode="json") for e in _safe_errors(summary, contract)],
        "errors_truncated": summary.errors_truncated,
    }


def render_json(
    summary: ValidationSummary,
    contract: CsvFileContract | FixedWidthFileContract | None = None,
    *,
    file_name: str | None = None,
) -> str:
    return json.dumps(report_dict(summary, contract, file_name=file_name), indent=2) + "\n"


def render_csv(
    summary: ValidationSummary,
    contract: CsvFileContract | FixedWidthFileContract | None = None,
) -> str:
    """One line per problem: file-level problems first (no row), then row errors by row. When
    the sample was capped, a last line says how many more errors there are."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")  # RFC 4180 line ends, for spreadsheets
    writer.writerow(REPORT_COLUMNS)
    for problem in summary.file_problems:
        writer.writerow(["", "", problem.rule.value, "", problem.message])
    if summary.schema_drift is not None and summary.schema_drift.reordered:
        writer.writerow(["", "", "schema_drift", "", summary.schema_drift.describe()])
    shown = 0
    for error in _safe_errors(summary, contract):
        writer.writerow(
            [
                error.row,
                _cell(error.column or ""),
                error.rule.value,
                _cell(error.value or ""),
                error.message,
            ]
        )
        shown += 1
    if summary.errors_truncated:
        total = sum(c.count for c in summary.error_counts)
        writer.writerow(
            [
                "",
                "",
                "",
                "",
                f"{total - shown:,} more errors not listed; "
                "counts per column and rule are in the JSON report",
            ]
        )
    return out.getvalue()
