"""What happens to a returned or corrected ACH entry, as a pure state machine.

One case per original entry (keyed by its trace number). Events are return notices (addenda 99),
notifications of change (addenda 98), operator decisions and deadlines; ``decide`` answers with
the next case and the commands the workflow must carry out. What a code means (its category,
time limit, whether it may be re-presented or needs a correction) comes from the one NACHA
table, ``nacha.return_reasons``; this module only decides what to do with each category:

- insufficient funds (R01/R09): the entry may be re-presented at most twice, within 180 days of
  the original settlement date (Rules 2.12.4), after an operator approves.
- unauthorized (R05/R07/R10/R11/R29/R51): stop; no further debits to that account.
- account-level (R02-R04, R12-R16, R20, R28): wait for corrected details from an operator,
  escalating when the deadline passes.
- dishonored (R61, R62, R67-R70) and contested (R71-R77) returns: review windows of two
  banking days.
- A return with no matching original, or received after its code's time limit, and any other
  category (administrative, other, unknown): an exception for operators.
- NOC (C01-C13): apply the correction within six banking days (Rule 2.11.1); a refused NOC
  (C61-C69) is logged.
"""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from ach_returns.banking_days import add_banking_days, next_banking_day
from foundation.wire_model import WireModel, wire_model
from nacha.return_reasons import (
    REINITIATION_LIMIT,
    REINITIATION_WINDOW_DAYS,
    ReturnCategory,
    return_reason,
)
from nacha.routing import is_valid_routing_number

MAX_REPRESENTMENTS = REINITIATION_LIMIT
REPRESENTMENT_WINDOW = timedelta(days=REINITIATION_WINDOW_DAYS)
CORRECTION_DAYS = 5  # banking days ops have to supply corrected details before escalation
NOC_DAYS = 6  # banking days to apply a NOC
REVIEW_DAYS = 2  # banking days for dishonored/contested review
RETURN_WATCH_DAYS = 3  # banking days after a re-presentment settles in which it may come back


class CaseState(StrEnum):
    OPEN = "open"  # created, nothing received yet
    REPRESENTMENT_PENDING = "representment_pending"
    REPRESENTMENT_APPROVED = "representment_approved"  # approved, entry being sent
    REPRESENTED = "represented"
    COLLECTED = "collected"
    AWAITING_CORRECTION = "awaiting_correction"
    CORRECTED = "corrected"
    STOPPED = "stopped"
    NOC_APPLIED = "noc_applied"
    NOC_REFUSED = "noc_refused"
    DISHONOR_REVIEW = "dishonor_review"
    CONTEST_REVIEW = "contest_review"
    EXCEPTION = "exception"
    WRITTEN_OFF = "written_off"


TERMINAL = frozenset(
    {
        CaseState.COLLECTED,
        CaseState.CORRECTED,
        CaseState.STOPPED,
        CaseState.NOC_APPLIED,
        CaseState.NOC_REFUSED,
        CaseState.WRITTEN_OFF,
    }
)


class Handling(StrEnum):
    INSUFFICIENT_FUNDS = "insufficient_funds"
    UNAUTHORIZED = "unauthorized"
    ACCOUNT_LEVEL = "account_level"
    DISHONORED = "dishonored"
    CONTESTED = "contested"
    OTHER = "other"


# What the workflow does with each category of the NACHA table; administrative, other and
# unknown codes go to a person.
_HANDLING: Final = {
    ReturnCategory.INSUFFICIENT_FUNDS: Handling.INSUFFICIENT_FUNDS,
    ReturnCategory.UNAUTHORIZED: Handling.UNAUTHORIZED,
    ReturnCategory.ACCOUNT_LEVEL: Handling.ACCOUNT_LEVEL,
    ReturnCategory.DISHONORED: Handling.DISHONORED,
    ReturnCategory.CONTESTED: Handling.CONTESTED,
}


def handling_for(code: str) -> Handling:
    return _HANDLING.get(return_reason(code.upper()).category, Handling.OTHER)


# --- the case ---------------------------------------------------------------------------------


@wire_model("ach_return.original_entry", "1.0")
class OriginalEntry(WireModel):
    """The entry we originated, as recorded in the originations table (account masked)."""

    trace_number: str
    amount_cents: int = Field(ge=0)
    settlement_date: date
    effective_date: date
    transaction_code: int
    sec_code: str
    routing_number: str
    account_last4: str
    payee_id: str | None = None
    company_entry_description: str = ""


class TimelineEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    on: date
    what: str
    actor: str = "system"


