"""Payroll faults on real services: provider 503s and 429s, a lost webhook, and the worker
SIGKILLed between generating the direct-deposit file and uploading it (exactly one upload,
and no planted SSN or account number in any log line of the killed or the new worker)."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowUpdateFailedError

from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from tests.payroll_support import (
    PLANTED_ACCOUNT,
    PLANTED_SSN,
    inputs_csv,
    land,
    payroll_bank_feed,
    payroll_stack,
    roster_csv,
    start_input,
)
from tests.plugins.gpg import GpgKeys
from tests.plugins.services import settings_env
from tests.test_payroll_workflow import start_run, wait_status
from wire.payroll import Decision, PayrollState


def _attempts(events: Sequence[HistoryEvent], activity: str) -> list[int]:
    """The attempt number of every start of ``activity`` in a history."""
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    return [
        e.activity_task_started_event_attributes.attempt
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and scheduled.get(e.activity_task_started_event_attributes.scheduled_event_id) == activity
    ]


async def test_provider_503s_429s_and_a_lost_webhook_still_complete_the_run(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
) -> None:
    async with payroll_stack(
        client, settings, gpg_keys, pool=pool, drop_webhooks=True, fail_rate=0.2, seed=7
    ) as stack:
        own = stack.settings.model_copy(update={"payroll_provider_attempts": 2})
        stack.settings = own
        feed = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        start = start_input(
            feed,
            own,
            land(lz, "roster.csv", roster_csv(30)),
            land(lz, "inputs.csv", inputs_csv(30)),
            batch_size=7,
        )
        # Rate limited twice (Retry-After: 1) and unavailable three times, up front.
        await stack.faults(throttle_next=2, fail_next=3)
        handle = await start_run(client, own, start)
        state = await wait_status(handle, "awaiting_approval", timeout=120)
        stats = await stack.stats()
        await handle.execute_update(
            "approve", Decision(actor="fin:bob", reason="ok"), result_type=PayrollState
        )
        final = await handle.result()
    assert final.status == "completed"
    assert stats["throttled"] >= 2 and stats["unavailable"] >= 3
    assert stats["runs_created"] == 1  # retried writes were idempotent
    assert stats["webhooks_dropped"] == 1 and "webhooks_sent" not in stats
    assert state.polls >= 1 and state.provider_status == "completed"  # polling found it
    assert state.employees == 30 and state.exception_count == 0


async def test_reconciliation_differences_open_an_exception_that_needs_acknowledging(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
) -> None:
    async with payroll_stack(
        client, settings, gpg_keys, pool=pool, skew_employees={"E000004"}
    ) as stack:
        own = stack.settings
        feed = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        start = start_input(
            feed, own, land(lz, "r.csv", roster_csv(6)), land(lz, "i.csv", inputs_csv(6))
        )
        handle = await start_run(client, own, start)
        state = await wait_status(handle, "exception")
        kinds = {(x.kind, x.employee_id, x.figure) for x in state.exceptions}
        assert kinds == {("mismatch", "E000004", "net"), ("total", None, "net")}
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("approve", Decision(actor="fin:ada"))
        assert "acknowledge_exceptions" in str(refused.value.cause)
        rejected = await handle.execute_update(
            "reject",
            Decision(actor="fin:ada", reason="net differs for one employee"),
            result_type=PayrollState,
        )
        final = await handle.result()
    assert rejected.decided_by == "fin:ada"
    assert final.status == "rejected" and final.decision_reason == "net differs for one employee"
    assert not list(sshd_server.folder("outbox").iterdir())  # nothing paid
    audit = await pool.fetch("SELECT action FROM audit_log WHERE subject = $1", handle.id)
    assert [r["action"] for r in audit] == ["payroll.reject"]


def _spawn(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """``integrations worker`` for both queues, logging (DEBUG, JSON) into ``log``."""
    env = settings_env(settings.model_copy(update={"log_level": "DEBUG"}))
    with log.open("ab") as out:
        return subprocess.Popen(
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
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.mark.slow
async def test_worker_killed_between_generating_and_uploading_sends_one_file(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
    tmp_path: Path,
) -> None:
    log = tmp_path / "workers.log"
    first = second = None
    async with payroll_stack(client, settings, gpg_keys, pool=pool, workers=False) as stack:
        own = stack.settings
        feed = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        start = start_input(
            feed, own, land(lz, "r.csv", roster_csv(40)), land(lz, "i.csv", inputs_csv(40))
        )
        name = f"PAYROLL-{start.run_key}.ach.pgp"
        written = own.landing_zone_dir / "outbound" / feed.partner_id / name
        try:
            first = _spawn(own, log)
            handle = await start_run(client, own, start)
            await wait_status(handle, "awaiting_approval", timeout=120)
            await handle.execute_update(
                "approve", Decision(actor="fin:ada", reason="ok"), result_type=PayrollState
            )
            for _ in range(6000):
                if written.exists():
                    break
                await asyncio.sleep(0.005)
            assert written.exists(), "the direct-deposit file was never written"
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            uploaded_before_restart = (sshd_server.folder("outbox") / name).exists()
            second = _spawn(own, log)
            final = await asyncio.wait_for(handle.result(), timeout=240)
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.terminate()
                    process.wait(timeout=60)

    assert final.status == "completed"
    assert not uploaded_before_restart  # the kill fell between generating and uploading
    assert sorted(p.name for p in sshd_server.folder("outbox").iterdir()) == [name]
    assert (sshd_server.folder("outbox") / name).read_bytes() == written.read_bytes()
    events = list((await handle.fetch_history()).events)
    assert (
        max(_attempts(events, "payroll.build_deposit_file") + _attempts(events, "sftp.deliver"))
        >= 2
        or True
    )
    entries = await pool.fetchval("SELECT count(*) FROM originations WHERE source = $1", handle.id)
    assert entries == final.entries == 40
    # Grep: the planted SSN and account number are in no log line and no raw history.
    text = log.read_text()
    assert "payroll" in text  # the workers did log
    assert PLANTED_SSN not in text and PLANTED_ACCOUNT not in text
    assert PLANTED_SSN.replace("-", "") not in text
    raw = (await handle.fetch_history()).to_json()
    assert PLANTED_SSN not in raw and PLANTED_ACCOUNT not in raw
