"""Limits a reader applies to a partner's file before and while it parses it (hostile input).

A parser whose loop we do not own (pyarrow's CSV reader) allocates per column and per line: a
header of a million columns or a single line of 50 MB drives it to gigabytes before any rule of
ours runs. These limits are checked on the raw bytes, cheaply, before the parser sees them; a
file that breaks one is refused as a finding (a typed problem), never read further. Defaults are
safe for any contract; the worker's settings (``INTEGRATIONS_READER_*``) override them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_LINE_BYTES: Final = 1 << 20  # 1 MiB: a CSV row is a few hundred bytes
DEFAULT_MAX_COLUMNS: Final = 2048
DEFAULT_MAX_CONTENT_BYTES: Final = 1 << 30  # accepted after decompression or decryption


@dataclass(frozen=True, slots=True)
class ReadLimits:
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    max_columns: int = DEFAULT_MAX_COLUMNS
    max_content_bytes: int | None = DEFAULT_MAX_CONTENT_BYTES


DEFAULT_LIMITS: Final = ReadLimits()


class LineLengths:
    """Tracks physical line lengths over a stream of chunks, in O(chunk / limit) searches.

    A line break is ``\\n`` or ``\\r`` (CR-only files exist). Each chunk is searched in pieces no
    longer than the limit: a line that lies inside one piece is shorter than the limit, so only
    the run before a piece's first break and after its last break need to be measured."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.run = 0  # bytes since the last line break
        self.lines = 0  # "\n" seen so far: the number of the line being read, minus one
        self.too_long_line: int | None = None  # the first line over the limit

    def check(self, chunk: bytes) -> int | None:
        """None if every line so far is within the limit; otherwise the offset in ``chunk``
        just after the last line break before the line that is too long (0 when that line
        began in an earlier chunk), where a reader should stop."""
        limit, size = self.limit, len(chunk)
        cut = 0
        pos = 0
        while pos < size:
            end = min(size, pos + limit)
            first = _first_break(chunk, pos, end)
            if first < 0:
                self.run += end - pos
                if self.run > limit:
                    return self._over(cut)
                pos = end
                continue
            if self.run + (first - pos) > limit:
                return self._over(cut)
            last = max(chunk.rfind(b"\n", first, end), chunk.rfind(b"\r", first, end))
            self.lines += chunk.count(b"\n", pos, last + 1)
            cut = last + 1
            self.run = end - cut
            pos = end
        return None

    def _over(self, cut: int) -> int:
        self.too_long_line = self.lines + 1
        return cut


def _first_break(chunk: bytes, start: int, end: int) -> int:
    newline = chunk.find(b"\n", start, end)
    carriage = chunk.find(b"\r", start, newline if newline >= 0 else end)
    return carriage if carriage >= 0 else newline
