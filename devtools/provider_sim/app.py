"""The simulator's HTTP API (FastAPI).

::

    POST /oauth/token                      client_credentials (form or HTTP Basic) → bearer token
    POST /v1/runs                          create a run        (Idempotency-Key required)
    POST /v1/runs/{id}/employees           add a batch         (Idempotency-Key required)
    POST /v1/runs/{id}/submit              start processing    (Idempotency-Key required)
    GET  /v1/runs/{id}                     the run's status
    GET  /v1/runs/{id}/report?cursor=&limit=   per-employee gross, taxes, deductions, net
    POST /_sim/faults                      test control: fail_next, throttle_next, drop_webhooks
    GET  /_sim/stats                       what it saw and did (requests, 429s, 503s, webhooks)

A write replayed with the same Idempotency-Key returns the first answer (and does nothing
again); the same key with another body is a 422. Submitted runs complete after
``processing_seconds`` and a webhook ``run.completed`` is POSTed to ``webhook_url`` with
``Payroll-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import math
import random
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs

import httpx
from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse

from payroll.amounts import expected_pay
from payroll.roster import Employee, PeriodInput
from provider_sim.config import SimConfig

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "Payroll-Signature"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


@dataclass
class Run:
    id: str
    external_id: str
    company_id: str
    period_start: str
    kind: str
    status: str = "draft"
    employees: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SimState:
    config: SimConfig
    rng: random.Random
    tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry (monotonic)
    runs: dict[str, Run] = field(default_factory=dict)
    idempotency: dict[str, tuple[str, int, Any]] = field(default_factory=dict)
    bucket: float = 0.0
    bucket_at: float = field(default_factory=time.monotonic)
    fail_next: int = 0
    throttle_next: int = 0
    stats: dict[str, int] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def count(self, name: str) -> None:
        self.stats[name] = self.stats.get(name, 0) + 1


def create_app(config: SimConfig | None = None) -> FastAPI:
    cfg = config or SimConfig()
    rng = random.Random(cfg.seed)  # noqa: S311 - seeded faults, not cryptography
    sim = SimState(config=cfg, rng=rng, bucket=float(cfg.burst))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for task in list(sim.tasks):
            task.cancel()

    app = FastAPI(
        title="Payroll provider simulator",
        summary="Behaves like a payroll provider's API; it is a simulator, not a provider.",
        lifespan=lifespan,
    )
    app.state.sim = sim
    app.middleware("http")(_faults(sim))
    app.include_router(token_router(sim))
    app.include_router(runs_router(sim))
    app.include_router(control_router(sim))
    return app


Middleware = Callable[[Request, Callable[[Request], Awaitable[Response]]], Awaitable[Response]]


def _faults(sim: SimState) -> Middleware:
    """The faults a provider plays on every call but the test controls: 429s from the token
    bucket (or ``throttle_next``), 503s at ``fail_rate`` (or ``fail_next``)."""
    cfg = sim.config

    async def faults(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        path = request.url.path
        if path.startswith("/_sim"):
            return await call_next(request)
        sim.count("requests")
        if sim.throttle_next > 0 or not _take_token(sim):
            sim.throttle_next = max(sim.throttle_next - 1, 0)
            sim.count("throttled")
            wait = max(1, math.ceil((1 - sim.bucket) / max(cfg.rate_per_second, 1e-9)))
            return JSONResponse(
                {"error": "rate_limited"}, status_code=429, headers={"Retry-After": str(wait)}
            )
        if sim.fail_next > 0 or (cfg.fail_rate and sim.rng.random() < cfg.fail_rate):
            sim.fail_next = max(sim.fail_next - 1, 0)
            sim.count("unavailable")
            return JSONResponse(
                {"error": "unavailable"}, status_code=503, headers={"Retry-After": "1"}
            )
        return await call_next(request)

    return faults


def token_router(sim: SimState) -> APIRouter:
    """``POST /oauth/token``: client credentials, as a form or HTTP Basic, for a bearer token."""
    router = APIRouter()
    cfg = sim.config

    @router.post("/oauth/token")
    async def token(request: Request) -> JSONResponse:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            decoded = base64.b64decode(basic[6:]).decode()
            client_id, _, client_secret = decoded.partition(":")
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        if not (
            client_id == cfg.client_id
            and client_secret is not None
            and hmac.compare_digest(client_secret, cfg.client_secret)
        ):
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        value = secrets.token_urlsafe(24)
        sim.tokens[value] = time.monotonic() + cfg.token_seconds
        sim.count("tokens_issued")
        return JSONResponse(
            {"access_token": value, "token_type": "Bearer", "expires_in": cfg.token_seconds}
        )

    return router


def runs_router(sim: SimState) -> APIRouter:
    """``/v1/runs``: create a run, add employees, submit it, read its status and report."""
    router = APIRouter()

    @router.post("/v1/runs")
    async def create_run(request: Request) -> JSONResponse:
        def act(body: dict[str, Any]) -> tuple[int, Any]:
            run = Run(
                id=f"run_{uuid.uuid4().hex[:16]}",
                external_id=str(body.get("external_id", "")),
                company_id=str(body.get("company_id", "")),
                period_start=str(body.get("period_start", "")),
                kind=str(body.get("kind", "regular")),
            )
            sim.runs[run.id] = run
            sim.count("runs_created")
            return 201, view(run)

        return await _idempotent(sim, request, "create", act)

    @router.post("/v1/runs/{run_id}/employees")
    async def add_employees(run_id: str, request: Request) -> JSONResponse:
        def act(body: dict[str, Any]) -> tuple[int, Any]:
            run = sim.runs.get(run_id)
            if run is None:
                return 404, {"error": "no such run"}
            if run.status != "draft":
                return 409, {"error": f"run is {run.status}"}
            rows = body.get("employees", [])
            for row in rows:
                run.employees[str(row["employee_id"])] = row
            return 200, {"accepted": len(rows), "employees": len(run.employees)}

        return await _idempotent(sim, request, f"employees:{run_id}", act)

    @router.post("/v1/runs/{run_id}/submit")
    async def submit(run_id: str, request: Request) -> JSONResponse:
        def act(_: dict[str, Any]) -> tuple[int, Any]:
            run = sim.runs.get(run_id)
            if run is None:
                return 404, {"error": "no such run"}
            if run.status == "draft":
                run.status = "processing"
                task = asyncio.get_running_loop().create_task(_process(sim, run))
                sim.tasks.add(task)
                task.add_done_callback(sim.tasks.discard)
            return 202, view(run)

        return await _idempotent(sim, request, f"submit:{run_id}", act)

    @router.get("/v1/runs/{run_id}")
    async def get_run(run_id: str, request: Request) -> JSONResponse:
        if not _authorised(sim, request):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        run = sim.runs.get(run_id)
        if run is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        return JSONResponse(view(run))

    @router.get("/v1/runs/{run_id}/report")
    async def report(
        run_id: str, request: Request, cursor: str | None = None, limit: int | None = None
    ) -> JSONResponse:
        if not _authorised(sim, request):
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return _report_page(sim, run_id, cursor, limit)

    return router


def control_router(sim: SimState) -> APIRouter:
    """``/_sim``: the test's controls (faults, processing time) and what the simulator saw."""
    router = APIRouter()
    cfg = sim.config

    @router.post("/_sim/faults")
    async def set_faults(request: Request) -> dict[str, Any]:
        body = await request.json()
        sim.fail_next = int(body.get("fail_next", sim.fail_next))
        sim.throttle_next = int(body.get("throttle_next", sim.throttle_next))
        if "drop_webhooks" in body:
            cfg.drop_webhooks = bool(body["drop_webhooks"])
        if "skew_employees" in body:
            cfg.skew_employees = set(body["skew_employees"])
        if "processing_seconds" in body:
            cfg.processing_seconds = float(body["processing_seconds"])
        return {"ok": True}

    @router.get("/_sim/stats")
    async def stats() -> dict[str, int]:
        return dict(sim.stats)

    return router


