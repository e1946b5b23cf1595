"""The operator audit trail: who did what, when and why."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from foundation.wire_model import WireModel, wire_model


@wire_model("audit.entry", "1.0")
class AuditEntry(WireModel):
    """One operator or system action, written once per ``event_id``."""

    event_id: str = Field(min_length=1, max_length=200)
    actor: str = Field(min_length=1, max_length=200)
    action: str = Field(min_length=1, max_length=100)
    subject: str = Field(min_length=1, max_length=300)
    reason: str = Field(default="", max_length=2000)
    details: dict[str, Any] = Field(default_factory=dict)
