"""The payroll demo: a small run against the provider simulator, approved by a second person
through the CLI; the direct-deposit file goes to the bank's outbox, PGP-encrypted to its key."""

from __future__ import annotations

import asyncio
import os
from datetime import date, timedelta
from pathlib import Path

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from adapters.landing_zone import LandingZone, digest_bytes
from devstack.demo.feeds import bank_feed, partner_folder
from devstack.demo.session import DemoSession, poll
from devstack.demo_data import payroll_inputs, payroll_roster
from devstack.services import DEMO_BANK, cli
from runtime.settings import Settings
from wire.intake import FeedConfig
from wire.payroll import BankTarget, FileRef, PayrollStart, PayrollState, run_workflow_id

PAYROLL_SUBMITTER = "hr:sam"
PAYROLL_APPROVER = "fin:ada"
PAYROLL_STOPS = frozenset(
    {"awaiting_approval", "invalid_input", "provider_failed", "exception", "rejected"}
)


async def payroll(demo: DemoSession, client: Client, pool: asyncpg.Pool, settings: Settings) -> str:
    """A small run against the provider simulator, approved by a second person through the
    CLI; the direct-deposit file goes to the bank's outbox, PGP-encrypted to its key."""
    bank = bank_feed(demo.server, demo.env)
    await demo.register(pool, client, settings, bank)
    start = payroll_start(demo.tag, bank, settings)
    handle = await client.start_workflow(
        "PayrollRun",
        start,
        id=run_workflow_id(start),
        task_queue=settings.task_queue_general,
        result_type=PayrollState,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )

    async def status() -> PayrollState | None:
        found: PayrollState = await handle.query("status", result_type=PayrollState)
        return found

    waiting = await poll(status, lambda s: s.status in PAYROLL_STOPS, 60)
    if waiting is None or waiting.status != "awaiting_approval":
        raise RuntimeError(f"{handle.id} stopped at {waiting and waiting.status}")
    await _approve(demo, handle.id)
    final = await asyncio.wait_for(handle.result(), 60)
    delivered = sorted(
        p.name
        for p in partner_folder(demo.server, f"outbox/{DEMO_BANK}").iterdir()
        if p.name.startswith(f"PAYROLL-{start.run_key}")
    )
    if delivered:
        demo.payroll_file = partner_folder(demo.server, f"outbox/{DEMO_BANK}") / delivered[0]
    net = final.reported.figures.get("net", 0) if final.reported else 0
    return (
        f"{handle.id} {final.status} ({final.employees} employees, net {net / 100:.2f} USD, "
        f"submitted by {PAYROLL_SUBMITTER}, approved by {final.decided_by}; "
        f"{', '.join(f'outbox/{DEMO_BANK}/{n}' for n in delivered) or 'no file delivered'})"
    )


def payroll_start(tag: str, bank: FeedConfig, settings: Settings) -> PayrollStart:
    """A two-week period for a company new to this run, its roster and inputs landed as HRIS
    hands them over, paid through the demo bank."""
    company = f"acme-{tag}"
    landing = LandingZone(settings.landing_zone_dir).handed_over("hris", company)
    today = date.today()
    return PayrollStart(
        company_id=company,
        period_start=today,
        period_end=today + timedelta(days=13),
        pay_date=today + timedelta(days=18),
        roster=land(landing, "roster.csv", payroll_roster().encode()),
        inputs=land(landing, "inputs.csv", payroll_inputs().encode()),
        submitted_by=PAYROLL_SUBMITTER,
        approvers=[PAYROLL_APPROVER, PAYROLL_SUBMITTER],
        bank=BankTarget(
            partner_id=bank.partner_id,
            feed=bank.feed,
            company_name="ACME PAYROLL",
            company_identification="1234567890",
            odfi_routing_number="091000019",
            immediate_destination="091000019",
            immediate_origin="021000021",
            destination_name="FIRST BANK",
            origin_name="ACME CORP",
        ),
        poll_initial_seconds=2,
        poll_max_seconds=10,
        file_task_queue=settings.task_queue_sftp,
    )


async def _approve(demo: DemoSession, workflow_id: str) -> None:
    """The second person approves through the CLI, as an operator would."""
    approve = await asyncio.create_subprocess_exec(
        *cli(
            "payroll",
            "approve",
            workflow_id,
            "--actor",
            PAYROLL_APPROVER,
            "--reason",
            "demo: matches the budget",
        ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **demo.env},
    )
    out, err = await approve.communicate()
    if approve.returncode != 0:
        raise RuntimeError(f"payroll approve refused: {(out + err).decode().strip()}")


def land(folder: Path, name: str, data: bytes) -> FileRef:
    """A file as intake lands it: write-once, named by its digest."""
    digest = digest_bytes(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}-{name}"
    if not path.exists():
        path.write_bytes(data)
    return FileRef(path=str(path), sha256=digest)