def _authorised(sim: SimState, request: Request) -> bool:
    header = request.headers.get("Authorization", "")
    expiry = sim.tokens.get(header.removeprefix("Bearer ")) if header else None
    return expiry is not None and expiry > time.monotonic()


async def _idempotent(
    sim: SimState,
    request: Request,
    scope: str,
    act: Callable[[dict[str, Any]], tuple[int, Any]],
) -> JSONResponse:
    """A write once per Idempotency-Key: a replay answers what the first call did."""
    if not _authorised(sim, request):
        return JSONResponse({"error": "invalid_token"}, status_code=401)
    key = request.headers.get("Idempotency-Key")
    if not key:
        return JSONResponse({"error": "Idempotency-Key is required"}, status_code=400)
    raw = await request.body()
    digest = hashlib.sha256(raw).hexdigest()
    seen = sim.idempotency.get(f"{scope}:{key}")
    if seen is not None:
        if seen[0] != digest:
            return JSONResponse({"error": "Idempotency-Key reused"}, status_code=422)
        sim.count("replayed")
        return JSONResponse(seen[2], status_code=seen[1], headers={"Idempotent-Replayed": "1"})
    status, body = act(json.loads(raw or b"{}"))
    if status < 500:
        sim.idempotency[f"{scope}:{key}"] = (digest, status, body)
    return JSONResponse(body, status_code=status)


