"""Read a NACHA file: parse what it holds, tolerate what real banks send, record every deviation.

The reader never judges the content (that is ``nacha.validation``) and never raises anything but
``NachaReadError``, and that only when the input cannot be a NACHA file at all."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable
from pathlib import Path

from nacha.addenda05 import parse_addenda05, parse_other_addenda
from nacha.addenda98 import parse_addenda98
from nacha.addenda99 import parse_addenda99
from nacha.batch_control import BatchControl, parse_batch_control
from nacha.batch_header import parse_batch_header
from nacha.entry_detail import parse_entry_detail
from nacha.errors import NachaOpenError, NachaReadError
from nacha.fields import RECORD_LENGTH, Deviation
from nacha.file_control import FILLER_RECORD, FileControl, parse_file_control
from nacha.file_header import FileHeader, parse_file_header
from nacha.iat import (
    IAT_ADDENDA_TYPES,
    parse_iat_addenda,
    parse_iat_batch_header,
    parse_iat_entry_detail,
)
from nacha.model import Addenda, AnyBatchHeader, AnyEntryDetail, Batch, Entry, Layout, NachaFile

Source = bytes | bytearray | memoryview | str | os.PathLike[str]
_GZIP_MAGIC = b"\x1f\x8b"
_NO_ADDENDA: tuple[Addenda, ...] = ()
# A file (inflated, all gzip members together) larger than this is refused before it exhausts
# memory. A NACHA file of a million entries is about 95 MB; reading and validating costs about
# ten times the file's size (100,000 entries, 9.5 MB: 120 MB peak), so 128 MiB keeps any input
# under 1.5 GB while leaving room above the largest real file.
MAX_INFLATED_BYTES = 128 << 20
_CHUNK = 1 << 20  # read and inflate 1 MiB at a time: never hold more than the cap


def read(source: Source, *, max_bytes: int = MAX_INFLATED_BYTES) -> NachaFile:
    """Read a NACHA file from bytes, text (a ``str`` is the file's content, never a path) or a
    path (``pathlib.Path``); gzip is recognised by its magic bytes, whatever the name. A file
    over ``max_bytes`` (after inflating every gzip member) is refused."""
    data: bytes | bytearray
    if isinstance(source, str):
        data = source.encode("latin-1", errors="replace")
    elif isinstance(source, bytes | bytearray | memoryview):
        view = memoryview(source).cast("B")
        if view[:2] == _GZIP_MAGIC:
            chunks = (view[i : i + _CHUNK] for i in range(0, len(view), _CHUNK))
            data = _gunzip(chunks, max_bytes)
        else:
            data = bytes(view)
    else:
        data = _read_path(Path(source), max_bytes)
    if len(data) > max_bytes:
        raise NachaReadError(f"the file is larger than {_size(max_bytes)}: refused")
    # Latin-1 maps every byte to one character, so decoding never fails and positions stay
    # byte positions; characters outside NACHA's ASCII set are reported per record.
    return _parse(data.decode("latin-1"))


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB"


def _read_path(path: Path, max_bytes: int) -> bytes | bytearray:
    try:
        with path.open("rb") as f:
            head = f.read(2)
            if head == _GZIP_MAGIC:
                f.seek(0)
                return _gunzip(iter(lambda: f.read(_CHUNK), b""), max_bytes)
            f.seek(0)
            data = f.read(max_bytes + 1)
    except FileNotFoundError:
        raise NachaOpenError("no such file") from None
    except IsADirectoryError:
        raise NachaOpenError("it is a directory, not a file") from None
    except PermissionError:
        raise NachaOpenError("permission denied") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise NachaReadError(f"cannot read the file: {reason}") from None
    return data


def _gunzip(chunks: Iterable[bytes | memoryview], max_bytes: int) -> bytearray:
    """Inflate every gzip member (RFC 1952 allows several, concatenated) as one stream, with
    the cap on all of them together; output grows 1 MiB at a time, so a refused bomb costs no
    more than the cap."""
    out = bytearray()
    inflater: zlib._Decompress | None = zlib.decompressobj(zlib.MAX_WBITS | 16)
    between = b""  # bytes after a member, until we know whether another member starts
    try:
        for chunk in chunks:
            data: bytes | memoryview = chunk
            while data:
                if inflater is None:
                    between += bytes(data)
                    data = b""
                    if len(between) < 2:
                        break
                    if between[:2] != _GZIP_MAGIC:
                        return out  # trailing bytes that are not gzip: ignored, as gzip does
                    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
                    data, between = between, b""
                out += inflater.decompress(data, _CHUNK)
                if len(out) > max_bytes:
                    raise NachaReadError(f"the gzip inflates beyond {_size(max_bytes)}: refused")
                data = inflater.unconsumed_tail
                if inflater.eof:
                    data = inflater.unused_data
                    inflater = None
    except zlib.error as exc:
        raise NachaReadError(
            f"the file looks gzip-compressed but cannot be inflated: {exc}"
        ) from None
    if inflater is not None:
        raise NachaReadError("the gzip stream is truncated")
    return out


def _split(text: str, deviations: list[Deviation]) -> tuple[list[str], Layout]:
    line_ending = "\n"
    if "\r\n" in text:
        # NACHA does not define line ends; banks send CRLF as often as LF.
        line_ending = "\r\n"
        text = text.replace("\r\n", "\n")
        deviations.append(
            Deviation(
                0, None, "crlf_line_ends", "records end with CRLF; read as LF", tolerated=True
            )
        )
    if "\r" in text:
        text = text.replace("\r", "\n")
        deviations.append(
            Deviation(
                0, None, "cr_line_ends", "records separated by bare CR; read as LF", tolerated=True
            )
        )
    final_newline = text.endswith("\n")
    lines = text.split("\n")
    if final_newline:
        lines.pop()
    if len(lines) == 1 and len(lines[0]) > RECORD_LENGTH and len(lines[0]) % RECORD_LENGTH == 0:
        # The original tape layout: 94-character records with no separators at all.
        only = lines[0]
        lines = [only[i : i + RECORD_LENGTH] for i in range(0, len(only), RECORD_LENGTH)]
        line_ending = ""
    return lines, Layout(line_ending=line_ending, final_newline=final_newline, blocked=True)


class _Reader:
    """The reader's state over the stream of records, one method per record type (in the
    style of moov-io/ach's reader): the loop in ``_parse`` only dispatches on the type code.

    Record types and layouts are those of the NACHA Operating Rules, Appendix Three; what a
    method tolerates and records as a deviation is what real banks send."""

    def __init__(self, deviations: list[Deviation]) -> None:
        self.deviations = deviations
        self.batches: list[Batch] = []
        self.header: AnyBatchHeader | None = None
        self.entries: list[Entry] = []
        self.detail: AnyEntryDetail | None = None
        self.addenda: list[Addenda] = []
        self.iat = False
        self.file_header: FileHeader | None = None
        self.file_control: FileControl | None = None
        # Every record is known, unknown or filler: only the rare two are counted.
        self.unknown = 0
        self.filler = 0
        self.after_control = False

    # -- batch assembly --------------------------------------------------------------------

    def flush_entry(self) -> None:
        if self.detail is not None:
            addenda = tuple(self.addenda) if self.addenda else _NO_ADDENDA
            self.entries.append(Entry(self.detail, addenda))
            self.detail = None
            self.addenda = []

    def close(self, control: BatchControl | None, n: int) -> None:
        self.flush_entry()
        if self.header is None:
            return
        if control is None:
            # Some banks omit batch controls; NACHA requires one per batch header.
            self.deviations.append(
                Deviation(
                    self.header.record_number,
                    None,
                    "missing_batch_control",
                    f"batch {self.header.batch_number} (header at record "
                    f"{self.header.record_number}) has no batch control record before "
                    f"record {n}",
                    tolerated=True,
                )
            )
        self.batches.append(Batch(self.header, tuple(self.entries), control))
        self.header = None
        self.entries = []

    # -- the physical record ---------------------------------------------------------------

    def fit(self, line: str, n: int) -> str | None:
        """A line that is not 94 characters, made one (``None``: a blank line, skipped).
        NACHA records are exactly 94 characters; banks send them trimmed or padded."""
        size = len(line)
        if size == 0 or not line.strip():
            self.deviations.append(
                Deviation(n, None, "blank_line", "blank line ignored", tolerated=True)
            )
            return None
        if size < RECORD_LENGTH:
            self.deviations.append(
                Deviation(
                    n,
                    None,
                    "short_record",
                    f"record is {size} characters, not 94; read as if space-filled",
                    tolerated=True,
                )
            )
            return line.ljust(RECORD_LENGTH)
        extra = line[RECORD_LENGTH:]
        self.deviations.append(
            Deviation(
                n,
                None,
                "long_record",
                f"record is {size} characters, not 94; characters after position 94 ignored",
                tolerated=not extra.strip(),
            )
        )
        return line[:RECORD_LENGTH]

    def check_characters(self, line: str, n: int) -> None:
        """NACHA records hold printable ASCII only."""
        if line.isascii() and line.isprintable():
            return
        bad = [i + 1 for i, ch in enumerate(line) if not (ch.isascii() and ch.isprintable())]
        self.deviations.append(
            Deviation(
                n,
                None,
                "invalid_characters",
                f"characters outside printable ASCII at positions "
                f"{', '.join(map(str, bad[:10]))}{'...' if len(bad) > 10 else ''}",
            )
        )

    # -- one method per record type --------------------------------------------------------

    def file_header_record(self, line: str, n: int, records: int) -> None:
        """Type 1: the first record of the file, and only that one."""
        if self.file_header is None and records == 1:
            self.file_header = parse_file_header(line, n, self.deviations)
        elif self.file_header is None:
            self.deviations.append(
                Deviation(
                    n,
                    None,
                    "late_file_header",
                    "the file header is not the first record: ignored",
                )
            )
        else:
            self.deviations.append(
                Deviation(
                    n,
                    None,
                    "second_file_header",
                    "a second file header: only the first file is read",
                )
            )
            self.after_control = True

    def batch_header_record(self, line: str, n: int) -> None:
        """Type 5: opens a batch (closing an open one that had no control); SEC code IAT
        (positions 51-53) selects the IAT layouts for the whole batch."""
        if self.header is not None:
            self.close(None, n)
        self.iat = line[50:53] == "IAT"
        self.header = (
            parse_iat_batch_header(line, n, self.deviations)
            if self.iat
            else parse_batch_header(line, n, self.deviations)
        )

    def entry_detail_record(self, line: str, n: int) -> None:
        """Type 6: an entry, only inside a batch."""
        if self.header is None:
            self.deviations.append(
                Deviation(
                    n,
                    None,
                    "entry_outside_batch",
                    "entry detail record outside a batch: ignored",
                )
            )
            self.unknown += 1
            return
        self.flush_entry()
        self.detail = (
            parse_iat_entry_detail(line, n, self.deviations)
            if self.iat
            else parse_entry_detail(line, n, self.deviations)
        )

    def addenda_record(self, line: str, n: int) -> None:
        """Type 7: belongs to the entry before it; the addenda type code (positions 2-3)
        selects the layout: 05 payment information, 98 NOC, 99 return, 10-18 IAT."""
        if self.detail is None:
            self.deviations.append(
                Deviation(
                    n,
                    None,
                    "addenda_without_entry",
                    "addenda record not preceded by an entry: ignored",
                )
            )
            return
        code = line[1:3]
        if code == "05":
            self.addenda.append(parse_addenda05(line, n, self.deviations))
        elif code == "99":
            self.addenda.append(parse_addenda99(line, n, self.deviations))
        elif code == "98":
            self.addenda.append(parse_addenda98(line, n, self.deviations))
        elif code in IAT_ADDENDA_TYPES:
            self.addenda.append(parse_iat_addenda(line, n, self.deviations))
        else:
            self.addenda.append(parse_other_addenda(line, n, self.deviations))

    def batch_control_record(self, line: str, n: int) -> None:
        """Type 8: closes the open batch."""
        if self.header is None:
            self.flush_entry()
            self.deviations.append(
                Deviation(
                    n,
                    None,
                    "control_without_batch",
                    "batch control record without a batch header: ignored",
                )
            )
            return
        self.close(parse_batch_control(line, n, self.deviations), n)

    def file_control_record(self, line: str, n: int) -> None:
        """Type 9: closes the open batch and the file."""
        self.close(None, n)
        self.file_control = parse_file_control(line, n, self.deviations)
        self.after_control = True

    def filler_record(self, n: int) -> None:
        """All 9s: fills the last block of ten records, after the file control."""
        self.filler += 1
        if self.file_control is None:
            self.deviations.append(
                Deviation(
                    n,
                    None,
                    "filler_before_file_control",
                    "a filler record of 9s comes before the file control",
                )
            )

    def record_after_control(self, kind: str, n: int) -> None:
        self.deviations.append(
            Deviation(
                n,
                None,
                "record_after_file_control",
                f"record type {kind!r} after the file control: ignored",
            )
        )
        self.unknown += 1

    def unknown_record(self, kind: str, n: int) -> None:
        self.unknown += 1
        self.deviations.append(
            Deviation(
                n,
                None,
                "unknown_record_type",
                f"record type {kind!r} is not a NACHA record: ignored",
            )
        )

    # -- the end of the file ---------------------------------------------------------------

    def finish(self, n: int, records: int, layout: Layout) -> NachaFile:
        """Closes the last batch; refuses what is not a NACHA file at all."""
        self.close(None, n + 1)
        header, control, deviations = self.file_header, self.file_control, self.deviations
        if header is None and not self.batches:
            raise NachaReadError("no file header or batch header record: not a NACHA file")
        unknown = self.unknown
        known = records - unknown - self.filler
        if unknown > known:
            raise NachaReadError(
                f"{unknown} of {unknown + known} records are not NACHA records: not a NACHA file"
            )
        if header is None:
            deviations.append(
                Deviation(
                    1,
                    None,
                    "missing_file_header",
                    "the file does not start with a file header record (1)",
                )
            )
        if control is None:
            deviations.append(
                Deviation(
                    n, None, "missing_file_control", "the file has no file control record (9)"
                )
            )
        layout = Layout(layout.line_ending, layout.final_newline, records % 10 == 0)
        return NachaFile(header, tuple(self.batches), control, tuple(deviations), layout, records)


def _parse(text: str) -> NachaFile:
    if not text.strip():
        raise NachaReadError("the file is empty")
    deviations: list[Deviation] = []
    lines, layout = _split(text, deviations)
    # One pass over the whole text decides whether per-record character checks are needed.
    clean_text = text.isascii() and "".join(lines).isprintable()

    r = _Reader(deviations)
    # Entries and addenda are nearly every record of a large file: they come first, and
    # their methods are bound once, outside the loop.
    entry_detail_record, addenda_record = r.entry_detail_record, r.addenda_record
    records = n = 0
    for n, line in enumerate(lines, 1):
        if len(line) != RECORD_LENGTH:
            fitted = r.fit(line, n)
            if fitted is None:
                continue
            line = fitted
        records += 1
        if not clean_text:
            r.check_characters(line, n)
        kind = line[0]
        if kind == "6":
            entry_detail_record(line, n)
        elif kind == "7":
            addenda_record(line, n)
        elif kind == "9" and line == FILLER_RECORD:
            r.filler_record(n)
        elif r.after_control:
            r.record_after_control(kind, n)
        elif kind == "5":
            r.batch_header_record(line, n)
        elif kind == "8":
            r.batch_control_record(line, n)
        elif kind == "9":
            r.file_control_record(line, n)
        elif kind == "1":
            r.file_header_record(line, n, records)
        else:
            r.unknown_record(kind, n)
    return r.finish(n, records, layout)
