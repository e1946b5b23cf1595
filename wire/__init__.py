"""Versioned data contracts: every workflow, signal, update and activity input and output, every
published event and every file contract is a pydantic model registered here.

Register a model with :func:`contract`; its JSON Schema is exported to ``wire/json_schemas/`` and
the test suite refuses a backward-incompatible change that does not bump the major version.
"""

from foundation.wire_model import Contract, all_contracts, contract

__all__ = ["Contract", "all_contracts", "contract"]
