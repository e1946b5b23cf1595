"""Error bodies and OpenAPI declarations shared by the API's routers.

A 422 never echoes what was submitted: FastAPI's default answer carries each error's ``input``
(an SSN, an account number) and pydantic's ``ctx``/``url``; :func:`validation_problem` keeps the
field's location, the rule that failed and a message, and drops the message too when it quotes
the value (a custom validator may).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import BaseModel, Field


class Problem(BaseModel):
    """Every 4xx/5xx but 422: one line for a person, no submitted values."""

    detail: str


class FieldProblem(BaseModel):
    loc: list[str | int] = Field(description="Where: body, header, path or query, then the field.")
    type: str = Field(description="The rule that failed (pydantic's error type).")
    msg: str = Field(description="What the rule expects; never the submitted value.")


class ValidationProblem(BaseModel):
    detail: list[FieldProblem]


def _quotes_input(message: str, value: Any) -> bool:
    if value is None or isinstance(value, (dict, list, bool)):
        return False
    text = str(value).strip()
    return bool(text) and text in message


def field_problems(errors: Any) -> list[FieldProblem]:
    problems = []
    for error in errors:
        message = str(error.get("msg", ""))
        if _quotes_input(message, error.get("input")):
            message = "invalid value"
        problems.append(
            FieldProblem(
                loc=[p if isinstance(p, int) else str(p) for p in error.get("loc", ())],
                type=str(error.get("type", "value_error")),
                msg=message,
            )
        )
    return problems


async def validation_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    body = ValidationProblem(detail=field_problems(exc.errors()))
    return JSONResponse(status_code=422, content=body.model_dump())


def problem(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


VALIDATION = {"model": ValidationProblem, "description": "A field breaks its contract."}
UNAUTHORIZED = problem("Missing or invalid bearer token.")
UNAVAILABLE = problem("Temporal is unreachable; retry later.")

# Declared for OpenAPI (and the docs' "Authorize" button); the checks themselves stay in
# app.auth and the signature verifiers, so auto_error is off.
BEARER = HTTPBearer(
    scheme_name="bearer",
    description="`Authorization: Bearer <INTEGRATIONS_API_TOKEN>`",
    auto_error=False,
)
STRIPE_SIGNATURE = APIKeyHeader(
    name="Stripe-Signature",
    scheme_name="stripeSignature",
    description="Stripe's HMAC-SHA256 signature over the raw body "
    "(secret: INTEGRATIONS_WEBHOOK_SECRETS_STRIPE). Not a key: the signature is the credential.",
    auto_error=False,
)
STANDARD_SIGNATURE = APIKeyHeader(
    name="webhook-signature",
    scheme_name="standardWebhookSignature",
    description="The Standard Webhooks signature, with `webhook-id` and `webhook-timestamp` "
    "(secret: INTEGRATIONS_WEBHOOK_SECRETS_STANDARD).",
    auto_error=False,
)
PAYROLL_SIGNATURE = APIKeyHeader(
    name="Payroll-Signature",
    scheme_name="payrollSignature",
    description="The provider's signature: "
    '`t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">` '
    "(secret: INTEGRATIONS_PAYROLL_WEBHOOK_SECRET).",
    auto_error=False,
)
