"""The HTTP API: health, readiness, and starting workflows idempotently.

``POST /v1/workflows/<type>`` takes the workflow's input contract as JSON and an
``Idempotency-Key`` header. The key becomes the workflow id (``<prefix>-<key>``) and Temporal
refuses a second run with that id, so a retried request returns the run the first one started
(200) instead of starting another (201). Reusing a key with a different body is a 409.
Every route but health is behind ``Authorization: Bearer <INTEGRATIONS_API_TOKEN>``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials
from prometheus_client import REGISTRY, CollectorRegistry, make_asgi_app
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from app.api.errors import (
    BEARER,
    UNAUTHORIZED,
    UNAVAILABLE,
    VALIDATION,
    problem,
    validation_problem,
)
from app.api.payroll_webhook import payroll_webhook_router
from app.api.webhooks import webhooks_router
from app.auth import require_bearer
from foundation.wire_model import WireModel
from relays.inbox import InboxRelay
from runtime.settings import Settings
from workflows.catalog import (
    CATALOG,
    IDEMPOTENCY_KEY,
    IDEMPOTENCY_KEY_RULE,
    REQUEST_DIGEST_MEMO,
    WorkflowSpec,
    request_digest,
)

log = logging.getLogger(__name__)

# Temporal answers that mean "try again", not "your request is wrong".
RETRYABLE = frozenset(
    {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.RESOURCE_EXHAUSTED}
)


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    temporal: str
    postgres: str


class WorkflowStarted(BaseModel):
    workflow_type: str
    workflow_id: str
    run_id: str | None
    created: bool
    task_queue: str


class WorkflowState(BaseModel):
    workflow_id: str
    run_id: str
    workflow_type: str
    status: str
    task_queue: str
    start_time: str | None
    close_time: str | None


def _task_queue(settings: Settings, spec: WorkflowSpec) -> str:
    return settings.task_queue_general if spec.queue == "general" else settings.task_queue_sftp


class _ApiFamilies(Collector):
    """The default registry without the ``messaging_*`` families: modules the API imports
    define them, but only workers and relays record them; served here they would be empty
    families, or gauges at 0 that read as an idle relay."""

    def collect(self) -> Iterable[Metric]:
        return (m for m in REGISTRY.collect() if not m.name.startswith("messaging_"))


def api_metrics_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ApiFamilies())
    return registry


@dataclass
class Connections:
    """The Temporal client and PostgreSQL pool the routes use, opened by the app's lifespan."""

    client: Client = field(init=False)
    pool: asyncpg.Pool = field(init=False)


def create_app(
    settings: Settings,
    *,
    client_factory: Callable[[], Awaitable[Client]],
    pool_factory: Callable[[], Awaitable[asyncpg.Pool]],
) -> FastAPI:
    token = settings.require("api_token")
    conns = Connections()
    app = FastAPI(
        title="Enterprise integrations API",
        version="1.0",
        summary="Start and inspect the service's durable workflows.",
        lifespan=_lifespan(settings, conns, client_factory, pool_factory),
    )
    app.add_exception_handler(RequestValidationError, validation_problem)
    app.exception_handler(RPCError)(temporal_error)
    # Prometheus scrapes the webhook and in-API relay metrics here (no PII in any of them).
    app.mount("/metrics", make_asgi_app(api_metrics_registry()))
    app.include_router(health_router(conns))
    app.include_router(workflows_router(settings, token, conns))
    app.include_router(webhooks_router(settings, lambda: conns.pool))
    app.include_router(payroll_webhook_router(settings, lambda: conns.client))
    return app


