"""Benefit deductions from an X12 834 benefit enrolment, as ``edi.accept`` translated it.

The 834 says who is enrolled in which cover; it carries no bank account, pay type or rate, so
it never *is* the roster: the HRIS roster says whom to pay, the 834 what to deduct for benefits.
Each subscriber (``INS01 = Y``) is matched to a roster employee by the subscriber identifier
(``REF*0F``, the employer's employee id) or else by SSN (``NM1*IL`` with ``NM108 = 34``). Each of
their coverages (``HD``) that is in force during the pay period becomes an :class:`Election`
priced per period by the coverage's own premium (``AMT*P3``, dollars) or else by the run's rate
table, keyed ``<insurance line>/<coverage level>`` (``HD03``/``HD05``, e.g. ``HLT/FAM``) or
``<insurance line>``. Dependents (``INS01 = N``) are priced through their subscriber's
coverage level and add nothing themselves.

Left out, on purpose: cancelled members and coverages (maintenance type ``024``), coverages
that end before the period or begin after it, and COBRA or retired members (``INS05 = C``,
``INS08 = RT``), who pay the carrier directly rather than through payroll. A subscriber who is
on no roster, an unpriced coverage, or the same insurance line twice for one employee is an
:class:`~payroll.roster.InputError` of file ``enrolment`` (rows: members in file order, from 1;
identifiers masked).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from foundation.pii import mask_value
from payroll.roster import Employee, InputError, PeriodInput

CANCELLED = "024"
SUBSCRIBER_ID = "0F"  # REF01: subscriber identifier
SSN_QUALIFIER = "34"  # NM108: Social Security Number
BENEFIT_BEGIN, BENEFIT_END = "348", "349"  # DTP01 of the coverage loop
NOT_THROUGH_PAYROLL_STATUS = frozenset({"C"})  # INS05: COBRA
NOT_THROUGH_PAYROLL_EMPLOYMENT = frozenset({"RT"})  # INS08: retired
PREMIUM = "P3"  # AMT01: premium amount
_DIGITS = re.compile(r"\D")


class Election(BaseModel):
    """One benefit deduction for the period: an employee's coverage and its per-period cost."""

    model_config = ConfigDict(frozen=True)

    employee_id: str
    insurance_line: str
    coverage_level: str | None
    plan: str | None = None
    cents: int = Field(ge=0)
    priced_by: str = Field(description="'premium' (AMT*P3 in the 834) or the rate-table key.")


def rate_key(insurance_line: str, coverage_level: str | None) -> str:
    return f"{insurance_line}/{coverage_level}" if coverage_level else insurance_line


def members(documents: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Every member of every 834 document, in file order (other transaction sets skipped)."""
    out: list[Mapping[str, Any]] = []
    for doc in documents:
        if str(doc.get("schema", "")).startswith("edi.834."):
            out.extend(doc.get("members") or [])
    return out


def _day(value: object) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _premium_cents(coverage: Mapping[str, Any]) -> int | None:
    amount = (coverage.get("amounts") or {}).get(PREMIUM)
    if amount is None:
        return None
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return None
    if not value.is_finite() or value < 0:
        return None
    return int((value * 100).to_integral_value())


def in_force(coverage: Mapping[str, Any], period_start: date, period_end: date) -> bool:
    """Not cancelled, and its benefit dates overlap the period (an absent date is open)."""
    if coverage.get("maintenance_type") == CANCELLED:
        return False
    dates = coverage.get("dates") or {}
    begin, end = _day(dates.get(BENEFIT_BEGIN)), _day(dates.get(BENEFIT_END))
    return (begin is None or begin <= period_end) and (end is None or end >= period_start)


def _through_payroll(member: Mapping[str, Any]) -> bool:
    return (
        member.get("maintenance_type") != CANCELLED
        and member.get("benefit_status") not in NOT_THROUGH_PAYROLL_STATUS
        and member.get("employment_status") not in NOT_THROUGH_PAYROLL_EMPLOYMENT
    )


def _ssn_digits(value: str) -> str:
    return _DIGITS.sub("", value)


def elections(
    documents: Iterable[Mapping[str, Any]],
    roster: Sequence[Employee],
    rates_cents: Mapping[str, int],
    period_start: date,
    period_end: date,
) -> tuple[list[Election], list[InputError]]:
    """The period's benefit elections of roster employees, and every enrolment error."""
    by_id = {e.employee_id: e for e in roster}
    by_ssn = {_ssn_digits(e.ssn): e for e in roster}
    out: list[Election] = []
    errors: list[InputError] = []
    lines: dict[tuple[str, str], int] = {}

    def error(row: int, column: str, rule: str, value: str | None, message: str) -> None:
        # Member ids and SSNs are PII: masked; an insurance line code is not.
        shown = mask_value(value) if value and column == "REF*0F" else value
        errors.append(
            InputError(
                file="enrolment", row=row, column=column, rule=rule, value=shown, message=message
            )
        )

    for row, member in enumerate(members(documents), 1):
        if not member.get("subscriber") or not _through_payroll(member):
            continue
        covered = [
            c for c in member.get("coverages") or [] if in_force(c, period_start, period_end)
        ]
        if not covered:
            continue
        subscriber_id = str((member.get("member_ids") or {}).get(SUBSCRIBER_ID) or "")
        ssn = _ssn_digits(str(member.get("id") or ""))
        employee = by_id.get(subscriber_id)
        if employee is None and member.get("id_qualifier") == SSN_QUALIFIER and ssn:
            employee = by_ssn.get(ssn)
        if employee is None:
            error(
                row,
                "REF*0F",
                "unknown_member",
                subscriber_id or ssn or None,
                "subscriber with cover this period is on no roster (by REF*0F or SSN)",
            )
            continue
        for coverage in covered:
            line = str(coverage.get("insurance_line") or "")
            level = coverage.get("coverage_level") or None
            key = rate_key(line, level)
            premium = _premium_cents(coverage)
            if premium is not None:
                cents, priced_by = premium, "premium"
            elif key in rates_cents:
                cents, priced_by = rates_cents[key], key
            elif line in rates_cents:
                cents, priced_by = rates_cents[line], line
            else:
                error(row, "HD", "no_rate", None, f"no per-period rate for {key} (nor {line})")
                continue
            first = lines.get((employee.employee_id, line))
            if first is not None:
                error(
                    row,
                    "HD",
                    "duplicate",
                    line,
                    f"employee already has {line} cover (member {first})",
                )
                continue
            lines[(employee.employee_id, line)] = row
            out.append(
                Election(
                    employee_id=employee.employee_id,
                    insurance_line=line,
                    coverage_level=level,
                    plan=coverage.get("plan") or None,
                    cents=cents,
                    priced_by=priced_by,
                )
            )
    return out, errors


def deductions_by_employee(chosen: Iterable[Election]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for election in chosen:
        totals[election.employee_id] = totals.get(election.employee_id, 0) + election.cents
    return totals


def with_benefits(inputs: Sequence[PeriodInput], benefits: Mapping[str, int]) -> list[PeriodInput]:
    """The inputs with each employee's benefit deductions added (an employee without an inputs
    row gets one: no hours, no bonus, just the deduction)."""
    out = [
        item.model_copy(
            update={"deductions_cents": item.deductions_cents + benefits.get(item.employee_id, 0)}
        )
        for item in inputs
    ]
    given = {item.employee_id for item in inputs}
    out += [
        PeriodInput(employee_id=employee_id, hours=Decimal("0.00"), deductions_cents=cents)
        for employee_id, cents in benefits.items()
        if employee_id not in given
    ]
    return out
