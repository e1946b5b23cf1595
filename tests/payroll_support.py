"""Builders and harness for payroll tests: rosters and inputs as landed files, the bank feed,
the provider simulator and our webhook route served on free ports, and workers with payroll
settings on their own task queues."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.client import Client

from app.api.payroll_webhook import payroll_webhook_router
from devstack.localstack.ports import free_port
from devstack.localstack.sshd import LocalSshd
from intake.naming import NamingContract
from provider_sim.app import create_app
from provider_sim.config import SimConfig
from runtime.settings import Settings
from stores.feeds import register_feed
from tests.ach_support import ROUTINGS, bank_feed, fresh_odfi
from tests.plugins.gpg import GpgKeys
from wire.intake import FeedConfig, FeedSchedule, PgpPolicy, SftpSource
from wire.payroll import BankTarget, FileRef, PayrollStart
from workers.runner import run_workers
from workflows.catalog import Queue

PLANTED_SSN = "123-45-6789"
PLANTED_ACCOUNT = "99887766554433"
ROSTER_HEADER = (
    "employee_id,name,ssn,routing_number,account_number,account_type,pay_type,rate,state"
)


def roster_csv(count: int, *, planted: bool = True, extra: list[str] | None = None) -> str:
    """``count`` employees: hourly and salaried, in a few states. Employee 1 carries the
    planted SSN and account number (the grep tests look for them)."""
    states = ["CA", "NY", "TX", "WA", "OR"]
    lines = [ROSTER_HEADER]
    for i in range(1, count + 1):
        ssn = f"{100 + i % 500:03d}-{10 + i % 80:02d}-{1000 + i % 9000:04d}"
        account = f"{40000000 + i}"
        if planted and i == 1:
            ssn, account = PLANTED_SSN, PLANTED_ACCOUNT
        hourly = i % 3 != 0
        lines.append(
            f"E{i:06d},Employee Number{i},{ssn},{ROUTINGS[i % len(ROUTINGS)]},{account},"
            f"{'checking' if i % 4 else 'savings'},{'hourly' if hourly else 'salary'},"
            f"{'31.25' if hourly else '2450.00'},{states[i % len(states)]}"
        )
    lines += extra or []
    return "\n".join(lines) + "\n"


def inputs_csv(count: int, *, extra: list[str] | None = None) -> str:
    lines = ["employee_id,hours,bonus,deductions"]
    for i in range(1, count + 1):
        if i % 3 != 0 or i % 9 == 0:
            lines.append(f"E{i:06d},{70 + i % 11}.50,{'100.00' if i % 7 == 0 else '0'},25.00")
    lines += extra or []
    return "\n".join(lines) + "\n"


def roster_fixed_width(csv_text: str) -> str:
    """The same roster in the ``hris_payroll_roster.v1`` fixed-width layout (103 characters)."""
    records = []
    for line in csv_text.splitlines()[1:]:
        eid, name, ssn, routing, account, kind, pay, rate, state = line.split(",")
        records.append(
            f"{eid:<10}{name:<30}{ssn:<11}{routing:<9}{account:<17}{kind:<8}{pay:<6}{rate:>10}"
            f"{state:<2}"
        )
    return "".join(r + "\r\n" for r in records)


def inputs_fixed_width(csv_text: str) -> str:
    """The same inputs in the ``hris_payroll_inputs.v1`` fixed-width layout (37 characters)."""
    records = []
    for line in csv_text.splitlines()[1:]:
        eid, hours, bonus, deductions = line.split(",")
        records.append(f"{eid:<10}{hours:>7}{bonus:>10}{deductions:>10}")
    return "".join(r + "\r\n" for r in records)


def hris_feed(server: LocalSshd, entity: str, contract: str) -> FeedConfig:
    """An HRIS feed on the test sshd: ``hris_<entity>_<date>_seq-<n>_crc32-<hex>.dat`` files
    validated against ``contract`` (a fixed-width payroll contract)."""
    return FeedConfig(
        partner_id="hris",
        feed=f"{entity}-{uuid.uuid4().hex[:6]}",
        display_name="HRIS",
        sftp=SftpSource(
            host=server.host,
            port=server.port,
            username=server.login_user,
            host_key=server.host_key.public_line,
            private_key="client",
        ),
        naming=NamingContract(system="hris", entity=entity, extensions=("dat",)),
        file_contract=contract,
        schedule=FeedSchedule(interval_minutes=60),
        settle_seconds=0.2,
    )


def land(folder: Path, name: str, text: str) -> FileRef:
    """A file as intake would land it (write-once, by digest)."""
    data = text.encode()
    digest = hashlib.sha256(data).hexdigest()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}-{name}"
    path.write_bytes(data)
    return FileRef(path=str(path), sha256=digest)


def payroll_settings(settings: Settings, sim_url: str, gpg_keys: GpgKeys, tag: str) -> Settings:
    return settings.model_copy(
        update={
            "task_queue_general": f"payroll-general-{tag}",
            "task_queue_sftp": f"payroll-sftp-{tag}",
            "payroll_provider_url": sim_url,
            "payroll_provider_client_id": "sim-client",
            "payroll_provider_client_secret": SecretStr("sim-secret"),
            "payroll_webhook_secret": SecretStr(WEBHOOK_SECRET),
            "payroll_pgp_signer": gpg_keys.us.fingerprint,
            "payroll_breaker_reset_seconds": 2.0,
        }
    )


WEBHOOK_SECRET = secrets.token_hex(16)


async def payroll_bank_feed(
    pool: asyncpg.Pool, client: Client, settings: Settings, sshd: LocalSshd, gpg_keys: GpgKeys
) -> FeedConfig:
    """The bank's feed: its SFTP outbox takes our files; its PGP key (the test "partner") is
    what we encrypt to."""
    feed = bank_feed(sshd, f"payroll-{uuid.uuid4().hex[:6]}").model_copy(
        update={"pgp": PgpPolicy(signer_fingerprint=gpg_keys.partner.fingerprint)}
    )
    await register_feed(pool, client, settings, feed)
    return feed


def start_input(
    feed: FeedConfig,
    settings: Settings,
    roster: FileRef,
    inputs: FileRef,
    *,
    company: str | None = None,
    period_start: date | None = None,
    **overrides: Any,
) -> PayrollStart:
    begin = period_start or date.today()
    fields: dict[str, Any] = {
        "company_id": company or f"co-{uuid.uuid4().hex[:8]}",
        "period_start": begin,
        "period_end": begin + timedelta(days=13),
        "pay_date": begin + timedelta(days=18),
        "roster": roster,
        "inputs": inputs,
        "submitted_by": "hr:sam",
        "approvers": ["fin:ada", "fin:bob", "hr:sam"],
        "bank": BankTarget(
            partner_id=feed.partner_id,
            feed=feed.feed,
            company_name="ACME PAYROLL",
            company_identification="1234567890",
            odfi_routing_number=fresh_odfi() + "0",
            immediate_destination="091000019",
            immediate_origin="021000021",
            destination_name="FIRST BANK",
            origin_name="ACME CORP",
        ),
        "poll_initial_seconds": 2,
        "poll_max_seconds": 10,
        "file_task_queue": settings.task_queue_sftp,
        **overrides,
    }
    return PayrollStart(**fields)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port for the block; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class Stack:
    settings: Settings
    sim_url: str
    sim_config: SimConfig

    async def faults(self, **faults: Any) -> None:
        async with httpx.AsyncClient(base_url=self.sim_url) as http:
            (await http.post("/_sim/faults", json=faults)).raise_for_status()

    async def stats(self) -> dict[str, int]:
        async with httpx.AsyncClient(base_url=self.sim_url) as http:
            answer = await http.get("/_sim/stats")
            stats: dict[str, int] = answer.json()
            return stats


@asynccontextmanager
async def payroll_stack(
    client: Client,
    settings: Settings,
    gpg_keys: GpgKeys,
    *,
    pool: asyncpg.Pool | None = None,
    workers: bool = True,
    **sim: Any,
) -> AsyncIterator[Stack]:
    """The simulator (posting webhooks to our real payroll webhook route, served here) and,
    when ``pool`` is given and ``workers``, in-process workers with payroll settings."""
    hook_app = FastAPI()
    tag = uuid.uuid4().hex[:8]
    base = payroll_settings(settings, "http://unused", gpg_keys, tag)
    hook_app.include_router(payroll_webhook_router(base, lambda: client))
    async with serve(hook_app) as hook_url:
        config = SimConfig(
            webhook_url=f"{hook_url}/webhooks/payroll",
            webhook_secret=WEBHOOK_SECRET,
            processing_seconds=0.3,
            **sim,
        )
        async with serve(create_app(config)) as sim_url:
            own = base.model_copy(update={"payroll_provider_url": sim_url})
            if not workers or pool is None:
                yield Stack(own, sim_url, config)
                return
            stop = asyncio.Event()
            queues: tuple[Queue, ...] = ("general", "sftp")
            task = asyncio.create_task(
                run_workers(client, own, queues, pool, stop=stop, install_signals=False)
            )
            try:
                yield Stack(own, sim_url, config)
            finally:
                stop.set()
                await task
