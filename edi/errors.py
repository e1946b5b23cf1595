"""Exceptions of the EDI core.

    EdiError                    anything this package refuses
    └── EnvelopeError           the interchange cannot be read as X12 (no ISA, bad separators,
                                malformed ISA): answered with a TA1 when enough of the ISA
                                could be read to address one, else refused outright

pyx12's own exceptions (``X12Error``, ``EngineError``) never escape :func:`edi.validate`: they
become issues in a :class:`edi.results.ValidationResult`.
"""

from __future__ import annotations


class EdiError(Exception):
    """Base of this package's exceptions."""


class EnvelopeError(EdiError):
    """The interchange envelope is broken; ``code`` is the TA105 note code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
