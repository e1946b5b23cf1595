"""PSP webhook ingress: verify, store in the inbox, acknowledge. Forwarding is the relay's job.

Routes (no bearer token: the signature is the authentication)::

    POST /webhooks/stripe               Stripe-Signature   (INTEGRATIONS_WEBHOOK_SECRETS_STRIPE)
    POST /webhooks/standard/{provider}  Standard Webhooks  (INTEGRATIONS_WEBHOOK_SECRETS_STANDARD)

Each request, in this order: the body is read up to ``webhook_max_body_bytes`` (413 above it,
on Content-Length and while reading); the signature is verified over the raw bytes (401 when it
is missing, wrong or outside the tolerance window — the answer never says which secret or why);
the body must be a JSON object with an id and a type (400); the event is stored with one
``INSERT … ON CONFLICT DO NOTHING`` (a redelivery is acknowledged, 200, and stored once); then 200.
Nothing else runs on the request path: :mod:`relays.inbox` forwards stored events to
the payout workflow by signal-with-start, so a slow or absent Temporal never slows or fails a PSP.

The body is never logged: only provider, event id and type.

Payout association (what ``payout_id`` an event is stored with):

=========================================  =================================================
event                                      payout id
=========================================  =================================================
Stripe ``payout.*``                        ``data.object.id`` (the payout itself)
Stripe charges, refunds, disputes, fees    ``data.object.payout`` when the object carries it
                                           (e.g. expanded objects on connected accounts);
                                           ``data.object.balance_transaction`` is stored too
Standard ``payout.*``                      ``data.payout_id``, else ``data.id``
Standard others                            ``data.payout_id``; ``data.balance_transaction``
=========================================  =================================================

An event without a payout id is kept (``payout_id`` NULL) and associated later by its balance
transaction, when the PSP's payout report names the transactions of each payout
(:func:`stores.inbox.associate`). Event types outside :data:`FORWARDED_TYPES` are
stored and acknowledged but never forwarded (``forward = false``).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any

import asyncpg
from fastapi import APIRouter, HTTPException, Request, Security
from prometheus_client import Counter
from pydantic import BaseModel

from adapters.webhook_signatures import (
    SignatureError,
    split_secrets,
    standard_secret_key,
    verify_standard,
    verify_stripe,
)
from app.api.errors import STANDARD_SIGNATURE, STRIPE_SIGNATURE, problem
from runtime.settings import Settings
from stores.inbox import INSERT_EVENT, STRIPE, BadEvent, describe_event

log = logging.getLogger(__name__)

PROVIDER = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

REQUESTS = Counter(
    "webhook_requests",
    "Webhook requests by scheme and outcome (stored, duplicate, unauthorized, ...).",
    ["scheme", "outcome"],
)


class Acknowledged(BaseModel):
    received: bool = True
    duplicate: bool = False
    forward: bool = True


def _standard_secrets(configured: str | None) -> tuple[list[str], dict[str, list[str]]]:
    """Bare secrets (any provider) and ``provider:secret`` ones; keys checked at startup."""
    shared: list[str] = []
    scoped: dict[str, list[str]] = {}
    for item in split_secrets(configured):
        provider, sep, secret = item.partition(":")
        if not sep:
            provider, secret = "", item
        standard_secret_key(secret)  # a malformed secret fails at startup, not per request
        (scoped.setdefault(provider, []) if provider else shared).append(secret)
    return shared, scoped


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise HTTPException(status_code=400, detail="bad Content-Length") from None
        if too_big:
            raise HTTPException(status_code=413, detail="body too large")
    body = bytearray()
    # Chunked bodies have no Content-Length: count while reading and stop early.
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(status_code=413, detail="body too large")
    return bytes(body)


def webhooks_router(settings: Settings, pool: Callable[[], asyncpg.Pool]) -> APIRouter:
    """The ingress routes; ``pool`` returns the app's pool once the lifespan has opened it."""
    stripe_secrets = split_secrets(
        settings.webhook_secrets_stripe.get_secret_value()
        if settings.webhook_secrets_stripe
        else None
    )
    shared, scoped = _standard_secrets(
        settings.webhook_secrets_standard.get_secret_value()
        if settings.webhook_secrets_standard
        else None
    )
    tolerance = settings.webhook_tolerance_seconds
    limit = settings.webhook_max_body_bytes
    router = APIRouter(
        prefix="/webhooks",
        tags=["webhooks"],
        responses={
            200: {"description": "Stored (or a redelivery of a stored event): acknowledged."},
            400: problem("Signed, but not a JSON event with an id and a type."),
            401: problem("Signature missing, wrong or outside the tolerance window."),
            413: problem("Body larger than INTEGRATIONS_WEBHOOK_MAX_BODY_BYTES."),
        },
    )

    @router.post("/stripe", response_model=Acknowledged, dependencies=[Security(STRIPE_SIGNATURE)])
    async def stripe_webhook(request: Request) -> Any:
        """A Stripe event, signed with ``Stripe-Signature``."""
        body = await _read_body(request, limit)
        try:
            verify_stripe(
                body,
                request.headers.get("stripe-signature"),
                stripe_secrets,
                tolerance=tolerance,
            )
        except SignatureError as exc:
            raise _unauthorized(STRIPE, exc) from None
        return await _store(pool, STRIPE, STRIPE, body, None)

    @router.post(
        "/standard/{provider}",
        response_model=Acknowledged,
        dependencies=[Security(STANDARD_SIGNATURE)],
    )
    async def standard_webhook(provider: str, request: Request) -> Any:
        """An event signed per Standard Webhooks; ``webhook-id`` is its event id."""
        body = await _read_body(request, limit)
        # An unknown or malformed provider is refused like a bad signature: nothing to probe.
        secrets = scoped.get(provider, []) + shared
        if provider == STRIPE or not PROVIDER.match(provider):
            secrets = []
        try:
            verified = verify_standard(body, request.headers, secrets, tolerance=tolerance)
        except SignatureError as exc:
            raise _unauthorized("standard", exc) from None
        return await _store(pool, "standard", provider, body, verified.message_id)

    return router


