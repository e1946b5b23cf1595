"""Building blocks for intake tests: a feed on the test sshd, and customer CSVs named by the
feed's naming contract (with a correct CRC32 unless told otherwise)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg
from temporalio.client import Client

from devstack.localstack.sshd import LocalSshd
from intake.naming import NamingContract
from runtime.settings import Settings
from wire.intake import FeedConfig, FeedSchedule, PgpPolicy, SftpSource
from workers.runner import run_workers

HEADER = (
    "customer_id,full_name,email,created_date,updated_at,country,credit_limit,active,postal_code"
)
NAMING = NamingContract(system="acme", entity="customers", extensions=("csv", "csv.pgp"))


def feed_for(
    server: LocalSshd,
    *,
    feed: str = "customers",
    host_key: str | None = None,
    pgp_signer: str | None = None,
    max_file_bytes: int | None = None,
    sla: str | None = None,
    dedupe_window_days: int | None = None,
) -> FeedConfig:
    return FeedConfig(
        partner_id="acme",
        feed=feed,
        display_name="Acme Corp",
        sftp=SftpSource(
            host=server.host,
            port=server.port,
            username=server.login_user,
            host_key=host_key or server.host_key.public_line,
            private_key="client",
        ),
        naming=NAMING,
        file_contract="acme_customers.v1",
        pgp=PgpPolicy(signer_fingerprint=pgp_signer) if pgp_signer else None,
        schedule=FeedSchedule(interval_minutes=60, sla_deadline=sla),
        max_file_bytes=max_file_bytes,
        settle_seconds=0.2,
        dedupe_window_days=dedupe_window_days,
    )


def customer_rows(n: int, start: int | None = None) -> list[str]:
    """``n`` valid rows. Without ``start`` the ids are random, so no two tests in a session
    send the same bytes by accident (the manifest would rightly call them duplicates)."""
    if start is None:
        start = random.randint(1, 10**9)
    rows = []
    for i in range(start, start + n):
        rows.append(
            f"{i},Customer {i},c{i}@example.com,2024-01-{1 + i % 28:02d},"
            f"2024-02-01T10:00:00+0000,US,{i * 10}.50,true,{10000 + i % 89999:05d}"
        )
    return rows


def customers_csv(rows: list[str]) -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode()


def name_for(
    content: bytes, sequence: int, *, day: date = date(2025, 11, 5), ext: str = "csv"
) -> str:
    return NAMING.format_name(
        file_date=day, sequence=sequence, crc32=zlib.crc32(content), extension=ext
    )


@contextlib.asynccontextmanager
async def workers_of_their_own(
    client: Client, settings: Settings, pool: asyncpg.Pool, prefix: str, **update: Any
) -> AsyncIterator[Settings]:
    """In-process workers on task queues of their own (nothing but the test's files runs on
    them), with ``update`` applied to the settings; yields those settings."""
    tag = uuid.uuid4().hex[:8]
    own = settings.model_copy(
        update={
            "task_queue_general": f"{prefix}-general-{tag}",
            "task_queue_sftp": f"{prefix}-sftp-{tag}",
            **update,
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_workers(client, own, ("general", "sftp"), pool, stop=stop, install_signals=False)
    )
    try:
        yield own
    finally:
        stop.set()
        await task
