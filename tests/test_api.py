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


def _digit_runs(text: str, length: int = 3) -> set[str]:
    return {text[i : i + length] for i in range(len(text) - length + 1) if text[i:].isdigit()}


async def test_a_422_names_the_field_and_rule_but_never_echoes_the_value(
    api: httpx.AsyncClient,
) -> None:
    bad_ssn = "9876-54-3210"  # one digit too many: breaks the SSN pattern
    answer = await api.post(
        "/v1/workflows/Demo",
        json={**BODY, "ssn": bad_ssn, "customer_name": ""},
        headers={"Idempotency-Key": f"k-{uuid.uuid4()}"},
    )
    assert answer.status_code == 422
    problems = {tuple(p["loc"]): p for p in answer.json()["detail"]}
    assert problems[("body", "ssn")]["type"] == "string_pattern_mismatch"
    assert problems[("body", "customer_name")]["type"] == "string_too_short"
    for problem in problems.values():
        assert set(problem) == {"loc", "type", "msg"}  # no input, ctx or url
    # No part of the submitted SSN: not whole, not a digit group, not a run of digits.
    text = answer.text
    for part in (bad_ssn, "9876", "3210", *_digit_runs(bad_ssn.replace("-", ""))):
        assert part not in text.replace("\\d{3}", "").replace("\\d{4}", ""), part
    assert "Ada" not in text and "5.00" not in text


async def test_openapi_declares_security_and_every_answer(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/openapi.json")).json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <INTEGRATIONS_API_TOKEN>`",
    }
    for name, header in (
        ("stripeSignature", "Stripe-Signature"),
        ("standardWebhookSignature", "webhook-signature"),
        ("payrollSignature", "Payroll-Signature"),
    ):
        assert schemes[name]["in"] == "header" and schemes[name]["name"] == header
        assert "signature" in schemes[name]["description"].lower()

    paths = spec["paths"]
    expected = {
        ("/v1/workflows/Demo", "post"): (
            {"bearer"},
            {"200", "201", "400", "401", "409", "422", "503"},
        ),
        ("/v1/workflow-runs/{workflow_id}", "get"): ({"bearer"}, {"200", "401", "404", "503"}),
        ("/webhooks/stripe", "post"): ({"stripeSignature"}, {"200", "400", "401", "413"}),
        ("/webhooks/standard/{provider}", "post"): (
            {"standardWebhookSignature"},
            {"200", "400", "401", "413"},
        ),
        ("/webhooks/payroll", "post"): (
            {"payrollSignature"},
            {"200", "400", "401", "404", "413", "503"},
        ),
        ("/readyz", "get"): (set(), {"200", "503"}),
    }
    for (path, method), (security, codes) in expected.items():
        operation = paths[path][method]
        declared = {name for item in operation.get("security", []) for name in item}
        assert declared == security, path
        assert codes <= set(operation["responses"]), (path, set(operation["responses"]))
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")):  # every error answer has a documented body
                assert "schema" in response["content"]["application/json"], (path, code)
    validation = paths["/v1/workflows/Demo"]["post"]["responses"]["422"]
    ref = validation["content"]["application/json"]["schema"]["$ref"]
    assert ref.endswith("/ValidationProblem")
    # Every route under /v1 is behind the bearer scheme.
    for path, item in paths.items():
        if path.startswith("/v1/"):
            for operation in item.values():
                assert operation["security"] == [{"bearer": []}], path
