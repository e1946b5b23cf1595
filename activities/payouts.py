"""Payout activities: reconcile a payout against the PSP report, match it to the bank.

The files are read from the landing zone by reference; parsing is CPU work and runs off the
event loop. Results are small contracts with itemised discrepancies (no raw rows)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError

from contracts.payout_case import DepositRequest, ReconcileRequest, ReportRef
from payouts import (
    BankCredit,
    PayoutsError,
    match_deposit,
    read_bank_statement,
    read_report,
    reconcile_payout,
    reconcile_report,
)
from payouts.psp_report import PspReport
from payouts.reconciliation import DepositMatch, PayoutReconciliation

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
    report = _report(request.report)
    payout = next((p for p in report.payouts if p.id == request.payout_id), None)
    if payout is None:
        raise ApplicationError(
            f"payout {request.payout_id} is not in the report",
            type="UnknownPayout",
            non_retryable=True,
        )
    lines: list[BankCredit] = []
    for statement in request.statements:
        lines.extend(read_bank_statement(Path(statement.path)).lines)
    return match_deposit(
        payout, lines, window_days=request.window_days, candidate_payouts=report.payouts
    )


async def _heartbeating(work: Callable[[R], T], request: R) -> T:
    """Run ``work`` on a thread and heartbeat while it runs, so a worker that dies mid-way is
    noticed within the heartbeat timeout rather than the (long) start-to-close timeout."""
    task = asyncio.create_task(asyncio.to_thread(work, request))
    while True:
        done, _ = await asyncio.wait({task}, timeout=HEARTBEAT_EVERY)
        if done:
            return task.result()
        activity.heartbeat()


@dataclass
class PayoutActivities:
    @activity.defn(name="payouts.reconcile")
    async def reconcile(self, request: ReconcileRequest) -> PayoutReconciliation:
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
