"""Payout branches with stub activities on the time-skipping server: deposit discrepancies,
a report that does not reconcile, the SLA timers, decisions refused before there is anything
to decide, and redelivered webhooks (the full stack is in tests/test_payout_workflow.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from payouts.reconciliation import (
    DepositMatch,
    DepositStatus,
    Discrepancy,
    DiscrepancyKind,
    PayoutReconciliation,
    ReconciliationStatus,
)
from tests.workflow_stubs import Stubs, stub_worker, until
from wire.payout_case import PayoutState, ReportRef, Resolve, StatementRef
from wire.payouts import PayoutStart, PspEvent
from wire.workflow_ids import workflow_id
from workflows.payout import PayoutWorkflow

PAYOUT = "po_branch"
REPORT = ReportRef(payouts_path="/landing/p.csv", balance_transactions_path="/landing/b.csv")
STATEMENT = StatementRef(path="/landing/camt.xml")


def reconciled(status: ReconciliationStatus = ReconciliationStatus.RECONCILED) -> Any:
    return PayoutReconciliation(
        payout_id=PAYOUT, status=status, currency="usd", payout_amount=9150, computed_net=9150
    )


def deposit(status: DepositStatus, *found: Discrepancy) -> DepositMatch:
    return DepositMatch(
        payout_id=PAYOUT,
        status=status,
        currency="usd",
        expected_amount=9150,
        matched_amount=9150 if status is DepositStatus.MATCHED else 4000,
        discrepancies=list(found),
    )


def stubs(recon: Any, match: DepositMatch) -> Stubs:
    return (
        Stubs()
        .on("payouts.reconcile", recon)
        .on("payouts.match_deposit", match)
        .on("outbox.record")
        .on("audit.write")
    )


@pytest.fixture
async def env(time_skipping_env: WorkflowEnvironment) -> AsyncIterator[WorkflowEnvironment]:
    yield time_skipping_env


async def start(env: WorkflowEnvironment, queue: str) -> WorkflowHandle[Any, PayoutState]:
    return await env.client.start_workflow(
        PayoutWorkflow.run,
        PayoutStart(payout_id=PAYOUT, provider="stripe"),
        id=workflow_id("Payout", PAYOUT),
        task_queue=queue,
    )


async def state(handle: WorkflowHandle[Any, PayoutState]) -> PayoutState:
    seen: PayoutState = await handle.query("state", result_type=PayoutState)
    return seen


async def test_a_split_deposit_is_an_exception_ops_resolve_with_an_audited_decision(
    env: WorkflowEnvironment,
) -> None:
    split = Discrepancy(kind=DiscrepancyKind.DEPOSIT_SPLIT, message="paid in two bank lines")
    calls = stubs(reconciled(), deposit(DepositStatus.SPLIT, split))
    async with stub_worker(env, [PayoutWorkflow], calls) as queue:
        handle = await start(env, queue)
        await handle.signal(PayoutWorkflow.report_landed, REPORT)
        await handle.signal(PayoutWorkflow.statement_landed, STATEMENT)
        seen = await until(lambda: state(handle), lambda s: s.status == "exception")
        assert seen.exception_reasons == ["paid in two bank lines"]
        resolved = await handle.execute_update(
            "resolve",
            Resolve(actor="ops:ann", reason="bank split it", resolution="accept_as_is"),
            result_type=PayoutState,
        )
        assert (resolved.status, resolved.resolved_by) == ("resolved", "ops:ann")
        assert (await handle.result()).status == "resolved"
    [audit] = calls.requests("audit.write")
    assert audit["action"] == "payout.resolve.accept_as_is"
    assert audit["event_id"] == f"{workflow_id('Payout', PAYOUT)}/resolve"
    assert audit["details"]["reasons"] == ["paid in two bank lines"]
    events = [e["event_type"] for e in calls.requests("outbox.record")]
    assert events == ["payout.exception"]


async def test_a_report_that_does_not_reconcile_is_an_exception_even_when_the_money_arrived(
    env: WorkflowEnvironment,
) -> None:
    calls = stubs(reconciled(ReconciliationStatus.EXCEPTION), deposit(DepositStatus.MATCHED))
    async with stub_worker(env, [PayoutWorkflow], calls) as queue:
        handle = await start(env, queue)
        await handle.signal(PayoutWorkflow.report_landed, REPORT)
        await handle.signal(PayoutWorkflow.statement_landed, STATEMENT)
        seen = await until(lambda: state(handle), lambda s: s.status == "exception")
        assert seen.exception_reasons == ["report exception"]
        await handle.terminate("test over")


async def test_resolve_is_refused_while_nothing_is_an_exception(env: WorkflowEnvironment) -> None:
    calls = stubs(reconciled(), deposit(DepositStatus.MATCHED))
    async with stub_worker(env, [PayoutWorkflow], calls) as queue:
        handle = await start(env, queue)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("resolve", Resolve(actor="ops", reason="x"))
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "DecisionRefused"
        await handle.signal(PayoutWorkflow.report_landed, REPORT)
        await handle.signal(PayoutWorkflow.statement_landed, STATEMENT)
        assert (await handle.result()).status == "reconciled"
    assert "audit.write" not in calls.names()
    assert [e["event_type"] for e in calls.requests("outbox.record")] == ["payout.reconciled"]


async def test_late_report_and_no_deposit_breach_the_sla_then_open_an_exception(
    env: WorkflowEnvironment,
) -> None:
    calls = stubs(reconciled(), deposit(DepositStatus.MATCHED))
    async with stub_worker(env, [PayoutWorkflow], calls) as queue:
        handle = await start(env, queue)
        await env.sleep(60 * 60 * 24 * 3)  # past REPORT_DUE (2 days)
        late = await until(lambda: state(handle), lambda s: s.report_late)
        assert late.status == "awaiting_report"
        await handle.signal(PayoutWorkflow.report_landed, REPORT)
        await until(lambda: state(handle), lambda s: s.status == "awaiting_deposit")
        await env.sleep(60 * 60 * 24 * 6)  # past DEPOSIT_DUE (5 days), no statement
        seen = await until(lambda: state(handle), lambda s: s.status == "exception")
        assert seen.deposit_late and seen.deposit is None
        assert seen.exception_reasons == ["no bank deposit arrived within the window"]
        await calls.called("outbox.record", times=2)
        await handle.terminate("test over")
    assert "payouts.match_deposit" not in calls.names()
    events = [e["event_type"] for e in calls.requests("outbox.record")]
    assert events == ["payout.report_late", "payout.exception"]


async def test_a_redelivered_webhook_counts_once(env: WorkflowEnvironment) -> None:
    calls = stubs(reconciled(), deposit(DepositStatus.MATCHED))
    paid = PspEvent(
        provider="stripe",
        event_id="evt_1",
        type="payout.paid",
        created=datetime(2024, 5, 1, tzinfo=UTC),
        payout_id=PAYOUT,
    )
    async with stub_worker(env, [PayoutWorkflow], calls) as queue:
        handle = await start(env, queue)
        for _ in range(3):
            await handle.signal(PayoutWorkflow.psp_event, paid)
        seen = await until(lambda: state(handle), lambda s: bool(s.event_ids))
        assert (seen.event_ids, seen.event_types, seen.paid) == (
            ["evt_1"],
            {"payout.paid": 1},
            True,
        )
        await handle.terminate("test over")
