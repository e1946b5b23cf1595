"""What one file's validation found, while it is read: every broken rule counted, the first
rows in error kept (by row), and the summary it comes to (``intake.findings.ValidationSummary``)."""

from __future__ import annotations

import bisect
import threading
from array import array
from decimal import ROUND_HALF_UP, Decimal

import pyarrow as pa
import pyarrow.compute as pc

from intake.column_checks import Failure
from intake.file_contract import CsvFileContract, FixedWidthFileContract
from intake.findings import (
    FileProblem,
    RowError,
    Rule,
    RuleCount,
    SchemaDrift,
    ValidationSummary,
    shown_value,
)


class Tally:
    """Counts every broken rule and keeps the first ``limit`` row errors, by row."""

    def __init__(self, limit: int, column_order: dict[str | None, int]) -> None:
        self.limit = limit
        self.order = column_order
        self.counts: dict[tuple[str | None, Rule], int] = {}
        self.sample: list[RowError] = []
        self.total_errors = 0
        self.problems: list[FileProblem] = []
        self.drift: SchemaDrift | None = None
        self.emitted = 0  # rows the reader handed over
        self.skipped = 0  # rows dropped by the reader (wrong field count)
        self.invalid = 0
        # Row numbers are positions in the file; the reader drops skipped rows from batches, so
        # keep, per skipped row, the emitted index from which rows shift by one more.
        self._shifts: array[int] = array("q")
        # The reader thread reports skipped rows while the main thread records the checks.
        self.lock = threading.RLock()

    def count(self, column: str | None, rule: Rule, n: int) -> None:
        with self.lock:
            self.counts[column, rule] = self.counts.get((column, rule), 0) + n
            self.total_errors += n

    def skip_row(self, data_row: int, rule: Rule, message: str) -> None:
        with self.lock:
            self._shifts.append(data_row - 1 - len(self._shifts))
            self.skipped += 1
            self.invalid += 1
            self.count(None, rule, 1)
            # A file of nothing but broken rows (a wrong delimiter) must not fill memory with
            # errors: once the sample holds ``limit`` earlier rows, a later one cannot make it.
            if len(self.sample) >= 2 * self.limit:
                self._trim()
            if len(self.sample) < self.limit or data_row < self.sample[-1].row:
                self.sample.append(
                    RowError(row=data_row, column=None, rule=rule, value=None, message=message)
                )

    def _trim(self) -> None:
        self.sample.sort(key=lambda e: (e.row, self.order.get(e.column, -1)))
        del self.sample[self.limit :]

    def data_row(self, emitted_index: int) -> int:
        return emitted_index + 1 + bisect.bisect_right(self._shifts, emitted_index)

    def add_failures(
        self, column: str | None, failures: list[Failure], values: pa.Array | None, pii: bool
    ) -> None:
        for failure in failures:
            self.count(column, failure.rule, failure.count)
            room = self.limit
            indices = pc.indices_nonzero(failure.mask).slice(0, room)
            shown = values.take(indices).to_pylist() if values is not None else None
            for position, index in enumerate(indices.to_pylist()):
                value = shown[position] if shown is not None else None
                error = RowError(
                    row=self.data_row(self.emitted + index),
                    column=column,
                    rule=failure.rule,
                    value=shown_value(value, pii=pii)
                    if failure.rule is not Rule.ENCODING
                    else None,
                    message=failure.message,
                )
                with self.lock:
                    self.sample.append(error)

    def end_batch(self, rows: int, invalid: int) -> None:
        with self.lock:
            self.emitted += rows
            self.invalid += invalid
            if len(self.sample) > self.limit:
                self._trim()


def summarise(
    contract: CsvFileContract | FixedWidthFileContract,
    findings: Tally,
    size: int,
    parquet_path: str | None,
) -> ValidationSummary:
    """The summary of a file of ``size`` bytes: accepted unless a file problem was found, the
    file has no rows (when rows are required) or too many rows break a rule."""
    total = findings.emitted + findings.skipped
    percent = (
        (Decimal(findings.invalid) * 100 / Decimal(total)).quantize(
            Decimal("0.01"), rounding=ROUND_HALF_UP
        )
        if total
        else Decimal(0)
    )
    problems = list(findings.problems)
    if not problems:
        if total == 0 and not contract.allow_no_rows:
            problems.append(FileProblem(rule=Rule.NO_ROWS, message="the file has no data rows"))
        # Compare exact fractions, not the rounded percentage shown to people.
        if total and Decimal(findings.invalid) * 100 > contract.max_bad_row_percent * total:
            problems.append(
                FileProblem(
                    rule=Rule.TOO_MANY_BAD_ROWS,
                    message=f"{findings.invalid:,} of {total:,} rows ({percent}%) break a "
                    f"rule; the contract allows {contract.max_bad_row_percent}%",
                )
            )
    order = {c.name: i for i, c in enumerate(contract.columns)}
    sample = sorted(findings.sample, key=lambda e: (e.row, order.get(e.column or "", -1)))
    sample = sample[: findings.limit]
    counts = sorted(
        (RuleCount(column=col, rule=rule, count=n) for (col, rule), n in findings.counts.items()),
        key=lambda c: (order.get(c.column or "", -1), c.rule.value),
    )
    return ValidationSummary(
        file_contract=contract.name,
        schema_version=contract.schema_version,
        status="rejected" if problems else "accepted",
        bytes=size,
        rows_total=total,
        rows_valid=total - findings.invalid,
        rows_invalid=findings.invalid,
        bad_row_percent=percent,
        file_problems=tuple(problems),
        schema_drift=findings.drift,
        error_counts=tuple(counts),
        errors=tuple(sample),
        errors_truncated=findings.total_errors > len(sample),
        parquet_path=parquet_path,
    )
