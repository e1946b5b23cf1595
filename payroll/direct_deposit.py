"""The direct-deposit file: one PPD credit per employee with net pay (NACHA writer's builders).

Trace numbers come from a block allocated to the run (``first_trace_sequence``), so a rebuild
gives the same entries and two runs never share a trace number; ACH returns find each entry as
an origination by that trace number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

import nacha
from nacha import NachaFile, Payment

# NACHA: Company Entry Description "PAYROLL" tells the receiver what the credit is; a reversal
# of a payroll credit is a debit described "REVERSAL" (Rules 2.9, reversing entries).
PAYROLL_DESCRIPTION = "PAYROLL"
REVERSAL_DESCRIPTION = "REVERSAL"


@dataclass(frozen=True, slots=True)
class Originator:
    """Who sends the file and to which bank (from the run's input)."""

    company_name: str
    company_identification: str  # 10 characters, usually "1" + EIN
    odfi_routing_number: str
    immediate_destination: str
    immediate_origin: str
    destination_name: str
    origin_name: str


@dataclass(frozen=True, slots=True)
class Deposit:
    employee_id: str
    name: str
    routing_number: str
    account_number: str
    account_type: str
    net_cents: int


def deposit_file(
    originator: Originator,
    deposits: Iterable[Deposit],
    *,
    effective_entry_date: date,
    created: datetime,
    first_trace_sequence: int,
    reversal: bool = False,
) -> NachaFile:
    """A PPD batch of credits (debits for a reversal) for every deposit with money in it."""
    payments = [
        Payment(
            routing_number=d.routing_number,
            account_number=d.account_number,
            amount_cents=d.net_cents,
            name=d.name[:22].upper(),
            account_type="savings" if d.account_type == "savings" else "checking",
            individual_identification=d.employee_id[:15],
        )
        for d in deposits
        if d.net_cents > 0
    ]
    batch = nacha.ppd_batch(
        company_name=originator.company_name,
        company_identification=originator.company_identification,
        odfi_routing_number=originator.odfi_routing_number,
        entry_description=REVERSAL_DESCRIPTION if reversal else PAYROLL_DESCRIPTION,
        effective_entry_date=effective_entry_date,
        payments=payments,
        credit=not reversal,
        first_trace_sequence=first_trace_sequence,
    )
    return nacha.build_file(
        immediate_destination=originator.immediate_destination,
        immediate_origin=originator.immediate_origin,
        destination_name=originator.destination_name,
        origin_name=originator.origin_name,
        created=created,
        batches=[batch],
    )
