"""AchReturn branches with stub activities on the time-skipping server: an unauthorized return
blocks the account and refuses every decision, a correction applied through the queued inbox,
a NOC, a write-off, duplicate notices, and a closed case lingering for late notices before it
completes (the full stack is in tests/test_ach_returns.py and tests/test_ach_time.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from ach_returns.state_machine import (
    ApproveRepresentment,
    NocNotice,
    OriginalEntry,
    ProvideCorrection,
    ReturnCase,
    ReturnNotice,
    WriteOff,
)
from tests.workflow_stubs import Stubs, stub_worker, until
from wire.ach import AchReturnStart
from wire.workflow_ids import workflow_id
from workflows.ach_return import AchReturnWorkflow

TRACE = "091000010000001"


def stubs() -> Stubs:
    return (
        Stubs()
        .on("ach.block_account")
        .on("ach.apply_correction")
        .on("ach.record_event")
        .on("audit.write")
    )


async def open_case(env: WorkflowEnvironment, queue: str) -> WorkflowHandle[Any, ReturnCase]:
    today = (await env.get_current_time()).date()
    original = OriginalEntry(
        trace_number=TRACE,
        amount_cents=125000,
        settlement_date=today - timedelta(days=3),
        effective_date=today - timedelta(days=3),
        transaction_code=27,
        sec_code="PPD",
        routing_number="091000019",
        account_last4="6789",
    )
    return await env.client.start_workflow(
        AchReturnWorkflow.run,
        AchReturnStart(
            trace_number=TRACE, partner_id="bank", bank_feed="returns", original=original
        ),
        id=workflow_id("AchReturn", TRACE),
        task_queue=queue,
    )


async def case(handle: WorkflowHandle[Any, ReturnCase]) -> ReturnCase:
    seen: ReturnCase = await handle.query("case", result_type=ReturnCase)
    return seen


def notice(code: str, notice_id: str = "091000019999001") -> ReturnNotice:
    return ReturnNotice(notice_id=notice_id, code=code, received_on=date.today())


async def test_an_unauthorized_return_blocks_the_account_and_refuses_decisions(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, calls = time_skipping_env, stubs()
    async with stub_worker(env, [AchReturnWorkflow], calls) as queue:
        handle = await open_case(env, queue)
        await handle.signal(AchReturnWorkflow.return_received, notice("R10"))
        seen = await until(lambda: case(handle), lambda c: c.state == "stopped")
        assert seen.codes == ["R10"]
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                "approve_representment",
                ApproveRepresentment(actor="ops:ann", reason="try again"),
                result_type=ReturnCase,
            )
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "DecisionRefused"
        # Closed, the case lingers for a late or duplicate notice, then completes by itself.
        result = await handle.result()
    assert result.state == "stopped"
    [block] = calls.requests("ach.block_account")
    assert block["trace_number"] == TRACE
    assert "audit.write" not in calls.names()


async def test_a_correction_goes_through_the_inbox_audited_and_a_duplicate_notice_is_ignored(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, calls = time_skipping_env, stubs()
    async with stub_worker(env, [AchReturnWorkflow], calls) as queue:
        handle = await open_case(env, queue)
        await handle.signal(AchReturnWorkflow.return_received, notice("R02"))
        await handle.signal(AchReturnWorkflow.return_received, notice("R02"))  # redelivered
        await until(lambda: case(handle), lambda c: c.state == "awaiting_correction")
        corrected = await handle.execute_update(
            "provide_correction",
            ProvideCorrection(
                actor="ops:ann",
                reason="payee sent new details",
                routing_number="021000021",
                account_number="000123456789",
            ),
            result_type=ReturnCase,
        )
        assert corrected.state == "corrected"
        assert corrected.codes == ["R02"]  # the duplicate left no trace
        await handle.terminate("test over")
    [applied] = calls.requests("ach.apply_correction")
    assert applied["trace_number"] == TRACE and applied["source"] == "operator"
    [audit] = calls.requests("audit.write")
    assert (audit["action"], audit["actor"]) == ("ach.correct", "ops:ann")
    assert audit["details"] == {"from": "awaiting_correction", "to": "corrected"}
    assert "000123456789" not in str(audit)


async def test_a_noc_updates_the_payee_details(time_skipping_env: WorkflowEnvironment) -> None:
    env, calls = time_skipping_env, stubs()
    async with stub_worker(env, [AchReturnWorkflow], calls) as queue:
        handle = await open_case(env, queue)
        await handle.signal(
            AchReturnWorkflow.noc_received,
            NocNotice(
                notice_id="091000019999002",
                code="C01",
                received_on=date.today(),
                corrected={"account_number": "999888777"},
            ),
        )
        seen = await until(lambda: case(handle), lambda c: c.state == "noc_applied")
        assert seen.codes == ["C01"]
        [applied] = await calls.called("ach.apply_correction")
        await handle.terminate("test over")
    assert (applied["source"], applied["fields"]) == ("C01", {"account_number": "999888777"})


async def test_a_representable_return_can_be_written_off(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, calls = time_skipping_env, stubs()
    async with stub_worker(env, [AchReturnWorkflow], calls) as queue:
        handle = await open_case(env, queue)
        await handle.signal(AchReturnWorkflow.return_received, notice("R01"))
        await until(lambda: case(handle), lambda c: c.state == "representment_pending")
        closed = await handle.execute_update(
            "write_off", WriteOff(actor="ops:bo", reason="customer left"), result_type=ReturnCase
        )
        assert closed.state == "written_off"
        result = await handle.result()
    assert result.state == "written_off"
    assert "ach.prepare_representment" not in calls.names()
    [audit] = calls.requests("audit.write")
    assert (audit["action"], audit["details"]["to"]) == ("ach.write_off", "written_off")
