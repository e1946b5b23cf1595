"""A NACHA file as the reader understands it: file header, batches of entries with their
addenda, file control, and what the reader had to tolerate to get there.

Equality compares content only: record numbers, deviations and the physical layout (line ends,
blocking) are kept for reports and for byte-exact rewriting, but two files with the same records
are equal however they were laid out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from nacha.addenda05 import Addenda05, OtherAddenda
from nacha.addenda98 import NocAddenda
from nacha.addenda99 import (
    AnyReturnAddenda,
    ContestedReturnAddenda,
    DishonoredReturnAddenda,
    ReturnAddenda,
)
from nacha.batch_control import BatchControl
from nacha.batch_header import BatchHeader
from nacha.entry_detail import EntryDetail
from nacha.fields import Deviation
from nacha.file_control import FileControl
from nacha.file_header import FileHeader
from nacha.iat import IatAddenda, IatBatchHeader, IatEntryDetail

Addenda = (
    Addenda05
    | NocAddenda
    | ReturnAddenda
    | DishonoredReturnAddenda
    | ContestedReturnAddenda
    | IatAddenda
    | OtherAddenda
)
AnyEntryDetail = EntryDetail | IatEntryDetail
AnyBatchHeader = BatchHeader | IatBatchHeader
_RETURN_TYPES = (ReturnAddenda, DishonoredReturnAddenda, ContestedReturnAddenda)


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry detail record and the addenda records that follow it."""

    detail: AnyEntryDetail
    addenda: tuple[Addenda, ...] = ()

    @property
    def return_addenda(self) -> AnyReturnAddenda | None:
        """The first addenda 99; an entry should carry one (``returns`` has them all)."""
        for a in self.addenda:
            if isinstance(a, _RETURN_TYPES):
                return a
        return None

    @property
    def returns(self) -> tuple[AnyReturnAddenda, ...]:
        """Every addenda 99 of the entry, in file order. NACHA allows one, but a hostile or
        broken file can carry a return, a dishonor and a contest on one entry: each is kept."""
        return tuple(a for a in self.addenda if isinstance(a, _RETURN_TYPES))

    @property
    def noc(self) -> NocAddenda | None:
        for a in self.addenda:
            if isinstance(a, NocAddenda):
                return a
        return None


@dataclass(frozen=True, slots=True)
class Batch:
    header: AnyBatchHeader
    entries: tuple[Entry, ...]
    # None when the file had no batch control for this batch (tolerated on read, reported by
    # validation; ``outbound.with_controls`` computes one).
    control: BatchControl | None


@dataclass(frozen=True, slots=True)
class Layout:
    """How the file was laid out, so a file read can be written back byte for byte."""

    # "\n", "\r\n", or "" for records with no separators (the original tape layout).
    line_ending: str = "\n"
    final_newline: bool = True
    # Filled with 9s to a multiple of ten records (NACHA blocking factor 10).
    blocked: bool = True


@dataclass(frozen=True, slots=True)
class NachaFile:
    header: FileHeader | None
    batches: tuple[Batch, ...]
    control: FileControl | None
    deviations: tuple[Deviation, ...] = field(default=(), compare=False)
    layout: Layout = field(default=Layout(), compare=False)
    # Physical records read, filler included (0 for a file built in code).
    record_count: int = field(default=0, compare=False)

    def entries(self) -> Iterator[tuple[Batch, Entry]]:
        for batch in self.batches:
            for entry in batch.entries:
                yield batch, entry
