"""The CSV reading path: Arrow's parse options from the contract's dialect, and the header
checked against the contract (drift, line and column limits) before any row is read."""

from __future__ import annotations

import io
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv

from intake.file_contract import CsvFileContract
from intake.findings import FileProblem, Rule, SchemaDrift
from intake.raw_source import (
    RawSource,
    line_too_long,
    open_reader,
    skip_invalid_rows,
    unreadable_start,
)
from intake.read_limits import LineLengths, ReadLimits
from intake.schema_drift import compare_header
from intake.tally import Tally


def quote_counted(contract: CsvFileContract) -> bytes | None:
    """The quote character whose count tells an unclosed quoted field, when it can tell."""
    dialect = contract.csv
    return (
        dialect.quote_char.encode("ascii")
        if dialect.quote_char and dialect.escape_char is None and dialect.quote_char.isascii()
        else None
    )


def open_csv_rows(
    contract: CsvFileContract,
    limits: ReadLimits,
    path: Path,
    source: RawSource,
    read: pa_csv.ReadOptions,
    findings: Tally,
) -> pa_csv.CSVStreamingReader | None:
    """Arrow's reader on the file's data rows, every column as raw bytes; or None (with a
    finding) when the header or the start of the file does not fit."""
    dialect = contract.csv
    on_invalid_row = skip_invalid_rows(
        findings,
        source,
        1 if dialect.header else 0,
        Rule.COLUMN_COUNT,
        lambda row: f"expected {row.expected_columns} fields, found {row.actual_columns}",
    )
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
        names = _header(contract, limits, path, read, parse, findings)
        if names is None:
            return None
    else:
        names = expected
        read.column_names = names
    convert = pa_csv.ConvertOptions(
        column_types={name: pa.binary() for name in names},
        include_columns=expected,  # extra columns (if allowed) are never converted
    )
    return open_reader(source, read, parse, convert, findings)


def _header(
    contract: CsvFileContract,
    limits: ReadLimits,
    path: Path,
    read: pa_csv.ReadOptions,
    parse: pa_csv.ParseOptions,
    findings: Tally,
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
    head = _head(contract, limits, path, findings)
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
            RawSource(io.BytesIO(head), None, utf8=read.encoding == "utf-8"),
            read_options=first_block,
            parse_options=peek,
        ).schema.names
    except (pa.ArrowException, UnicodeError) as exc:
        findings.problems.append(unreadable_start(exc))
        return None
    expected = [c.name for c in contract.columns]
    drift = compare_header(expected, names)
    allow_extra = contract.allow_extra_columns
    breaking = bool(
        drift.missing or drift.renamed or drift.duplicated or (drift.unexpected and not allow_extra)
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


def _head(
    contract: CsvFileContract, limits: ReadLimits, path: Path, findings: Tally
) -> bytes | None:
    """The first lines of the file, at most the line limit long and ending on a line
    break, once the header line is known to be within the line and column limits; or None
    (with a finding) when it is not. Read before any parser sees the file."""
    limit = limits.max_line_bytes
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
        findings.problems.append(line_too_long(blank_lines + lines.too_long_line, limit))
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
    allowed = max(limits.max_columns, len(contract.columns))
    if columns > allowed:
        findings.problems.append(
            FileProblem(
                rule=Rule.TOO_MANY_COLUMNS,
                message=f"the header has {columns:,} columns; at most {allowed:,} are read",
            )
        )
        return None
    return head


def _first_break(data: bytes, start: int) -> int:
    """The position of the first line break at or after ``start``, or the end of ``data``."""
    found = [i for i in (data.find(b"\n", start), data.find(b"\r", start)) if i >= 0]
    return min(found) if found else len(data)


def _after_last_break(data: bytes) -> int:
    return max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
