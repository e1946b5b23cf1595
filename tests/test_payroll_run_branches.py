"""PayrollRun branches with stub activities on the time-skipping server: a rejection (and the
decisions refused before it), exceptions that need acknowledging, a provider that fails, and a
provider whose webhook never comes (the full stack is in tests/test_payroll_workflow.py)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from payroll.amounts import Totals
from payroll.reconciliation import PayException
from tests.workflow_stubs import Stubs, stub_worker, until
from wire.payroll import (
    BankTarget,
    Decision,
    FileRef,
    PayrollStart,
    PayrollState,
    Prepared,
    ProviderStatus,
    Reconciled,
    run_workflow_id,
)
from workflows.payroll_run import PayrollRunWorkflow

REF = FileRef(path="/landing/payroll/x.csv", sha256="0" * 64)
TOTALS = Totals(employees=2, figures={"gross": 500000, "net": 380000})


def start(queue: str) -> PayrollStart:
    begin = date.today()
    return PayrollStart(
        company_id="acme",
        period_start=begin,
        period_end=begin + timedelta(days=13),
        pay_date=begin + timedelta(days=18),
        roster=REF,
        inputs=REF,
        submitted_by="hr:sam",
        approvers=["fin:ada", "hr:sam"],
        bank=BankTarget(
            partner_id="bank",
            feed="deposits",
            company_name="ACME PAYROLL",
            company_identification="1234567890",
            odfi_routing_number="091000019",
            immediate_destination="091000019",
            immediate_origin="021000021",
            destination_name="FIRST BANK",
            origin_name="ACME CORP",
        ),
        file_task_queue=queue,
    )


def stubs(submitted: str = "completed", *, exceptions: int = 0, polled: str = "completed") -> Stubs:
    found = [
        PayException(
            kind="mismatch",
            employee_id="e1",
            figure="net",
            expected_cents=190000,
            reported_cents=189000,
        )
    ][:exceptions]
    return (
        Stubs()
        .on("payroll.record")
        .on("outbox.record")
        .on("audit.write")
        .on("payroll.prepare", Prepared(employees=2, batches=1, expected=TOTALS, expected_ref=REF))
        .on("payroll.open_run", "prun_1")
        .on("payroll.submit_batch", 2)
        .on("payroll.submit", ProviderStatus(provider_run_id="prun_1", status=submitted))
        .on("payroll.poll_status", ProviderStatus(provider_run_id="prun_1", status=polled))
        .on(
            "payroll.reconcile",
            Reconciled(
                expected=TOTALS,
                reported=TOTALS,
                exceptions=found,
                exception_count=len(found),
                report_ref=REF,
            ),
        )
    )


async def run(env: WorkflowEnvironment, queue: str) -> WorkflowHandle[Any, PayrollState]:
    payload = start(queue)
    return await env.client.start_workflow(
        PayrollRunWorkflow.run, payload, id=run_workflow_id(payload), task_queue=queue
    )


async def status(handle: WorkflowHandle[Any, PayrollState]) -> PayrollState:
    seen: PayrollState = await handle.query("status", result_type=PayrollState)
    return seen


async def refused(handle: WorkflowHandle[Any, PayrollState], update: str, d: Decision) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update(update, d, result_type=PayrollState)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "DecisionRefused"
    return cause.message


async def test_a_rejected_run_pays_nothing_and_says_why(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, calls = time_skipping_env, stubs()
    async with stub_worker(env, [PayrollRunWorkflow], calls) as queue:
        handle = await run(env, queue)
        await until(lambda: status(handle), lambda s: s.status == "awaiting_approval")
        assert "separation of duties" in await refused(
            handle, "reject", Decision(actor="hr:sam", reason="no")
        )
        assert "approver role" in await refused(
            handle, "reject", Decision(actor="it:eve", reason="no")
        )
        assert "needs a reason" in await refused(handle, "reject", Decision(actor="fin:ada"))
        await handle.execute_update(
            "reject", Decision(actor="fin:ada", reason="wrong period"), result_type=PayrollState
        )
        result = await handle.result()
    assert (result.status, result.decided_by, result.decision_reason) == (
        "rejected",
        "fin:ada",
        "wrong period",
    )
    assert "payroll.build_deposit_file" not in calls.names()
    assert "sftp.deliver" not in calls.names()
    [audit] = calls.requests("audit.write")
    assert (audit["action"], audit["actor"]) == ("payroll.reject", "fin:ada")
    events = [e["event_type"] for e in calls.requests("outbox.record")]
    assert events == ["payroll.rejected"]


async def test_exceptions_must_be_acknowledged_before_an_approval_is_taken(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, calls = time_skipping_env, stubs(exceptions=1)
    async with stub_worker(env, [PayrollRunWorkflow], calls) as queue:
        handle = await run(env, queue)
        seen = await until(lambda: status(handle), lambda s: s.status == "exception")
        assert seen.exception_count == 1
        assert "acknowledge_exceptions" in await refused(
            handle, "approve", Decision(actor="fin:ada")
        )
        await calls.called("outbox.record")
        await handle.terminate("test over")
    assert [e["event_type"] for e in calls.requests("outbox.record")] == ["payroll.exception"]
    assert "audit.write" not in calls.names()


async def test_a_failed_provider_run_ends_the_run_before_reconciling(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, calls = time_skipping_env, stubs(submitted="processing")
    async with stub_worker(env, [PayrollRunWorkflow], calls) as queue:
        handle = await run(env, queue)
        await until(lambda: status(handle), lambda s: s.status == "awaiting_provider")
        # A webhook about another run is ignored; ours decides.
        await handle.signal("provider_status", ProviderStatus(provider_run_id="x", status="failed"))
        await handle.signal(
            "provider_status", ProviderStatus(provider_run_id="prun_1", status="failed")
        )
        result = await handle.result()
    assert (result.status, result.provider_status) == ("provider_failed", "failed")
    assert "payroll.reconcile" not in calls.names()
    events = [e["event_type"] for e in calls.requests("outbox.record")]
    assert events == ["payroll.provider_failed"]


async def test_without_a_webhook_the_run_polls_the_provider(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, calls = time_skipping_env, stubs(submitted="processing")
    async with stub_worker(env, [PayrollRunWorkflow], calls) as queue:
        handle = await run(env, queue)
        await until(lambda: status(handle), lambda s: s.status == "awaiting_provider")
        await env.sleep(60)  # past poll_initial_seconds (30)
        seen = await until(lambda: status(handle), lambda s: s.status == "awaiting_approval")
        assert (seen.polls, seen.provider_status) == (1, "completed")
        await handle.terminate("test over")
    assert calls.names().count("payroll.poll_status") == 1
