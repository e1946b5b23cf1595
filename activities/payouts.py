"""Payout activities: hand landed reports and statements to the Payout workflows, reconcile a
payout against the PSP report, match it to the bank.

The files are read from the landing zone by reference; parsing is CPU work and runs off the
event loop. A complete report is reconciled once, as a whole, when it lands; each payout then
reads its stored outcome. Results are small contracts with itemised discrepancies (no raw rows).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from payouts import (
    BankCredit,
    PayoutsError,
    attribute,
    match_deposit,
    read_bank_statement,
    read_payouts,
    read_report,
    reconcile_payout,
    reconcile_report,
)
from payouts.psp_report import PspReport
from payouts.reconciliation import DepositMatch, PayoutReconciliation
from runtime.settings import Settings
from stores import payout_reports
from stores.inbox import associate_many
from wire import workflow_ids as ids
from wire.payout_case import (
    DepositRequest,
    ReconcileRequest,
    ReportHandoff,
    ReportPartLanded,
    ReportRef,
    StatementHandoff,
    StatementLanded,
    StatementRef,
)
from wire.payouts import PAYOUT_WORKFLOW, PayoutStart

R = TypeVar("R")
T = TypeVar("T")
HEARTBEAT_EVERY = 5.0


def _report(ref: ReportRef) -> PspReport:
    return read_report(
        Path(ref.payouts_path),
        Path(ref.balance_transactions_path),
        Path(ref.links_path) if ref.links_path else None,
    )


def _reconcile(request: ReconcileRequest) -> PayoutReconciliation:
    # The whole report's attribution rules (link file first, then each row's own payout
    # column) decide which transactions belong to this payout.
    for outcome in reconcile_report(_report(request.report)):
        if outcome.payout_id == request.payout_id:
            return outcome
    return reconcile_payout(None, [], payout_id=request.payout_id)


def _match(request: DepositRequest) -> DepositMatch:
    # Only the payouts part: the transactions do not take part in matching the deposit.
    payouts = read_payouts(Path(request.report.payouts_path)).rows
    payout = next((p for p in payouts if p.id == request.payout_id), None)
    if payout is None:
        raise ApplicationError(
            f"payout {request.payout_id} is not in the report",
            type="UnknownPayout",
            non_retryable=True,
        )
    lines: list[BankCredit] = []
    for statement in request.statements:
        lines.extend(read_bank_statement(Path(statement.path)).lines)
    return match_deposit(payout, lines, window_days=request.window_days, candidate_payouts=payouts)


@dataclass(frozen=True)
class _WholeReport:
    outcomes: list[PayoutReconciliation]
    owners: dict[str, str]  # balance transaction id -> payout id
    row_problems: int


def _reconcile_whole(ref: ReportRef) -> _WholeReport:
    report = _report(ref)
    owned = attribute(report)
    outcomes = reconcile_report(report, owned)
    owners = {tid: o.payout_id for o in outcomes for tid in owned.transaction_ids(o.payout_id)}
    return _WholeReport(outcomes, owners, len(report.problems))


async def _heartbeating(work: Callable[[R], T], request: R) -> T:
    """Run ``work`` on a thread and heartbeat while it runs, so a worker that dies mid-way is
    noticed within the heartbeat timeout rather than the (long) start-to-close timeout."""
    task = asyncio.create_task(asyncio.to_thread(work, request))
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
        if done:
            return task.result()
        activity.heartbeat()


HANDOFF_CHUNK = 200  # payouts signalled between progress marks (a retry resumes there)
HANDOFF_CONCURRENCY = 16


@dataclass
class PayoutActivities:
    pool: asyncpg.Pool | None = None
    settings: Settings | None = None
    client: Client | None = None

    def _services(self) -> tuple[asyncpg.Pool, Settings, Client]:
        if self.pool is None or self.settings is None or self.client is None:
            raise ApplicationError(
                "this worker was built without the database or Temporal client",
                type="WorkerMisconfigured",
                non_retryable=True,
            )
        return self.pool, self.settings, self.client

    @activity.defn(name="payouts.report_part_landed")
    async def report_part_landed(self, landed: ReportPartLanded) -> ReportHandoff:
        """Record a landed report part; once the day's report is complete, reconcile it as a
        whole, store every payout's outcome, tie waiting webhook events to their payouts, and
        hand the report to every payout's workflow by signal-with-start. Idempotent: a retry
        (or the same report delivered again) resumes the hand-off where it stopped."""
        pool, settings, client = self._services()
        complete = await payout_reports.record_part(
            pool, landed.partner_id, landed.report_date, landed.part, landed.path, landed.sha256
        )
        if complete is None:
            return ReportHandoff(complete=False)
        parts = complete.parts
        ref = ReportRef(
            payouts_path=parts["payouts"].path,
            balance_transactions_path=parts["balance_transactions"].path,
            links_path=parts["links"].path if "links" in parts else None,
            report_id=complete.report_id,
        )
        associated = 0
        stored = await payout_reports.stored_report(pool, complete.report_id)
        if stored is None:
            try:
                whole = await _heartbeating(_reconcile_whole, ref)
            except (PayoutsError, OSError) as exc:
                raise ApplicationError(str(exc), type="PayoutReport", non_retryable=True) from None
            await payout_reports.store_outcomes(
                pool,
                complete.report_id,
                landed.partner_id,
                landed.report_date,
                whole.outcomes,
                whole.row_problems,
            )
            associated = await associate_many(pool, landed.partner_id, whole.owners)
            stored = await payout_reports.stored_report(pool, complete.report_id)
        assert stored is not None
        start = stored["handed_off"]
        gate = asyncio.Semaphore(HANDOFF_CONCURRENCY)

        async def hand(payout_id: str) -> None:
            async with gate:
                await client.start_workflow(
                    PAYOUT_WORKFLOW,
                    PayoutStart(payout_id=payout_id, provider=landed.partner_id),
                    id=ids.workflow_id("Payout", payout_id),
                    task_queue=settings.task_queue_general,
                    start_signal="report_landed",
                    start_signal_args=[ref],
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                )

        while batch := await payout_reports.payouts_from(
            pool, complete.report_id, start, HANDOFF_CHUNK
        ):
            await asyncio.gather(*(hand(pid) for pid in batch))
            start += len(batch)
            await payout_reports.mark_handed_off(pool, complete.report_id, start)
            activity.heartbeat(start)
        return ReportHandoff(
            complete=True,
            report_id=complete.report_id,
            payouts=stored["payouts"],
            exceptions=stored["exceptions"],
            row_problems=stored["row_problems"],
            signalled=start,
            events_associated=associated,
        )

    @activity.defn(name="payouts.statement_landed")
    async def statement_landed(self, landed: StatementLanded) -> StatementHandoff:
        """Hand a landed bank statement to every open payout (the statement is of our own
        bank account, so any PSP's payout may be in it); each one matches it on its own."""
        pool, _, client = self._services()
        try:
            statement = await asyncio.to_thread(read_bank_statement, Path(landed.path))
        except (PayoutsError, OSError) as exc:
            raise ApplicationError(str(exc), type="BankStatement", non_retryable=True) from None
        credits = len(statement.lines)
        done = await payout_reports.record_statement(
            pool, landed.sha256, landed.partner_id, landed.path, credits
        )
        if done is not None:
            return StatementHandoff(credits=credits, signalled=done, duplicate=True)
        ref = StatementRef(path=landed.path)
        query = (
            f"WorkflowType = '{PAYOUT_WORKFLOW}' AND ExecutionStatus = 'Running' "
            "AND PayoutStatus IN ('awaiting_report', 'awaiting_deposit')"
        )
        signalled = 0
        async for execution in client.list_workflows(query):
            # The workflow ignores a statement it already has: a retry may signal again.
            await client.get_workflow_handle(execution.id).signal("statement_landed", ref)
            signalled += 1
            if signalled % HANDOFF_CHUNK == 0:
                activity.heartbeat(signalled)
        await payout_reports.mark_statement_signalled(pool, landed.sha256, signalled)
        return StatementHandoff(credits=credits, signalled=signalled)

    @activity.defn(name="payouts.reconcile")
    async def reconcile(self, request: ReconcileRequest) -> PayoutReconciliation:
        report_id = request.report.report_id
        if report_id is not None and self.pool is not None:
            stored = await payout_reports.stored_outcome(self.pool, report_id, request.payout_id)
            if stored is not None:
                return stored
        try:
            return await _heartbeating(_reconcile, request)
        except (PayoutsError, OSError) as exc:
            raise ApplicationError(str(exc), type="PayoutReport", non_retryable=True) from None

    @activity.defn(name="payouts.match_deposit")
    async def match(self, request: DepositRequest) -> DepositMatch:
        try:
            return await _heartbeating(_match, request)
        except (PayoutsError, OSError) as exc:
            raise ApplicationError(str(exc), type="BankStatement", non_retryable=True) from None
