"""A file contract compiled into a streaming validator.

The file is read in blocks (``pyarrow.csv.open_csv``, ``block_size`` bytes at a time, every column
as raw bytes), each batch is checked column by column with vectorised Arrow kernels, the valid rows
are appended to a Parquet file, and the findings are counted — so memory stays bounded by the
block size whatever the file's size. Fixed-width files go through the same reader as one-column
records and are sliced into fields.

Content problems never raise: they become findings in the ``ValidationSummary`` (the workflow
quarantines the file and sends the report). Only an unreadable file raises ``FileUnreadable``.
"""

from __future__ import annotations

import bisect
import io
import os
import threading
from array import array
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, BinaryIO, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from intake.column_checks import ColumnCheck, Failure
from intake.errors import FileUnreadable
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
from intake.read_limits import DEFAULT_LIMITS, LineLengths, ReadLimits
from intake.schema_drift import compare_header

DEFAULT_BLOCK_SIZE: Final = 8 << 20  # large enough for Arrow to be efficient
# Arrow's streaming CSV reader queues up to 32 blocks ahead; unchecked, 8 MiB blocks took a 2 GB
# file to ~650 MB peak RSS. Reading at most this many blocks past the last checked batch caps it.
_BLOCKS_AHEAD: Final = 3
_THROTTLE_TIMEOUT: Final = 0.5  # seconds
DEFAULT_MAX_ERRORS: Final = 1000
# A record of a fixed-width file is read as one field; this separator (ASCII "unit separator")
# never occurs in text, and a record holding one is reported rather than split.
_RECORD_SEPARATOR: Final = "\x1f"


class _Source:
    """The raw file as the CSV reader sees it.

    - Invalid UTF-8 (when UTF-8 is declared) is replaced by U+FFFD before Arrow sees it, so every
      value is valid text and bad bytes are found per cell (``replaced`` says to look). Arrow
      cannot even report a malformed row whose bytes are not UTF-8.
    - Quote characters are counted: an odd total means a quoted field never closed, which Arrow
      silently reads as running to the end of the file.
    - The last line gets its newline: Arrow cannot read a header-only file without one.
    - A line longer than ``max_line_bytes`` ends the input before Arrow sees it (Arrow holds a
      whole row in one block and allocates per field: a 50 MB line took it to gigabytes);
      ``lines.too_long_line`` then says which line, and the file is refused.
    """

    def __init__(
        self,
        stream: BinaryIO,
        quote: bytes | None,
        utf8: bool,
        ahead: int | None = None,
        max_line_bytes: int | None = None,
    ) -> None:
        self._stream = stream
        self.lines = LineLengths(max_line_bytes) if max_line_bytes is not None else None
        self._quote = quote
        self._utf8 = utf8
        # Arrow's reader queues up to 32 blocks ahead in the background; holding it to a few
        # blocks past the last batch checked keeps memory flat whatever the block size.
        self._ahead = ahead
        self._blocks = 0
        self._checked = 0  # batches
        self._rows_checked = 0
        self._rows_skipped = 0  # a block of only broken rows yields no batch at all
        self._released = False
        self._stopped = False
        self._reading = 0
        self._turn = threading.Condition()
        self.quotes = 0
        self.replaced = False
        self._out = bytearray()
        self._carry = b""  # an incomplete UTF-8 sequence at the end of the last chunk
        self._last = b"\n"
        self._eof = False

    def batch_checked(self, rows: int) -> None:
        with self._turn:
            self._checked += 1
            self._rows_checked += rows
            self._turn.notify_all()

    def row_skipped(self) -> None:
        with self._turn:
            self._rows_skipped += 1
            self._turn.notify_all()

    def _blocks_done(self) -> float:
        """Blocks the parser is through: batches checked, plus skipped rows counted in blocks
        at the rows-per-batch seen so far (any skipped row counts as progress before that)."""
        if not self._rows_skipped:
            return self._checked
        if not self._rows_checked:
            return float("inf")
        return self._checked + self._rows_skipped * self._checked / self._rows_checked

    def stop(self) -> None:
        """Answer every later read with end-of-file, and wait for a read in progress (Arrow's
        read-ahead thread, perhaps throttled) to return: a thread still in here at interpreter
        exit aborts the process."""
        with self._turn:
            self._stopped = True
            self._released = True
            self._turn.notify_all()
            self._turn.wait_for(lambda: not self._reading, timeout=_THROTTLE_TIMEOUT * 4)

    def release(self) -> None:
        """Stop holding the reader back (the consumer is done or gone)."""
        with self._turn:
            self._released = True
            self._turn.notify_all()

    def read(self, size: int = -1) -> bytes:
        with self._turn:
            if self._stopped:
                return b""
            self._reading += 1
        try:
            return self._read(size)
        finally:
            with self._turn:
                self._reading -= 1
                self._turn.notify_all()

    def _read(self, size: int) -> bytes:
        limit = self._ahead
        if limit is not None:
            with self._turn:
                # A batch needs no block after its own, so this cannot deadlock; the timeout
                # is a safety net for blocks that show no progress at all (only blank lines).
                self._turn.wait_for(
                    lambda: self._released or self._blocks - self._blocks_done() < limit,
                    timeout=_THROTTLE_TIMEOUT,
                )
            self._blocks += 1
        while not self._eof and (size < 0 or len(self._out) < size):
            chunk = self._stream.read(size if size > 0 else 1 << 20)
            stop = not chunk
            if chunk and self.lines is not None and (cut := self.lines.check(chunk)) is not None:
                chunk, stop = chunk[:cut], True
            if chunk:
                self._append(self._clean(chunk, final=False))
            if stop:
                self._eof = True
                if self._carry:
                    self._append(self._clean(b"", final=True))
                if self._last not in (b"\n", b"\r"):
                    self._out += b"\n"
                break
        n = len(self._out) if size < 0 else min(size, len(self._out))
        data = bytes(self._out[:n])
        del self._out[:n]
        if self._quote is not None:
            self.quotes += data.count(self._quote)
        return data

    def _append(self, data: bytes) -> None:
        if data:
            self._out += data
            self._last = data[-1:]

    def _clean(self, chunk: bytes, *, final: bool) -> bytes:
        if not self._utf8:
            return chunk
        data = self._carry + chunk
        cut = len(data) if final else _complete_utf8(data)
        data, self._carry = data[:cut], data[cut:]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            self.replaced = True
            return data.decode("utf-8", "replace").encode("utf-8")
        return data

    @property
    def closed(self) -> bool:
        return self._stream.closed

    def close(self) -> None:
        self._stream.close()


