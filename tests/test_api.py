"""The HTTP API: bearer auth, validated input, Idempotency-Key → workflow id, readiness."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from temporalio.client import Client

from app.api.server import create_app
from runtime.settings import Settings

BODY = {"customer_name": "Ada", "ssn": "123-45-6789", "amount": "5.00"}


@pytest.fixture
async def api(
    workers: Settings, client: Client, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    async def client_factory() -> Client:
        return client

    async def pool_factory() -> asyncpg.Pool:
        return await asyncpg.create_pool(settings.require("database_url"), min_size=1, max_size=2)

    app = create_app(settings, client_factory=client_factory, pool_factory=pool_factory)
    token = settings.require("api_token")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api",
            headers={"Authorization": f"Bearer {token}"},
        ) as http,
    ):
        yield http


async def test_health_and_readiness(api: httpx.AsyncClient) -> None:
    assert (await api.get("/healthz")).json() == {"status": "ok"}
    ready = await api.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "temporal": "ok", "postgres": "ok"}


async def test_openapi_documents_each_workflow_input(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    operation = spec["paths"]["/v1/workflows/Demo"]["post"]
    assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"])
    schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("/DemoInput")


async def test_same_idempotency_key_never_starts_a_second_run(
    api: httpx.AsyncClient, client: Client
) -> None:
    key = f"order-{uuid.uuid4()}"
    first = await api.post("/v1/workflows/Demo", json=BODY, headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert first.json()["workflow_id"] == f"demo-{key}"
    await client.get_workflow_handle(f"demo-{key}").result()

    # A retried request, even after the run completed, returns the same run.
    again = await api.post("/v1/workflows/Demo", json=BODY, headers={"Idempotency-Key": key})
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["run_id"] == first.json()["run_id"]
    runs = [w async for w in client.list_workflows(f"WorkflowId = 'demo-{key}'")]
    assert len(runs) == 1

    conflict = await api.post(
        "/v1/workflows/Demo",
        json={**BODY, "amount": "6.00"},
        headers={"Idempotency-Key": key},
    )
    assert conflict.status_code == 409

    state = await api.get(f"/v1/workflow-runs/demo-{key}")
    assert state.json()["status"] == "COMPLETED"


async def test_bad_requests_are_refused_at_the_edge(api: httpx.AsyncClient) -> None:
    no_auth = await api.post(
        "/v1/workflows/Demo",
        json=BODY,
        headers={"Idempotency-Key": "k1", "Authorization": "Bearer wrong"},
    )
    assert no_auth.status_code == 401
    bad_key = await api.post(
        "/v1/workflows/Demo", json=BODY, headers={"Idempotency-Key": "../etc/passwd"}
    )
    assert bad_key.status_code == 400
    missing_key = await api.post("/v1/workflows/Demo", json=BODY)
    assert missing_key.status_code == 422
    bad_ssn = await api.post(
        "/v1/workflows/Demo",
        json={**BODY, "ssn": "12345"},
        headers={"Idempotency-Key": f"k-{uuid.uuid4()}"},
    )
    assert bad_ssn.status_code == 422
    assert (await api.get("/v1/workflow-runs/demo-never-started")).status_code == 404
    assert (await api.post("/v1/workflows/NoSuchType", json={})).status_code == 404
