"""EDI X12: validation (pyx12 for HIPAA sets, our segment contracts for the rest), the 997/999/
TA1 we answer with, the acknowledgements partners send us, and the translator to JSON.

Pure: bytes in, results and text out; no network or database (see ``activities.edi``). The one
file it opens is the one :func:`validate_file` is given, within :class:`Limits`.
"""

from edi.acks import AckControl
from edi.errors import Refused
from edi.limits import Limits
from edi.results import ReceivedAck, Refusal, ValidationResult
from edi.translate import translate
from edi.validate import Validation, validate, validate_file

__all__ = [
    "AckControl",
    "Limits",
    "ReceivedAck",
    "Refusal",
    "Refused",
    "Validation",
    "ValidationResult",
    "translate",
    "validate",
    "validate_file",
]
