"""The payouts demo: signed Stripe webhooks start a Payout, the PSP's report and the bank's
camt.053 arrive over SFTP, and the payout reconciles."""

from __future__ import annotations

import json
import secrets
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from temporalio.client import Client

from adapters.webhook_signatures import split_secrets
from devstack.demo.feeds import demo_feed
from devstack.demo.session import DemoSession, poll
from devstack.demo_data import (
    PAYOUT_TRANSACTIONS,
    balance_transaction_id,
    camt053_statement,
    payout_net,
    psp_report,
)
from devstack.services import API_PORT, DEMO_BANK, DEMO_PSP
from runtime.settings import Settings
from wire.intake import ReportPart
from wire.payout_case import PayoutState
from wire.workflow_ids import workflow_id


async def payouts(demo: DemoSession, client: Client, pool: asyncpg.Pool, settings: Settings) -> str:
    """Signed Stripe webhooks start a Payout; the PSP's report and the bank's camt.053
    arrive over SFTP; the payout reconciles."""
    payout_id = f"po_demo{demo.tag}"
    day = await unused_report_day(pool, DEMO_PSP)
    await _send_webhooks(demo, payout_id, day)
    handle = client.get_workflow_handle(workflow_id("Payout", payout_id))

    async def state() -> PayoutState | None:
        found: PayoutState | None = await handle.query("state", result_type=PayoutState)
        return found

    started = await poll(state, lambda s: s.paid, 30)
    if started is None:
        raise RuntimeError(f"no Payout workflow {handle.id} after the webhooks")
    await _file_report(demo, client, pool, settings, payout_id, day)
    reconciled = await poll(state, lambda s: s.status != "awaiting_report", 30)
    if reconciled is None or reconciled.status != "awaiting_deposit":
        raise RuntimeError(f"after the report the payout is {reconciled}")
    await _file_statement(demo, client, pool, settings, payout_id, day)
    final = await poll(state, lambda s: s.status in ("reconciled", "exception"), 30)
    status = final.status if final is not None else "unknown"
    return (
        f"{handle.id} {status} (2 signed webhooks, PSP report of {day}, "
        f"camt.053 deposit of {payout_net() / 100:.2f} USD)"
    )


async def _send_webhooks(demo: DemoSession, payout_id: str, day: date) -> None:
    """A charge and the payout that pays it, signed as Stripe signs them, to our API."""
    import stripe  # the PSP's own SDK signs the demo's webhooks (a dev dependency)

    secret = split_secrets(demo.env["INTEGRATIONS_WEBHOOK_SECRETS_STRIPE"])[0]
    arrival = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
    events = [
        stripe_event(
            "charge.succeeded",
            {
                "id": f"ch_demo{demo.tag}",
                "object": "charge",
                "amount": PAYOUT_TRANSACTIONS[0][1],
                "currency": "usd",
                "status": "succeeded",
                "balance_transaction": balance_transaction_id(payout_id, "c1"),
            },
        ),
        stripe_event(
            "payout.paid",
            {
                "id": payout_id,
                "object": "payout",
                "amount": payout_net(),
                "currency": "usd",
                "status": "paid",
                "arrival_date": arrival,
                "balance_transaction": f"txn_{payout_id}",
            },
        ),
    ]
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{API_PORT}", timeout=30) as http:
        for event in events:
            body = json.dumps(event)
            signature = stripe.WebhookSignature.generate_signature_header(body, secret)
            answer = await http.post(
                "/webhooks/stripe",
                content=body,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
            answer.raise_for_status()


async def _file_report(
    demo: DemoSession,
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    payout_id: str,
    day: date,
) -> None:
    """The PSP's payout report, one file per part, each on its own feed."""
    parts = psp_report(payout_id, day)
    order: tuple[ReportPart, ...] = ("payouts", "balance_transactions")
    for part in order:
        feed = demo_feed(
            demo.server,
            DEMO_PSP,
            part.replace("_", "-"),
            area=DEMO_PSP,
            inbox=f"inbox/{DEMO_PSP}/{part.replace('_', '-')}",
            outbox=f"outbox/{DEMO_PSP}",
            file_contract="psp_report.v1",
            handoff="psp_report",
            report_part=part,
            extensions=("csv",),
            display_name=f"Stripe payout report: {part} (demo)",
        )
        await demo.register(pool, client, settings, feed)
        name = demo.drop_for(feed, day, "csv", parts[part])
        await demo.intake(client, settings, feed, name)


async def _file_statement(
    demo: DemoSession,
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    payout_id: str,
    day: date,
) -> None:
    """The bank's camt.053 statement with the payout's deposit."""
    statements = demo_feed(
        demo.server,
        DEMO_BANK,
        "statements",
        area=DEMO_BANK,
        inbox=f"inbox/{DEMO_BANK}/statements",
        outbox=f"outbox/{DEMO_BANK}",
        file_contract="bank_statement.v1",
        handoff="bank_statement",
        extensions=("xml",),
        display_name="First Bank statements (demo)",
    )
    await demo.register(pool, client, settings, statements)
    statement = camt053_statement(payout_id, payout_net(), day)
    name = demo.drop_for(statements, day, "xml", statement)
    await demo.intake(client, settings, statements, name)


def stripe_event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


async def unused_report_day(pool: asyncpg.Pool, partner: str) -> date:
    """Today, or the latest earlier day without a report from ``partner``: a PSP report is one
    per day, so a second demo run the same day files its report under the day before."""
    used = {
        row["report_date"]
        for row in await pool.fetch(
            "SELECT DISTINCT report_date FROM psp_report_parts WHERE partner_id = $1", partner
        )
    }
    day = date.today()
    while day in used:
        day -= timedelta(days=1)
    return day
