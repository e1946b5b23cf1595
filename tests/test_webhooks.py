"""PSP webhook ingress and the inbox relay, against real PostgreSQL and the Temporal dev server.

Requests are signed with the PSPs' own SDKs (``stripe``, ``standardwebhooks``), and each is also
verified by that SDK, so we interoperate with the real senders and not only with ourselves.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import standardwebhooks
import stripe
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus

from adapters.webhook_signatures import (
    SignatureInvalid,
    SignatureMissing,
    TimestampOutsideTolerance,
    verify_standard,
    verify_stripe,
)
from app.api.server import create_app
from devstack.localstack.ports import free_port
from relays.inbox import InboxRelay
from runtime.settings import Settings
from stores.inbox import associate
from wire.payouts import PspEvent
from wire.workflow_ids import workflow_id as _workflow_id

STRIPE_OLD = "whsec_" + secrets.token_hex(16)
STRIPE_NEW = "whsec_" + secrets.token_hex(16)
STANDARD = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
MAX_BODY = 8192


@pytest.fixture(scope="module")
def hook_settings(settings: Settings) -> Settings:
    """Session settings plus webhook secrets; a task queue no worker polls (no Payout worker)."""
    return settings.model_copy(
        update={
            "webhook_secrets_stripe": SecretStr(f"{STRIPE_OLD},{STRIPE_NEW}"),
            "webhook_secrets_standard": SecretStr(f"acme:{STANDARD}"),
            "webhook_max_body_bytes": MAX_BODY,
            "webhook_relay_in_api": False,
            "task_queue_general": f"payouts-{uuid.uuid4().hex[:8]}",
        }
    )


async def _api(settings: Settings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    async def client_factory() -> Client:
        return client

    async def pool_factory() -> asyncpg.Pool:
        return await asyncpg.create_pool(settings.require("database_url"), min_size=1, max_size=4)

    app = create_app(settings, client_factory=client_factory, pool_factory=pool_factory)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        yield http


@pytest.fixture
async def api(hook_settings: Settings, client: Client) -> AsyncIterator[httpx.AsyncClient]:
    async for http in _api(hook_settings, client):
        yield http


def stripe_event(
    event_type: str, obj: dict[str, Any], event_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


def payout(payout_id: str, status: str = "pending") -> dict[str, Any]:
    return {
        "id": payout_id,
        "object": "payout",
        "amount": 123_45,
        "currency": "usd",
        "status": status,
        "arrival_date": int(time.time()) + 86_400,
        "balance_transaction": f"txn_{payout_id}",
    }


def charge(txn: str, amount: int = 50_00, refunded: int = 0) -> dict[str, Any]:
    return {
        "id": f"ch_{uuid.uuid4().hex[:12]}",
        "object": "charge",
        "amount": amount,
        "amount_refunded": refunded,
        "currency": "eur",
        "status": "succeeded",
        "balance_transaction": txn,
    }


def signed_stripe(
    event: dict[str, Any] | str, secret: str = STRIPE_NEW, timestamp: int | None = None
) -> tuple[str, dict[str, str]]:
    body = event if isinstance(event, str) else json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp=timestamp)
    return body, {"Stripe-Signature": header, "Content-Type": "application/json"}


async def post_stripe(
    api: httpx.AsyncClient, event: dict[str, Any], secret: str = STRIPE_NEW
) -> httpx.Response:
    body, headers = signed_stripe(event, secret)
    # The official SDK accepts what we accept: same bytes, same header.
    assert stripe.Webhook.construct_event(body, headers["Stripe-Signature"], secret).id
    return await api.post("/webhooks/stripe", content=body, headers=headers)


def signed_standard(
    data: dict[str, Any], msg_id: str | None = None, when: datetime | None = None
) -> tuple[str, dict[str, str]]:
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    when = when or datetime.now(UTC)
    body = json.dumps(data)
    signature = standardwebhooks.Webhook(STANDARD).sign(msg_id, when, body)
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }
    return body, headers


async def inbox_rows(pool: asyncpg.Pool, provider: str, event_ids: list[str]) -> list[Any]:
    return list(
        await pool.fetch(
            "SELECT * FROM webhook_inbox WHERE provider = $1 AND event_id = ANY($2) "
            "ORDER BY inbox_id",
            provider,
            event_ids,
        )
    )


async def drain(relay: InboxRelay, timeout: float = 60.0) -> None:
    """Forward batches until nothing forwardable is left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await relay.forward_batch()
        if result.claimed == 0 and (await relay.lag()).backlog == 0:
            return
        if result.failed:
            await asyncio.sleep(0.1)
    raise AssertionError("relay did not drain")


