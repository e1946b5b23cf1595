"""The exceptions the NACHA package raises.

What is wrong *inside* a file is never raised: the reader records deviations and ``validate``
returns problems, so a partner gets every finding at once. Only these stop the package::

    NachaError
    ├── NachaReadError    the input cannot be read as a NACHA file at all (empty, not gzip when
    │   │                 it says so, too large, no file or batch header, mostly unknown records)
    │   └── NachaOpenError    the path names no readable file (missing, a directory, no access)
    └── NachaWriteError   a model cannot be written (a value does not fit its fixed-width field)
"""

from __future__ import annotations


class NachaError(Exception):
    """Base of every error the NACHA package raises."""


class NachaReadError(NachaError, ValueError):
    """The input is not a readable NACHA file; ``reason`` says why in words a partner can use."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class NachaOpenError(NachaReadError):
    """The path given to ``read`` is not a file we may open; the file's content was never seen."""


class NachaWriteError(NachaError, ValueError):
    """A value does not fit the fixed-width field it must be written to."""

    def __init__(self, record: str, field: str, reason: str) -> None:
        self.record = record
        self.field = field
        self.reason = reason
        super().__init__(f"{record}.{field}: {reason}")
