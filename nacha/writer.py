"""Write a NACHA file model to bytes, record by record, exactly as the model says.

The writer computes nothing: controls, counts and hashes are whatever the model holds (build
outbound files with ``nacha.outbound``, which computes them). A file read and written back gives
the same bytes when it was well formed; its layout (LF or CRLF, final newline, blocking) is kept
from the read unless overridden."""

from __future__ import annotations

from nacha.addenda05 import Addenda05, OtherAddenda, format_addenda05, format_other_addenda
from nacha.addenda98 import NocAddenda, format_addenda98
from nacha.addenda99 import format_addenda99
from nacha.batch_control import format_batch_control
from nacha.batch_header import BatchHeader, format_batch_header
from nacha.entry_detail import EntryDetail, format_entry_detail
from nacha.errors import NachaWriteError
from nacha.file_control import FILLER_RECORD, format_file_control
from nacha.file_header import format_file_header
from nacha.iat import (
    IatAddenda,
    format_iat_addenda,
    format_iat_batch_header,
    format_iat_entry_detail,
)
from nacha.model import Addenda, NachaFile


def _addenda(a: Addenda) -> str:
    if isinstance(a, Addenda05):
        return format_addenda05(a)
    if isinstance(a, NocAddenda):
        return format_addenda98(a)
    if isinstance(a, IatAddenda):
        return format_iat_addenda(a)
    if isinstance(a, OtherAddenda):
        return format_other_addenda(a)
    return format_addenda99(a)


def records(file: NachaFile, *, block: bool = True) -> list[str]:
    """The file's 94-character records in order, filled with 9s to a multiple of ten when
    ``block`` (NACHA blocking factor 10)."""
    out: list[str] = []
    append = out.append
    if file.header is not None:
        append(format_file_header(file.header))
    for batch in file.batches:
        h = batch.header
        append(format_batch_header(h) if isinstance(h, BatchHeader) else format_iat_batch_header(h))
        for entry in batch.entries:
            d = entry.detail
            append(
                format_entry_detail(d) if isinstance(d, EntryDetail) else format_iat_entry_detail(d)
            )
            for a in entry.addenda:
                append(_addenda(a))
        if batch.control is not None:
            append(format_batch_control(batch.control))
    if file.control is not None:
        append(format_file_control(file.control))
    if block and len(out) % 10:
        out.extend([FILLER_RECORD] * (10 - len(out) % 10))
    return out


def write(
    file: NachaFile,
    *,
    line_ending: str | None = None,
    block: bool | None = None,
    final_newline: bool | None = None,
) -> bytes:
    """The file as bytes. Each keyword left ``None`` follows ``file.layout`` (for a file built
    in code: LF, blocked, final newline). NACHA requires ASCII: a character outside Latin-1
    raises ``NachaWriteError`` (strict validation reports any non-ASCII before that)."""
    layout = file.layout
    sep = layout.line_ending if line_ending is None else line_ending
    lines = records(file, block=layout.blocked if block is None else block)
    text = sep.join(lines)
    if sep and (layout.final_newline if final_newline is None else final_newline):
        text += sep
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError as exc:
        raise NachaWriteError(
            "NachaFile",
            "text",
            f"character {exc.object[exc.start]!r} is not allowed in a NACHA file",
        ) from None
