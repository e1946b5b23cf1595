"""Imports every module that registers contracts, so ``all_wire_models()`` sees them all."""

from ach_returns import state_machine
from edi import results as edi_results
from intake import file_contract, findings, naming
from nacha import summaries
from payouts import bank_statements, reconciliation
from wire import ach, audit, demo, intake, payout_case, payouts, payroll
from wire import edi as edi_contracts
from wire import messaging as messaging_contracts
from wire import partners as partner_contracts

MODULES = (
    ach,
    audit,
    demo,
    intake,
    payouts,
    payout_case,
    payroll,
    file_contract,
    findings,
    naming,
    summaries,
    state_machine,
    bank_statements,
    reconciliation,
    edi_contracts,
    edi_results,
    partner_contracts,
    messaging_contracts,
)
