"""ACH windows that last months, run in seconds on Temporal's time-skipping test server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta

import asyncpg
import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from ach_returns.state_machine import (
    ApproveRepresentment,
    CaseState,
    OriginalEntry,
    ReturnCase,
    ReturnNotice,
    WriteOff,
)
from runtime.settings import Settings
from wire.ach import AchReturnStart
from workers.runner import run_workers


@pytest.fixture
async def skipping(
    time_skipping_env: WorkflowEnvironment, settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[tuple[WorkflowEnvironment, Settings]]:
    own = settings.model_copy(
        update={
            "task_queue_general": f"ts-general-{uuid.uuid4().hex[:8]}",
            "task_queue_sftp": f"ts-sftp-{uuid.uuid4().hex[:8]}",
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_workers(
            time_skipping_env.client,
            own,
            ("general", "sftp"),
            pool,
            stop=stop,
            install_signals=False,
        )
    )
    yield time_skipping_env, own
    stop.set()
    await task


def _start(trace: str, settings: Settings, settled: date) -> AchReturnStart:
    return AchReturnStart(
        trace_number=trace,
        partner_id="firstbank",
        bank_feed="returns",
        original=OriginalEntry(
            trace_number=trace,
            amount_cents=4200,
            settlement_date=settled,
            effective_date=settled,
            transaction_code=27,
            sec_code="PPD",
            routing_number="091000019",
            account_last4="1234",
        ),
        file_task_queue=settings.task_queue_sftp,
    )


async def _open(
    env: WorkflowEnvironment, settings: Settings, trace: str, code: str, settled: date, today: date
) -> WorkflowHandle[object, ReturnCase]:
    """A case whose original settled on ``settled``, returned with ``code`` today."""
    return await env.client.start_workflow(
        "AchReturn",
        _start(trace, settings, settled),
        id=f"ach-return-{trace}",
        task_queue=settings.task_queue_general,
        start_signal="return_received",
        start_signal_args=[ReturnNotice(notice_id="ret-1", code=code, received_on=today)],
        result_type=ReturnCase,
    )


async def _case(handle: WorkflowHandle[object, ReturnCase]) -> ReturnCase:
    case: ReturnCase | None = await handle.query("case", result_type=ReturnCase)
    assert case is not None
    return case


async def _write_off_and_finish(handle: WorkflowHandle[object, ReturnCase]) -> ReturnCase:
    await handle.execute_update(
        "write_off", WriteOff(actor="ops:cy", reason="uncollectable"), result_type=ReturnCase
    )
    # Closed cases linger 60 days for late or duplicate notices, then complete.
    return await handle.result(rpc_timeout=timedelta(seconds=60))


async def test_unapproved_r01_becomes_an_exception_when_the_180_day_window_closes(
    skipping: tuple[WorkflowEnvironment, Settings], pool: asyncpg.Pool
) -> None:
    env, settings = skipping
    trace = f"{uuid.uuid4().int % 10**15:015d}"
    today = (await env.get_current_time()).date()
    handle = await _open(env, settings, trace, "R01", today, today)
    await env.sleep(timedelta(days=179))
    assert (await _case(handle)).state == CaseState.REPRESENTMENT_PENDING
    await env.sleep(timedelta(days=3))
    case = await _case(handle)
    assert case.state == CaseState.EXCEPTION  # waits for a person, however long it takes
    assert case.exception_reason == "the 180-day re-presentment window closed without approval"
    assert case.timeline[-1].on == case.representment_window_ends
    done = await _write_off_and_finish(handle)
    assert done.state == CaseState.WRITTEN_OFF
    assert ((await env.get_current_time()).date() - today).days >= 182 + 60
    events = await pool.fetch(
        "SELECT event_type FROM outbox_events WHERE subject = $1 ORDER BY created_at", trace
    )
    assert [e["event_type"] for e in events] == [
        "ach.return.received",
        "ach.return.exception",
        "ach.return.written_off",
    ]


async def test_account_level_return_escalates_then_excepts(
    skipping: tuple[WorkflowEnvironment, Settings], pool: asyncpg.Pool
) -> None:
    env, settings = skipping
    trace = f"{uuid.uuid4().int % 10**15:015d}"
    today = (await env.get_current_time()).date()
    handle = await _open(env, settings, trace, "R03", today, today)
    await env.sleep(timedelta(days=30))
    case = await _case(handle)
    assert case.state == CaseState.EXCEPTION
    assert case.escalated
    assert case.exception_reason == "corrected account details never arrived"
    kinds = [
        e["event_type"]
        for e in await pool.fetch(
            "SELECT event_type FROM outbox_events WHERE subject = $1 ORDER BY created_at", trace
        )
    ]
    assert kinds == ["ach.return.received", "ach.return.escalated", "ach.return.exception"]
    assert (await _write_off_and_finish(handle)).state == CaseState.WRITTEN_OFF


async def test_approval_after_the_window_is_refused(
    skipping: tuple[WorkflowEnvironment, Settings],
) -> None:
    env, settings = skipping
    trace = f"{uuid.uuid4().int % 10**15:015d}"
    today = (await env.get_current_time()).date()
    # Settled 200 days before the return arrived: past 180 days on arrival.
    settled = today - timedelta(days=200)
    handle = await _open(env, settings, trace, "R01", settled, today)
    await env.sleep(timedelta(seconds=1))
    assert (await _case(handle)).state == CaseState.EXCEPTION
    with pytest.raises(WorkflowUpdateFailedError):
        await handle.execute_update(
            "approve_representment", ApproveRepresentment(actor="ops", reason="late")
        )
    assert (await _write_off_and_finish(handle)).state == CaseState.WRITTEN_OFF
