"""A two-week pay period in seconds on Temporal's time-skipping server: the run sleeps until the
period ends, submits, polls the provider (no webhook), reconciles, escalates the approval that is
late for the pay-date cut-off, and pays once approved."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, timedelta

import asyncpg
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from tests.payroll_support import (
    inputs_csv,
    land,
    payroll_bank_feed,
    payroll_stack,
    roster_csv,
    start_input,
)
from tests.plugins.gpg import GpgKeys
from wire.payroll import Decision, PayrollState, run_workflow_id


async def test_two_week_period_with_late_approval_escalated(
    time_skipping_env: WorkflowEnvironment,
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
) -> None:
    skipping = time_skipping_env.client
    async with payroll_stack(skipping, settings, gpg_keys, pool=pool, drop_webhooks=True) as stack:
        own = stack.settings
        # The feed's Schedule lives on the dev server; the run itself on the skipping server.
        feed = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        today = date.today()
        start = start_input(
            feed,
            own,
            land(lz, "r.csv", roster_csv(8)),
            land(lz, "i.csv", inputs_csv(8)),
            period_start=today,
            submit_on=today + timedelta(days=14),  # the day after the period ends
            poll_initial_seconds=600,
            poll_max_seconds=3600,
        )
        handle = await skipping.start_workflow(
            "PayrollRun",
            start,
            id=run_workflow_id(start),
            task_queue=own.task_queue_general,
            result_type=PayrollState,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
        # Two weeks pass; then the run works in real time between skips of an hour.
        for _ in range(14):  # a day per skip: one long skip can outlast the RPC timeout
            await time_skipping_env.sleep(timedelta(days=1))
        state: PayrollState | None = None
        for _ in range(24 * 4):
            state = await handle.query("status", result_type=PayrollState)
            if "approval" in state.escalations:
                break
            await time_skipping_env.sleep(timedelta(hours=1))
            await asyncio.sleep(0.05)  # let the workers take what became due
        assert state is not None and state.status == "awaiting_approval", state
        assert state.polls >= 1  # the webhook was dropped: polling found the provider's result
        now = await time_skipping_env.get_current_time()
        assert now.date() >= today + timedelta(days=15)  # cut-off (pay - 2 days) less 24 hours
        await handle.execute_update(
            "approve", Decision(actor="fin:bob", reason="late but right"), result_type=PayrollState
        )
        final = await handle.result(rpc_timeout=timedelta(seconds=120))
    assert final.status == "completed" and final.escalations == ["approval"]
    late = await pool.fetchval(
        "SELECT payload->>'stage' FROM outbox_events WHERE message_id = $1",
        f"{handle.id}/payroll.late/approval",
    )
    assert late == "approval"
    assert sorted(p.name for p in sshd_server.folder("outbox").iterdir()) == [
        f"PAYROLL-{start.run_key}.ach.pgp"
    ]
