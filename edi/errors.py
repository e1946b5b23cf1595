"""Exceptions of the EDI core.

    EdiError                    anything this package refuses
    ├── EnvelopeError           the interchange cannot be read as X12 (no ISA, bad separators,
    │                           malformed ISA): answered with a TA1 when enough of the ISA
    │                           could be read to address one, else refused outright
    └── Refused                 the file is beyond a limit (size, segment length, time budget):
                                nothing is answered, the file is refused with ``reason``

Neither escapes :func:`edi.validate`: both end in its result (an issue and a TA1, or
``result.refusal``). pyx12's own exceptions (``X12Error``, ``EngineError``) and its bugs on
odd input never escape either: they become issues in a :class:`edi.results.ValidationResult`.
"""

from __future__ import annotations

from typing import Literal

RefusalReason = Literal["not_x12", "too_large", "segment_too_long", "time_budget"]


class EdiError(Exception):
    """Base of this package's exceptions."""


class EnvelopeError(EdiError):
    """The interchange envelope is broken; ``code`` is the TA105 note code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Refused(EdiError):
    """The file is refused as a whole; ``reason`` says which limit it broke."""

    def __init__(self, reason: RefusalReason, message: str) -> None:
        super().__init__(message)
        self.reason: RefusalReason = reason
        self.message = message
