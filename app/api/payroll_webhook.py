"""The payroll provider's status webhook: ``POST /webhooks/payroll`` (mounted by the API).

The request is authenticated by its signature, not a bearer token: ``Payroll-Signature:
t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` with
``INTEGRATIONS_PAYROLL_WEBHOOK_SECRET`` (401 when missing, wrong or outside the tolerance). The
body names our workflow (``external_id``, the run's workflow id) and the provider's run; the
route signals ``provider_status`` to that workflow and answers 200. When Temporal cannot take the
signal the answer is 503, so the provider redelivers; the workflow also polls, so a webhook that
never arrives only delays the run. The body is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable

from fastapi import APIRouter, HTTPException, Request, Security
from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from app.api.errors import PAYROLL_SIGNATURE, problem
from runtime.settings import Settings
from wire import workflow_ids as ids
from wire.payroll import ProviderStatus

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Payroll-Signature"
MAX_BODY = 64 * 1024


def verify(secret: str, body: bytes, header: str, *, now: float, tolerance: int) -> bool:
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        stamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs(now - stamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts.get("v1", ""))


class PayrollAck(BaseModel):
    status: str  # "ok", or "ignored" for a run that is not (or no longer) ours


def payroll_webhook_router(settings: Settings, client: Callable[[], Client]) -> APIRouter:
    router = APIRouter(tags=["webhooks"])

    @router.post(
        "/webhooks/payroll",
        response_model=PayrollAck,
        dependencies=[Security(PAYROLL_SIGNATURE)],
        responses={
            400: problem("Signed, but not a payroll status event for a payroll run."),
            401: problem("Signature missing, wrong or outside the tolerance window."),
            404: problem("Payroll webhooks are not configured."),
            413: problem("Body larger than 64 KiB."),
            503: problem("Temporal cannot take the signal now; redeliver."),
        },
    )
    async def payroll_status(request: Request) -> dict[str, str]:
        """A provider run changed status: signal its payroll workflow."""
        secret = settings.payroll_webhook_secret
        if secret is None:
            raise HTTPException(status_code=404, detail="payroll webhooks are not configured")
        body = await request.body()
        if len(body) > MAX_BODY:
            raise HTTPException(status_code=413, detail="body too large")
        if not verify(
            secret.get_secret_value(),
            body,
            request.headers.get(SIGNATURE_HEADER, ""),
            now=time.time(),
            tolerance=settings.payroll_webhook_tolerance_seconds,
        ):
            raise HTTPException(status_code=401, detail="bad signature")
        try:
            event = json.loads(body)
            workflow_id = str(event["external_id"])
            status = ProviderStatus(
                provider_run_id=str(event["run_id"]),
                status=str(event["status"]),
                event_id=str(event.get("event_id", "")),
            )
        except (ValueError, KeyError, TypeError):
            raise HTTPException(status_code=400, detail="not a payroll status event") from None
        if ids.key_of("PayrollRun", workflow_id) is None:
            raise HTTPException(status_code=400, detail="external_id is not a payroll run")
        try:
            await client().get_workflow_handle(workflow_id).signal("provider_status", status)
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                # A run that is gone (or never ours) will not start because of a webhook.
                log.warning("payroll webhook for unknown run %s", workflow_id)
                return {"status": "ignored"}
            raise HTTPException(status_code=503, detail="try again later") from None
        log.info("payroll webhook %s for %s", status.status, workflow_id)
        return {"status": "ok"}

    return router