def _lifespan(
    settings: Settings,
    conns: Connections,
    client_factory: Callable[[], Awaitable[Client]],
    pool_factory: Callable[[], Awaitable[asyncpg.Pool]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        conns.client = await client_factory()
        conns.pool = await pool_factory()
        # Webhook events stored by /webhooks are forwarded to Temporal off the request path.
        relay = InboxRelay(conns.pool, conns.client, settings)
        if settings.webhook_relay_in_api:
            relay.start()
        try:
            yield
        finally:
            await relay.stop()
            await conns.pool.close()

    return lifespan


async def temporal_error(_: Request, exc: RPCError) -> JSONResponse:
    if exc.status in RETRYABLE:
        return JSONResponse(status_code=503, content={"detail": "Temporal is unavailable"})
    log.error("Temporal refused a call: %s", exc.status.name)
    return JSONResponse(status_code=500, content={"detail": "internal error"})


def health_router(conns: Connections) -> APIRouter:
    """Liveness and readiness: no token, so a load balancer can ask."""
    router = APIRouter(tags=["health"])

    @router.get("/healthz", response_model=Health)
    async def healthz() -> dict[str, str]:
        """Liveness: the process is up."""
        return {"status": "ok"}

    @router.get(
        "/readyz",
        response_model=Readiness,
        responses={503: {"model": Readiness, "description": "Temporal or PostgreSQL is down."}},
    )
    async def readyz(response: Response) -> dict[str, str]:
        """Readiness: Temporal and PostgreSQL both answer."""
        checks: dict[str, str] = {}
        try:
            await conns.client.service_client.check_health()
            checks["temporal"] = "ok"
        except Exception as exc:
            checks["temporal"] = f"unavailable: {type(exc).__name__}"
        try:
            await conns.pool.fetchval("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as exc:
            checks["postgres"] = f"unavailable: {type(exc).__name__}"
        ok = all(v == "ok" for v in checks.values())
        response.status_code = 200 if ok else 503
        return {"status": "ready" if ok else "not ready", **checks}

    return router


def workflows_router(settings: Settings, token: str, conns: Connections) -> APIRouter:
    """``/v1``: a start route per workflow of the catalog and the state of a run; bearer only."""

    def auth(
        request: Request,
        _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> None:
        require_bearer(request, token)

    router = APIRouter(
        prefix="/v1",
        dependencies=[Depends(auth)],
        tags=["workflows"],
        responses={401: UNAUTHORIZED, 503: UNAVAILABLE},
    )
    for spec in CATALOG.values():
        _add_start_route(router, spec, _start_endpoint(settings, conns, spec))

    @router.get(
        "/workflow-runs/{workflow_id}",
        response_model=WorkflowState,
        responses={404: problem("No workflow with that id.")},
    )
    async def describe(workflow_id: str) -> WorkflowState:
        """The current state of a workflow by id (payloads are not returned)."""
        try:
            desc = await conns.client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                raise HTTPException(status_code=404, detail="no such workflow") from None
            raise
        status = desc.status or WorkflowExecutionStatus.RUNNING
        return WorkflowState(
            workflow_id=desc.id,
            run_id=desc.run_id,
            workflow_type=desc.workflow_type,
            status=status.name,
            task_queue=desc.task_queue,
            start_time=desc.start_time.isoformat() if desc.start_time else None,
            close_time=desc.close_time.isoformat() if desc.close_time else None,
        )

    return router


StartEndpoint = Callable[..., Awaitable[WorkflowStarted]]


def _start_endpoint(settings: Settings, conns: Connections, spec: WorkflowSpec) -> StartEndpoint:
    """``POST /v1/workflows/<type>``: start once per Idempotency-Key (see the module doc)."""

    async def start(
        body: WireModel,
        response: Response,
        idempotency_key: str = Header(
            alias="Idempotency-Key",
            description="Client-chosen key; the same key never starts a second run.",
        ),
    ) -> WorkflowStarted:
        if not IDEMPOTENCY_KEY.match(idempotency_key):
            raise HTTPException(
                status_code=400,
                detail=f"Idempotency-Key must be {IDEMPOTENCY_KEY_RULE}",
            )
        client = conns.client
        workflow_id = spec.workflow_id(idempotency_key)
        digest = request_digest(body)
        queue = _task_queue(settings, spec)
        try:
            handle = await client.start_workflow(
                spec.name,
                body,
                id=workflow_id,
                task_queue=queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                memo={REQUEST_DIGEST_MEMO: digest},
            )
            response.status_code = 201
            log.info("started %s as %s", spec.name, workflow_id)
            return WorkflowStarted(
                workflow_type=spec.name,
                workflow_id=workflow_id,
                run_id=handle.first_execution_run_id,
                created=True,
                task_queue=queue,
            )
        except WorkflowAlreadyStartedError:
            pass
        existing = await client.get_workflow_handle(workflow_id).describe()
        previous = await existing.memo_value(REQUEST_DIGEST_MEMO, default=None)
        if previous != digest:
            raise HTTPException(
                status_code=409,
                detail=f"Idempotency-Key already used for {workflow_id} with another body",
            )
        response.status_code = 200
        return WorkflowStarted(
            workflow_type=spec.name,
            workflow_id=workflow_id,
            run_id=existing.run_id,
            created=False,
            task_queue=queue,
        )

    # Annotations are strings under ``from __future__ import annotations``; give FastAPI
    # the real per-workflow model so it validates the body and documents it in OpenAPI.
    start.__annotations__["body"] = spec.input
    return start


def _add_start_route(router: APIRouter, spec: WorkflowSpec, start: StartEndpoint) -> None:
    router.add_api_route(
        f"/workflows/{spec.name}",
        start,
        methods=["POST"],
        status_code=201,
        summary=f"Start {spec.name}",
        description=spec.summary,
        response_model=WorkflowStarted,
        responses={
            200: {"model": WorkflowStarted, "description": "The key's run already exists."},
            201: {"description": "A run was started."},
            400: problem("Idempotency-Key is malformed."),
            409: problem("Idempotency-Key already used with another body."),
            422: VALIDATION,
        },
    )
