"""A file contract compiled into a streaming validator.

The file is read in blocks (``pyarrow.csv.open_csv``, ``block_size`` bytes at a time, every column
as raw bytes), each batch is checked column by column with vectorised Arrow kernels, the valid rows
are appended to a Parquet file, and the findings are counted — so memory stays bounded by the
block size whatever the file's size. Fixed-width files go through the same reader as one-column
records and are sliced into fields.

Content problems never raise: they become findings in the ``ValidationSummary`` (the workflow
quarantines the file and sends the report). Only an unreadable file raises ``FileUnreadable``.

This module runs the pipeline; its parts live beside it: ``raw_source`` (the bytes Arrow reads),
``csv_reading`` and ``fixed_width`` (the two ways a file is opened and sliced into columns),
``column_checks`` (the rules per column) and ``tally`` (the findings and the summary).
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from intake.column_checks import ColumnCheck, Failure
from intake.csv_reading import open_csv_rows, quote_counted
from intake.errors import FileUnreadable
from intake.file_contract import CsvFileContract, FixedWidthFileContract
from intake.findings import FileProblem, Rule, ValidationSummary
from intake.fixed_width import CheckedColumn, check_records, open_records
from intake.raw_source import BLOCKS_AHEAD, RawSource, as_text, line_too_long
from intake.read_limits import DEFAULT_LIMITS, ReadLimits
from intake.tally import Tally, summarise

DEFAULT_BLOCK_SIZE: Final = 8 << 20  # large enough for Arrow to be efficient
DEFAULT_MAX_ERRORS: Final = 1000


def _read_ahead(batches: Iterator[pa.RecordBatch]) -> Generator[pa.RecordBatch, None, None]:
    """Yield ``batches`` while a thread already reads the next one (one block ahead)."""
    with ThreadPoolExecutor(1) as reader:
        upcoming = reader.submit(next, batches, None)
        while (batch := upcoming.result()) is not None:
            upcoming = reader.submit(next, batches, None)
            yield batch


class FileValidator:
    """A contract compiled for validating files; build once, validate many files."""

    def __init__(
        self,
        contract: CsvFileContract | FixedWidthFileContract,
        *,
        block_size: int = DEFAULT_BLOCK_SIZE,
        max_errors: int = DEFAULT_MAX_ERRORS,
        limits: ReadLimits = DEFAULT_LIMITS,
    ) -> None:
        self.contract = contract
        self.limits = limits
        # Arrow needs a whole row inside one block; the line limit keeps rows below half of it.
        self.block_size = max(block_size, 2 * limits.max_line_bytes)
        self.max_errors = max_errors
        strip = isinstance(contract, CsvFileContract) and contract.csv.strip_whitespace
        self.checks = [
            ColumnCheck(column, timezone=contract.timezone, strip=strip)
            for column in contract.columns
        ]
        self.arrow_schema = pa.schema(
            [
                pa.field(check.column.name, check.arrow_type, nullable=not check.column.required)
                for check in self.checks
            ]
        )

    # -- entry point ---------------------------------------------------------------------------

    def validate(
        self, path: str | os.PathLike[str], parquet_path: str | os.PathLike[str] | None = None
    ) -> ValidationSummary:
        """Validate the file at ``path``; write its valid rows to ``parquet_path`` when given
        (only if the file is accepted: a rejected file lands nothing)."""
        contract = self.contract
        order: dict[str | None, int] = {c.name: i for i, c in enumerate(contract.columns)}
        findings = Tally(self.max_errors, order)
        try:
            size = os.stat(path).st_size
        except OSError as exc:
            raise FileUnreadable(f"{path}: {exc.strerror or exc}") from exc
        allowed = [
            (limit, who)
            for limit, who in (
                (contract.max_file_bytes, "the contract allows"),
                (self.limits.max_content_bytes, "files are limited to"),
            )
            if limit is not None and size > limit
        ]
        if allowed:
            limit, who = allowed[0]
            findings.problems.append(
                FileProblem(
                    rule=Rule.FILE_TOO_LARGE,
                    message=f"the file has {size:,} bytes; {who} {limit:,}",
                )
            )
            return summarise(self.contract, findings, size, None)
        if size == 0:
            findings.problems.append(FileProblem(rule=Rule.EMPTY_FILE, message="the file is empty"))
            return summarise(self.contract, findings, size, None)

        partial = Path(f"{parquet_path}.partial") if parquet_path is not None else None
        writer = pq.ParquetWriter(partial, self.arrow_schema) if partial is not None else None
        try:
            self._read(Path(path), findings, writer)
        except OSError as exc:
            if writer is not None:
                writer.close()
                writer = None
            if partial is not None:
                partial.unlink(missing_ok=True)  # never leave half a Parquet file behind
            raise FileUnreadable(f"{path}: {exc.strerror or exc}") from exc
        finally:
            if writer is not None:
                writer.close()
        summary = summarise(self.contract, findings, size, None)
        if partial is not None and parquet_path is not None:
            if summary.accepted:
                os.replace(partial, parquet_path)
                summary = summary.model_copy(update={"parquet_path": str(parquet_path)})
            else:
                partial.unlink(missing_ok=True)
        return summary

    # -- reading -------------------------------------------------------------------------------

    # -- reading -------------------------------------------------------------------------------

    def _read(self, path: Path, findings: Tally, writer: pq.ParquetWriter | None) -> None:
        contract = self.contract
        quote = quote_counted(contract) if isinstance(contract, CsvFileContract) else None
        with open(path, "rb") as stream:
            source = RawSource(
                stream,
                quote,
                utf8=contract.encoding == "utf-8",
                ahead=BLOCKS_AHEAD,
                max_line_bytes=self.limits.max_line_bytes,
            )
            reader = self._batches(path, source, findings)
            if reader is None:
                source.stop()
                return
            if not self._check_all(reader, source, findings, writer):
                return
        if source.lines is not None and source.lines.too_long_line is not None:
            # The rest of the file was never read: its quote count means nothing.
            findings.problems.append(line_too_long(source.lines.too_long_line, source.lines.limit))
            return
        if quote is not None and source.quotes % 2:
            # RFC 4180 §2.5-2.7: quotes come in pairs; an odd count means a field was never
            # closed (Arrow then swallows the rest of the file into it) or a stray quote.
            findings.problems.append(
                FileProblem(
                    rule=Rule.UNTERMINATED_QUOTE,
                    message="the file holds an odd number of quote characters: a quoted field is "
                    "not closed, or a value has a quote without being quoted",
                )
            )

    def _batches(
        self, path: Path, source: RawSource, findings: Tally
    ) -> pa_csv.CSVStreamingReader | None:
        contract = self.contract
        read = pa_csv.ReadOptions(
            use_threads=False,  # the invalid-row handler only learns row numbers when serial
            block_size=self.block_size,
            encoding=contract.encoding,
        )
        if isinstance(contract, FixedWidthFileContract):
            return open_records(contract, source, read, findings)
        return open_csv_rows(contract, self.limits, path, source, read, findings)

    def _check_all(
        self,
        reader: pa_csv.CSVStreamingReader,
        source: RawSource,
        findings: Tally,
        writer: pq.ParquetWriter | None,
    ) -> bool:
        """Check every batch and write its valid rows; False when the file could not be read
        to its end (a finding says why)."""
        batches: Iterator[pa.RecordBatch] = iter(reader)
        # Three stages overlap on separate threads, as Arrow releases the GIL: the reader
        # parses the next block, the checks run column by column, the last batch is written.
        ahead = _read_ahead(batches)
        pending: Future[None] | None = None
        try:
            with ThreadPoolExecutor(2) as checks, ThreadPoolExecutor(1) as writes:
                for batch in ahead:
                    out = self._check_batch(batch, findings, checks, source.replaced)
                    source.batch_checked(batch.num_rows)
                    if writer is not None:
                        if pending is not None:
                            pending.result()
                        pending = writes.submit(writer.write_batch, out)
                if pending is not None:
                    pending.result()
        except MemoryError:
            raise  # not the file's shape: a sandboxed reader reports it as out of memory
        except (pa.ArrowException, UnicodeError) as exc:
            if source.lines is not None and source.lines.too_long_line is not None:
                # Arrow choked on the cut-off line: the line's length is the problem.
                line = source.lines.too_long_line
                findings.problems.append(line_too_long(line, source.lines.limit))
                return False
            findings.problems.append(
                FileProblem(
                    rule=Rule.MALFORMED_FILE,
                    # Arrow's message may quote a row, so only its kind is repeated here.
                    message=f"the file could not be read past data row "
                    f"{findings.emitted + findings.skipped} ({type(exc).__name__})",
                )
            )
            return False
        finally:
            # Let the reader run free before waiting for it, or it waits on us.
            source.release()
            ahead.close()
            # Stopped early (an error, a cut-off line): Arrow's read-ahead may still be
            # reading. Give it end-of-file and close the reader, so no thread calls back
            # into Python later (one still running at interpreter exit aborted the process).
            source.stop()
            reader.close()
        return True

    # -- checking ------------------------------------------------------------------------------

    def _check_batch(
        self,
        batch: pa.RecordBatch,
        findings: Tally,
        pool: ThreadPoolExecutor,
        replaced: bool,
    ) -> pa.RecordBatch:
        """Check one batch; record its findings; return its valid rows, typed."""
        failed: list[Failure] = []  # every failure of the batch, whole records' first
        if isinstance(self.contract, FixedWidthFileContract):
            record_failures, results = check_records(
                self.contract, self.checks, batch.column(0), findings, pool, replaced
            )
            failed.extend(record_failures)
        else:
            encoding = self.contract.encoding

            def check_column(index: int) -> CheckedColumn:
                check = self.checks[index]
                text, bad_text = as_text(batch.column(check.column.name), replaced, encoding)
                typed, failures = check.run(text, bad_text.mask if bad_text else None)
                if bad_text is not None:
                    failures.insert(0, bad_text)
                return text, typed, failures

            results = list(pool.map(check_column, range(len(self.checks))))

        typed_columns: list[pa.Array] = []
        for check, (text, typed, failures) in zip(self.checks, results, strict=True):
            findings.add_failures(check.column.name, failures, text, check.column.pii)
            failed.extend(failures)
            typed_columns.append(typed)
        invalid: pa.Array | None = None
        for failure in failed:
            invalid = failure.mask if invalid is None else pc.or_(invalid, failure.mask)
        findings.end_batch(
            batch.num_rows, (pc.sum(invalid).as_py() or 0) if invalid is not None else 0
        )
        out = pa.RecordBatch.from_arrays(typed_columns, schema=self.arrow_schema)
        return out.filter(pc.invert(invalid)) if invalid is not None else out


def compile_validator(
    contract: CsvFileContract | FixedWidthFileContract,
    *,
    block_size: int = DEFAULT_BLOCK_SIZE,
    max_errors: int = DEFAULT_MAX_ERRORS,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> FileValidator:
    """Compile ``contract`` into a validator (regexes, Arrow types and value sets built once)."""
    return FileValidator(contract, block_size=block_size, max_errors=max_errors, limits=limits)


def validate_file(
    contract: CsvFileContract | FixedWidthFileContract,
    path: str | os.PathLike[str],
    parquet_path: str | os.PathLike[str] | None = None,
    **options: Any,
) -> ValidationSummary:
    """One-off validation; see ``FileValidator.validate``."""
    return compile_validator(contract, **options).validate(path, parquet_path)


__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_MAX_ERRORS",
    "FileValidator",
    "compile_validator",
    "validate_file",
]