def _complete_utf8(data: bytes) -> int:
    """The length of ``data`` without a multi-byte character cut off at its end."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte < 0x80:
            return len(data)
        if byte >= 0xC0:  # the lead byte says how long its sequence is
            need = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return len(data) - back if need > back else len(data)
    return len(data)


class _Findings:
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


def _read_ahead(batches: Iterator[pa.RecordBatch]) -> Generator[pa.RecordBatch, None, None]:
    """Yield ``batches`` while a thread already reads the next one (one block ahead)."""
    with ThreadPoolExecutor(1) as reader:
        upcoming = reader.submit(next, batches, None)
        while (batch := upcoming.result()) is not None:
            upcoming = reader.submit(next, batches, None)
            yield batch


def _as_text(raw: pa.Array, replaced: bool, encoding: str) -> tuple[pa.Array, Failure | None]:
    """Raw bytes as a string column (zero-copy: ``_Source`` made every byte valid UTF-8, and a
    declared non-UTF-8 encoding was transcoded by the reader), with a failure for each value
    holding a byte that was not valid in the declared encoding."""
    text = raw.view(pa.string())
    if not replaced:
        return text, None
    mask = pc.fill_null(pc.match_substring(text, "\ufffd"), False)
    count = pc.sum(mask).as_py() or 0
    if not count:
        return text, None
    return text, Failure(Rule.ENCODING, f"not valid {encoding} text", mask, count)


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
        findings = _Findings(self.max_errors, order)
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
            return self._summary(findings, size, None)
        if size == 0:
            findings.problems.append(FileProblem(rule=Rule.EMPTY_FILE, message="the file is empty"))
            return self._summary(findings, size, None)

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
        summary = self._summary(findings, size, None)
        if partial is not None and parquet_path is not None:
            if summary.accepted:
                os.replace(partial, parquet_path)
                summary = summary.model_copy(update={"parquet_path": str(parquet_path)})
            else:
                partial.unlink(missing_ok=True)
        return summary

    # -- reading -------------------------------------------------------------------------------

    def _read(self, path: Path, findings: _Findings, writer: pq.ParquetWriter | None) -> None:
        contract = self.contract
        if isinstance(contract, CsvFileContract):
            dialect = contract.csv
            quote = (
                dialect.quote_char.encode("ascii")
                if dialect.quote_char
                and dialect.escape_char is None
                and dialect.quote_char.isascii()
                else None
            )
        else:
            quote = None
        with open(path, "rb") as stream:
            source = _Source(
                stream,
                quote,
                utf8=contract.encoding == "utf-8",
                ahead=_BLOCKS_AHEAD,
                max_line_bytes=self.limits.max_line_bytes,
            )
            reader = self._batches(path, source, findings)
            if reader is None:
                source.stop()
                return
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
                    findings.problems.append(_line_too_long(line, source.lines.limit))
                    return
                findings.problems.append(
                    FileProblem(
                        rule=Rule.MALFORMED_FILE,
                        # Arrow's message may quote a row, so only its kind is repeated here.
                        message=f"the file could not be read past data row "
                        f"{findings.emitted + findings.skipped} ({type(exc).__name__})",
                    )
                )
                return
            finally:
                # Let the reader run free before waiting for it, or it waits on us.
                source.release()
                ahead.close()
                # Stopped early (an error, a cut-off line): Arrow's read-ahead may still be
                # reading. Give it end-of-file and close the reader, so no thread calls back
                # into Python later (one still running at interpreter exit aborted the process).
                source.stop()
                reader.close()
        if source.lines is not None and source.lines.too_long_line is not None:
            # The rest of the file was never read: its quote count means nothing.
            findings.problems.append(_line_too_long(source.lines.too_long_line, source.lines.limit))
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
        self, path: Path, source: _Source, findings: _Findings
    ) -> pa_csv.CSVStreamingReader | None:
        contract = self.contract
        fixed = isinstance(contract, FixedWidthFileContract)
        first_data_row = 0  # the reader's row number of the first data row, minus one

        def on_invalid_row(row: Any) -> str:
            number = row.number if row.number is not None else 0
            if fixed:
                rule = Rule.RECORD_LENGTH
                message = "the record holds the control character U+001F"
            else:
                rule = Rule.COLUMN_COUNT
                message = f"expected {row.expected_columns} fields, found {row.actual_columns}"
            findings.skip_row(number - first_data_row, rule, message)
            source.row_skipped()
            return "skip"

        read = pa_csv.ReadOptions(
            use_threads=False,  # the invalid-row handler only learns row numbers when serial
            block_size=self.block_size,
            encoding=contract.encoding,
        )
        if isinstance(contract, FixedWidthFileContract):
            read.column_names = ["record"]
            read.skip_rows = contract.fixed_width.skip_lines
            first_data_row = contract.fixed_width.skip_lines  # the reader counts skipped lines
            parse = pa_csv.ParseOptions(
                delimiter=_RECORD_SEPARATOR,
                quote_char=False,
                double_quote=False,
                escape_char=False,
                newlines_in_values=False,
                ignore_empty_lines=True,
                invalid_row_handler=on_invalid_row,
            )
            convert = pa_csv.ConvertOptions(column_types={"record": pa.binary()})
            return self._open(source, read, parse, convert, findings)

        dialect = contract.csv
        parse = pa_csv.ParseOptions(
            delimiter=dialect.delimiter,
            quote_char=dialect.quote_char or False,
            double_quote=dialect.double_quote,
            escape_char=dialect.escape_char or False,
            newlines_in_values=dialect.quoted_newlines,
            ignore_empty_lines=True,
            invalid_row_handler=on_invalid_row,
        )
        expected = [c.name for c in contract.columns]
        if dialect.header:
            names = self._header(path, read, parse, findings)
            if names is None:
                return None
            first_data_row = 1
        else:
            names = expected
            read.column_names = names
        convert = pa_csv.ConvertOptions(
            column_types={name: pa.binary() for name in names},
            include_columns=expected,  # extra columns (if allowed) are never converted
        )
        return self._open(source, read, parse, convert, findings)

    def _open(
        self,
        source: _Source,
        read: pa_csv.ReadOptions,
        parse: pa_csv.ParseOptions,
        convert: pa_csv.ConvertOptions,
        findings: _Findings,
    ) -> pa_csv.CSVStreamingReader | None:
        try:
            reader = pa_csv.open_csv(
                source, read_options=read, parse_options=parse, convert_options=convert
            )
        except (pa.ArrowException, UnicodeError) as exc:
            findings.problems.append(_unreadable_start(exc))
            return None
        return reader

    def _header(
        self,
        path: Path,
        read: pa_csv.ReadOptions,
        parse: pa_csv.ParseOptions,
        findings: _Findings,
    ) -> list[str] | None:
        """The header's column names, or None (with a finding) when it does not fit."""
        peek = pa_csv.ParseOptions(
            delimiter=parse.delimiter,
            quote_char=parse.quote_char,
            double_quote=parse.double_quote,
            escape_char=parse.escape_char,
            newlines_in_values=parse.newlines_in_values,
            ignore_empty_lines=True,
            invalid_row_handler=lambda _row: "skip",
        )
        head = self._head(path, findings)
        if head is None:
            return None
        # Only the header is wanted: Arrow reads it from the bounded head, in memory, so no
        # reader thread is left behind on the file (one left reading a 50 MB line aborted the
        # process at exit).
        first_block = pa_csv.ReadOptions(
            use_threads=False, block_size=len(head) + 64, encoding=read.encoding
        )
        try:
            names: list[str] = pa_csv.open_csv(
                _Source(io.BytesIO(head), None, utf8=read.encoding == "utf-8"),
                read_options=first_block,
                parse_options=peek,
            ).schema.names
        except (pa.ArrowException, UnicodeError) as exc:
            findings.problems.append(_unreadable_start(exc))
            return None
        expected = [c.name for c in self.contract.columns]
        drift = compare_header(expected, names)
        allow_extra = self.contract.allow_extra_columns
        breaking = bool(
            drift.missing
            or drift.renamed
            or drift.duplicated
            or (drift.unexpected and not allow_extra)
        )
        if drift != SchemaDrift():
            findings.drift = drift
        if breaking:
            findings.problems.append(
                FileProblem(
                    rule=Rule.SCHEMA_DRIFT,
                    message=f"the header does not match the contract: {drift.describe()}",
                )
            )
            return None
        return names

    def _head(self, path: Path, findings: _Findings) -> bytes | None:
        """The first lines of the file, at most the line limit long and ending on a line
        break, once the header line is known to be within the line and column limits; or None
        (with a finding) when it is not. Read before any parser sees the file."""
        contract = self.contract
        assert isinstance(contract, CsvFileContract)
        limit = self.limits.max_line_bytes
        with open(path, "rb") as stream:
            head = stream.read(limit + 1)
            # Arrow skips blank lines before the header: so does the limit, lest they eat it.
            blank_lines = 0
            while head[:1] in (b"\r", b"\n"):
                start = len(head) - len(head.lstrip(b"\r\n"))
                blank_lines += head.count(b"\n", 0, start)
                head = head[start:] + stream.read(start)
        lines = LineLengths(limit)
        cut = lines.check(head)
        if cut == 0 and lines.too_long_line is not None:
            findings.problems.append(_line_too_long(blank_lines + lines.too_long_line, limit))
            return None
        if len(head) > limit:
            head = head[: cut if cut is not None else _after_last_break(head)]
        header = head[: _first_break(head, 0)]
        try:
            delimiter = contract.csv.delimiter.encode(contract.encoding)
        except UnicodeError:
            delimiter = contract.csv.delimiter.encode("utf-8")
        # Every delimiter counts, quoted or not: cheap, and only ever over-counts.
        columns = header.count(delimiter) + 1
        allowed = max(self.limits.max_columns, len(contract.columns))
        if columns > allowed:
            findings.problems.append(
                FileProblem(
                    rule=Rule.TOO_MANY_COLUMNS,
                    message=f"the header has {columns:,} columns; at most {allowed:,} are read",
                )
            )
            return None
        return head

    # -- checking ------------------------------------------------------------------------------

    def _check_batch(
        self,
        batch: pa.RecordBatch,
        findings: _Findings,
        pool: ThreadPoolExecutor,
        replaced: bool,
    ) -> pa.RecordBatch:
        """Check one batch; record its findings; return its valid rows, typed."""
        rows = batch.num_rows
        typed_columns: list[pa.Array] = []
        invalid: pa.Array | None = None

        def mark(failures: list[Failure]) -> None:
            nonlocal invalid
            for failure in failures:
                invalid = failure.mask if invalid is None else pc.or_(invalid, failure.mask)

        encoding = self.contract.encoding
        if isinstance(self.contract, FixedWidthFileContract):
            records, bad_text = _as_text(batch.column(0), replaced, encoding)
            record_failures = [bad_text] if bad_text is not None else []
            length = self.contract.fixed_width.record_length
            if length is not None:
                wrong = pc.fill_null(pc.not_equal(pc.utf8_length(records), length), False)
                if bad_text is not None:
                    wrong = pc.and_(wrong, pc.invert(bad_text.mask))
                count = pc.sum(wrong).as_py() or 0
                if count:
                    record_failures.append(
                        Failure(
                            Rule.RECORD_LENGTH,
                            f"the record is not {length} characters long",
                            wrong,
                            count,
                        )
                    )
            findings.add_failures(None, record_failures, None, pii=True)
            mark(record_failures)
            upstream = bad_text.mask if bad_text is not None else None
            fixed = self.contract.columns

            def check_field(index: int) -> tuple[pa.Array, pa.Array, list[Failure]]:
                column = fixed[index]
                field = _field(records, column.start, column.length, column.justify, column.pad)
                typed, failures = self.checks[index].run(field, upstream)
                return field, typed, failures

            results = list(pool.map(check_field, range(len(fixed))))
        else:

            def check_column(index: int) -> tuple[pa.Array, pa.Array, list[Failure]]:
                check = self.checks[index]
                text, bad_text = _as_text(batch.column(check.column.name), replaced, encoding)
                typed, failures = check.run(text, bad_text.mask if bad_text else None)
                if bad_text is not None:
                    failures.insert(0, bad_text)
                return text, typed, failures

            results = list(pool.map(check_column, range(len(self.checks))))

        for check, (text, typed, failures) in zip(self.checks, results, strict=True):
            findings.add_failures(check.column.name, failures, text, check.column.pii)
            mark(failures)
            typed_columns.append(typed)
        findings.end_batch(rows, (pc.sum(invalid).as_py() or 0) if invalid is not None else 0)
        out = pa.RecordBatch.from_arrays(typed_columns, schema=self.arrow_schema)
        return out.filter(pc.invert(invalid)) if invalid is not None else out

    # -- summary -------------------------------------------------------------------------------

    def _summary(
        self, findings: _Findings, size: int, parquet_path: str | None
    ) -> ValidationSummary:
        contract = self.contract
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
            (
                RuleCount(column=col, rule=rule, count=n)
                for (col, rule), n in findings.counts.items()
            ),
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


