"""BAI2 field codecs and the field stream of one logical record across its ``88`` continuations.

BAI2 (Cash Management Balance Reporting Specifications, version 2, 2005): fields are separated by
commas and a record ends with ``/``; a ``/`` right after a comma defaults every remaining field
of the record. A record too long for one line continues on ``88`` records, whose first field is
the *next* field of the record (``03,…,190/`` + ``88,500000,…``: 500000 is the amount of 190).
The text field of a ``16`` record is last, runs to the end of the line and continues on ``88``
records exactly, with nothing inserted (``CLIE`` + ``NT`` is ``CLIENT``).
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Final

# [0-9] is ASCII only (``\\d`` and ``str.isdigit`` accept Arabic-Indic or superscript digits).
_AMOUNT: Final = re.compile(r"[+-]?[0-9]{1,18}")
_DIGITS: Final = re.compile(r"[0-9]+")
_TYPE_CODE: Final = re.compile(r"[0-9]{3}")


def amount(value: str) -> int | None:
    """A BAI2 amount: optional sign, digits, implied decimals (minor units); ``None`` if not one."""
    value = value.strip()
    return int(value) if _AMOUNT.fullmatch(value) else None


def count(value: str) -> int | None:
    value = value.strip()
    return int(value) if _DIGITS.fullmatch(value) and len(value) <= 12 else None


def is_type_code(value: str) -> bool:
    return _TYPE_CODE.fullmatch(value) is not None


def yymmdd(value: str) -> date | None:
    """YYMMDD; years 70-99 are 19xx, 00-69 20xx (BAI2 has no century)."""
    if len(value) != 6 or not _DIGITS.fullmatch(value):
        return None
    year = int(value[0:2])
    try:
        return date(1900 + year if year >= 70 else 2000 + year, int(value[2:4]), int(value[4:6]))
    except ValueError:
        return None


def hhmm(value: str) -> time | None:
    """HHMM; BAI2 allows 2400 and 9999 as "end of day"."""
    if len(value) != 4 or not _DIGITS.fullmatch(value):
        return None
    hours, minutes = int(value[:2]), int(value[2:])
    if value in ("2400", "9999"):
        return time(23, 59)
    if hours > 23 or minutes > 59:
        return None
    return time(hours, minutes)


class FieldStream:
    """The fields of one logical record: its own line and its ``88`` lines (``parts``, each the
    text after the record code and its comma)."""

    def __init__(self, parts: list[str], padded: list[bool]) -> None:
        self._parts = parts
        self._padded = padded  # the line filled a declared fixed record length: trailing blanks
        self._i = 0
        self._pos = 0
        self._slash = parts[0].find("/") if parts else -1

    def _next_part(self) -> None:
        self._i += 1
        self._pos = 0
        # Fields stop at a part's first "/", so it is found once per part: searching again
        # for every field would make a long line of commas quadratic.
        self._slash = self._parts[self._i].find("/") if self._i < len(self._parts) else -1

    def at_default(self) -> bool:
        """Is the stream at a ``/`` that ends the record with no field before it (``,/``)? The
        record's remaining optional fields are then defaulted (empty)."""
        if self._i >= len(self._parts):
            return True
        part = self._parts[self._i]
        return self._pos < len(part) and part[self._pos] == "/"

    def next(self) -> str | None:
        """The next field, continuing onto the next ``88`` line; ``None`` when there is none."""
        while self._i < len(self._parts):
            part = self._parts[self._i]
            if self._pos >= len(part):
                self._next_part()
                continue
            comma = part.find(",", self._pos)
            slash = self._slash
            if slash != -1 and (comma == -1 or slash < comma):
                value = part[self._pos : slash]
                self._next_part()
                if value == "":
                    continue  # ",/": nothing here, the next 88 starts afresh
                return value
            if comma != -1:
                value = part[self._pos : comma]
                self._pos = comma + 1
                if self._pos >= len(part):
                    self._next_part()  # a line ending in a comma: the 88 has the next field
                return value
            value = part[self._pos :]
            self._next_part()
            if self._padded[self._i - 1]:
                value = value.rstrip(" ")
            return value
        return None

    def optional(self) -> str:
        """The next field, or empty when the record defaulted the rest with ``,/``."""
        if self.at_default():
            return ""
        return self.next() or ""

    def text(self) -> str:
        """The rest of the record as text (a ``16`` record's last field): the rest of this line
        and every following ``88`` line, joined exactly; one trailing ``/`` per line dropped."""
        if self.at_default() and self._i < len(self._parts):
            self._next_part()
        pieces: list[str] = []
        while self._i < len(self._parts):
            piece = self._parts[self._i][self._pos :]
            stripped = piece.rstrip(" ")
            if stripped.endswith("/"):
                piece = stripped[:-1]
            elif self._padded[self._i]:
                piece = stripped
            pieces.append(piece)
            self._next_part()
        return "".join(pieces)
