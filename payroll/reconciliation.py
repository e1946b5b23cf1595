"""The provider's run report against what we sent: per employee and in total, every figure
(gross, each tax, deductions, net). Any difference is an itemised exception."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from payroll.amounts import Pay, Totals

ExceptionKind = Literal["mismatch", "missing_from_report", "unexpected_in_report", "total"]


class PayException(BaseModel):
    """One difference. ``employee_id`` is None for a difference in the run's totals."""

    model_config = ConfigDict(frozen=True)

    kind: ExceptionKind
    employee_id: str | None
    figure: str | None
    expected_cents: int | None
    reported_cents: int | None

    @property
    def message(self) -> str:
        who = f"employee {self.employee_id}" if self.employee_id else "run total"
        if self.kind == "missing_from_report":
            return f"{who}: sent but not in the provider's report"
        if self.kind == "unexpected_in_report":
            return f"{who}: in the provider's report but never sent"
        return (
            f"{who}: {self.figure} expected {self.expected_cents}, reported {self.reported_cents}"
        )


class Reconciliation(BaseModel):
    expected: Totals
    reported: Totals
    exceptions: list[PayException] = Field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return not self.exceptions


def reconcile(expected: Iterable[Pay], reported: Iterable[Pay]) -> Reconciliation:
    """Compare employee by employee (by id, order ignored), then the totals."""
    sent = {p.employee_id: p for p in expected}
    got = {p.employee_id: p for p in reported}
    exceptions: list[PayException] = []
    for employee_id, ours in sent.items():
        theirs = got.get(employee_id)
        if theirs is None:
            exceptions.append(
                PayException(
                    kind="missing_from_report",
                    employee_id=employee_id,
                    figure=None,
                    expected_cents=ours.net_cents,
                    reported_cents=None,
                )
            )
            continue
        reported_values = theirs.field_values()
        for figure, value in ours.field_values().items():
            if reported_values[figure] != value:
                exceptions.append(
                    PayException(
                        kind="mismatch",
                        employee_id=employee_id,
                        figure=figure,
                        expected_cents=value,
                        reported_cents=reported_values[figure],
                    )
                )
    for employee_id, theirs in got.items():
        if employee_id not in sent:
            exceptions.append(
                PayException(
                    kind="unexpected_in_report",
                    employee_id=employee_id,
                    figure=None,
                    expected_cents=None,
                    reported_cents=theirs.net_cents,
                )
            )
    expected_totals, reported_totals = Totals(), Totals()
    for pay in sent.values():
        expected_totals.add(pay)
    for pay in got.values():
        reported_totals.add(pay)
    for figure, value in expected_totals.figures.items():
        other = reported_totals.figures.get(figure, 0)
        if other != value:
            exceptions.append(
                PayException(
                    kind="total",
                    employee_id=None,
                    figure=figure,
                    expected_cents=value,
                    reported_cents=other,
                )
            )
    return Reconciliation(expected=expected_totals, reported=reported_totals, exceptions=exceptions)
