"""Addenda Record type code "98": Notification of Change (NACHA Appendix Two, "Addenda Record
for Notification of Change"; Rules Subsection 2.11 and Appendix Five), and refused NOCs
(C61-C69, "Refused Notification of Change")."""

from __future__ import annotations

from dataclasses import dataclass, field

from nacha.change_codes import Correction, parse_correction
from nacha.fields import Deviation, write_alpha


@dataclass(frozen=True, slots=True)
class NocAddenda:
    # 4-6 Change Code: C01-C14, or C61-C69 when the ODFI refuses a NOC.
    change_code: str
    # 7-21 Original Entry Trace Number: the trace number of the entry being corrected.
    original_trace_number: str
    # 28-35 Original Receiving DFI Identification.
    original_rdfi: str
    # 36-64 Corrected Data: laid out by change code (Appendix Five; see ``correction``).
    corrected_data: str
    # 65-67 (refused NOCs only) the Change Code of the NOC being refused; reserved otherwise.
    refused_change_code: str
    # 68-74 (refused NOCs only) Trace Sequence Number: last 7 digits of the refused NOC's trace
    # number; reserved otherwise.
    trace_sequence_number: str
    # 80-94 Trace Number of this NOC entry (the RDFI's, or the ODFI's for a refusal).
    trace_number: str
    record_number: int = field(default=0, compare=False)

    type_code = "98"

    @property
    def is_refused(self) -> bool:
        return self.change_code.startswith("C6")

    @property
    def correction(self) -> Correction:
        """The corrected data parsed into typed fields for this change code."""
        return parse_correction(self.change_code, self.corrected_data)


def parse_addenda98(line: str, n: int, deviations: list[Deviation]) -> NocAddenda:
    return NocAddenda(
        change_code=line[3:6],
        original_trace_number=line[6:21],
        original_rdfi=line[27:35].rstrip(),
        corrected_data=line[35:64].rstrip(),
        refused_change_code=line[64:67].rstrip(),
        trace_sequence_number=line[67:74].rstrip(),
        trace_number=line[79:94],
        record_number=n,
    )


def format_addenda98(a: NocAddenda) -> str:
    r = "NocAddenda"
    return "".join(
        (
            "798",
            write_alpha(a.change_code, 3, r, "change_code"),
            write_alpha(a.original_trace_number, 15, r, "original_trace_number"),
            " " * 6,  # 22-27 reserved
            write_alpha(a.original_rdfi, 8, r, "original_rdfi"),
            write_alpha(a.corrected_data, 29, r, "corrected_data"),
            write_alpha(a.refused_change_code, 3, r, "refused_change_code"),
            write_alpha(a.trace_sequence_number, 7, r, "trace_sequence_number"),
            " " * 5,  # 75-79 reserved
            write_alpha(a.trace_number, 15, r, "trace_number"),
        )
    )
