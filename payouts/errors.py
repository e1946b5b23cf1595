"""The exceptions the payouts package raises.

What is wrong *inside* a report or statement (a bad row, an unparseable amount) is never raised:
readers return it as a problem beside the rows they could read, and reconciliation itemises what
does not add up. Only input that cannot be read at all stops a reader::

    PayoutsError
    ├── PspReportUnreadable       the PSP's CSV report cannot be read (no such file, not text,
    │                             empty, no header, a required column missing)
    └── BankStatementUnreadable   a BAI2 or camt statement cannot be read or trusted (not
                                  BAI2/XML; BAI2 structure, 49/98/99 control totals or record
                                  counts wrong, or cut off before its 99; camt balances or
                                  TxsSummry that do not add up; a forbidden DTD or entity; a
                                  size limit broken)

Both are permanent for a given file: quarantine it and report ``reason``; a retry cannot help
(an ``OSError`` opening a path is wrapped too, and says so in ``reason``).
"""

from __future__ import annotations


class PayoutsError(Exception):
    """Base of every error the payouts package raises."""


class PspReportUnreadable(PayoutsError, ValueError):
    """The PSP report is not a readable CSV of a known layout; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class BankStatementUnreadable(PayoutsError, ValueError):
    """The bank statement cannot be read as ``format`` (``bai2`` or ``camt``)."""

    def __init__(self, format: str, reason: str) -> None:
        self.format = format
        self.reason = reason
        super().__init__(f"{format}: {reason}")
