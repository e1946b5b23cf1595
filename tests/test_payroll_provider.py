"""The provider client against the simulator over real HTTP: token cache, idempotent writes,
Retry-After on 429, backoff on 503, the circuit breaker, cursor pagination; and the webhook
signature."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.payroll import PayrollActivities
from adapters.payload_codec import KeyRing
from adapters.payroll_provider import (
    CircuitBreaker,
    ProviderClient,
    ProviderRejected,
    ProviderUnavailable,
)
from app.api.payroll_webhook import payroll_webhook_router, verify
from app.api.server import create_app as create_api
from provider_sim.app import create_app, sign
from provider_sim.config import SimConfig
from runtime.settings import Settings
from tests.payroll_support import serve
from wire.payroll import BankTarget, FileRef, PayrollStart, ProviderCall


@pytest.fixture
async def sim() -> AsyncIterator[str]:
    async with serve(create_app(SimConfig(processing_seconds=0.1))) as url:
        yield url


class Waits:
    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def provider(url: str, **kwargs: object) -> ProviderClient:
    return ProviderClient(url, "sim-client", "sim-secret", **kwargs)  # type: ignore[arg-type]


async def faults(url: str, **values: object) -> None:
    async with httpx.AsyncClient(base_url=url) as http:
        (await http.post("/_sim/faults", json=values)).raise_for_status()


async def stats(url: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=url) as http:
        result: dict[str, int] = (await http.get("/_sim/stats")).json()
        return result


async def test_token_is_cached_and_writes_are_idempotent(sim: str) -> None:
    client = provider(sim)
    try:
        first = await client.create_run({"external_id": "payroll-a"}, key="payroll-a/create")
        again = await client.create_run({"external_id": "payroll-a"}, key="payroll-a/create")
        other = await client.create_run({"external_id": "payroll-b"}, key="payroll-b/create")
        with pytest.raises(ProviderRejected) as reused:
            await client.create_run({"external_id": "payroll-c"}, key="payroll-a/create")
    finally:
        await client.aclose()
    assert first["id"] == again["id"] != other["id"]
    assert reused.value.status == 422
    seen = await stats(sim)
    assert seen["tokens_issued"] == 1 and seen["runs_created"] == 2 and seen["replayed"] == 1


async def test_429_waits_as_long_as_retry_after_says(sim: str) -> None:
    waits = Waits()
    client = provider(sim, sleep=waits)
    try:
        await faults(sim, throttle_next=2)
        created = await client.create_run({"external_id": "payroll-t"}, key="payroll-t/create")
    finally:
        await client.aclose()
    assert created["status"] == "draft"
    assert waits.seconds == [1.0, 1.0]  # the simulator's Retry-After, not our own backoff


async def test_503s_are_retried_with_backoff_then_succeed(sim: str) -> None:
    waits = Waits()
    client = provider(sim, sleep=waits, attempts=5)
    try:
        await faults(sim, fail_next=3)
        created = await client.create_run({"external_id": "payroll-u"}, key="payroll-u/create")
    finally:
        await client.aclose()
    assert created["id"].startswith("run_")
    assert len(waits.seconds) == 3
    assert (await stats(sim))["unavailable"] == 3


async def test_circuit_opens_after_repeated_failures_and_fails_fast(sim: str) -> None:
    waits = Waits()
    breaker = CircuitBreaker(failure_threshold=2, reset_seconds=60)
    client = provider(sim, sleep=waits, attempts=2, breaker=breaker)
    try:
        await faults(sim, fail_next=1000)
        for _ in range(2):
            with pytest.raises(ProviderUnavailable):
                await client.create_run({}, key="payroll-v/create")
        assert breaker.is_open
        sent = (await stats(sim))["requests"]
        with pytest.raises(ProviderUnavailable) as fast:
            await client.create_run({}, key="payroll-v/create")
        assert "circuit open" in str(fast.value)
        assert fast.value.retry_after is not None and 0 < fast.value.retry_after <= 60
        assert (await stats(sim))["requests"] == sent  # nothing was sent while open
        # Half-open after the reset: one good call closes it again.
        await faults(sim, fail_next=0)
        breaker.opened_at = time.monotonic() - 61
        await client.create_run({}, key="payroll-w/create")
        assert not breaker.is_open and breaker.failures == 0
    finally:
        await client.aclose()


async def test_an_open_circuit_becomes_a_retryable_error_with_the_breakers_delay(
    sim: str, pool: asyncpg.Pool, settings: Settings, key_ring: KeyRing
) -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_seconds=45)
    breaker.failure()
    activities = PayrollActivities(
        pool, settings, key_ring, provider=provider(sim, breaker=breaker)
    )
    call = ProviderCall(workflow_id="payroll-acme-2026-11-01", start=_any_start())
    with pytest.raises(ApplicationError) as raised:
        await ActivityEnvironment().run(activities.open_run, call)
    error = raised.value
    assert error.type == "ProviderUnavailable" and not error.non_retryable
    assert error.next_retry_delay is not None
    assert timedelta(seconds=40) <= error.next_retry_delay <= timedelta(seconds=46)


def _any_start() -> PayrollStart:
    ref = FileRef(path="/landing/x.csv", sha256="0" * 64)
    return PayrollStart(
        company_id="acme",
        period_start=date(2026, 11, 1),
        period_end=date(2026, 11, 14),
        pay_date=date(2026, 11, 20),
        roster=ref,
        inputs=ref,
        submitted_by="hr:sam",
        approvers=["fin:ada"],
        bank=BankTarget(
            partner_id="bank",
            feed="payroll",
            company_name="ACME",
            company_identification="1234567890",
            odfi_routing_number="123456780",
            immediate_destination="091000019",
            immediate_origin="021000021",
            destination_name="BANK",
            origin_name="ACME",
        ),
    )


async def test_report_is_read_page_by_page(sim: str) -> None:
    client = provider(sim)
    try:
        run = await client.create_run({"external_id": "payroll-p"}, key="payroll-p/create")
        for batch in range(3):
            rows = [
                {
                    "employee_id": f"E{batch * 1000 + i}",
                    "pay_type": "salary",
                    "rate_cents": 100_000 + i,
                    "state": "CA",
                }
                for i in range(1000 if batch < 2 else 345)
            ]
            await client.add_employees(run["id"], rows, key=f"payroll-p/batch/{batch}")
        await client.submit(run["id"], key="payroll-p/submit")
        for _ in range(100):
            if (await client.run(run["id"]))["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        seen = [row async for row in client.report(run["id"], page_size=400)]
    finally:
        await client.aclose()
    assert len(seen) == len({r["employee_id"] for r in seen}) == 2345
    assert all(r["net_cents"] > 0 and set(r["taxes"]) for r in seen)


def test_webhook_signature_is_checked_over_the_raw_body() -> None:
    body = b'{"external_id":"payroll-a","run_id":"run_1","status":"completed"}'
    now = int(time.time())
    header = sign("s3cret", body, now)
    assert verify("s3cret", body, header, now=now, tolerance=300)
    assert not verify("s3cret", body + b" ", header, now=now, tolerance=300)
    assert not verify("other", body, header, now=now, tolerance=300)
    assert not verify("s3cret", body, header, now=now + 301, tolerance=300)
    assert not verify("s3cret", body, "garbage", now=now, tolerance=300)


async def test_webhook_route_is_mounted_and_refuses_bad_signatures(
    settings: Settings, client: Client
) -> None:
    own = settings.model_copy(update={"payroll_webhook_secret": SecretStr("hook-secret")})
    app = create_api(own, client_factory=_never, pool_factory=_never)
    assert "/webhooks/payroll" in app.openapi()["paths"]  # the API serves the route
    hooks = FastAPI()
    hooks.include_router(payroll_webhook_router(own, lambda: client))
    body = b'{"external_id":"payroll-nobody-2026-01-01","run_id":"run_1","status":"completed"}'
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=hooks), base_url="http://api"
    ) as http:
        unsigned = await http.post("/webhooks/payroll", content=body)
        forged = await http.post(
            "/webhooks/payroll",
            content=body,
            headers={"Payroll-Signature": sign("wrong", body, int(time.time()))},
        )
        unknown = await http.post(
            "/webhooks/payroll",
            content=body,
            headers={"Payroll-Signature": sign("hook-secret", body, int(time.time()))},
        )
    assert unsigned.status_code == forged.status_code == 401
    assert unknown.status_code == 200 and unknown.json() == {"status": "ignored"}


async def _never() -> Any:
    raise AssertionError("not started in this test")