@wire_model("ach_return.case", "1.0")
class ReturnCase(WireModel):
    trace_number: str
    partner_id: str
    original: OriginalEntry | None = None
    state: CaseState = CaseState.OPEN
    codes: list[str] = Field(default_factory=list)
    representments: int = 0
    representment_window_ends: date | None = None
    deadline: date | None = None
    deadline_kind: str | None = None
    escalated: bool = False
    exception_reason: str | None = None
    seen_notices: list[str] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL

    @property
    def last_code(self) -> str | None:
        return self.codes[-1] if self.codes else None


# --- events -----------------------------------------------------------------------------------


@wire_model("ach_return.return_notice", "1.0")
class ReturnNotice(WireModel):
    """An addenda-99 return of the original entry (or of a re-presentment of it)."""

    kind: Literal["return"] = "return"
    notice_id: str = Field(description="The return entry's own trace number: dedupe key.")
    code: str = Field(pattern=r"^R\d{2}$")
    received_on: date
    within_time_limit: bool = True
    addenda_information: str = ""


@wire_model("ach_return.noc_notice", "1.0")
class NocNotice(WireModel):
    """An addenda-98 notification of change (or a refused one)."""

    kind: Literal["noc"] = "noc"
    notice_id: str
    code: str = Field(pattern=r"^C\d{2}$")
    received_on: date
    refused: bool = False
    corrected: dict[str, str] = Field(default_factory=dict)


class _Decision(WireModel):
    actor: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=2000)


@wire_model("ach_return.approve_representment", "1.0")
class ApproveRepresentment(_Decision):
    kind: Literal["approve"] = "approve"


@wire_model("ach_return.provide_correction", "1.0")
class ProvideCorrection(_Decision):
    kind: Literal["correct"] = "correct"
    routing_number: str = Field(pattern=r"^\d{9}$")
    account_number: str = Field(pattern=r"^[0-9A-Za-z-]{1,17}$", description="PII")


@wire_model("ach_return.write_off", "1.0")
class WriteOff(_Decision):
    kind: Literal["write_off"] = "write_off"


class DeadlineReached(BaseModel):
    kind: Literal["deadline"] = "deadline"
    deadline_kind: str
    on: date


class RepresentmentSent(BaseModel):
    kind: Literal["represented"] = "represented"
    number: int
    effective_date: date
    trace_number: str


Event = Annotated[
    ReturnNotice
    | NocNotice
    | ApproveRepresentment
    | ProvideCorrection
    | WriteOff
    | DeadlineReached
    | RepresentmentSent,
    Field(discriminator="kind"),
]


# --- commands ---------------------------------------------------------------------------------


class Represent(BaseModel):
    kind: Literal["represent"] = "represent"
    number: int
    effective_date: date


class BlockAccount(BaseModel):
    kind: Literal["block_account"] = "block_account"
    reason: str


class ApplyCorrection(BaseModel):
    kind: Literal["apply_correction"] = "apply_correction"
    fields: dict[str, str]
    due: date
    source: str


class Notify(BaseModel):
    kind: Literal["notify"] = "notify"
    event_type: str
    detail: str
    # A trace number the event introduces (a re-presentment's). Kept out of ``detail`` so the
    # published envelope can carry it as the identifier it is, not as free text.
    trace_number: str | None = None


class Escalate(BaseModel):
    kind: Literal["escalate"] = "escalate"
    reason: str


Command = Represent | BlockAccount | ApplyCorrection | Notify | Escalate


# --- validation of operator decisions (used by the workflow's update validators) ---------------


def routing_check_digit_ok(routing: str) -> bool:
    """Nine ASCII digits with a valid ABA check digit (the one rule, in ``nacha.routing``)."""
    return is_valid_routing_number(routing)


def refusal(
    case: ReturnCase, event: ApproveRepresentment | ProvideCorrection | WriteOff, today: date
) -> str | None:
    """Why an operator decision cannot apply now, or None when it can."""
    if case.terminal:
        return f"case {case.trace_number} is closed ({case.state})"
    if isinstance(event, ApproveRepresentment):
        if case.state != CaseState.REPRESENTMENT_PENDING:
            return f"nothing to approve: the case is {case.state}"
        if case.representments >= MAX_REPRESENTMENTS:
            return f"already re-presented {MAX_REPRESENTMENTS} times"
        if case.representment_window_ends and today > case.representment_window_ends:
            return f"the re-presentment window closed on {case.representment_window_ends}"
    elif isinstance(event, ProvideCorrection):
        if case.state != CaseState.AWAITING_CORRECTION:
            return f"no correction is awaited: the case is {case.state}"
        if not routing_check_digit_ok(event.routing_number):
            return f"routing number {event.routing_number} fails its check digit"
    return None


