"""Contracts of the ``Payout`` workflow beyond its webhook input (wire/payouts.py): the
report and statement it is handed by reference, its state, and the ops resolution."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from foundation.wire_model import WireModel, wire_model
from payouts.reconciliation import DepositMatch, PayoutReconciliation

PayoutStatus = Literal["awaiting_report", "awaiting_deposit", "reconciled", "exception", "resolved"]


@wire_model("payout.report_ref", "1.1")
class ReportRef(WireModel):
    """The PSP's payout report, landed by file intake (claim check: paths, never rows)."""

    payouts_path: str
    balance_transactions_path: str
    links_path: str | None = None
    report_id: str | None = Field(
        default=None,
        description="Set when the report was reconciled as a whole on landing: the payout's "
        "outcome is read from the database rather than recomputed from the files.",
    )


@wire_model("payout.report_part_landed", "1.0")
class ReportPartLanded(WireModel):
    """File intake landed one part of a PSP's daily report (hand-off ``psp_report``)."""

    partner_id: str
    feed: str
    part: Literal["payouts", "balance_transactions", "links"]
    report_date: date
    path: str
    sha256: str


@wire_model("payout.report_handoff", "1.0")
class ReportHandoff(WireModel):
    complete: bool = Field(description="False while the day's report still misses a part.")
    report_id: str | None = None
    payouts: int = 0
    exceptions: int = 0
    row_problems: int = 0
    signalled: int = Field(default=0, description="Payout workflows handed the report.")
    events_associated: int = Field(default=0, description="Waiting webhook events now tied.")


@wire_model("payout.statement_landed", "1.0")
class StatementLanded(WireModel):
    """File intake landed a bank statement (hand-off ``bank_statement``)."""

    partner_id: str
    path: str
    sha256: str


@wire_model("payout.statement_handoff", "1.0")
class StatementHandoff(WireModel):
    credits: int
    signalled: int = Field(description="Open Payout workflows handed the statement.")
    duplicate: bool = False


@wire_model("payout.statement_ref", "1.0")
class StatementRef(WireModel):
    """A bank statement (BAI2 or camt.053/054) landed by file intake."""

    path: str


@wire_model("payout.reconcile_request", "1.1")
class ReconcileRequest(WireModel):
    payout_id: str
    report: ReportRef


@wire_model("payout.deposit_request", "1.1")
class DepositRequest(WireModel):
    payout_id: str
    report: ReportRef
    statements: list[StatementRef]
    window_days: int = 3


@wire_model("payout.resolve", "1.0")
class Resolve(WireModel):
    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)
    resolution: Literal["accept_as_is", "adjusted", "written_off"] = "accept_as_is"


@wire_model("payout.state", "1.0")
class PayoutState(WireModel):
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
