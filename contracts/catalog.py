"""Imports every module that registers contracts, so ``all_contracts()`` sees them all."""

from ach_returns import state_machine
from contracts import ach, audit, demo, intake
from intake import file_contract, findings, naming
from nacha import summaries

MODULES = (ach, audit, demo, intake, file_contract, findings, naming, summaries, state_machine)
