"""Contracts of the ``PayrollRun`` workflow (id ``payroll-<company>-<period start>[-c<n>]``) and
its activities.

Only references and small summaries travel through history: the roster, inputs and 834
enrolments are landed files (path + SHA-256), employees are batched by sequence range through
activities that read them from PostgreSQL (PII sealed there), and reports, exceptions and
exports are files in the landing zone. No SSN or account number is ever in these contracts:
masked values only.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import Field, model_validator

from foundation.wire_model import WireModel, wire_model
from payroll.amounts import Totals
from payroll.reconciliation import PayException
from payroll.roster import InputError
from wire import workflow_ids
from wire.intake import DeliverRequest

SLUG = r"^[a-z0-9][a-z0-9-]{0,39}$"
RunKind = Literal["regular", "adjustment", "reversal"]
RunStatus = Literal[
    "waiting_for_period_end",
    "validating",
    "invalid_input",
    "submitting",
    "awaiting_provider",
    "provider_failed",
    "reconciling",
    "awaiting_approval",
    "exception",
    "rejected",
    "paying",
    "posting",
    "completed",
]
PROVIDER_FINAL = frozenset({"completed", "failed"})


@wire_model("payroll.file_ref", "1.0")
class FileRef(WireModel):
    """A landed file (claim check): path in the landing zone and its SHA-256."""

    path: str = Field(min_length=1)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


@wire_model("payroll.enrolment", "1.0")
class Enrolment(WireModel):
    """Benefit elections from X12 834 files: each the ``<sha>.translated.json`` that
    ``edi.accept`` wrote beside the landed raw file (only transaction sets that passed pyx12
    validation are in it). Members stay in that file (PII): the run reads it by reference."""

    files: list[FileRef] = Field(min_length=1, max_length=20)
    rates_cents: dict[str, int] = Field(
        default_factory=dict,
        description="Employee contribution per pay period, in cents, keyed "
        "'<insurance line>/<coverage level>' (HD03/HD05, e.g. 'HLT/FAM') or '<insurance line>'; "
        "used when a coverage carries no premium (AMT*P3) of its own.",
    )

    @model_validator(mode="after")
    def _rates(self) -> Enrolment:
        if any(v < 0 for v in self.rates_cents.values()):
            raise ValueError("rates_cents: a contribution cannot be negative")
        return self


@wire_model("payroll.bank", "1.0")
class BankTarget(WireModel):
    """Where the direct-deposit file goes (a registered bank feed: its SFTP outbox and PGP key)
    and who originates it (NACHA file and batch header fields)."""

    partner_id: str
    feed: str
    company_name: str = Field(min_length=1, max_length=16)
    company_identification: str = Field(pattern=r"^[0-9A-Za-z ]{10}$")
    odfi_routing_number: str = Field(pattern=r"^\d{9}$")
    immediate_destination: str = Field(pattern=r"^ ?\d{9}$", description="The bank's routing.")
    immediate_origin: str = Field(pattern=r"^ ?\d{9,10}$")
    destination_name: str = Field(max_length=23)
    origin_name: str = Field(max_length=23)


@wire_model("payroll.start", "1.1")
class PayrollStart(WireModel):
    """Input of ``PayrollRun``. The workflow id must be ``payroll-<run_key>``: company and period
    are the run's idempotency key, so the same run started twice is the same workflow."""

    company_id: str = Field(pattern=SLUG)
    period_start: date
    period_end: date
    pay_date: date
    roster: FileRef
    inputs: FileRef
    enrolment: Enrolment | None = Field(
        default=None, description="Benefit deductions from 834 enrolment files (optional)."
    )
    submitted_by: str = Field(min_length=1, max_length=200)
    approvers: list[str] = Field(
        min_length=1, description="People holding the payroll approver role for this company."
    )
    bank: BankTarget
    kind: RunKind = "regular"
    correction_of: str | None = Field(
        default=None, description="Workflow id of the run an adjustment or reversal corrects."
    )
    correction_number: int | None = Field(default=None, ge=1, le=99)
    submit_on: date | None = Field(
        default=None, description="Submit to the provider on this day (UTC); default at once."
    )
    cutoff_lead_days: int = Field(
        default=2, ge=0, le=10, description="The bank needs the file this many days before pay."
    )
    escalate_before_hours: int = Field(default=24, ge=0, le=240)
    poll_initial_seconds: int = Field(default=30, ge=1)
    poll_max_seconds: int = Field(default=3600, ge=1)
    batch_size: int = Field(default=2000, ge=1, le=10000)
    file_task_queue: str = Field(
        default="integrations-sftp", description="Where sftp.deliver runs (the SFTP workers)."
    )

    @model_validator(mode="after")
    def _consistent(self) -> PayrollStart:
        if self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        if self.pay_date < self.period_end:
            raise ValueError("pay_date is before period_end")
        if (self.kind == "regular") != (self.correction_of is None):
            raise ValueError("adjustments and reversals (only) name the run they correct")
        if (self.correction_of is None) != (self.correction_number is None):
            raise ValueError("a correction has both correction_of and correction_number")
        return self

    @property
    def run_key(self) -> str:
        key = f"{self.company_id}-{self.period_start.isoformat()}"
        return key if self.correction_number is None else f"{key}-c{self.correction_number}"


