"""Contracts of the ACH return workflow and its activities (account numbers never travel here
except inside an operator's correction, which the payload codec encrypts)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import Field

from ach_returns.state_machine import OriginalEntry, ReturnCase
from foundation.wire_model import WireModel, wire_model
from wire.intake import DeliverRequest


@wire_model("ach_return.start", "1.0")
class AchReturnStart(WireModel):
    """Input of ``AchReturn`` (id ``ach-return-<original trace number>``)."""

    trace_number: str = Field(pattern=r"^\d{15}$")
    partner_id: str = Field(description="The bank: its feed delivers returns and takes ours.")
    bank_feed: str
    original: OriginalEntry | None = None
    file_task_queue: str = "integrations-sftp"
    case: ReturnCase | None = Field(default=None, description="Set when continuing as new.")


@wire_model("ach.ingest_request", "1.0")
class IngestRequest(WireModel):
    path: str = Field(description="A landed return/NOC file (claim check), never its bytes.")
    partner_id: str
    bank_feed: str
    received_on: date


@wire_model("ach.ingest_summary", "1.0")
class IngestSummary(WireModel):
    entries: int = 0
    returns: int = 0
    nocs: int = 0
    signalled: int = 0
    already_seen: int = 0
    unmatched: int = 0
    problems: int = 0
    returns_by_code: dict[str, int] = Field(default_factory=dict)


@wire_model("ach.represent_request", "1.0")
class RepresentRequest(WireModel):
    original_trace: str
    number: int = Field(ge=1, le=2)
    effective_date: date
    partner_id: str
    bank_feed: str


@wire_model("ach.outbound_file", "1.2")
class OutboundFile(WireModel):
    """A re-presentment file we wrote for the bank, in the landing zone (claim check)."""

    delivery: DeliverRequest
    trace_number: str
    original_trace: str
    number: int


@wire_model("ach.block_request", "1.0")
class BlockRequest(WireModel):
    trace_number: str
    reason: str


@wire_model("ach.correction_request", "1.0")
class CorrectionRequest(WireModel):
    notice_id: str
    trace_number: str
    source: str
    fields: dict[str, str] = Field(description="May hold an account number: PII.")
    due: date


@wire_model("ach.outbox_event", "1.0")
class OutboxEvent(WireModel):
    """A domain event for the outbox; ``message_id`` is derived from the business key so a
    retried activity never records (or, later, publishes) it twice."""

    message_id: str
    event_type: str
    subject: str
    payload: dict[str, Any] = Field(default_factory=dict)
