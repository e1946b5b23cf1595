"""What each employee should be paid: gross, each tax, deductions and net, in integer cents.

The rates are a deliberately small flat table (federal withholding, Social Security, Medicare,
state withholding) shared with the provider simulator; a real provider computes taxes itself and
:mod:`payroll.reconciliation` is what notices when its figures and ours disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from pydantic import BaseModel, ConfigDict, Field

from payroll.roster import Employee, PeriodInput

TAXES = ("federal_income_tax", "social_security", "medicare", "state_income_tax")
FEDERAL_RATE = Decimal("0.10")
SOCIAL_SECURITY_RATE = Decimal("0.062")  # employee and employer share alike (FICA)
MEDICARE_RATE = Decimal("0.0145")
STATE_RATES: Mapping[str, Decimal] = {
    "CA": Decimal("0.05"),
    "NY": Decimal("0.06"),
    "TX": Decimal(0),
    "FL": Decimal(0),
    "WA": Decimal(0),
}
DEFAULT_STATE_RATE = Decimal("0.04")


def _share(amount_cents: int, rate: Decimal) -> int:
    return int((Decimal(amount_cents) * rate).quantize(Decimal(1), rounding=ROUND_HALF_UP))


class Pay(BaseModel):
    """One employee's pay for the period (what we send, or what the provider reports)."""

    model_config = ConfigDict(frozen=True)

    employee_id: str
    gross_cents: int
    taxes: dict[str, int] = Field(default_factory=dict)
    deductions_cents: int = 0
    net_cents: int

    def field_values(self) -> dict[str, int]:
        """Every reconciled figure by name (gross, each tax, deductions, net)."""
        return {
            "gross": self.gross_cents,
            **{tax: self.taxes.get(tax, 0) for tax in TAXES},
            "deductions": self.deductions_cents,
            "net": self.net_cents,
        }


def employer_taxes(gross_cents: int) -> dict[str, int]:
    """The employer's matching FICA share (expense debit, liability credit in the GL)."""
    return {
        "social_security": _share(gross_cents, SOCIAL_SECURITY_RATE),
        "medicare": _share(gross_cents, MEDICARE_RATE),
    }


def gross_cents(employee: Employee, item: PeriodInput | None) -> int:
    base = (
        employee.rate_cents
        if employee.pay_type == "salary"
        else _share(employee.rate_cents, item.hours if item else Decimal(0))
    )
    return base + (item.bonus_cents if item else 0)


def expected_pay(employee: Employee, item: PeriodInput | None) -> Pay:
    """Gross from the rate (and hours), taxes from the table, then deductions; net never goes
    below zero: deductions are capped at what the taxes leave (the rest is the HRIS's to fix)."""
    gross = gross_cents(employee, item)
    taxes = {
        "federal_income_tax": _share(gross, FEDERAL_RATE),
        "social_security": _share(gross, SOCIAL_SECURITY_RATE),
        "medicare": _share(gross, MEDICARE_RATE),
        "state_income_tax": _share(gross, STATE_RATES.get(employee.state, DEFAULT_STATE_RATE)),
    }
    after_tax = gross - sum(taxes.values())
    deductions = min(item.deductions_cents if item else 0, max(after_tax, 0))
    return Pay(
        employee_id=employee.employee_id,
        gross_cents=gross,
        taxes=taxes,
        deductions_cents=deductions,
        net_cents=after_tax - deductions,
    )


def expected_run(employees: Iterable[Employee], inputs: Iterable[PeriodInput]) -> list[Pay]:
    """Everyone on the roster, in roster order (employees without an inputs row get their
    salary, or nothing for hours they did not report)."""
    by_id = {item.employee_id: item for item in inputs}
    return [expected_pay(e, by_id.get(e.employee_id)) for e in employees]


class Totals(BaseModel):
    """The run's totals per figure, and the employer's share of FICA."""

    employees: int = 0
    figures: dict[str, int] = Field(default_factory=dict)
    employer_taxes: dict[str, int] = Field(default_factory=dict)

    def add(self, pay: Pay) -> None:
        self.employees += 1
        for name, value in pay.field_values().items():
            self.figures[name] = self.figures.get(name, 0) + value
        for name, value in employer_taxes(pay.gross_cents).items():
            self.employer_taxes[name] = self.employer_taxes.get(name, 0) + value


def totals(pays: Iterable[Pay]) -> Totals:
    out = Totals()
    for pay in pays:
        out.add(pay)
    return out
