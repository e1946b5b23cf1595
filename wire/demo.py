"""Contracts of the demo workflow: the smallest real workflow, carrying planted PII so that the
payload codec can be seen (and tested) doing its job."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field

from foundation.wire_model import WireModel, wire_model


@wire_model("demo.input", "1.0")
class DemoInput(WireModel):
    customer_name: str = Field(min_length=1, max_length=200)
    ssn: str = Field(pattern=r"^\d{3}-\d{2}-\d{4}$", description="PII: encrypted in payloads")
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    work_seconds: float = Field(
        default=0.0, ge=0, le=600, description="How long the activity works, heartbeating."
    )


@wire_model("demo.greeting_request", "1.0")
class GreetingRequest(WireModel):
    workflow_id: str
    customer_name: str
    ssn: str
    amount: Decimal
    work_seconds: float = 0.0


@wire_model("demo.greeting_result", "1.0")
class GreetingResult(WireModel):
    greeting: str
    attempt: int = Field(description="Activity attempt that produced this (>1 after a crash).")
    resumed_from_second: float = 0.0


@wire_model("demo.result", "1.1")
class DemoResult(WireModel):
    greeting: str
    ssn: str = Field(description="Echoed back, PII: readable only through the codec.")
    amount: Decimal
    activity_attempt: int
    activity_resumed_from_second: float = Field(
        default=0.0, description="Where the activity resumed from its last heartbeat."
    )