def _field(records: pa.Array, start: int, length: int, justify: str, pad: str) -> pa.Array:
    """One fixed-width field, padding removed: a left-justified field is padded on the right."""
    raw = pc.utf8_slice_codeunits(records, start - 1, start - 1 + length)
    if justify == "left":
        return pc.utf8_rtrim(raw, characters=pad)
    trimmed = pc.utf8_ltrim(raw, characters=pad)
    if pad == "0":
        # "0000" is zero, not an absent value.
        zero = pc.and_(pc.equal(trimmed, ""), pc.greater(pc.utf8_length(raw), 0))
        trimmed = pc.if_else(zero, "0", trimmed)
    return trimmed


def _first_break(data: bytes, start: int) -> int:
    """The position of the first line break at or after ``start``, or the end of ``data``."""
    found = [i for i in (data.find(b"\n", start), data.find(b"\r", start)) if i >= 0]
    return min(found) if found else len(data)


def _after_last_break(data: bytes) -> int:
    return max(data.rfind(b"\n"), data.rfind(b"\r")) + 1


def _line_too_long(line: int, limit: int) -> FileProblem:
    return FileProblem(
        rule=Rule.LINE_TOO_LONG,
        message=f"line {line:,} is longer than {limit:,} bytes, the most a line may hold; "
        "the file was not read past it",
    )


def _unreadable_start(exc: BaseException) -> FileProblem:
    text = str(exc)
    if "Empty CSV file" in text:
        return FileProblem(rule=Rule.EMPTY_FILE, message="the file has no header and no rows")
    return FileProblem(
        rule=Rule.MALFORMED_FILE,
        message=f"the start of the file cannot be read ({type(exc).__name__})",
    )


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
