"""Reading messy X12: BOM, indentation, any separators the ISA declares, several interchanges.

The ISA is the only fixed-width segment (X12.5: 106 characters); its 4th character declares the
element separator, ISA16 the component separator and the character after ISA16 the segment
terminator. Everything else is found from those, so a file with ``|`` and ``\\n`` reads as well
as one with ``*`` and ``~``. The text handed to pyx12 is canonical: one segment a line, no
leading whitespace, each interchange on its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from edi.datatypes import is_digits
from edi.errors import EnvelopeError, Refused
from edi.limits import Limits

BOM = b"\xef\xbb\xbf"
# X12.5 ISA field widths, ISA01..ISA16.
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
# TA105 note code for a malformed ISAnn (the same table pyx12's 997 writer uses).
ISA_FIELD_CODES = {
    1: "010",
    2: "011",
    3: "012",
    4: "013",
    5: "005",
    6: "006",
    7: "007",
    8: "008",
    9: "014",
    10: "015",
    11: "016",
    12: "017",
    13: "018",
    14: "019",
    15: "020",
    16: "027",
}
VERSIONS = ("00401", "00501")


@dataclass(frozen=True)
class Separators:
    element: str
    component: str
    segment: str
    repetition: str | None  # ISA11 in 00501; 00401 has none

    def as_dict(self) -> dict[str, str]:
        found = {"element": self.element, "component": self.component, "segment": self.segment}
        if self.repetition:
            found["repetition"] = self.repetition
        return found


@dataclass
class Normalized:
    """A file made canonical: ``interchanges`` are lists of segments (without terminators)."""

    separators: Separators
    interchanges: list[list[str]]
    bom_stripped: bool = False
    leading_whitespace_stripped: bool = False
    isa_fields: list[list[str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (TA105 code, message)

    def canonical(self, index: int) -> str:
        """Interchange ``index`` as pyx12 reads it: a segment a line."""
        term = self.separators.segment
        joiner = term if term in "\r\n" else term + "\n"
        segments = self.interchanges[index]
        isa = self.isa_fields[index]
        if (
            len(isa) > 12
            and isa[12] == "00501"
            and self.separators.repetition is None
            and segments
            and len(segments[0]) == 105  # ISA11 sits at a fixed place only in a well-formed ISA
        ):
            # ISA11 is not usable as a repetition separator (a "U" carried over from 4010, say):
            # pyx12 would split every element on it. Declare one the interchange never uses.
            spare = _spare_repetition(joiner.join(segments), self.separators)
            if spare is not None:
                segments = [segments[0][:82] + spare + segments[0][83:], *segments[1:]]
        return joiner.join(segments) + joiner


def decode(data: bytes | bytearray) -> tuple[str, bool]:
    """Text of ``data`` and whether a UTF-8 BOM was stripped. X12 is ASCII (basic or extended
    character set); Latin-1 is the lossless fallback for stray 8-bit bytes, which the
    validators then report as invalid characters."""
    had_bom = data.startswith(BOM)
    if had_bom:
        data = data[len(BOM) :]
    try:
        return data.decode("utf-8"), had_bom
    except UnicodeDecodeError:
        return data.decode("latin-1"), had_bom


# Candidates for a repetition separator when the partner's ISA11 cannot be one.
_SPARE_REPETITION = "^{}|`\x1f\x1e"


def _spare_repetition(text: str, separators: Separators) -> str | None:
    used = {separators.element, separators.component, separators.segment}
    return next((c for c in _SPARE_REPETITION if c not in used and c not in text), None)


def read_separators(text: str, warnings: list[tuple[str, str]] | None = None) -> Separators:
    """The separators declared by the ISA at the start of ``text``. A questionable ISA11 in a
    00501 ISA is not fatal: the interchange is read without a repetition separator and the
    finding goes to ``warnings``."""
    if not text.startswith("ISA"):
        raise EnvelopeError("022", f"the file does not start with an ISA segment: {text[:3]!r}")
    if len(text) < 4:
        raise EnvelopeError("023", "the file ends inside the ISA segment")
    element = text[3]
    if element.isalnum() or element.isspace():
        raise EnvelopeError("026", f"invalid data element separator {element!r}")
    position = 3
    for _ in range(15):
        position = text.find(element, position + 1)
        if position < 0:
            raise EnvelopeError("023", "the ISA segment has fewer than 16 elements")
    # ISA16 is the single character after the 16th separator; the segment terminator follows.
    if len(text) < position + 3:
        raise EnvelopeError("023", "the file ends inside the ISA segment")
    component, segment = text[position + 1], text[position + 2]
    if component.isalnum() or component.isspace() or component == element:
        raise EnvelopeError("027", f"invalid component element separator {component!r}")
    if segment.isalnum() or segment in (element, component) or segment == " ":
        raise EnvelopeError("004", f"invalid segment terminator {segment!r}")
    isa = text[: position + 2].split(element)
    repetition = isa[11] if len(isa) > 12 and isa[12] == "00501" else None
    if repetition is not None and (
        len(repetition) != 1
        or repetition.isalnum()
        or repetition.isspace()
        or repetition in (element, component, segment)
    ):
        # X12.5 (00501): ISA11 is the repetition separator. Senders that upgraded from 4010
        # often leave "U" there; pyx12 and Bots read such files, so we do, and say so.
        if warnings is not None:
            warnings.append(
                (
                    "016",
                    f"ISA11 {repetition[:5]!r} is not a usable repetition separator; "
                    "the interchange was read without one",
                )
            )
        repetition = None
    return Separators(element, component, segment, repetition)


def check_isa(elements: list[str]) -> None:
    """X12.5 rules for the ISA fields; the first broken one gives the TA105 code."""
    if len(elements) != 17:
        raise EnvelopeError("022", f"the ISA segment has {len(elements) - 1} elements, not 16")
    for number, width in enumerate(ISA_WIDTHS, start=1):
        value = elements[number]
        if len(value) != width:
            raise EnvelopeError(
                ISA_FIELD_CODES[number],
                f"ISA{number:02d} must be {width} characters, it has {len(value)}",
            )
    if elements[12] not in VERSIONS:
        raise EnvelopeError("017", f"interchange version {elements[12]!r} is not supported")
    if not is_digits(elements[13]):
        raise EnvelopeError("018", f"ISA13 control number {elements[13]!r} is not 9 digits")
    if not is_digits(elements[9]) or not (1 <= int(elements[9][2:4]) <= 12):
        raise EnvelopeError("014", f"ISA09 date {elements[9]!r} is not YYMMDD")
    if not re.fullmatch(r"([01][0-9]|2[0-3])[0-5][0-9]", elements[10], re.ASCII):
        raise EnvelopeError("015", f"ISA10 time {elements[10]!r} is not HHMM")
    if elements[14] not in ("0", "1"):
        raise EnvelopeError("019", f"ISA14 acknowledgment requested {elements[14]!r} not 0/1")
    if elements[15] not in ("P", "T", "I"):
        raise EnvelopeError("020", f"ISA15 usage indicator {elements[15]!r} not P/T/I")


def normalize(data: bytes | bytearray, limits: Limits | None = None) -> Normalized:
    """Split ``data`` into canonical interchanges. Raises :class:`EnvelopeError` when the first
    ISA cannot be read (a later broken ISA is left for the envelope check to report) and
    :class:`Refused` when the file or one of its segments is beyond ``limits``."""
    limits = limits or Limits()
    if len(data) > limits.max_file_bytes:
        # validate_file reads one byte past the limit, so the size is "more than", not exact.
        raise Refused("too_large", f"the file is larger than {limits.max_file_bytes} bytes")
    text, had_bom = decode(data)
    stripped = text.lstrip()
    warnings: list[tuple[str, str]] = []
    separators = read_separators(stripped, warnings)
    interchanges: list[list[str]] = []
    isa_fields: list[list[str]] = []
    pieces = stripped.split(separators.segment)
    longest = max(map(len, pieces))
    if longest > limits.max_segment_chars:
        raise Refused(
            "segment_too_long",
            f"a segment has {longest} characters; the limit is {limits.max_segment_chars}",
        )
    for raw in pieces:
        # Indentation, CR/LF after terminators and blank lines are layout, not data.
        segment = raw.lstrip(" \t\r\n").rstrip("\r\n")
        if not segment:
            continue
        if segment.startswith("ISA" + separators.element) or not interchanges:
            interchanges.append([])
            isa_fields.append(segment.split(separators.element))
        interchanges[-1].append(segment)
    return Normalized(
        separators=separators,
        interchanges=interchanges,
        bom_stripped=had_bom,
        leading_whitespace_stripped=len(stripped) != len(text),
        isa_fields=isa_fields,
        warnings=warnings,
    )


def count_segments(path: Path, separators: Separators, seg_id: str, chunk: int = 1 << 20) -> int:
    """How many ``seg_id`` segments the file at ``path`` holds, reading it a chunk at a time
    (bounded memory whatever its size)."""

    def encoded(char: str) -> bytes:
        return char.encode("latin-1") if ord(char) < 256 else char.encode("utf-8")

    terminator = encoded(separators.segment)
    wanted = seg_id.encode("ascii") + encoded(separators.element)
    count, carry = 0, b""
    with path.open("rb") as source:
        while block := source.read(chunk):
            pieces = (carry + block).split(terminator)
            carry = pieces.pop()[: len(wanted) + 64]  # only a segment's start matters
            count += sum(1 for p in pieces if p.lstrip(b" \t\r\n").startswith(wanted))
    return count + (1 if carry.lstrip(b" \t\r\n").startswith(wanted) else 0)
