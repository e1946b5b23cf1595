"""Contracts between PSP webhook ingress and the ``Payout`` workflow (id ``payout-<payout id>``).

The inbox relay reaches a payout's workflow by signal-with-start: ``PayoutStart`` is the start
argument (used only when the workflow does not exist yet) and every webhook event arrives as a
``psp_event`` signal carrying a ``PspEvent``. The same event may be signalled more than once (a
relay that crashed after the signal but before marking the row forwarded sends it again): the
workflow dedupes by ``(provider, event_id)``.

Only what reconciliation needs travels here: ids, amounts in minor units, currency, status. No
PII, and never the raw webhook body (that stays in the ``webhook_inbox`` table).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from foundation.wire_model import WireModel, wire_model

PSP_EVENT_SIGNAL = "psp_event"
PAYOUT_WORKFLOW = "Payout"


@wire_model("payout.start", "1.0")
class PayoutStart(WireModel):
    """Input of ``Payout`` when a webhook is the first thing we hear of a payout."""

    payout_id: str = Field(min_length=1, max_length=255, description="The PSP's payout id.")
    provider: str = Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description='"stripe" or a Standard Webhooks name.'
    )


@wire_model("payout.psp_event", "1.0")
class PspEvent(WireModel):
    """One verified PSP webhook event, reduced to the fields reconciliation uses."""

    provider: str
    event_id: str = Field(description="The PSP's event id (Stripe evt_…, or webhook-id).")
    type: str = Field(description='The PSP\'s event type, e.g. "charge.refunded", "payout.paid".')
    created: datetime = Field(description="When the PSP created the event (UTC).")
    payout_id: str
    object_type: str | None = Field(default=None, description='"charge", "payout", "dispute"…')
    object_id: str | None = None
    amount_minor: int | None = Field(
        default=None, description="The object's amount in the currency's minor units."
    )
    amount_refunded_minor: int | None = None
    fee_minor: int | None = None
    currency: str | None = Field(default=None, description="ISO 4217, lower case as PSPs send.")
    balance_transaction: str | None = Field(
        default=None, description="The PSP's balance transaction id (ties the event to a report)."
    )
    status: str | None = None
    arrival_date: datetime | None = Field(default=None, description="Payouts: expected arrival.")
    livemode: bool | None = None