def run_workflow_id(start: PayrollStart) -> str:
    return workflow_ids.workflow_id("PayrollRun", start.run_key)


@wire_model("payroll.provider_status", "1.0")
class ProviderStatus(WireModel):
    """Signal ``provider_status``: the provider's run changed status (webhook or poll)."""

    provider_run_id: str
    status: str
    event_id: str = ""


@wire_model("payroll.decision", "1.0")
class Decision(WireModel):
    """Update ``approve`` or ``reject``."""

    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(default="", max_length=2000)
    acknowledge_exceptions: bool = Field(
        default=False, description="Approve although reconciliation found differences."
    )


@wire_model("payroll.state", "1.1")
class PayrollState(WireModel):
    """Query ``status``: where the run is (no PII: masked values only)."""

    workflow_id: str
    company_id: str
    period_start: date
    kind: RunKind = "regular"
    correction_of: str | None = None
    status: RunStatus = "validating"
    provider_run_id: str | None = None
    provider_status: str | None = None
    employees: int = 0
    input_errors: list[InputError] = Field(default_factory=list)
    input_error_count: int = 0
    expected: Totals | None = None
    reported: Totals | None = None
    exceptions: list[PayException] = Field(default_factory=list)
    exception_count: int = 0
    polls: int = 0
    escalations: list[str] = Field(default_factory=list)
    decided_by: str | None = None
    decision_reason: str | None = None
    nacha_file: str | None = None
    entries: int = 0
    gl_file: str | None = None


# --- activities ------------------------------------------------------------------------------


@wire_model("payroll.prepare_request", "1.1")
class PrepareRequest(WireModel):
    workflow_id: str
    start: PayrollStart


@wire_model("payroll.prepared", "1.1")
class Prepared(WireModel):
    employees: int
    batches: int
    expected: Totals | None = None
    expected_ref: FileRef | None = None
    benefit_elections: int = Field(default=0, description="Elections taken from the 834.")
    errors: list[InputError] = Field(default_factory=list, description="The first 50.")
    error_count: int = 0
    error_report: str | None = Field(default=None, description="Full CSV report (masked).")


@wire_model("payroll.provider_call", "1.1")
class ProviderCall(WireModel):
    """One provider call of a run; ``batch`` numbers the employee batch for ``submit_batch``."""

    workflow_id: str
    start: PayrollStart
    provider_run_id: str | None = None
    batch: int = 0


@wire_model("payroll.reconcile_request", "1.0")
class ReconcileRequest(WireModel):
    workflow_id: str
    provider_run_id: str
    expected_ref: FileRef


@wire_model("payroll.reconciled", "1.0")
class Reconciled(WireModel):
    expected: Totals
    reported: Totals
    exceptions: list[PayException] = Field(default_factory=list, description="The first 50.")
    exception_count: int = 0
    report_ref: FileRef
    exceptions_ref: FileRef | None = None


@wire_model("payroll.pay_request", "1.1")
class PayRequest(WireModel):
    workflow_id: str
    start: PayrollStart
    report_ref: FileRef = Field(description="The provider's report: its net is what is paid.")
    approved_at: datetime = Field(description="File creation time: rebuilds give equal bytes.")


@wire_model("payroll.deposit_file", "1.0")
class DepositFile(WireModel):
    """The encrypted direct-deposit file, ready for ``sftp.deliver`` (claim check)."""

    delivery: DeliverRequest
    entries: int
    total_cents: int
    plain_sha256: str


@wire_model("payroll.gl_request", "1.1")
class GlRequest(WireModel):
    workflow_id: str
    start: PayrollStart
    report_ref: FileRef
    posting_date: date


@wire_model("payroll.gl_export", "1.0")
class GlExport(WireModel):
    file: FileRef
    debit_cents: int
    credit_cents: int
    lines: int


@wire_model("payroll.record", "1.1")
class RunRecord(WireModel):
    """The run's row in ``payroll_runs`` (upserted at each step)."""

    workflow_id: str
    start: PayrollStart
    status: RunStatus
    provider_run_id: str | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    employees: int | None = None
    net_cents: int | None = None
    exceptions: int | None = None
    nacha_file: str | None = None
    nacha_sha256: str | None = None
    gl_file: str | None = None