# --- the transition function ------------------------------------------------------------------


def _note(case: ReturnCase, on: date, what: str, actor: str = "system") -> list[TimelineEntry]:
    return [*case.timeline, TimelineEntry(on=on, what=what, actor=actor)]


def _exception(case: ReturnCase, on: date, reason: str) -> tuple[ReturnCase, list[Command]]:
    updated = case.model_copy(
        update={
            "state": CaseState.EXCEPTION,
            "exception_reason": reason,
            "deadline": None,
            "deadline_kind": None,
            "timeline": _note(case, on, f"exception: {reason}"),
        }
    )
    return updated, [Notify(event_type="ach.return.exception", detail=reason)]


def decide(case: ReturnCase, event: Event, today: date) -> tuple[ReturnCase, list[Command]]:
    """The next case and the commands to carry out, ``today`` being the workflow's date.
    Never raises for a well-formed event: one that does not apply (a duplicate notice, a stale
    deadline, a decision the case cannot take) changes nothing."""
    if isinstance(event, ReturnNotice):
        return _on_return(case, event)
    if isinstance(event, NocNotice):
        return _on_noc(case, event)
    if isinstance(event, DeadlineReached):
        return _on_deadline(case, event)
    if isinstance(event, RepresentmentSent):
        return _on_represented(case, event)
    if refusal(case, event, today) is not None:
        return case, []
    if isinstance(event, ApproveRepresentment):
        return _on_approve(case, event, today)
    if isinstance(event, ProvideCorrection):
        fixed = case.model_copy(
            update={
                "state": CaseState.CORRECTED,
                "deadline": None,
                "deadline_kind": None,
                "timeline": _note(case, today, "corrected details provided", event.actor),
            }
        )
        fields = {"routing_number": event.routing_number, "account_number": event.account_number}
        return fixed, [ApplyCorrection(fields=fields, due=today, source="operator")]
    written = case.model_copy(
        update={
            "state": CaseState.WRITTEN_OFF,
            "deadline": None,
            "deadline_kind": None,
            "timeline": _note(case, today, f"written off: {event.reason}", event.actor),
        }
    )
    return written, [Notify(event_type="ach.return.written_off", detail=event.reason)]


def _on_return(case: ReturnCase, notice: ReturnNotice) -> tuple[ReturnCase, list[Command]]:
    if notice.notice_id in case.seen_notices:
        return case, []  # the same return file ingested twice
    case = case.model_copy(
        update={
            "seen_notices": [*case.seen_notices, notice.notice_id],
            "codes": [*case.codes, notice.code],
            "timeline": _note(case, notice.received_on, f"return {notice.code} received"),
        }
    )
    on = notice.received_on
    if case.terminal and case.state != CaseState.NOC_APPLIED:
        return case, [Notify(event_type="ach.return.after_close", detail=notice.code)]
    if case.original is None:
        return _exception(case, on, "no original entry matches this trace number")
    if not notice.within_time_limit:
        return _exception(case, on, f"{notice.code} arrived after its time limit")
    handling = handling_for(notice.code)
    if handling is Handling.INSUFFICIENT_FUNDS:
        window_ends = case.original.settlement_date + REPRESENTMENT_WINDOW
        if case.representments >= MAX_REPRESENTMENTS:
            return _exception(
                case, on, f"returned {notice.code} after {MAX_REPRESENTMENTS} re-presentments"
            )
        if on > window_ends:
            return _exception(case, on, "the 180-day re-presentment window has closed")
        pending = case.model_copy(
            update={
                "state": CaseState.REPRESENTMENT_PENDING,
                "representment_window_ends": window_ends,
                "deadline": window_ends,
                "deadline_kind": "representment_window",
            }
        )
        return pending, [
            Notify(event_type="ach.return.received", detail=f"{notice.code}: awaiting approval")
        ]
    if handling is Handling.UNAUTHORIZED:
        stopped = case.model_copy(
            update={"state": CaseState.STOPPED, "deadline": None, "deadline_kind": None}
        )
        return stopped, [
            BlockAccount(reason=f"{notice.code}: unauthorized"),
            Notify(event_type="ach.return.unauthorized", detail=notice.code),
        ]
    if handling is Handling.ACCOUNT_LEVEL:
        waiting = case.model_copy(
            update={
                "state": CaseState.AWAITING_CORRECTION,
                "deadline": add_banking_days(on, CORRECTION_DAYS),
                "deadline_kind": "correction",
                "escalated": False,
            }
        )
        return waiting, [
            Notify(event_type="ach.return.received", detail=f"{notice.code}: correction needed")
        ]
    if handling in (Handling.DISHONORED, Handling.CONTESTED):
        state = (
            CaseState.DISHONOR_REVIEW
            if handling is Handling.DISHONORED
            else CaseState.CONTEST_REVIEW
        )
        review = case.model_copy(
            update={
                "state": state,
                "deadline": add_banking_days(on, REVIEW_DAYS),
                "deadline_kind": "review",
            }
        )
        return review, [Notify(event_type="ach.return.received", detail=f"{notice.code}: review")]
    return _exception(case, on, f"return code {notice.code} needs a person")