def _unauthorized(scheme: str, exc: SignatureError) -> HTTPException:
    REQUESTS.labels(scheme, "unauthorized").inc()
    # The kind of failure is logged (no header values); the PSP learns only "401".
    log.warning("webhook refused (%s): %s", scheme, type(exc).__name__)
    return HTTPException(status_code=401, detail="invalid signature")


async def _store(
    pool: Callable[[], asyncpg.Pool],
    scheme: str,
    provider: str,
    body: bytes,
    message_id: str | None,
) -> Acknowledged:
    """Store a verified event once (a redelivery is acknowledged as a duplicate)."""
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        REQUESTS.labels(scheme, "bad_request").inc()
        raise HTTPException(status_code=400, detail="body is not JSON") from None
    if not isinstance(event, dict):
        REQUESTS.labels(scheme, "bad_request").inc()
        raise HTTPException(status_code=400, detail="body is not a JSON object")
    try:
        described = describe_event(provider, event, message_id)
    except BadEvent as exc:
        REQUESTS.labels(scheme, "bad_request").inc()
        raise HTTPException(status_code=400, detail=str(exc)) from None
    try:
        inserted = await pool().fetchval(
            INSERT_EVENT,
            described.provider,
            described.event_id,
            described.event_type,
            described.payout_id,
            described.balance_transaction,
            body.decode(),  # the verified bytes as sent; jsonb parses them once
            described.forward,
        )
    except asyncpg.UntranslatableCharacterError:  # \u0000 is valid JSON, not valid jsonb
        REQUESTS.labels(scheme, "bad_request").inc()
        raise HTTPException(status_code=400, detail="body cannot be stored") from None
    duplicate = inserted is None
    REQUESTS.labels(scheme, "duplicate" if duplicate else "stored").inc()
    log.debug(
        "webhook %s %s %s%s",
        provider,
        described.event_type,
        described.event_id,
        " (duplicate)" if duplicate else "",
    )
    return Acknowledged(duplicate=duplicate, forward=described.forward)