async def signals(client: Client, payout_id: str) -> list[PspEvent]:
    """The psp_event signals in the payout workflow's history, decoded."""
    history = await client.get_workflow_handle(_workflow_id("Payout", payout_id)).fetch_history()
    found: list[PspEvent] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.workflow_execution_signaled_event_attributes
            assert attrs.signal_name == "psp_event"
            [decoded] = await client.data_converter.decode(attrs.input.payloads, [PspEvent])
            found.append(decoded)
    return found


# --- signatures (pure) ----------------------------------------------------------------------


def test_stripe_scheme_matches_the_sdk() -> None:
    body, headers = signed_stripe(stripe_event("payout.paid", payout("po_pure")))
    header = headers["Stripe-Signature"]
    # Several v1 signatures (Stripe sends one per active secret) and either secret in rotation.
    t, v1 = header.split(",")
    bogus = "v1=" + "0" * 64
    assert verify_stripe(body.encode(), f"{t},{bogus},{v1}", [STRIPE_OLD, STRIPE_NEW])
    with pytest.raises(SignatureInvalid):
        verify_stripe(body.encode(), header, [STRIPE_OLD])
    with pytest.raises(SignatureInvalid):
        verify_stripe(body.encode() + b" ", header, [STRIPE_NEW])
    with pytest.raises(SignatureMissing):
        verify_stripe(body.encode(), None, [STRIPE_NEW])
    with pytest.raises(SignatureMissing):
        verify_stripe(body.encode(), "t=abc,v1=00", [STRIPE_NEW])
    future = int(time.time()) + 3600
    _, headers = signed_stripe(body, timestamp=future)
    with pytest.raises(TimestampOutsideTolerance):
        verify_stripe(body.encode(), headers["Stripe-Signature"], [STRIPE_NEW])


def test_standard_scheme_matches_the_sdk() -> None:
    body, headers = signed_standard({"type": "payout.paid", "data": {"id": "po_1"}})
    standardwebhooks.Webhook(STANDARD).verify(body, headers)
    assert verify_standard(body.encode(), headers, [STANDARD]).message_id == headers["webhook-id"]
    other = "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()
    assert verify_standard(body.encode(), headers, [other, STANDARD])
    with pytest.raises(SignatureInvalid):
        verify_standard(body.encode(), headers, [other])
    with pytest.raises(SignatureMissing):
        verify_standard(body.encode(), {"webhook-id": "x"}, [STANDARD])
    old = datetime.fromtimestamp(time.time() - 301, UTC)
    body, headers = signed_standard({"type": "x"}, when=old)
    with pytest.raises(TimestampOutsideTolerance):
        verify_standard(body.encode(), headers, [STANDARD])


# --- ingress ----------------------------------------------------------------------------------


