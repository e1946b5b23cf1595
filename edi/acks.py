"""Acknowledgement interchanges we send: 997, 999 and TA1.

Every acknowledgement goes out in its own interchange addressed back to the sender (ISA05/06 and
ISA07/08 swapped, GS02/GS03 swapped) with *our* control number, allocated per partner (see
``stores.edi``): ISA13 is that number and GS06 the same number, so a partner's 997
to our acknowledgement (or to any interchange we send) names the interchange it is about. Dates
come from the caller, never the clock, so the same file and control number give the same bytes
on every retry. Separators are the common ``* : ^ ~`` (one segment a line).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from edi.datatypes import is_digits

ELEMENT, COMPONENT, REPETITION, TERMINATOR = "*", ":", "^", "~"
Elements = list[str]


@dataclass(frozen=True)
class AckControl:
    """Our control number for one acknowledgement interchange, and its timestamp."""

    control_number: int
    when: datetime

    def __post_init__(self) -> None:
        if not 1 <= self.control_number <= 999_999_999:
            raise ValueError("an X12 interchange control number has at most 9 digits")


@dataclass
class InterchangeAck:
    """What we answer to one inbound interchange, before our control number is known."""

    kind: str | None  # "997", "999", "TA1" or None (nothing to answer)
    inbound_isa: list[str]
    ta1: Elements | None = None
    sets: list[Elements] = field(default_factory=list)  # ST..SE of every 997/999, in order
    fa_sender: str = ""  # GS02 of our FA group (the inbound GS03)
    fa_receiver: str = ""
    fa_version: str = "004010"

    def render(self, control: AckControl) -> str:
        isa = self.inbound_isa
        version = isa[12] if len(isa) > 12 and isa[12] in ("00401", "00501") else "00401"
        number = f"{control.control_number:09d}"
        header = [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            _fixed(isa, 7, 2, "ZZ"),
            _fixed(isa, 8, 15, ""),
            _fixed(isa, 5, 2, "ZZ"),
            _fixed(isa, 6, 15, ""),
            control.when.strftime("%y%m%d"),
            control.when.strftime("%H%M"),
            REPETITION if version == "00501" else "U",
            version,
            number,
            "0",  # we ask for no TA1 to an acknowledgement
            _fixed(isa, 15, 1, "P") if _fixed(isa, 15, 1, "P") in "PTI" else "P",
            COMPONENT,
        ]
        segments: list[Elements] = [header]
        if self.ta1 is not None:
            segments.append(self.ta1)
        groups = 0
        if self.sets:
            groups = 1
            segments.append(
                [
                    "GS",
                    "FA",
                    self.fa_sender,
                    self.fa_receiver,
                    control.when.strftime("%Y%m%d"),
                    control.when.strftime("%H%M"),
                    str(control.control_number),
                    "X",
                    self.fa_version,
                ]
            )
            segments.extend(self.sets)
            count = sum(1 for s in self.sets if s[0] == "ST")
            segments.append(["GE", str(count), str(control.control_number)])
        segments.append(["IEA", str(groups), number])
        return "".join(ELEMENT.join(s) + TERMINATOR + "\n" for s in segments)


def _fixed(isa: Sequence[str], number: int, width: int, default: str) -> str:
    value = isa[number] if len(isa) > number else default
    return value[:width].ljust(width)


def ta1(isa: Sequence[str], code: str, note: str) -> Elements:
    """TA1*ISA13*ISA09*ISA10*code*note: the interchange acknowledgement (X12.5)."""
    control = isa[13] if len(isa) > 13 and is_digits(isa[13], 9) else "0" * 9
    date = isa[9] if len(isa) > 9 and is_digits(isa[9], 6) else "000000"
    time = isa[10] if len(isa) > 10 and is_digits(isa[10], 4) else "0000"
    return ["TA1", control, date, time, code, note]


def trim(elements: Elements) -> Elements:
    """Drop trailing empty elements (X12: a segment never ends with a separator)."""
    end = len(elements)
    while end > 1 and elements[end - 1] == "":
        end -= 1
    return elements[:end]


def functional_set(
    number: int, kind: str, body: list[Elements], *, version: str | None = None
) -> list[Elements]:
    """ST..SE around ``body`` with a correct SE01 (segments from ST to SE inclusive)."""
    control = f"{number:04d}"
    st = ["ST", kind, control] + ([version] if version else [])
    return [st, *(trim(s) for s in body), ["SE", str(len(body) + 2), control]]
