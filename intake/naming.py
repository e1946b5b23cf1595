"""The feed naming contract: what a partner's file must be called, and what its name tells us.

A naming contract is a pattern with named fields, set per feed, e.g. the default
``{system}_{entity}_{date}_seq-{sequence}_crc32-{crc32}.{ext}`` which accepts
``acme_customers_2025-11-05_seq-00023_crc32-1A2B3C4D.csv``. Parsing checks, in order: that the name
is safe to handle at all, that it is not a file still being uploaded, and that it follows the
pattern. The CRC32 in a name is checked against the content by streaming it, and the sequence
numbers of a feed are tracked against its high-water mark to report gaps and repeats.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable
from datetime import date, datetime
from typing import BinaryIO, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from foundation.wire_model import WireModel, wire_model
from intake.errors import ChecksumMismatch, NameMismatch, TemporaryFileName, UnsafeFileName

# POSIX NAME_MAX and most SFTP servers cap a path component at 255 bytes.
MAX_NAME_BYTES: Final = 255

DEFAULT_PATTERN: Final = "{system}_{entity}_{date}_seq-{sequence}_crc32-{crc32}.{ext}"

# Suffixes that upload tools give a file until it is complete (".filepart" is WinSCP's).
DEFAULT_TEMPORARY_SUFFIXES: Final = (".part", ".tmp", ".filepart")

_PLACEHOLDER = re.compile(r"\{([a-z0-9_]*)\}")
_WORD = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DATE_SHAPES: Final = {"%Y-%m-%d": r"\d{4}-\d{2}-\d{2}", "%Y%m%d": r"\d{8}"}


def check_safe_name(name: str) -> None:
    """Raise ``UnsafeFileName`` unless ``name`` is a plain, visible file name.

    Refuses what could escape the inbox or fool a later tool: path separators, ``.``/``..``, a
    leading dot (hidden files), control and format characters (NUL, newlines, bidi overrides,
    lone surrogates from undecodable bytes) and names over 255 bytes.
    """
    _check_structure(name)
    if name.startswith("."):
        raise UnsafeFileName(name, "a name starting with '.' is hidden or still being written")


def _check_structure(name: str) -> None:
    if not isinstance(name, str) or not name:
        raise UnsafeFileName(str(name), "the name is empty")
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        raise UnsafeFileName(name[:40] + "…", f"the name is longer than {MAX_NAME_BYTES} bytes")
    if name in (".", ".."):
        raise UnsafeFileName(name, "the name refers to a directory")
    if "/" in name or "\\" in name:
        raise UnsafeFileName(name, "the name contains a path separator ('/' or '\\')")
    for char in name:
        # Cc: NUL and other controls; Cf: bidi overrides that disguise an extension;
        # Cs: lone surrogates, which is how undecodable bytes arrive; Zl/Zp: line breaks.
        if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            raise UnsafeFileName(name, f"the name contains the control character U+{ord(char):04X}")


def is_temporary_name(name: str, suffixes: Iterable[str] = DEFAULT_TEMPORARY_SUFFIXES) -> bool:
    """True when the name says the file is still being written (leading dot or upload suffix)."""
    lowered = name.lower()
    return name.startswith(".") or any(lowered.endswith(s.lower()) for s in suffixes)


class FeedFileName(BaseModel):
    """What a file's name says about it. Fields absent from the feed's pattern are None."""

    model_config = ConfigDict(frozen=True)

    name: str
    system: str | None = None
    entity: str | None = None
    file_date: date | None = None
    sequence: int | None = None
    crc32: int | None = None
    extension: str | None = None

    @property
    def crc32_hex(self) -> str | None:
        return None if self.crc32 is None else f"{self.crc32:08X}"


@wire_model("naming_contract", "1.0")
class NamingContract(WireModel):
    """A feed's naming rule. ``pattern`` places these fields between literal text:
    ``{system}``, ``{entity}`` (letters, digits, inner hyphens), ``{date}`` (``date_format``),
    ``{sequence}`` (exactly ``sequence_digits`` digits), ``{crc32}`` (8 hex digits) and
    ``{ext}`` (one of ``extensions``). ``system`` and ``entity`` pin those fields to one value."""

    # Contracts are written by hand: a misspelt key must fail loudly, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = DEFAULT_PATTERN
    system: str | None = None
    entity: str | None = None
    extensions: tuple[str, ...] = ("csv",)
    date_format: Literal["%Y-%m-%d", "%Y%m%d"] = "%Y-%m-%d"
    sequence_digits: int = Field(default=5, ge=1, le=18)
    temporary_suffixes: tuple[str, ...] = DEFAULT_TEMPORARY_SUFFIXES

    @field_validator("system", "entity")
    @classmethod
    def _word(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(_WORD, value):
            raise ValueError(f"{value!r} must be letters and digits with inner hyphens")
        return value

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("at least one extension is needed")
        for ext in value:
            if not re.fullmatch(r"[A-Za-z0-9]+(?:\.[A-Za-z0-9]+)*", ext):
                raise ValueError(f"extension {ext!r} must be like 'csv' or 'csv.pgp'")
        return value

    @model_validator(mode="after")
    def _pattern(self) -> NamingContract:
        fields = _PLACEHOLDER.findall(self.pattern)
        unknown = sorted(set(fields) - set(_FIELDS))
        if unknown:
            raise ValueError(f"pattern: unknown field(s) {unknown}; allowed: {', '.join(_FIELDS)}")
        repeated = sorted({f for f in fields if fields.count(f) > 1})
        if repeated:
            raise ValueError(f"pattern: field(s) {repeated} appear more than once")
        literal = _PLACEHOLDER.sub("x", self.pattern)
        if "{" in literal or "}" in literal:
            raise ValueError("pattern: unbalanced '{' or '}'")
        try:
            check_safe_name(literal)
        except UnsafeFileName as exc:
            raise ValueError(f"pattern: {exc.reason}") from None
        return self

    # -- parsing -------------------------------------------------------------------------------

    def _parts(self) -> list[tuple[str | None, str]]:
        """The pattern as (field or None for literal text, regex) pieces, in order."""
        shapes = {
            "system": re.escape(self.system) if self.system else _WORD,
            "entity": re.escape(self.entity) if self.entity else _WORD,
            "date": _DATE_SHAPES[self.date_format],
            "sequence": rf"\d{{{self.sequence_digits}}}",
            "crc32": r"[0-9A-Fa-f]{8}",
            "ext": "|".join(re.escape(e) for e in sorted(self.extensions, key=len, reverse=True)),
        }
        parts: list[tuple[str | None, str]] = []
        position = 0
        for match in _PLACEHOLDER.finditer(self.pattern):
            if match.start() > position:
                parts.append((None, re.escape(self.pattern[position : match.start()])))
            field = match.group(1)
            parts.append((field, f"(?P<{field}>{shapes[field]})"))
            position = match.end()
        if position < len(self.pattern):
            parts.append((None, re.escape(self.pattern[position:])))
        return parts

    def example(self) -> str:
        """A name that satisfies this contract, for messages and partner documentation."""
        return self.format_name(
            system=self.system or "acme",
            entity=self.entity or "customers",
            file_date=date(2025, 11, 5),
            sequence=23,
            crc32=0x1A2B3C4D,
            extension=self.extensions[0],
        )

    def parse(self, name: str) -> FeedFileName:
        """Parse ``name`` or raise ``UnsafeFileName``, ``TemporaryFileName`` or ``NameMismatch``."""
        _check_structure(name)
        if is_temporary_name(name, self.temporary_suffixes):
            raise TemporaryFileName(name, "the file is still being written (temporary name)")
        parts = self._parts()
        match = re.fullmatch("".join(regex for _, regex in parts), name)
        if match is None:
            raise NameMismatch(name, self._mismatch_reason(name, parts))
        found = match.groupdict()
        file_date: date | None = None
        if found.get("date") is not None:
            try:
                file_date = datetime.strptime(found["date"], self.date_format).date()
            except ValueError:
                raise NameMismatch(
                    name, f"{found['date']!r} is not a calendar date ({self.date_format})"
                ) from None
        return FeedFileName(
            name=name,
            system=found.get("system"),
            entity=found.get("entity"),
            file_date=file_date,
            sequence=int(found["sequence"]) if found.get("sequence") is not None else None,
            crc32=int(found["crc32"], 16) if found.get("crc32") is not None else None,
            extension=found.get("ext"),
        )

    def _mismatch_reason(self, name: str, parts: list[tuple[str | None, str]]) -> str:
        # Find the first piece of the pattern the name stops following, so the partner is told
        # where the name goes wrong, not just that it does.
        for count in range(1, len(parts) + 1):
            prefix = "".join(regex for _, regex in parts[:count])
            if re.match(prefix, name) is None:
                field, regex = parts[count - 1]
                done = re.match("".join(r for _, r in parts[: count - 1]), name)
                at = done.end() if done else 0
                wanted = f"{{{field}}}" if field else repr(re.sub(r"\\(.)", r"\1", regex))
                if field == "system" and self.system:
                    wanted += f" = {self.system!r}"
                elif field == "entity" and self.entity:
                    wanted += f" = {self.entity!r}"
                elif field == "ext":
                    wanted += f" (one of {', '.join(self.extensions)})"
                return (
                    f"does not follow the naming contract {self.pattern!r}: expected {wanted} "
                    f"at character {at + 1}; e.g. {self.example()!r}"
                )
        return (
            f"does not follow the naming contract {self.pattern!r}: unexpected text after the "
            f"end of the pattern; e.g. {self.example()!r}"
        )

    def format_name(
        self,
        *,
        system: str | None = None,
        entity: str | None = None,
        file_date: date | None = None,
        sequence: int | None = None,
        crc32: int | None = None,
        extension: str | None = None,
    ) -> str:
        """Build the name for these values (pinned system/entity are the defaults); the result
        parses back to the same values."""
        values: dict[str, str] = {}
        if system or self.system:
            values["system"] = system or self.system or ""
        if entity or self.entity:
            values["entity"] = entity or self.entity or ""
        if file_date is not None:
            # By hand: strftime("%Y") does not zero-pad years below 1000 on glibc.
            sep = "-" if self.date_format == "%Y-%m-%d" else ""
            values["date"] = (
                f"{file_date.year:04d}{sep}{file_date.month:02d}{sep}{file_date.day:02d}"
            )
        if sequence is not None:
            if not 0 <= sequence < 10**self.sequence_digits:
                raise ValueError(f"sequence {sequence} does not fit {self.sequence_digits} digits")
            values["sequence"] = f"{sequence:0{self.sequence_digits}d}"
        if crc32 is not None:
            values["crc32"] = f"{crc32 & 0xFFFFFFFF:08X}"
        values["ext"] = extension or self.extensions[0]
        missing = sorted(set(_PLACEHOLDER.findall(self.pattern)) - set(values))
        if missing:
            raise ValueError(f"values missing for field(s) {missing}")
        name = _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.pattern)
        self.parse(name)  # refuse to produce a name the contract would reject
        return name


_FIELDS: Final = ("system", "entity", "date", "sequence", "crc32", "ext")


# -- CRC32 -------------------------------------------------------------------------------------


class Crc32:
    """A running CRC32 (zlib's, the same as ``cksum -o 3``/``crc32`` tools), fed chunk by chunk
    so a file of any size is checked in constant memory."""

    def __init__(self) -> None:
        self.value = 0
        self.bytes = 0

    def update(self, chunk: bytes) -> None:
        self.value = zlib.crc32(chunk, self.value)
        self.bytes += len(chunk)

    @property
    def hex(self) -> str:
        return f"{self.value:08X}"


def crc32_of(chunks: Iterable[bytes]) -> int:
    running = Crc32()
    for chunk in chunks:
        running.update(chunk)
    return running.value


def read_chunks(stream: BinaryIO, chunk_size: int = 1 << 20) -> Iterable[bytes]:
    """The stream's content in chunks of at most ``chunk_size`` bytes."""
    while chunk := stream.read(chunk_size):
        yield chunk


def verify_crc32(parsed: FeedFileName, chunks: Iterable[bytes]) -> int:
    """Return the content's CRC32, or raise ``ChecksumMismatch`` when the name declares another.
    A name without a CRC32 field is not checked."""
    actual = crc32_of(chunks)
    if parsed.crc32 is not None and parsed.crc32 != actual:
        raise ChecksumMismatch(parsed.name, parsed.crc32, actual)
    return actual


# -- sequence tracking -------------------------------------------------------------------------


class SequenceGap(BaseModel):
    """Sequence numbers ``first``..``last`` (inclusive) not received yet."""

    model_config = ConfigDict(frozen=True)

    first: int
    last: int

    def __contains__(self, sequence: object) -> bool:
        return isinstance(sequence, int) and self.first <= sequence <= self.last


class SequenceState(BaseModel):
    """What a feed has received, small enough to persist per feed: the highest sequence seen and
    the ranges below it still missing. Gaps are ranges, so a jump of a million costs one entry."""

    model_config = ConfigDict(frozen=True)

    high_water: int | None = None
    open_gaps: tuple[SequenceGap, ...] = ()


class SequenceReport(BaseModel):
    """The verdict on a batch of incoming sequence numbers."""

    model_config = ConfigDict(frozen=True)

    new: tuple[int, ...] = ()  # above the previous high-water mark
    late: tuple[int, ...] = ()  # filled a gap reported earlier
    repeats: tuple[int, ...] = ()  # already received (or twice in this batch)
    new_gaps: tuple[SequenceGap, ...] = ()  # opened by this batch
    open_gaps: tuple[SequenceGap, ...] = ()  # everything still missing afterwards


def track_sequences(
    state: SequenceState, incoming: Iterable[int]
) -> tuple[SequenceState, SequenceReport]:
    """Account for ``incoming`` sequence numbers against ``state``; return the new state and a
    report. Pure: the caller persists the state. The very first file of a feed opens no gap
    before itself; a number at or below the high-water mark that fills no open gap is a repeat
    (received before, or older than anything tracked)."""
    gaps = list(state.open_gaps)
    high = state.high_water
    new: list[int] = []
    late: list[int] = []
    repeats: list[int] = []
    new_gaps: list[SequenceGap] = []
    seen_now: set[int] = set()
    for sequence in sorted(incoming):
        if sequence < 0:
            raise ValueError(f"sequence numbers are non-negative, got {sequence}")
        if sequence in seen_now:
            repeats.append(sequence)
            continue
        seen_now.add(sequence)
        if high is None or sequence > high:
            if high is not None and sequence > high + 1:
                gap = SequenceGap(first=high + 1, last=sequence - 1)
                gaps.append(gap)
                new_gaps.append(gap)
            new.append(sequence)
            high = sequence
            continue
        for index, gap in enumerate(gaps):
            if sequence in gap:
                late.append(sequence)
                split = [
                    SequenceGap(first=gap.first, last=sequence - 1),
                    SequenceGap(first=sequence + 1, last=gap.last),
                ]
                gaps[index : index + 1] = [g for g in split if g.first <= g.last]
                break
        else:
            repeats.append(sequence)
    remaining = tuple(sorted(gaps, key=lambda g: g.first))
    # A gap closed later in the same batch is not "new" any more.
    new_open = tuple(
        g for g in remaining if any(n.first <= g.first and g.last <= n.last for n in new_gaps)
    )
    return (
        SequenceState(high_water=high, open_gaps=remaining),
        SequenceReport(
            new=tuple(new),
            late=tuple(late),
            repeats=tuple(repeats),
            new_gaps=new_open,
            open_gaps=remaining,
        ),
    )
