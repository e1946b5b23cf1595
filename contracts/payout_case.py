"""Contracts of the ``Payout`` workflow beyond its webhook input (contracts/payouts.py): the
report and statement it is handed by reference, its state, and the ops resolution."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from contracts.base import Contract, contract
from payouts.reconciliation import DepositMatch, PayoutReconciliation

PayoutStatus = Literal["awaiting_report", "awaiting_deposit", "reconciled", "exception", "resolved"]


@contract("payout.report_ref", "1.0")
class ReportRef(Contract):
    """The PSP's payout report, landed by file intake (claim check: paths, never rows)."""

    payouts_path: str
    balance_transactions_path: str
    links_path: str | None = None


@contract("payout.statement_ref", "1.0")
class StatementRef(Contract):
    """A bank statement (BAI2 or camt.053/054) landed by file intake."""

    path: str


@contract("payout.reconcile_request", "1.0")
class ReconcileRequest(Contract):
    payout_id: str
    report: ReportRef


@contract("payout.deposit_request", "1.0")
class DepositRequest(Contract):
    payout_id: str
    report: ReportRef
    statements: list[StatementRef]
    window_days: int = 3


@contract("payout.resolve", "1.0")
class Resolve(Contract):
    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    resolution: Literal["accept_as_is", "adjusted", "written_off"] = "accept_as_is"


@contract("payout.state", "1.0")
class PayoutState(Contract):
    payout_id: str
    provider: str
    status: PayoutStatus = "awaiting_report"
    event_ids: list[str] = Field(default_factory=list, description="Seen webhook events.")
    event_types: dict[str, int] = Field(default_factory=dict)
    paid: bool = False
    report_late: bool = False
    deposit_late: bool = False
    reconciliation: PayoutReconciliation | None = None
    deposit: DepositMatch | None = None
    exception_reasons: list[str] = Field(default_factory=list)
    resolved_by: str | None = None
