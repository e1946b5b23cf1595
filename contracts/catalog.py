"""Imports every module that registers contracts, so ``all_contracts()`` sees them all."""

from ach_returns import state_machine
from contracts import ach, audit, demo, intake, payout_case, payouts
from intake import file_contract, findings, naming
from nacha import summaries
from payouts import bank_statements, reconciliation

MODULES = (
    ach,
    audit,
    demo,
    intake,
    payouts,
    payout_case,
    file_contract,
    findings,
    naming,
    summaries,
    state_machine,
    bank_statements,
    reconciliation,
)
