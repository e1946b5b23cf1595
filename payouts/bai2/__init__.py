"""BAI2 bank statements (Cash Management Balance Reporting Specifications, version 2): read
(tolerant, typed), validate (control totals and record counts of 49/98/99, every problem with
its line). Pure code, no I/O.

    file = read(data)            # BankStatementUnreadable only if it is not BAI2 at all
    problems = validate(file)    # [] for a sound file; control totals, counts, structure

``payouts.bank_statements.read_bai2`` turns a sound file into ``BankCredit`` lines.
"""

from payouts.bai2.model import (
    Account,
    AccountHeader,
    AccountTrailer,
    Bai2File,
    Detail,
    FileHeader,
    FileTrailer,
    Funds,
    Group,
    GroupHeader,
    GroupTrailer,
    Problem,
    Summary,
)
from payouts.bai2.reader import MAX_CONTINUATIONS, MAX_LINE_CHARS, MAX_RECORDS, read
from payouts.bai2.validation import validate

__all__ = [
    "MAX_CONTINUATIONS",
    "MAX_LINE_CHARS",
    "MAX_RECORDS",
    "Account",
    "AccountHeader",
    "AccountTrailer",
    "Bai2File",
    "Detail",
    "FileHeader",
    "FileTrailer",
    "Funds",
    "Group",
    "GroupHeader",
    "GroupTrailer",
    "Problem",
    "Summary",
    "read",
    "validate",
]
