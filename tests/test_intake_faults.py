"""Intake under faults: sshd killed mid-download, PostgreSQL killed mid-run, the worker
SIGKILLed between landing and archiving. Nothing is lost, nothing lands twice."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import time
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from devstack.localstack.postgres import LocalPostgres
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from stores.feeds import register_feed
from tests.intake_support import customer_rows, customers_csv, feed_for, name_for
from tests.plugins.services import spawn_worker, stop_processes
from wire.intake import FeedConfig, FetchedFile, IntakeRequest, IntakeRunResult


async def _wait_until(predicate: object, timeout: float, what: str) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _staged_bytes(settings: Settings, feed: FeedConfig) -> int:
    folder = settings.landing_zone_dir / ".staging" / feed.partner_id / feed.feed
    return sum(p.stat().st_size for p in folder.glob("*.part")) if folder.exists() else 0


async def _fetch_results(client: Client, workflow_id: str) -> list[FetchedFile]:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    scheduled: dict[int, str] = {}
    results = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled_attrs = event.activity_task_scheduled_event_attributes
            scheduled[event.event_id] = scheduled_attrs.activity_type.name
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            if scheduled.get(done.scheduled_event_id) == "intake.fetch":
                (value,) = await client.data_converter.decode(done.result.payloads, [FetchedFile])
                results.append(value)
    return results


@pytest.mark.slow
async def test_sshd_killed_mid_download_resumes_byte_identical(
    sshd_server: LocalSshd, client: Client, workers: Settings, pool: asyncpg.Pool
) -> None:
    feed = feed_for(sshd_server, feed=f"resume-{uuid.uuid4().hex[:6]}")
    await register_feed(pool, client, workers, feed)
    content = customers_csv(customer_rows(1_200_000))  # ~120 MB: long enough to interrupt
    name = name_for(content, 1)
    sshd_server.drop_file("inbox", name, content)

    handle = await client.start_workflow(
        "FileIntake",
        IntakeRequest(partner_id="acme", feed=feed.feed),
        id=f"intake-resume-{uuid.uuid4()}",
        task_queue=workers.task_queue_general,
        result_type=IntakeRunResult,
    )
    await _wait_until(lambda: _staged_bytes(workers, feed) > 5_000_000, 60, "download start")
    sshd_server.kill()
    await asyncio.sleep(1.5)
    sshd_server.start()
    result = await asyncio.wait_for(handle.result(), timeout=240)

    (decision,) = result.decisions
    assert decision.outcome == "landed"
    landed = Path(decision.landing_path or "")
    assert hashlib.sha256(landed.read_bytes()).digest() == hashlib.sha256(content).digest()
    (fetched,) = await _fetch_results(client, handle.id)
    assert fetched.resumed_from > 0  # the retry continued from the bytes already on disk
    assert [p.name for p in sshd_server.folder("archive").iterdir()] == [name]


@pytest.mark.slow
async def test_postgres_killed_mid_run_loses_nothing(
    sshd_server: LocalSshd,
    client: Client,
    workers: Settings,
    pool: asyncpg.Pool,
    local_pg: LocalPostgres,
) -> None:
    feed = feed_for(sshd_server, feed=f"pgdown-{uuid.uuid4().hex[:6]}")
    await register_feed(pool, client, workers, feed)
    contents = [customers_csv(customer_rows(2_000)) for _ in range(3)]
    names = [name_for(c, i + 1) for i, c in enumerate(contents)]
    for name, content in zip(names, contents, strict=True):
        sshd_server.drop_file("inbox", name, content)

    handle = await client.start_workflow(
        "FileIntake",
        IntakeRequest(partner_id="acme", feed=feed.feed),
        id=f"intake-pgdown-{uuid.uuid4()}",
        task_queue=workers.task_queue_general,
        result_type=IntakeRunResult,
    )
    await _wait_until(
        lambda: any(sshd_server.folder("archive").iterdir()), 60, "the first file archived"
    )
    local_pg.kill()
    await asyncio.sleep(3)
    local_pg.start()
    result = await asyncio.wait_for(handle.result(), timeout=180)

    assert sorted(d.remote_name for d in result.decisions) == sorted(names)
    assert {d.outcome for d in result.decisions} == {"landed"}
    count = await pool.fetchval("SELECT count(*) FROM file_manifest WHERE feed = $1", feed.feed)
    assert count == 3
    assert sorted(p.name for p in sshd_server.folder("archive").iterdir()) == sorted(names)


@pytest.mark.slow
async def test_worker_killed_between_landing_and_archiving_lands_once(
    sshd_server: LocalSshd, client: Client, settings: Settings, pool: asyncpg.Pool
) -> None:
    """Own worker process on its own queues, SIGKILLed as soon as the file has landed."""
    suffix = uuid.uuid4().hex[:8]
    own = settings.model_copy(
        update={
            "task_queue_general": f"kill-general-{suffix}",
            "task_queue_sftp": f"kill-sftp-{suffix}",
        }
    )
    feed = feed_for(sshd_server, feed=f"killed-{suffix[:6]}")
    await register_feed(pool, client, own, feed)
    content = customers_csv(customer_rows(20_000))
    name = name_for(content, 1)
    sshd_server.drop_file("inbox", name, content)
    digest = hashlib.sha256(content).hexdigest()
    landed = settings.landing_zone_dir / "acme" / "customers" / "2025-11-05" / f"{digest}.csv"

    first = spawn_worker(own, "general", "sftp")
    second = None
    try:
        handle = await client.start_workflow(
            "FileIntake",
            IntakeRequest(partner_id="acme", feed=feed.feed),
            id=f"intake-killed-{suffix}",
            task_queue=own.task_queue_general,
            result_type=IntakeRunResult,
        )
        await _wait_until(landed.exists, 60, "the file to land")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        archived_before_restart = (sshd_server.folder("archive") / name).exists()
        second = spawn_worker(own, "general", "sftp")
        result = await asyncio.wait_for(handle.result(), timeout=180)
    finally:
        stop_processes(first, second)

    (decision,) = result.decisions
    assert decision.outcome == "landed"
    assert [p.name for p in sshd_server.folder("archive").iterdir()] == [name]
    assert list(sshd_server.folder("inbox").iterdir()) == []
    assert landed.read_bytes() == content
    # One landing: one raw file for this digest in the landing zone, one manifest row.
    assert len(list(settings.landing_zone_dir.rglob(f"{digest}.csv"))) == 1
    rows = await pool.fetchval("SELECT count(*) FROM file_manifest WHERE sha256 = $1", digest)
    assert rows == 1
    events = await pool.fetchval("SELECT count(*) FROM intake_events WHERE feed = $1", feed.feed)
    assert events == 1
    # The kill really fell between landing and archiving (archiving needs several round trips
    # after the landed file appears; we poll every 20 ms).
    assert not archived_before_restart
