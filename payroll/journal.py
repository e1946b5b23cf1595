"""The GL journal entry of a run, as CSV for the ERP. Debits always equal credits.

=============================  ======  ==========================================
account                        side    amount
=============================  ======  ==========================================
6000 Salaries and wages        debit   gross pay
6100 Employer payroll taxes    debit   employer Social Security + Medicare
2100 Federal withholding       credit  federal income tax withheld
2110 Social Security payable   credit  employee + employer Social Security
2120 Medicare payable          credit  employee + employer Medicare
2130 State withholding         credit  state income tax withheld
2200 Deductions payable        credit  deductions withheld
1010 Payroll clearing (cash)   credit  net pay (the direct-deposit file)
1999 Payroll suspense          either  any difference, so the entry always balances
=============================  ======  ==========================================

A reversal swaps every side.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

from payroll.amounts import Totals


@dataclass(frozen=True, slots=True)
class JournalLine:
    account: str
    description: str
    debit_cents: int
    credit_cents: int


def journal(totals: Totals, *, reversal: bool = False) -> list[JournalLine]:
    f, er = totals.figures, totals.employer_taxes
    employer = er.get("social_security", 0) + er.get("medicare", 0)
    debits = [
        ("6000", "Salaries and wages", f.get("gross", 0)),
        ("6100", "Employer payroll taxes", employer),
    ]
    credits = [
        ("2100", "Federal withholding payable", f.get("federal_income_tax", 0)),
        (
            "2110",
            "Social Security payable",
            f.get("social_security", 0) + er.get("social_security", 0),
        ),
        ("2120", "Medicare payable", f.get("medicare", 0) + er.get("medicare", 0)),
        ("2130", "State withholding payable", f.get("state_income_tax", 0)),
        ("2200", "Deductions payable", f.get("deductions", 0)),
        ("1010", "Payroll clearing (net pay)", f.get("net", 0)),
    ]
    if reversal:
        debits, credits = credits, debits
    lines = [JournalLine(a, d, amount, 0) for a, d, amount in debits]
    lines += [JournalLine(a, d, 0, amount) for a, d, amount in credits]
    # Figures that do not add up (a provider report whose net is not gross less withholdings)
    # go to suspense, so the entry always posts and the difference is visible to accounting.
    gap = sum(x.debit_cents for x in lines) - sum(x.credit_cents for x in lines)
    if gap:
        lines.append(JournalLine("1999", "Payroll suspense", max(-gap, 0), max(gap, 0)))
    return lines


def is_balanced(lines: list[JournalLine]) -> bool:
    return sum(x.debit_cents for x in lines) == sum(x.credit_cents for x in lines)


def _money(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def journal_csv(lines: list[JournalLine], *, journal_id: str, posting_date: date) -> str:
    """``journal_id,posting_date,line,account,description,debit,credit`` (dollars, 2 decimals)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["journal_id", "posting_date", "line", "account", "description", "debit", "credit"]
    )
    for number, line in enumerate(lines, 1):
        writer.writerow(
            [
                journal_id,
                posting_date.isoformat(),
                number,
                line.account,
                line.description,
                _money(line.debit_cents),
                _money(line.credit_cents),
            ]
        )
    return out.getvalue()
