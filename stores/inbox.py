"""The webhook inbox (``webhook_inbox``): what a verified PSP event is about, storing it once, and
tying stored events to their payout. The ingress (``app.api.webhooks``) writes it; the relay
(``relays.inbox``) forwards it; payout report intake ties events to payouts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg

STRIPE = "stripe"

# Event types the payout workflow reconciles (Stripe's names; Standard Webhooks providers are
# expected to use the same vocabulary). Anything else is stored and acknowledged only.
FORWARDED_TYPES = frozenset(
    {
        "payout.created",
        "payout.updated",
        "payout.paid",
        "payout.failed",
        "payout.canceled",
        "payout.reconciliation_completed",
        "charge.captured",
        "charge.succeeded",
        "charge.refunded",
        "charge.refund.updated",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "application_fee.created",
        "application_fee.refunded",
        "topup.succeeded",
        "topup.reversed",
    }
)

INSERT_EVENT = """
INSERT INTO webhook_inbox
    (provider, event_id, event_type, payout_id, balance_transaction, payload, forward)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7)
ON CONFLICT (provider, event_id) DO NOTHING
RETURNING inbox_id
"""


class BadEvent(ValueError):
    """The verified body is not an event we can store (answered 400)."""


@dataclass(frozen=True)
class InboxEvent:
    """What the inbox keeps about an event besides its payload."""

    provider: str
    event_id: str
    event_type: str
    payout_id: str | None
    balance_transaction: str | None
    forward: bool


def _text(value: Any) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict):  # an expanded Stripe object: {"id": ..., ...}
        inner = value.get("id")
        return inner if isinstance(inner, str) and inner else None
    return None


def event_object(provider: str, event: dict[str, Any]) -> dict[str, Any]:
    """The object an event is about: Stripe's ``data.object``, Standard Webhooks' ``data``."""
    data = event.get("data")
    if not isinstance(data, dict):
        return {}
    if provider == STRIPE:
        obj = data.get("object")
        return obj if isinstance(obj, dict) else {}
    return data


def describe_event(provider: str, event: dict[str, Any], message_id: str | None) -> InboxEvent:
    """Id, type and payout association of a verified event (see the module's table)."""
    event_id = message_id if provider != STRIPE else event.get("id")
    event_type = event.get("type")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        raise BadEvent("event has no id")
    if not isinstance(event_type, str) or not event_type or len(event_type) > 255:
        raise BadEvent("event has no type")
    obj = event_object(provider, event)
    if event_type.startswith("payout."):
        payout_id = _text(obj.get("id")) if provider == STRIPE else None
        payout_id = payout_id or _text(obj.get("payout_id")) or _text(obj.get("id"))
    else:
        payout_id = _text(obj.get("payout")) or _text(obj.get("payout_id"))
    return InboxEvent(
        provider=provider,
        event_id=event_id,
        event_type=event_type,
        payout_id=payout_id,
        balance_transaction=_text(obj.get("balance_transaction")),
        forward=event_type in FORWARDED_TYPES,
    )


async def associate(
    pool: asyncpg.Pool, provider: str, payout_id: str, balance_transactions: list[str]
) -> int:
    """Tie stored events to a payout by their balance transactions (from the PSP's payout
    report); they become forwardable on the relay's next pass. Returns how many were tied."""
    result = await pool.execute(
        """UPDATE webhook_inbox SET payout_id = $2, next_attempt_at = now()
           WHERE provider = $1 AND payout_id IS NULL AND balance_transaction = ANY($3::text[])""",
        provider,
        payout_id,
        balance_transactions,
    )
    return int(result.split()[-1])


async def associate_many(pool: asyncpg.Pool, provider: str, owners: dict[str, str]) -> int:
    """``associate`` for a whole report at once: ``owners`` maps balance transaction ids to
    their payout. One statement, however many payouts the report holds."""
    if not owners:
        return 0
    result = await pool.execute(
        """UPDATE webhook_inbox AS w SET payout_id = m.payout_id, next_attempt_at = now()
           FROM unnest($2::text[], $3::text[]) AS m(balance_transaction, payout_id)
           WHERE w.provider = $1 AND w.payout_id IS NULL
             AND w.balance_transaction = m.balance_transaction""",
        provider,
        list(owners.keys()),
        list(owners.values()),
    )
    return int(result.split()[-1])
