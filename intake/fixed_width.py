"""The fixed-width path: each record is read as one field by Arrow's CSV reader, checked for its
length, and sliced into the contract's fields (padding removed) for the column checks."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from intake.column_checks import ColumnCheck, Failure
from intake.file_contract import FixedWidthFileContract
from intake.findings import Rule
from intake.raw_source import RawSource, as_text, open_reader, skip_invalid_rows
from intake.tally import Tally

# A record of a fixed-width file is read as one field; this separator (ASCII "unit separator")
# never occurs in text, and a record holding one is reported rather than split.
RECORD_SEPARATOR: Final = "\x1f"

# One column checked: its text, its typed values, the rules its values break.
CheckedColumn = tuple[pa.Array, pa.Array, list[Failure]]


def open_records(
    contract: FixedWidthFileContract,
    source: RawSource,
    read: pa_csv.ReadOptions,
    findings: Tally,
) -> pa_csv.CSVStreamingReader | None:
    """Arrow's reader on the file's records, one raw-bytes column ``record``; or None (with a
    finding) when the start of the file is unreadable."""
    read.column_names = ["record"]
    read.skip_rows = contract.fixed_width.skip_lines
    on_invalid_row = skip_invalid_rows(
        findings,
        source,
        contract.fixed_width.skip_lines,  # the reader counts skipped lines
        Rule.RECORD_LENGTH,
        lambda _row: "the record holds the control character U+001F",
    )
    parse = pa_csv.ParseOptions(
        delimiter=RECORD_SEPARATOR,
        quote_char=False,
        double_quote=False,
        escape_char=False,
        newlines_in_values=False,
        ignore_empty_lines=True,
        invalid_row_handler=on_invalid_row,
    )
    convert = pa_csv.ConvertOptions(column_types={"record": pa.binary()})
    return open_reader(source, read, parse, convert, findings)


def check_records(
    contract: FixedWidthFileContract,
    checks: list[ColumnCheck],
    raw: pa.Array,
    findings: Tally,
    pool: ThreadPoolExecutor,
    replaced: bool,
) -> tuple[list[Failure], list[CheckedColumn]]:
    """Record the failures of whole records (bad text, wrong length), then check every field;
    return both, the record failures first."""
    records, bad_text = as_text(raw, replaced, contract.encoding)
    record_failures = [bad_text] if bad_text is not None else []
    length = contract.fixed_width.record_length
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
    upstream = bad_text.mask if bad_text is not None else None
    fixed = contract.columns

    def check_field(index: int) -> CheckedColumn:
        column = fixed[index]
        field = _field(records, column.start, column.length, column.justify, column.pad)
        typed, failures = checks[index].run(field, upstream)
        return field, typed, failures

    return record_failures, list(pool.map(check_field, range(len(fixed))))


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
