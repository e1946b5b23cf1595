"""The raw file as Arrow's streaming CSV reader sees it, and the reader opened on it.

``RawSource`` makes every byte valid UTF-8, counts quotes, caps line length and holds Arrow's
read-ahead to a few blocks; ``open_reader`` and ``skip_invalid_rows`` are shared by the CSV and
the fixed-width paths (``intake.csv_reading``, ``intake.fixed_width``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, BinaryIO, Final

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from intake.column_checks import Failure
from intake.findings import FileProblem, Rule
from intake.read_limits import LineLengths
from intake.tally import Tally

# Arrow's streaming CSV reader queues up to 32 blocks ahead; unchecked, 8 MiB blocks took a 2 GB
# file to ~650 MB peak RSS. Reading at most this many blocks past the last checked batch caps it.
BLOCKS_AHEAD: Final = 3
THROTTLE_TIMEOUT: Final = 0.5  # seconds


class RawSource:
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
            self._turn.wait_for(lambda: not self._reading, timeout=THROTTLE_TIMEOUT * 4)

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
                    timeout=THROTTLE_TIMEOUT,
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


def open_reader(
    source: RawSource,
    read: pa_csv.ReadOptions,
    parse: pa_csv.ParseOptions,
    convert: pa_csv.ConvertOptions,
    tally: Tally,
) -> pa_csv.CSVStreamingReader | None:
    """Arrow's streaming reader on ``source``, or None (with a finding) when its start is
    unreadable."""
    try:
        reader = pa_csv.open_csv(
            source, read_options=read, parse_options=parse, convert_options=convert
        )
    except (pa.ArrowException, UnicodeError) as exc:
        tally.problems.append(unreadable_start(exc))
        return None
    return reader


def skip_invalid_rows(
    tally: Tally,
    source: RawSource,
    first_data_row: int,
    rule: Rule,
    describe: Callable[[Any], str],
) -> Callable[[Any], str]:
    """Arrow's invalid-row handler: count the row as skipped (``first_data_row`` is the
    reader's row number of the first data row, minus one) and let the reader go on."""

    def on_invalid_row(row: Any) -> str:
        number = row.number if row.number is not None else 0
        tally.skip_row(number - first_data_row, rule, describe(row))
        source.row_skipped()
        return "skip"

    return on_invalid_row


def as_text(raw: pa.Array, replaced: bool, encoding: str) -> tuple[pa.Array, Failure | None]:
    """Raw bytes as a string column (zero-copy: ``RawSource`` made every byte valid UTF-8, and a
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


def line_too_long(line: int, limit: int) -> FileProblem:
    return FileProblem(
        rule=Rule.LINE_TOO_LONG,
        message=f"line {line:,} is longer than {limit:,} bytes, the most a line may hold; "
        "the file was not read past it",
    )


def unreadable_start(exc: BaseException) -> FileProblem:
    text = str(exc)
    if "Empty CSV file" in text:
        return FileProblem(rule=Rule.EMPTY_FILE, message="the file has no header and no rows")
    return FileProblem(
        rule=Rule.MALFORMED_FILE,
        message=f"the start of the file cannot be read ({type(exc).__name__})",
    )