def _on_noc(case: ReturnCase, noc: NocNotice) -> tuple[ReturnCase, list[Command]]:
    if noc.notice_id in case.seen_notices:
        return case, []
    on = noc.received_on
    case = case.model_copy(
        update={
            "seen_notices": [*case.seen_notices, noc.notice_id],
            "codes": [*case.codes, noc.code],
            "timeline": _note(case, on, f"NOC {noc.code}{' (refused)' if noc.refused else ''}"),
        }
    )
    if noc.refused:
        if case.state == CaseState.OPEN:
            case = case.model_copy(update={"state": CaseState.NOC_REFUSED})
        return case, [Notify(event_type="ach.noc.refused", detail=noc.code)]
    if case.state == CaseState.OPEN:
        case = case.model_copy(update={"state": CaseState.NOC_APPLIED})
    return case, [
        ApplyCorrection(fields=noc.corrected, due=add_banking_days(on, NOC_DAYS), source=noc.code)
    ]


def _on_approve(
    case: ReturnCase, event: ApproveRepresentment, today: date
) -> tuple[ReturnCase, list[Command]]:
    number = case.representments + 1
    approved = case.model_copy(
        update={
            "state": CaseState.REPRESENTMENT_APPROVED,
            "deadline": None,
            "deadline_kind": None,
            "timeline": _note(case, today, f"re-presentment {number} approved", event.actor),
        }
    )
    # Re-present on the next banking day, never on a weekend or Fed holiday.
    return approved, [
        Represent(number=number, effective_date=next_banking_day(today + timedelta(days=1)))
    ]


def _on_represented(case: ReturnCase, sent: RepresentmentSent) -> tuple[ReturnCase, list[Command]]:
    if sent.number <= case.representments or case.state != CaseState.REPRESENTMENT_APPROVED:
        return case, []
    represented = case.model_copy(
        update={
            "state": CaseState.REPRESENTED,
            "representments": sent.number,
            "deadline": add_banking_days(sent.effective_date, RETURN_WATCH_DAYS),
            "deadline_kind": "return_watch",
            "timeline": _note(
                case, sent.effective_date, f"re-presented ({sent.number}) as {sent.trace_number}"
            ),
        }
    )
    return represented, [
        Notify(
            event_type="ach.return.represented",
            detail=f"re-presentment {sent.number}",
            trace_number=sent.trace_number,
        )
    ]


def _on_deadline(case: ReturnCase, event: DeadlineReached) -> tuple[ReturnCase, list[Command]]:
    if case.terminal or event.deadline_kind != case.deadline_kind:
        return case, []  # a timer for a state the case has left
    on = event.on
    case = case.model_copy(update={"timeline": _note(case, on, f"deadline: {event.deadline_kind}")})
    if event.deadline_kind == "return_watch":
        collected = case.model_copy(
            update={"state": CaseState.COLLECTED, "deadline": None, "deadline_kind": None}
        )
        return collected, [
            Notify(event_type="ach.return.collected", detail="no return within the watch window")
        ]
    if event.deadline_kind == "correction" and not case.escalated:
        escalated = case.model_copy(
            update={"escalated": True, "deadline": add_banking_days(on, CORRECTION_DAYS)}
        )
        return escalated, [Escalate(reason="corrected account details overdue")]
    reasons = {
        "representment_window": "the 180-day re-presentment window closed without approval",
        "correction": "corrected account details never arrived",
        "review": f"{case.state} window passed without a decision",
    }
    return _exception(case, on, reasons.get(event.deadline_kind, event.deadline_kind))