def view(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "external_id": run.external_id,
        "company_id": run.company_id,
        "period_start": run.period_start,
        "kind": run.kind,
        "status": run.status,
        "employees": len(run.employees),
    }


def _report_page(sim: SimState, run_id: str, cursor: str | None, limit: int | None) -> JSONResponse:
    """One page of a completed run's report; the cursor is the next row's offset."""
    cfg = sim.config
    run = sim.runs.get(run_id)
    if run is None:
        return JSONResponse({"error": "no such run"}, status_code=404)
    if run.status != "completed":
        return JSONResponse({"error": f"run is {run.status}"}, status_code=409)
    size = min(max(limit or cfg.page_size, 1), cfg.max_page_size)
    try:
        offset = int(base64.urlsafe_b64decode(cursor).decode()) if cursor else 0
    except ValueError:
        return JSONResponse({"error": "bad cursor"}, status_code=400)
    page = run.report[offset : offset + size]
    following = offset + size
    next_cursor = (
        base64.urlsafe_b64encode(str(following).encode()).decode()
        if following < len(run.report)
        else None
    )
    return JSONResponse({"data": page, "next_cursor": next_cursor})


def _take_token(sim: SimState) -> bool:
    now = time.monotonic()
    cfg = sim.config
    sim.bucket = min(float(cfg.burst), sim.bucket + (now - sim.bucket_at) * cfg.rate_per_second)
    sim.bucket_at = now
    if sim.bucket < 1:
        return False
    sim.bucket -= 1
    return True


def compute_report(run: Run, skew: set[str]) -> list[dict[str, Any]]:
    """Per-employee figures from the shared tax table (a real provider has its own)."""
    out = []
    for row in run.employees.values():
        employee = Employee(
            employee_id=str(row["employee_id"]),
            name=str(row.get("name", "")),
            ssn=str(row.get("ssn", "")),
            routing_number="",
            account_number="",
            pay_type=row["pay_type"],
            rate_cents=int(row["rate_cents"]),
            state=str(row["state"]),
        )
        item = PeriodInput(
            employee_id=employee.employee_id,
            hours=Decimal(str(row.get("hours", "0"))),
            bonus_cents=int(row.get("bonus_cents", 0)),
            deductions_cents=int(row.get("deductions_cents", 0)),
        )
        pay = expected_pay(employee, item)
        net = pay.net_cents + (1 if employee.employee_id in skew else 0)
        out.append(
            {
                "employee_id": pay.employee_id,
                "gross_cents": pay.gross_cents,
                "taxes": pay.taxes,
                "deductions_cents": pay.deductions_cents,
                "net_cents": net,
            }
        )
    return out


async def _process(sim: SimState, run: Run) -> None:
    await asyncio.sleep(sim.config.processing_seconds)
    run.report = compute_report(run, sim.config.skew_employees)
    run.status = "completed"
    sim.count("runs_completed")
    await _notify(sim, run)


async def _notify(sim: SimState, run: Run) -> None:
    cfg = sim.config
    if not cfg.webhook_url or cfg.drop_webhooks:
        sim.count("webhooks_dropped")
        return
    body = json.dumps(
        {
            "event_id": f"evt_{run.id}_{run.status}",
            "type": f"run.{run.status}",
            "run_id": run.id,
            "external_id": run.external_id,
            "status": run.status,
        }
    ).encode()
    for attempt in range(5):
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(cfg.webhook_secret, body, int(time.time())),
        }
        try:
            async with httpx.AsyncClient(timeout=10) as http:
                answer = await http.post(cfg.webhook_url, content=body, headers=headers)
            if answer.status_code < 300:
                sim.count("webhooks_sent")
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(min(2**attempt * 0.2, 5))
    sim.count("webhooks_failed")