async def test_good_signature_stores_one_row(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    event = stripe_event("payout.paid", payout(f"po_{uuid.uuid4().hex[:10]}", "paid"))
    response = await post_stripe(api, event)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": True, "duplicate": False, "forward": True}
    [row] = await inbox_rows(pool, "stripe", [event["id"]])
    assert row["event_type"] == "payout.paid"
    assert row["payout_id"] == event["data"]["object"]["id"]
    assert row["forward"] and row["forwarded_at"] is None
    assert json.loads(row["payload"]) == event


async def test_redelivered_event_is_stored_once(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    event = stripe_event("charge.captured", charge(f"txn_{uuid.uuid4().hex[:10]}"))
    first = await post_stripe(api, event)
    # A redelivery is signed anew (new timestamp), possibly with the other secret in rotation.
    again = await post_stripe(api, event, secret=STRIPE_OLD)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["duplicate"] is True
    assert len(await inbox_rows(pool, "stripe", [event["id"]])) == 1


async def test_refund_before_capture_both_stored(
    api: httpx.AsyncClient, pool: asyncpg.Pool
) -> None:
    txn = f"txn_{uuid.uuid4().hex[:10]}"
    obj = charge(txn)
    refund = stripe_event("charge.refunded", {**obj, "amount_refunded": obj["amount"]})
    capture = stripe_event("charge.captured", obj)
    assert (await post_stripe(api, refund)).status_code == 200
    assert (await post_stripe(api, capture)).status_code == 200
    rows = await inbox_rows(pool, "stripe", [refund["id"], capture["id"]])
    assert [r["event_type"] for r in rows] == ["charge.refunded", "charge.captured"]
    # No payout yet: kept for later association by balance transaction.
    assert all(r["payout_id"] is None and r["balance_transaction"] == txn for r in rows)


async def test_bad_signatures_are_401(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    event = stripe_event("payout.paid", payout("po_bad"))
    body, headers = signed_stripe(event, secret="whsec_" + secrets.token_hex(16))
    wrong = await api.post("/webhooks/stripe", content=body, headers=headers)
    missing = await api.post("/webhooks/stripe", content=body)
    old_body, old_headers = signed_stripe(event, timestamp=int(time.time()) - 301)
    old = await api.post("/webhooks/stripe", content=old_body, headers=old_headers)
    tampered = await api.post(
        "/webhooks/stripe", content=body.replace("123", "999"), headers=signed_stripe(event)[1]
    )
    for response in (wrong, missing, old, tampered):
        assert response.status_code == 401
        # One answer for every failure: nothing about which secret or why.
        assert response.json() == {"detail": "invalid signature"}
    assert await inbox_rows(pool, "stripe", [event["id"]]) == []


async def test_rotated_secrets_both_accepted(api: httpx.AsyncClient) -> None:
    for secret in (STRIPE_OLD, STRIPE_NEW):
        event = stripe_event("payout.created", payout(f"po_{uuid.uuid4().hex[:10]}"))
        assert (await post_stripe(api, event, secret)).status_code == 200


async def test_signed_body_not_json_is_400(api: httpx.AsyncClient) -> None:
    body, headers = signed_stripe("this is not json")
    assert (await api.post("/webhooks/stripe", content=body, headers=headers)).status_code == 400
    body, headers = signed_stripe(json.dumps({"type": "payout.paid"}))  # no id
    assert (await api.post("/webhooks/stripe", content=body, headers=headers)).status_code == 400
    body, headers = signed_stripe("[1, 2]")
    assert (await api.post("/webhooks/stripe", content=body, headers=headers)).status_code == 400


async def test_oversized_body_is_413(api: httpx.AsyncClient) -> None:
    event = stripe_event("payout.paid", {**payout("po_big"), "padding": "x" * MAX_BODY})
    body, headers = signed_stripe(event)
    assert (await api.post("/webhooks/stripe", content=body, headers=headers)).status_code == 413

    # Without a Content-Length (chunked): counted while reading.
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 1024):
            yield body[start : start + 1024].encode()

    streamed = await api.post("/webhooks/stripe", content=chunks(), headers=headers)
    assert streamed.status_code == 413


async def test_unknown_type_stored_not_forwarded(
    api: httpx.AsyncClient, pool: asyncpg.Pool, client: Client, hook_settings: Settings
) -> None:
    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    response = await post_stripe(api, event)
    assert response.status_code == 200
    assert response.json()["forward"] is False
    await drain(InboxRelay(pool, client, hook_settings))
    [row] = await inbox_rows(pool, "stripe", [event["id"]])
    assert row["forward"] is False and row["forwarded_at"] is None and row["attempts"] == 0


async def test_standard_webhooks_provider(api: httpx.AsyncClient, pool: asyncpg.Pool) -> None:
    payout_id = f"po_{uuid.uuid4().hex[:10]}"
    data = {
        "type": "payout.paid",
        "timestamp": datetime.now(UTC).isoformat(),
        "data": {"id": payout_id, "amount": 900, "currency": "gbp"},
    }
    body, headers = signed_standard(data)
    first = await api.post("/webhooks/standard/acme", content=body, headers=headers)
    again = await api.post("/webhooks/standard/acme", content=body, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json()["duplicate"] is True
    [row] = await inbox_rows(pool, "acme", [headers["webhook-id"]])
    assert row["payout_id"] == payout_id
    # The secret is bound to acme: another provider name is refused like a bad signature.
    other = await api.post("/webhooks/standard/globex", content=body, headers=headers)
    assert other.status_code == 401
    stale_body, stale = signed_standard(data, when=datetime.fromtimestamp(time.time() - 600, UTC))
    refused = await api.post("/webhooks/standard/acme", content=stale_body, headers=stale)
    assert refused.status_code == 401


async def test_body_never_logged(api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    marker = f"PAYLOAD-MARKER-{uuid.uuid4().hex}"
    caplog.set_level(logging.DEBUG)
    event = stripe_event("payout.paid", {**payout(f"po_{uuid.uuid4().hex[:8]}"), "memo": marker})
    assert (await post_stripe(api, event)).status_code == 200
    body, headers = signed_stripe(event, secret="whsec_wrong")
    assert (await api.post("/webhooks/stripe", content=body, headers=headers)).status_code == 401
    body, headers = signed_stripe(f"not json {marker}")
    assert (await api.post("/webhooks/stripe", content=body, headers=headers)).status_code == 400
    assert caplog.records, "expected the ingress to log something"
    text = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
    assert marker not in text
    assert STRIPE_NEW not in text and STRIPE_OLD not in text


# --- relay ------------------------------------------------------------------------------------


async def test_relay_forwards_each_event_once_without_a_worker(
    api: httpx.AsyncClient, pool: asyncpg.Pool, client: Client, hook_settings: Settings
) -> None:
    payout_id = f"po_{uuid.uuid4().hex[:10]}"
    events = [
        stripe_event("payout.created", payout(payout_id)),
        stripe_event("payout.updated", payout(payout_id, "in_transit")),
        stripe_event("payout.paid", payout(payout_id, "paid")),
    ]
    for event in events:
        assert (await post_stripe(api, event)).status_code == 200
    assert (await post_stripe(api, events[1])).json()["duplicate"] is True

    relay = InboxRelay(pool, client, hook_settings)
    await drain(relay)
    await drain(relay)  # a second pass finds nothing to send again

    got = await signals(client, payout_id)
    assert sorted(s.event_id for s in got) == sorted(e["id"] for e in events)
    paid = next(s for s in got if s.type == "payout.paid")
    assert (paid.amount_minor, paid.currency, paid.status) == (123_45, "usd", "paid")
    desc = await client.get_workflow_handle(_workflow_id("Payout", payout_id)).describe()
    assert desc.workflow_type == "Payout"
    assert desc.status == WorkflowExecutionStatus.RUNNING  # no worker: it just waits
    rows = await inbox_rows(pool, "stripe", [e["id"] for e in events])
    assert all(r["forwarded_at"] is not None and r["attempts"] == 1 for r in rows)


async def test_events_tied_to_a_payout_later_are_forwarded(
    api: httpx.AsyncClient, pool: asyncpg.Pool, client: Client, hook_settings: Settings
) -> None:
    txn = f"txn_{uuid.uuid4().hex[:10]}"
    obj = charge(txn)
    refund = stripe_event("charge.refunded", {**obj, "amount_refunded": obj["amount"]})
    capture = stripe_event("charge.captured", obj)
    for event in (refund, capture):  # out of order
        assert (await post_stripe(api, event)).status_code == 200
    payout_id = f"po_{uuid.uuid4().hex[:10]}"
    assert await associate(pool, "stripe", payout_id, [txn]) == 2
    await drain(InboxRelay(pool, client, hook_settings))
    got = await signals(client, payout_id)
    assert sorted(s.type for s in got) == ["charge.captured", "charge.refunded"]
    assert {s.balance_transaction for s in got} == {txn}


async def test_temporal_down_events_wait_then_forwarded_once(
    api: httpx.AsyncClient, pool: asyncpg.Pool, client: Client, hook_settings: Settings
) -> None:
    payout_id = f"po_{uuid.uuid4().hex[:10]}"
    events = [
        stripe_event("payout.created", payout(payout_id)),
        stripe_event("payout.paid", payout(payout_id, "paid")),
    ]
    for event in events:
        assert (await post_stripe(api, event)).status_code == 200

    dead = hook_settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    dead_client = await Client.connect(
        dead.temporal_address, lazy=True, data_converter=client.data_converter
    )
    down = InboxRelay(pool, dead_client, dead, retry_base_seconds=0.05, retry_max_seconds=0.2)
    for _ in range(3):
        await down.forward_batch()
        await asyncio.sleep(0.25)
    rows = await inbox_rows(pool, "stripe", [e["id"] for e in events])
    assert all(r["forwarded_at"] is None and r["attempts"] >= 2 for r in rows)
    assert all("RuntimeError" in (r["last_error"] or "") for r in rows)
    assert (await down.lag()).backlog >= 2

    await asyncio.sleep(0.25)  # past the (short) backoff
    await drain(InboxRelay(pool, client, hook_settings))
    got = await signals(client, payout_id)
    assert sorted(s.event_id for s in got) == sorted(e["id"] for e in events)
    rows = await inbox_rows(pool, "stripe", [e["id"] for e in events])
    assert all(r["forwarded_at"] is not None and r["last_error"] is None for r in rows)


async def test_relay_runs_inside_the_api(
    hook_settings: Settings, client: Client, pool: asyncpg.Pool
) -> None:
    payout_id = f"po_{uuid.uuid4().hex[:10]}"
    event = stripe_event("payout.paid", payout(payout_id, "paid"))
    async for http in _api(hook_settings.model_copy(update={"webhook_relay_in_api": True}), client):
        assert (await post_stripe(http, event)).status_code == 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            [row] = await inbox_rows(pool, "stripe", [event["id"]])
            if row["forwarded_at"] is not None:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the API's relay did not forward the event")
    assert [s.event_id for s in await signals(client, payout_id)] == [event["id"]]


def _stored_count(exposition: str) -> float:
    for line in exposition.splitlines():
        wanted = ("webhook_requests_total{", 'scheme="stripe"', 'outcome="stored"')
        if line.startswith(wanted[0]) and all(w in line for w in wanted[1:]):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_the_api_serves_its_metrics_for_prometheus(api: httpx.AsyncClient) -> None:
    """Prometheus scrapes the API's own metrics (webhooks, in-API relay) at /metrics."""
    before = _stored_count((await api.get("/metrics/")).text)
    event = stripe_event("payout.paid", payout(f"po_{uuid.uuid4().hex[:10]}", "paid"))
    assert (await post_stripe(api, event)).status_code == 200
    scraped = await api.get("/metrics/")
    assert scraped.status_code == 200
    assert "webhook_inbox_backlog" in scraped.text
    assert _stored_count(scraped.text) == before + 1
