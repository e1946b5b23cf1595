"""EDI X12: validation (pyx12 for HIPAA sets, our segment contracts for the rest), the 997/999/
TA1 we answer with, the acknowledgements partners send us, and the translator to JSON.

Pure: bytes in, results and text out; no files, network or database (see ``activities.edi``).
"""

from edi.acks import AckControl
from edi.results import ReceivedAck, ValidationResult
from edi.translate import translate
from edi.validate import Validation, validate

__all__ = ["AckControl", "ReceivedAck", "Validation", "ValidationResult", "translate", "validate"]
