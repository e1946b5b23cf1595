"""Workers as real processes: SIGKILL mid-activity is retried and completes; SIGTERM lets the
running activity finish before the process exits."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import uuid
from decimal import Decimal

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle

from runtime.settings import Settings
from tests.plugins.services import spawn_worker
from wire.demo import DemoInput, DemoResult


def _spawn_worker(settings: Settings, queue: str) -> subprocess.Popen[str]:
    own = settings.model_copy(update={"task_queue_general": queue})
    return spawn_worker(own, "general", capture=True)


async def _wait_for_heartbeat(handle: WorkflowHandle[object, object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = await handle.describe()
        pending = desc.raw_description.pending_activities
        if pending and pending[0].HasField("heartbeat_details"):
            return
        await asyncio.sleep(0.2)
    raise AssertionError("activity never heartbeated")


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=60)


@pytest.mark.slow
async def test_sigkill_mid_activity_is_retried_and_completes(
    client: Client, settings: Settings, pool: asyncpg.Pool
) -> None:
    queue = f"crash-{uuid.uuid4().hex[:8]}"
    workflow_id = f"demo-crash-{uuid.uuid4()}"
    first = _spawn_worker(settings, queue)
    second = None
    try:
        handle = await client.start_workflow(
            "Demo",
            DemoInput(
                customer_name="Kill Me", ssn="111-22-3333", amount=Decimal(1), work_seconds=4
            ),
            id=workflow_id,
            task_queue=queue,
            result_type=DemoResult,
        )
        await _wait_for_heartbeat(handle)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL

        second = _spawn_worker(settings, queue)
        result = await asyncio.wait_for(handle.result(), timeout=90)
    finally:
        _stop(first)
        if second is not None:
            _stop(second)
    assert result.activity_attempt >= 2
    # The retry resumed from the dead attempt's last heartbeat instead of starting over.
    assert result.activity_resumed_from_second > 0
    rows = await pool.fetchval("SELECT count(*) FROM audit_log WHERE subject = $1", workflow_id)
    assert rows == 1


@pytest.mark.slow
async def test_sigterm_lets_the_running_activity_finish(client: Client, settings: Settings) -> None:
    queue = f"term-{uuid.uuid4().hex[:8]}"
    worker = _spawn_worker(settings, queue)
    successor = None
    try:
        handle = await client.start_workflow(
            "Demo",
            DemoInput(customer_name="Term", ssn="111-22-3333", amount=Decimal(1), work_seconds=3),
            id=f"demo-term-{uuid.uuid4()}",
            task_queue=queue,
            result_type=DemoResult,
        )
        await _wait_for_heartbeat(handle)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0, output
        assert "workers stopped" in output
        # The activity finished on its first attempt inside the graceful window; a fresh
        # worker only has to run the workflow's last task.
        successor = _spawn_worker(settings, queue)
        result = await asyncio.wait_for(handle.result(), timeout=60)
    finally:
        _stop(worker)
        if successor is not None:
            _stop(successor)
    assert result.activity_attempt == 1
