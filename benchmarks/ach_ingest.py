"""Ingest a return file of N returns into N running AchReturn cases, against the dev server's
own ceiling for bare signal-with-start, measured in the same run.

    python benchmarks/ach_ingest.py [--returns 10000] [--concurrency 64]

It starts a private stack (Temporal dev server with a file database, PostgreSQL), imports N
originations, builds the bank's return file, and times:
  - bare:   N signal-with-starts of a workflow type no worker runs (the server's ceiling);
  - ingest: ``stores.ach.ingest`` on the return file (parse, validate, match, N
            signal-with-starts of AchReturn), until the server counts N running cases.
No worker runs, so nothing else competes for the two cores: the figure is the start rate.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import secrets
import shutil
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import asyncpg
from pydantic import SecretStr
from temporalio.client import Client

from adapters.payload_codec import KeyRing
from adapters.temporal_client import data_converter
from devstack.localstack.ports import free_port
from devstack.localstack.postgres import LocalPostgres
from devstack.localstack.temporal import LocalTemporal
from runtime.settings import Settings
from stores.ach import import_originations, ingest, lookup_key
from stores.migrations import migrate
from tests.ach_support import bank_file, outbound_debits
from wire.ach import IngestRequest
from wire.search_attributes import dev_server_flags


async def count_running(client: Client, workflow_type: str) -> int:
    counted = await client.count_workflows(
        f"WorkflowType = '{workflow_type}' AND ExecutionStatus = 'Running'"
    )
    return counted.count


async def wait_for_count(client: Client, workflow_type: str, n: int) -> None:
    # Polling the server's own count: visibility is what the Web UI would show.
    while True:
        if await count_running(client, workflow_type) >= n:
            return
        await asyncio.sleep(0.2)


async def bench(returns: int, concurrency: int, root: Path) -> None:
    ring = KeyRing.generate("bench")
    temporal = LocalTemporal(
        db_file=root / "temporal.db",
        log_file=root / "temporal.log",
        port=free_port(),
        ui_port=free_port(),
        search_attributes=dev_server_flags(),
    )
    pg = LocalPostgres(root=root / "pg", port=free_port())
    temporal.start()
    pg.init()
    pg.start()
    pg.bootstrap()
    try:
        await migrate(pg.owner_dsn)
        settings = Settings(
            temporal_address=temporal.address,
            codec_keys=SecretStr(ring.to_json()),
            database_url=SecretStr(pg.app_dsn),
            pii_lookup_key=SecretStr(base64.b64encode(secrets.token_bytes(32)).decode()),
        )
        client = await Client.connect(temporal.address, data_converter=data_converter(ring))
        pool = await asyncpg.create_pool(pg.app_dsn, min_size=2, max_size=10)
        odfi = "12345678"
        outbound = outbound_debits(odfi, [1000 + i for i in range(returns)], date.today())
        sent = root / "sent.ach"
        sent.write_bytes(outbound)
        await import_originations(
            pool,
            ring,
            lookup_key(settings),
            sent,
            partner_id="bank",
            bank_feed="returns",
            source="bench",
        )
        returned = root / "returns.ach"
        returned.write_bytes(
            bank_file(outbound, dict.fromkeys(range(returns), "R01"), rdfi_trace_base="09100001")
        )

        gate = asyncio.Semaphore(concurrency)

        async def bare(i: int) -> None:
            async with gate:
                await client.start_workflow(
                    "BareSignalWithStart",
                    id=f"bare-{i}",
                    task_queue="nobody-polls-this",
                    start_signal="ping",
                )

        started = time.perf_counter()
        await asyncio.gather(*(bare(i) for i in range(returns)))
        await wait_for_count(client, "BareSignalWithStart", returns)
        bare_seconds = time.perf_counter() - started

        started = time.perf_counter()
        summary = await ingest(
            pool,
            client,
            settings,
            IngestRequest(
                path=str(returned),
                partner_id="bank",
                bank_feed="returns",
                received_on=date.today(),
            ),
        )
        signalled = time.perf_counter() - started
        await wait_for_count(client, "AchReturn", returns)
        ingest_seconds = time.perf_counter() - started
        assert summary.signalled == returns and summary.unmatched == 0

        print(f"returns:                         {returns:,}")
        print(
            f"bare signal-with-start:          {bare_seconds:.1f} s = "
            f"{returns / bare_seconds:.0f} workflows/s (the server's ceiling here)"
        )
        print(
            f"ingest to {returns:,} running cases: {ingest_seconds:.1f} s = "
            f"{returns / ingest_seconds:.0f} workflows/s "
            f"({returns / ingest_seconds / (returns / bare_seconds):.0%} of the ceiling; "
            f"signal-with-starts done after {signalled:.1f} s)"
        )
        await pool.close()
    finally:
        temporal.stop()
        pg.stop("immediate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--returns", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix=f"ach-bench-{uuid.uuid4().hex[:6]}-"))
    root.chmod(0o755)
    try:
        asyncio.run(bench(args.returns, args.concurrency, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
