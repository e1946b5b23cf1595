"""What validating an X12 file found, as versioned contracts (small: they travel through
workflow history and the CLI's ``--json``; segments and member data never appear here).

Codes are the X12 acknowledgement codes, so an issue reads the same here as in the 997/999/TA1
the partner receives: TA105 for the interchange, AK905 for a group, AK502/IK502 for a
transaction set, AK304/IK304 for a segment and AK403/IK403 for an element.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from edi.errors import RefusalReason
from foundation.wire_model import WireModel, wire_model

Level = Literal["interchange", "group", "transaction", "segment", "element"]
AckKind = Literal["997", "999", "TA1"]
# A: accepted; E: accepted with errors noted; P: partially accepted (some sets rejected);
# R: rejected. (X12 AK901/IK501/TA104.)
AckCode = Literal["A", "E", "P", "R"]
Engine = Literal["pyx12", "segment_contract", "acknowledgement"]
MAX_ISSUES = 200  # per file: enough to act on, small enough for workflow history


@wire_model("edi.issue", "1.1")
class Issue(WireModel):
    """One thing wrong, located as precisely as the X12 rules allow. A warning does not change
    any verdict (an ISA11 that cannot be a repetition separator, say)."""

    level: Level
    severity: Literal["error", "warning"] = "error"
    code: str = Field(description="The X12 acknowledgement code for this level (see module doc).")
    message: str
    line: int | None = Field(default=None, description="Segment number in the file, from 1.")
    segment_id: str | None = None
    segment_position: int | None = Field(
        default=None, description="Position of the segment in its transaction set (AK302)."
    )
    element_position: str | None = Field(default=None, description='e.g. "6" or "6:1" (AK401).')
    element_reference: str | None = None
    value: str | None = Field(default=None, description="The bad value, masked.")
    group_control: str | None = None
    set_control: str | None = None


@wire_model("edi.set_result", "1.0")
class SetResult(WireModel):
    set_id: str = Field(description="ST01, e.g. 834.")
    control_number: str = Field(description="ST02.")
    ack_code: AckCode
    segments: int = 0
    errors: list[str] = Field(default_factory=list, description="AK502/IK502 codes.")


@wire_model("edi.group_result", "1.0")
class GroupResult(WireModel):
    functional_id: str = Field(description="GS01, e.g. BE for 834.")
    control_number: str = Field(description="GS06.")
    version: str = Field(description="GS08, e.g. 005010X220A1.")
    sender: str
    receiver: str
    engine: Engine
    ack_code: AckCode
    sets: list[SetResult] = Field(default_factory=list)
    errors: list[str] = Field(default_factory=list, description="AK905 codes.")


@wire_model("edi.interchange_result", "1.0")
class InterchangeResult(WireModel):
    control_number: str = Field(description="ISA13.")
    sender_qualifier: str
    sender: str
    receiver_qualifier: str
    receiver: str
    version: str = Field(description="ISA12: 00401 or 00501.")
    usage: str = Field(description="ISA15: P production, T test, I information.")
    date: str = Field(description="ISA09 YYMMDD.")
    time: str = Field(description="ISA10 HHMM.")
    ta1_requested: bool
    envelope_ok: bool = Field(description="False: rejected with a TA1, no group was processed.")
    ta1_code: str = Field(default="000", description="TA105 note code.")
    ack_kind: AckKind | None = None
    groups: list[GroupResult] = Field(default_factory=list)


@wire_model("edi.refusal", "1.0")
class Refusal(WireModel):
    """Why a file was not read as X12 at all: nothing in it is answered."""

    reason: RefusalReason = Field(
        description="not_x12 (no readable ISA), too_large, segment_too_long, time_budget."
    )
    message: str


@wire_model("edi.validation_result", "1.1")
class ValidationResult(WireModel):
    """The verdict on one file. ``accepted`` means every set in it was accepted (A or E);
    ``refusal`` is set when the file could not be read as X12 at all (or within the limits)."""

    accepted: bool
    refusal: Refusal | None = None
    ack_kind: AckKind | None = Field(
        default=None,
        description="What we answer with: 997 (4010 and non-HIPAA sets), 999 (5010 HIPAA), "
        "TA1 (broken envelope); none for an acknowledgement the partner sent us.",
    )
    bom_stripped: bool = False
    leading_whitespace_stripped: bool = False
    separators: dict[str, str] = Field(
        default_factory=dict, description="element, component, segment, repetition."
    )
    interchanges: list[InterchangeResult] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)
    issues_truncated: int = 0
    acknowledgements_received: list[ReceivedAck] = Field(default_factory=list)

    def accepted_sets(self) -> list[tuple[str, str, str]]:
        """(group control, set id, set control) of every accepted set (not counting the
        acknowledgements a partner sent us)."""
        return [
            (g.control_number, s.set_id, s.control_number)
            for i in self.interchanges
            for g in i.groups
            if g.engine != "acknowledgement"
            for s in g.sets
            if s.ack_code in ("A", "E")
        ]

    def rejected_sets(self) -> list[tuple[str, str, str]]:
        return [
            (g.control_number, s.set_id, s.control_number)
            for i in self.interchanges
            for g in i.groups
            if g.engine != "acknowledgement"
            for s in g.sets
            if s.ack_code not in ("A", "E")
        ]


@wire_model("edi.received_ack", "1.0")
class ReceivedAck(WireModel):
    """A partner's 997, 999 or TA1 about one of our interchanges or groups."""

    kind: AckKind
    partner_sender: str = Field(description="ISA06 of the acknowledgement (the partner).")
    acknowledged_group: str | None = Field(default=None, description="AK102: our GS06.")
    acknowledged_interchange: str | None = Field(default=None, description="TA101: our ISA13.")
    functional_id: str | None = Field(default=None, description="AK101.")
    ack_code: AckCode
    sets_included: int | None = None
    sets_received: int | None = None
    sets_accepted: int | None = None
    set_codes: dict[str, str] = Field(
        default_factory=dict, description="Our ST02 → its AK501/IK501 code."
    )
    note_code: str | None = Field(default=None, description="TA105 for a TA1.")


ValidationResult.model_rebuild()
