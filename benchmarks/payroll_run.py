"""A payroll run of N employees end to end on a private local stack, with the provider
simulator: wall time, the workflow's history (events, bytes), peak worker memory, and an
estimate for 100,000 employees from the measured per-employee cost.

    python benchmarks/payroll_run.py [--employees 10000] [--small 1000] [--batch-size 2000]

It starts a Temporal dev server (file database), PostgreSQL, an OpenSSH sshd playing the bank,
gpg homes (ours and the bank's), the provider simulator and our payroll webhook route in this
process, and the workers as a separate ``integrations worker`` process (its peak RSS is read
from /proc, VmHWM). Each run: land roster and inputs, start, wait for the provider's webhook and
reconciliation, approve, then NACHA + PGP + SFTP upload, GL export, ``payroll.completed``.
Two sizes are run so the per-employee cost is the slope between them (fixed costs cancel).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg

# Run as a script from anywhere: the repo root holds the test builders this reuses.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi import FastAPI
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from adapters.payload_codec import KeyRing
from adapters.temporal_client import data_converter
from app.api.payroll_webhook import payroll_webhook_router
from devstack.localstack.gpg import GpgHome
from devstack.localstack.ports import free_port
from devstack.localstack.postgres import LocalPostgres
from devstack.localstack.sshd import LocalSshd, make_client_key
from devstack.localstack.temporal import LocalTemporal
from provider_sim.app import create_app
from provider_sim.config import SimConfig
from runtime.settings import Settings, to_environment
from stores.feeds import register_feed
from stores.migrations import migrate
from tests.ach_support import bank_feed
from tests.payroll_support import inputs_csv, land, roster_csv, serve, start_input
from wire.intake import FeedConfig, PgpPolicy
from wire.payroll import Decision, PayrollState, run_workflow_id
from wire.search_attributes import dev_server_flags


@dataclass
class Measured:
    employees: int
    seconds: float
    events: int
    history_bytes: int
    steps: dict[str, float]


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def one_run(
    client: Client, settings: Settings, feed: FeedConfig, employees: int, batch: int
) -> Measured:
    lz = settings.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
    start = start_input(
        feed,
        settings,
        land(lz, "roster.csv", roster_csv(employees)),
        land(lz, "inputs.csv", inputs_csv(employees)),
        batch_size=batch,
        poll_initial_seconds=30,
    )
    started = time.perf_counter()
    handle = await client.start_workflow(
        "PayrollRun",
        start,
        id=run_workflow_id(start),
        task_queue=settings.task_queue_general,
        result_type=PayrollState,
    )
    while True:
        state = await handle.query("status", result_type=PayrollState)
        if state.status in ("awaiting_approval", "exception", "invalid_input"):
            break
        await asyncio.sleep(0.1)
    assert state.status == "awaiting_approval", state.status
    await handle.execute_update(
        "approve", Decision(actor="fin:ada", reason="benchmark"), result_type=PayrollState
    )
    final = await handle.result()
    seconds = time.perf_counter() - started
    assert final.status == "completed" and final.entries == employees, final
    history = await handle.fetch_history()
    scheduled: dict[int, tuple[str, float]] = {}
    steps: dict[str, float] = defaultdict(float)
    for e in history.events:
        at = e.event_time.ToDatetime().timestamp()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = e.activity_task_scheduled_event_attributes.activity_type.name
            scheduled[e.event_id] = (name, at)
        elif e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            name, began = scheduled[e.activity_task_completed_event_attributes.scheduled_event_id]
            steps[name] += at - began
    return Measured(
        employees=employees,
        seconds=seconds,
        events=len(history.events),
        history_bytes=sum(e.ByteSize() for e in history.events),
        steps=dict(steps),
    )


async def bench(employees: int, small: int, batch: int, root: Path) -> None:
    ring = KeyRing.generate("bench")
    temporal = LocalTemporal(
        db_file=root / "temporal.db",
        log_file=root / "temporal.log",
        port=free_port(),
        ui_port=free_port(),
        search_attributes=dev_server_flags(),
    )
    pg = LocalPostgres(root=root / "pg", port=free_port())
    sshd = LocalSshd(root / "sshd", partner="firstbank")
    ours, bank = GpgHome(root / "gpg-ours"), GpgHome(root / "gpg-bank")
    worker: subprocess.Popen[bytes] | None = None
    temporal.start()
    pg.init()
    pg.start()
    pg.bootstrap()
    sshd.start()
    try:
        key = make_client_key(root / "keys")
        sshd.authorize(key.public_line)
        us = ours.generate_key("Payroll", "payroll@integrations.test")
        bank_key = bank.generate_key("Bank", "bank@firstbank.test")
        ours.import_key(bank.export_public(bank_key.fingerprint))
        await migrate(pg.owner_dsn)
        client = await Client.connect(temporal.address, data_converter=data_converter(ring))
        pool = await asyncpg.create_pool(pg.app_dsn, min_size=1, max_size=4)
        hook = FastAPI()
        secret = secrets.token_hex(16)
        settings = Settings(
            temporal_address=temporal.address,
            codec_keys=SecretStr(ring.to_json()),
            database_url=SecretStr(pg.app_dsn),
            pii_lookup_key=SecretStr(base64.b64encode(secrets.token_bytes(32)).decode()),
            landing_zone_dir=root / "landing",
            sftp_keys_dir=key.path.parent,
            gnupg_home=ours.path,
            payroll_provider_client_id="sim-client",
            payroll_provider_client_secret=SecretStr("sim-secret"),
            payroll_webhook_secret=SecretStr(secret),
            payroll_pgp_signer=us.fingerprint,
            log_level="WARNING",
        )
        hook.include_router(payroll_webhook_router(settings, lambda: client))
        async with serve(hook) as hook_url:
            sim = SimConfig(webhook_url=f"{hook_url}/webhooks/payroll", webhook_secret=secret)
            async with serve(create_app(sim)) as sim_url:
                settings = settings.model_copy(update={"payroll_provider_url": sim_url})
                feed = bank_feed(sshd, "payroll").model_copy(
                    update={"pgp": PgpPolicy(signer_fingerprint=bank_key.fingerprint)}
                )
                await register_feed(pool, client, settings, feed)
                # One long-lived child, started once: its own process so its memory is its own.
                worker = subprocess.Popen(  # noqa: ASYNC220
                    [
                        sys.executable,
                        "-m",
                        "app.cli.main",
                        "worker",
                        "--queue",
                        "general",
                        "--queue",
                        "sftp",
                    ],
                    env=to_environment(settings),
                )
                await one_run(client, settings, feed, 10, batch)  # warm-up: worker start
                results = []
                for size in (small, employees):
                    results.append(await one_run(client, settings, feed, size, batch))
                    print(f"run of {size:,} employees done in {results[-1].seconds:.1f} s")
                peak = _peak_rss_mib(worker.pid)
        await pool.close()
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
        sshd.close()
        ours.close()
        bank.close()
        temporal.stop()
        pg.stop("immediate")

    low, high = results
    slope = (high.seconds - low.seconds) / (high.employees - low.employees)
    fixed = high.seconds - slope * high.employees
    print()
    for r in results:
        print(
            f"{r.employees:>7,} employees: {r.seconds:6.1f} s wall, history {r.events} events / "
            f"{r.history_bytes / 1024:.0f} KiB"
        )
        print("         steps: " + ", ".join(f"{k} {v:.1f}s" for k, v in sorted(r.steps.items())))
    print(f"peak worker memory (VmHWM):      {peak:.0f} MiB")
    print(f"per-employee cost (slope):       {slope * 1000:.2f} ms; fixed {fixed:.1f} s")
    estimate = fixed + slope * 100_000
    events_100k = high.events + 3 * (100_000 - high.employees) // max(batch, 1)
    print(
        f"estimate for 100,000 employees: {estimate:.0f} s "
        f"(~{timedelta(seconds=round(estimate))}), history ~{events_100k} events"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--employees", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=2_000)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix=f"payroll-bench-{uuid.uuid4().hex[:6]}-"))
    root.chmod(0o755)
    try:
        asyncio.run(bench(args.employees, args.small, args.batch_size, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
