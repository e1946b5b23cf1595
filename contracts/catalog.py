"""Imports every module that registers contracts, so ``all_contracts()`` sees them all."""

from contracts import audit, demo, intake
from intake import file_contract, findings, naming

MODULES = (audit, demo, intake, file_contract, findings, naming)
