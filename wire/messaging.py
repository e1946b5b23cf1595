"""Contracts of Azure messaging: the envelope every published event and consumed command travels
in, and the commands the Service Bus consumer turns into Temporal signals and updates.

An envelope carries ids, a type, a business key and small data: never raw PII (names, SSNs,
account numbers stay in PostgreSQL or in encrypted workflow payloads). ``message_id`` is derived
from ``(event_type, business_key)``, so the same business fact published twice — a retried
activity, a replayed workflow — has the same id and Service Bus duplicate detection, or our own
``messaging_processed`` table on the consuming side, drops the second copy.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from foundation.wire_model import WireModel, wire_model

ENVELOPE_SCHEMA_VERSION = "1.1"  # 1.1: optional subject
# A fixed namespace: message ids must be the same on every machine and in every release.
MESSAGE_ID_NAMESPACE = uuid.UUID("6f1c8a52-7d0e-4f55-9b1e-3c2f0d6a9e41")
_EVENT_TYPE = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"
# Raw PII that must never ride in an envelope: an SSN, or a long digit run (account numbers).
_PII = re.compile(r"\b\d{3}-\d{2}-\d{4}\b|\b\d{9,17}\b")


def message_id_for(event_type: str, business_key: str) -> str:
    """The deterministic message id of one business fact."""
    return str(uuid.uuid5(MESSAGE_ID_NAMESPACE, f"{event_type}\x1f{business_key}"))


# An ACH trace number (ODFI routing prefix + sequence, 15 digits) is a public identifier that
# banks print on statements, not PII: allowed under this key only.
_IDENTIFIER_KEYS = {"trace_number": re.compile(r"\d{15}")}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [
            s
            for k, v in value.items()
            if not (
                k in _IDENTIFIER_KEYS and isinstance(v, str) and _IDENTIFIER_KEYS[k].fullmatch(v)
            )
            for s in (*_strings(k), *_strings(v))
        ]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


@wire_model("messaging.envelope", "1.1")
class Envelope(WireModel):
    """One event or command on the wire (JSON body of the AMQP message)."""

    schema_version: str = Field(
        default=ENVELOPE_SCHEMA_VERSION,
        pattern=r"^\d+\.\d+$",
        description="MAJOR.MINOR of this envelope; a consumer refuses a MAJOR it does not know.",
    )
    event_type: str = Field(pattern=_EVENT_TYPE, max_length=120, description="payroll.completed")
    business_key: str = Field(min_length=1, max_length=255, description="What the fact is about.")
    message_id: str = Field(
        default="", max_length=128, description="uuid5(event_type, business_key) unless given."
    )
    correlation_id: str = Field(min_length=1, max_length=255)
    subject: str | None = Field(
        default=None,
        max_length=255,
        description="The id of what the event is about (a payout, a trace number), if any.",
    )
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    data: dict[str, Any] = Field(default_factory=dict, description="Small, PII-free facts.")

    @field_validator("data")
    @classmethod
    def _no_raw_pii(cls, value: dict[str, Any]) -> dict[str, Any]:
        if any(_PII.search(s) for s in _strings(value)):
            raise ValueError("looks like raw PII (an SSN or account number): send a reference")
        return value

    @field_validator("occurred_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("must be timezone-aware")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _derive_id(self) -> Envelope:
        if not self.message_id:
            self.message_id = message_id_for(self.event_type, self.business_key)
        return self

    @property
    def major(self) -> int:
        return int(self.schema_version.split(".")[0])


@wire_model("messaging.publish_request", "1.1")
class PublishRequest(WireModel):
    """Input of the ``messaging.publish_event`` / ``messaging.publish_stream`` activities."""

    envelopes: list[Envelope] = Field(min_length=1, max_length=10_000)
    destination: str | None = Field(
        default=None, description="Topic or event hub; the configured one when absent."
    )
    partition_key: str | None = Field(default=None, description="Event Hubs: keeps order per key.")


@wire_model("messaging.publish_result", "1.0")
class PublishResult(WireModel):
    published: int
    message_ids: list[str]
    batches: int


@wire_model("messaging.payout_resolve_command", "1.0")
class PayoutResolveCommand(WireModel):
    """Command ``payout.resolve``: an ops decision on a payout exception, by update."""

    payout_id: str = Field(min_length=1, max_length=255)
    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    resolution: Literal["accept_as_is", "adjusted", "written_off"] = "accept_as_is"
