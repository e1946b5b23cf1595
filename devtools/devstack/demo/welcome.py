"""The first demo: a Demo workflow started through the HTTP API, as a client would."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from devstack.services import API_PORT


def run_welcome_demo(env: dict[str, str], say: Callable[[str], None]) -> None:
    """Drive real workflows through the API so the Web UI has something to show."""
    headers = {"Authorization": f"Bearer {env['INTEGRATIONS_API_TOKEN']}"}
    base = f"http://127.0.0.1:{API_PORT}"
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        deadline = time.monotonic() + 60
        while http.get("/readyz").status_code != 200:
            if time.monotonic() > deadline:
                raise RuntimeError("API not ready after 60s; see .dev/logs/api.log")
            time.sleep(0.5)
        key = f"welcome-{time.strftime('%Y%m%d')}"
        started = http.post(
            "/v1/workflows/Demo",
            headers={"Idempotency-Key": key},
            json={"customer_name": "Ada Lovelace", "ssn": "123-45-6789", "amount": "42.00"},
        )
        started.raise_for_status()
        workflow_id = started.json()["workflow_id"]
        while http.get(f"/v1/workflow-runs/{workflow_id}").json()["status"] == "RUNNING":
            if time.monotonic() > deadline:
                raise RuntimeError("demo workflow did not finish; see .dev/logs/worker.log")
            time.sleep(0.3)
        status = http.get(f"/v1/workflow-runs/{workflow_id}").json()["status"]
        say(f"demo: workflow {workflow_id} {status}")
