"""Imports every module that registers contracts, so ``all_contracts()`` sees them all."""

from contracts import audit, demo

MODULES = (audit, demo)
