"""NACHA ACH files: read (tolerant, typed), validate (every problem), write (byte-exact), build
outbound files, and the return-reason and change-code tables. Pure code: no I/O but ``read`` of
a path, no Temporal, no database.

    file = read(Path("returns.ach"))          # NachaReadError only if it is not NACHA at all
    problems = validate(file, strict=False)   # inbound: lenient; outbound: strict=True
    notices = return_notices(file)            # ReturnNotice contracts for the return workflow
    data = write(file)                        # same bytes for a well-formed input
"""

from nacha.addenda05 import Addenda05, OtherAddenda
from nacha.addenda98 import NocAddenda
from nacha.addenda99 import ContestedReturnAddenda, DishonoredReturnAddenda, ReturnAddenda
from nacha.batch_control import BatchControl
from nacha.batch_header import BatchHeader
from nacha.change_codes import CHANGE_CODES, ChangeCode, Correction, change_code, parse_correction
from nacha.codes import SEC_CODES, SERVICE_CLASS_CODES, TRANSACTION_CODES, TransactionCode
from nacha.entry_detail import EntryDetail
from nacha.errors import NachaError, NachaReadError, NachaWriteError
from nacha.fields import Deviation, mask
from nacha.file_control import FileControl
from nacha.file_header import FileHeader
from nacha.iat import IatAddenda, IatBatchHeader, IatEntryDetail
from nacha.model import Batch, Entry, Layout, NachaFile
from nacha.outbound import (
    RETRY_DESCRIPTION,
    Payment,
    batch_control,
    build_file,
    entry_for,
    ppd_batch,
    representment_batch,
    trace_number,
    transaction_code,
    with_controls,
)
from nacha.reader import read
from nacha.return_reasons import RETURN_REASONS, ReturnCategory, ReturnReason, return_reason
from nacha.routing import check_digit, is_valid_routing_number
from nacha.summaries import (
    ChangeNotice,
    FileSummary,
    ReturnNotice,
    change_notice,
    change_notices,
    return_notice,
    return_notices,
    summarize,
)
from nacha.validation import Problem, validate
from nacha.writer import records, write

__all__ = [
    "CHANGE_CODES",
    "RETRY_DESCRIPTION",
    "RETURN_REASONS",
    "SEC_CODES",
    "SERVICE_CLASS_CODES",
    "TRANSACTION_CODES",
    "Addenda05",
    "Batch",
    "BatchControl",
    "BatchHeader",
    "ChangeCode",
    "ChangeNotice",
    "ContestedReturnAddenda",
    "Correction",
    "Deviation",
    "DishonoredReturnAddenda",
    "Entry",
    "EntryDetail",
    "FileControl",
    "FileHeader",
    "FileSummary",
    "IatAddenda",
    "IatBatchHeader",
    "IatEntryDetail",
    "Layout",
    "NachaError",
    "NachaFile",
    "NachaReadError",
    "NachaWriteError",
    "NocAddenda",
    "OtherAddenda",
    "Payment",
    "Problem",
    "ReturnAddenda",
    "ReturnCategory",
    "ReturnNotice",
    "ReturnReason",
    "TransactionCode",
    "batch_control",
    "build_file",
    "change_code",
    "change_notice",
    "change_notices",
    "check_digit",
    "entry_for",
    "is_valid_routing_number",
    "mask",
    "parse_correction",
    "ppd_batch",
    "read",
    "records",
    "representment_batch",
    "return_notice",
    "return_notices",
    "return_reason",
    "summarize",
    "trace_number",
    "transaction_code",
    "validate",
    "with_controls",
    "write",
]
