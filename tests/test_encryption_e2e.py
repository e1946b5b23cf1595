"""A workflow's raw history holds no plaintext PII, yet its result decodes — through the
client and through the codec server the Web UI uses."""

from __future__ import annotations

import base64
import uuid
from decimal import Decimal

import httpx
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads
from temporalio.client import Client

from adapters.payload_codec import KeyRing
from app.codec_server import create_app
from runtime.settings import Settings
from tests.replay import record_history
from wire.demo import DemoInput, DemoResult

PLANTED_SSN = "987-65-4321"


async def test_history_is_encrypted_and_result_decodes(
    client: Client, workers: Settings, key_ring: KeyRing
) -> None:
    handle = await client.start_workflow(
        "Demo",
        DemoInput(customer_name="Grace Hopper", ssn=PLANTED_SSN, amount=Decimal("10.50")),
        id=f"demo-e2e-{uuid.uuid4()}",
        task_queue=workers.task_queue_general,
        result_type=DemoResult,
    )
    result = await handle.result()
    assert result.ssn == PLANTED_SSN
    assert result.amount == Decimal("10.50")

    raw = (await handle.fetch_history()).to_json()
    assert "Grace Hopper" not in raw and PLANTED_SSN not in raw
    assert PLANTED_SSN.encode() not in base64.b64decode(_first_payload_data(raw), validate=False)
    await record_history(handle, "Demo")

    # The Web UI's path: the raw payload goes to /decode with the token, comes back readable.
    history = await handle.fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    body = json_format.MessageToJson(Payloads(payloads=list(started.input.payloads)))
    app = create_app(key_ring, "ui-token", ["http://localhost:8233"])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://codec"
    ) as http:
        denied = await http.post("/decode", content=body)
        assert denied.status_code == 401
        decoded = await http.post(
            "/decode?preserveStorageRefs=true",
            content=body,
            headers={"Authorization": "Bearer ui-token", "X-Namespace": "default"},
        )
    assert decoded.status_code == 200
    plain = json_format.Parse(decoded.text, Payloads())
    assert PLANTED_SSN.encode() in plain.payloads[0].data


def _first_payload_data(history_json: str) -> str:
    import json

    events = json.loads(history_json)["events"]
    attrs = events[0]["workflowExecutionStartedEventAttributes"]
    return str(attrs["input"]["payloads"][0]["data"])
