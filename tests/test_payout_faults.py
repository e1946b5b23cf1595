"""Payout faults: the report delivered twice, and the worker SIGKILLed mid-reconciliation."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import date
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from runtime.settings import Settings
from tests.plugins.services import spawn_worker, stop_processes
from tests.test_payout_workflow import (
    PAYOUT_COLUMNS,
    TXN_COLUMNS,
    camt_statement,
    report_files,
)
from wire.payout_case import PayoutState, ReportRef
from wire.payouts import PayoutStart


async def test_report_delivered_twice_is_reconciled_once(
    client: Client, workers: Settings, tmp_path: Path
) -> None:
    payout_id = f"po_{uuid.uuid4().hex[:16]}"
    handle = await client.start_workflow(
        "Payout",
        PayoutStart(payout_id=payout_id, provider="stripe"),
        id=f"payout-{payout_id}",
        task_queue=workers.task_queue_general,
        result_type=PayoutState,
    )
    report = report_files(tmp_path, payout_id, date(2024, 5, 2))
    await handle.signal("report_landed", report)
    await handle.signal("report_landed", report)  # intake re-delivered the same report
    await handle.signal(
        "statement_landed", camt_statement(tmp_path, payout_id, 9150, date(2024, 5, 2))
    )
    final = await handle.result()
    assert final.status == "reconciled"
    history = await handle.fetch_history()
    reconciles = [
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "payouts.reconcile"
    ]
    assert len(reconciles) == 1


def _big_report(tmp: Path, payout_id: str, rows: int) -> tuple[ReportRef, int]:
    """A consistent report with ``rows`` charges: slow enough to parse to kill mid-way."""
    created = "2024-05-01 10:00:00"
    with (tmp / "bt.csv").open("w") as out:
        out.write(TXN_COLUMNS + "\n")
        for i in range(rows):
            out.write(f"txn_{i},100,3,97,usd,charge,{payout_id},ch_{i},available,{created}\n")
    net = rows * 97
    (tmp / "payouts.csv").write_text(
        f"{PAYOUT_COLUMNS}\n{payout_id},{net},2024-05-02 00:00:00,usd,paid,ACME,{created}\n"
    )
    ref = ReportRef(
        payouts_path=str(tmp / "payouts.csv"), balance_transactions_path=str(tmp / "bt.csv")
    )
    return ref, net


@pytest.mark.slow
async def test_worker_killed_mid_reconciliation_retries_and_reconciles(
    client: Client, settings: Settings, tmp_path: Path
) -> None:
    own = settings.model_copy(update={"task_queue_general": f"paykill-{uuid.uuid4().hex[:8]}"})
    payout_id = f"po_{uuid.uuid4().hex[:16]}"
    report, net = _big_report(tmp_path, payout_id, 600_000)
    first, second = spawn_worker(own, "general"), None
    try:
        handle = await client.start_workflow(
            "Payout",
            PayoutStart(payout_id=payout_id, provider="stripe"),
            id=f"payout-{payout_id}",
            task_queue=own.task_queue_general,
            result_type=PayoutState,
        )
        await handle.signal("report_landed", report)
        for _ in range(600):
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].activity_type.name == "payouts.reconcile":
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("reconciliation never started")
        await asyncio.sleep(1.0)  # well inside the parse of 600,000 rows
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = spawn_worker(own, "general")
        state: PayoutState | None = None
        for _ in range(900):
            state = await handle.query("state", result_type=PayoutState)
            if state is not None and state.status == "awaiting_deposit":
                break
            await asyncio.sleep(0.2)
        assert state is not None and state.status == "awaiting_deposit"
        assert state.reconciliation is not None
        assert state.reconciliation.status == "reconciled"
        assert state.reconciliation.payout_amount == net
        described = await handle.describe()
        assert described.status is not None
    finally:
        stop_processes(first, second)
    history = await handle.fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert max(attempts) >= 2  # the killed attempt was retried, after a heartbeat timeout
