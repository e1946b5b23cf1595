"""One interchange as envelopes and segments, read with pyx12's ``X12Reader``.

The reader keeps pyx12's own envelope findings (trailer counts, control number mismatches,
unclosed loops) as (code, message) pairs at the level X12 reports them: TA105 codes for the
interchange, AK905 for a group, AK502 for a transaction set, AK304 for a segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyx12.errors
import pyx12.x12file

from edi.datatypes import as_int
from edi.envelope import Separators
from edi.errors import EnvelopeError, Refused
from edi.limits import Budget, TimedText

Finding = tuple[str, str]  # (X12 code, message)


@dataclass(slots=True)
class Segment:
    id: str
    elements: list[str]  # elements[0] is the id, so elements[n] is the X12 element n
    line: int  # the segment's number in the interchange, from 1
    position: int  # its number in the transaction set (ST is 1), 0 outside a set

    def get(self, number: int, default: str = "") -> str:
        return self.elements[number] if number < len(self.elements) else default


@dataclass(slots=True)
class TransactionSet:
    set_id: str
    control: str
    version: str
    line: int
    segments: list[Segment] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    segment_errors: list[tuple[Segment, str, str]] = field(default_factory=list)
    closed: bool = False


@dataclass(slots=True)
class Group:
    functional_id: str
    sender: str
    receiver: str
    date: str
    time: str
    control: str
    version: str
    line: int
    sets: list[TransactionSet] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)
    declared_sets: int | None = None
    closed: bool = False


@dataclass(slots=True)
class Interchange:
    isa: list[str]
    text: str
    groups: list[Group] = field(default_factory=list)
    errors: list[Finding] = field(default_factory=list)  # TA105 codes
    ta1: list[Segment] = field(default_factory=list)  # TA1s sent to us inside the envelope
    segments: int = 0

    @property
    def control(self) -> str:
        return self.isa[13]


def check_structure(segments: list[str], element: str) -> None:
    """Trailers that close nothing (a second SE, GE or IEA) and segments after the IEA make
    pyx12's reader fail (``IndexError`` on its loop stack): X12.5 calls that an invalid control
    structure, TA105 022, and the interchange is answered with a TA1 before pyx12 sees it."""
    depth = 0  # 1: in the interchange, 2: in a group, 3: in a set
    for number, segment in enumerate(segments, start=1):
        seg_id = segment.split(element, 1)[0].strip()
        if depth == 0 and number > 1:
            raise EnvelopeError(
                "022", f"segment {number} ({seg_id[:3]!r}) comes after the IEA trailer"
            )
        if seg_id == "ISA":
            depth = 1
        elif seg_id == "GS":
            depth = 2
        elif seg_id == "ST":
            depth = 3
        elif seg_id in ("SE", "GE", "IEA"):
            needed = {"SE": 3, "GE": 2, "IEA": 1}[seg_id]
            if depth < needed:
                opened = {"SE": "ST", "GE": "GS", "IEA": "ISA"}[seg_id]
                raise EnvelopeError("022", f"segment {number}: {seg_id} closes no open {opened}")
            depth = needed - 1


def read_interchange(
    text: str, isa: list[str], separators: Separators, budget: Budget | None = None
) -> Interchange:
    """Read one canonical interchange (see :func:`edi.envelope.Normalized.canonical`)."""
    interchange = Interchange(isa=isa, text=text)
    try:
        reader = pyx12.x12file.X12Reader(TimedText(text, budget))
    except pyx12.errors.X12Error as exc:
        raise EnvelopeError("022", f"pyx12 cannot read the interchange: {exc}") from None
    group: Group | None = None
    current: TransactionSet | None = None
    component = separators.component
    line = 0
    try:
        for seg in reader:
            line += 1
            seg_id = seg.get_seg_id() or ""
            elements = [seg_id, *(c.format(component) for c in seg.elements)]
            segment = Segment(seg_id, elements, line, 0)
            if seg_id == "GS":
                group = Group(
                    functional_id=segment.get(1),
                    sender=segment.get(2),
                    receiver=segment.get(3),
                    date=segment.get(4),
                    time=segment.get(5),
                    control=segment.get(6),
                    version=segment.get(8),
                    line=line,
                )
                interchange.groups.append(group)
                current = None
            elif seg_id == "ST":
                current = TransactionSet(segment.get(1), segment.get(2), segment.get(3), line)
                if group is None:
                    interchange.errors.append(("024", f"ST at segment {line} outside a group"))
                else:
                    group.sets.append(current)
            elif seg_id == "GE" and group is not None:
                group.closed = True
                count = segment.get(1)
                group.declared_sets = as_int(count)
            elif seg_id == "TA1" and current is None:
                interchange.ta1.append(segment)
            if current is not None and seg_id not in ("GS", "GE", "ISA", "IEA"):
                segment.position = len(current.segments) + 1
                current.segments.append(segment)
                if seg_id == "SE":
                    current.closed = True
            _file_findings(reader.pop_errors(), interchange, group, current, segment)
            if seg_id == "SE":
                current = None
            elif seg_id == "GE":
                group, current = None, None
        reader.cleanup()  # missing SE/GE/IEA trailers
        _file_findings(reader.pop_errors(), interchange, group, current, None)
    except pyx12.errors.X12Error as exc:
        interchange.errors.append(("022", f"pyx12 stopped reading at segment {line}: {exc}"))
    except Refused:
        raise
    except Exception as exc:  # a pyx12 bug on odd input: the structure is what it choked on
        interchange.errors.append(
            ("022", f"pyx12 could not read segment {line + 1}: {type(exc).__name__}")
        )
    interchange.segments = line
    return interchange


def _file_findings(
    errors: list[tuple[str, str, str, str | None, int | None]],
    interchange: Interchange,
    group: Group | None,
    current: TransactionSet | None,
    segment: Segment | None,
) -> None:
    for kind, code, message, _value, _line in errors:
        if kind == "isa":
            interchange.errors.append((code, message))
        elif kind == "gs":
            if group is not None:
                group.errors.append((code, message))
            elif interchange.groups:
                interchange.groups[-1].errors.append((code, message))
        elif kind == "st":
            target = current or _last_set(interchange)
            if target is not None:
                target.errors.append((code, message))
        elif current is not None and segment is not None:
            # Segment-level: HL and LX numbering, empty or malformed segments.
            ak3 = code if code in ("1", "2", "3", "4", "5", "6", "7", "8") else "8"
            current.segment_errors.append((segment, ak3, message))


def _last_set(interchange: Interchange) -> TransactionSet | None:
    for group in reversed(interchange.groups):
        if group.sets:
            return group.sets[-1]
    return None
