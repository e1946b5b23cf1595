"""Contracts of EDI X12: the ``edi.accept`` activity and the ``EdiAckWait`` workflow.

Validation results themselves are contracts of the pure core (``edi.results``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from edi.results import AckCode, AckKind, ReceivedAck
from foundation.wire_model import WireModel, wire_model
from wire.intake import SLUG, FeedConfig

# refused: not X12, or beyond the EDI limits (size, segment length, time); nothing answered.
Outcome = Literal["accepted", "partially_accepted", "rejected", "acknowledgement", "refused"]


@wire_model("edi.accept_request", "1.0")
class AcceptRequest(WireModel):
    """A landed X12 file (claim check: its path and digest, never its bytes)."""

    feed: FeedConfig = Field(description="The partner's feed: its id and SFTP outbox.")
    landing_path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    received_at: datetime
    deliver: bool = Field(default=True, description="Upload the acknowledgement to the outbox.")


@wire_model("edi.accepted", "1.1")
class AcceptSummary(WireModel):
    outcome: Outcome
    accepted_sets: list[str] = Field(default_factory=list, description='"<GS06>/<ST02>:<ST01>"')
    rejected_sets: list[str] = Field(default_factory=list)
    ack_kind: AckKind | None = None
    ack_path: str | None = None
    ack_remote_path: str | None = None
    ack_control_numbers: list[int] = Field(default_factory=list)
    result_path: str = Field(description="The full validation result (JSON) beside the file.")
    translation_path: str | None = None
    duplicate: bool = Field(description="The interchange came before in another file.")
    gaps: list[int] = Field(default_factory=list, description="Partner ISA13s never received.")
    issues: int = 0
    acknowledgements_received: list[ReceivedAck] = Field(default_factory=list)
    signalled: list[str] = Field(default_factory=list, description="EdiAckWait ids signalled.")
    unmatched_acks: int = 0


@wire_model("edi.ack_wait_start", "1.0")
class AckWaitStart(WireModel):
    """Expect the partner's 997/999 (or TA1) for one interchange we sent."""

    partner_id: str = Field(pattern=SLUG)
    isa13: str = Field(pattern=r"^\d{9}$", description="Our ISA13 (our GS06 is the same number).")
    sent_at: datetime
    deadline_hours: float = Field(default=24.0, gt=0, le=24 * 30)
    description: str = Field(default="", max_length=200)


@wire_model("edi.ack_resolve", "1.0")
class AckResolve(WireModel):
    actor: str = Field(min_length=1, max_length=100)
    note: str = Field(min_length=1, max_length=500)


@wire_model("edi.ack_wait_state", "1.0")
class AckWaitState(WireModel):
    partner_id: str
    isa13: str
    status: Literal["waiting", "accepted", "exception", "resolved"]
    exception: Literal["rejected", "missing"] | None = None
    ack_code: AckCode | None = None
    ack: ReceivedAck | None = None
    deadline: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None
