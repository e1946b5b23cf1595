"""Whether a feed may move from one file contract to another.

The rule is the one ``integrations schemas check`` applies to our own wire models
(``wire.schemas.breaking_changes``): removing a column, changing a column's type or rules
of shape, or making a column newly required breaks the partner's (or our) reader, and needs a new
major version — for a file contract, a higher ``schema_version`` (``<name>.v<major>``). A
compatible change (a new optional column, a new description) may keep the version.
"""

from __future__ import annotations

from typing import Any

from foundation.compatibility import breaking_changes
from intake.file_contract import CsvFileContract, FixedWidthFileContract

FileContract = CsvFileContract | FixedWidthFileContract

# Documentation only: like the data-contract check, these never change a file's shape.
_DOC_FIELDS = {"description", "name", "required", "pii"}


def shape(contract: FileContract) -> dict[str, Any]:
    """The contract as a JSON-Schema-like shape: one property per column, the required ones
    listed, so ``breaking_changes`` compares file contracts as it compares data contracts."""
    properties: dict[str, Any] = {}
    for column in contract.columns:
        fields = column.model_dump(mode="json", exclude_none=True)
        properties[column.name] = {k: v for k, v in fields.items() if k not in _DOC_FIELDS}
    required = sorted(c.name for c in contract.columns if c.required)
    return {"properties": properties, "required": required, "kind": contract.kind}


def change_problems(old: FileContract, new: FileContract) -> list[str]:
    """What in ``new`` breaks a reader of ``old`` (empty when compatible)."""
    problems = []
    if old.kind != new.kind:
        problems.append(f"kind changed from {old.kind} to {new.kind}")
    problems += breaking_changes(shape(old), shape(new))
    return problems


def refusal(old: FileContract, new: FileContract) -> str | None:
    """Why a feed on ``old`` may not move to ``new`` (None when it may)."""
    if new.name != old.name:
        return f"the feed's contract is {old.name}; {new.name} is another contract"
    if new.schema_version < old.schema_version:
        return f"{new.contract_id} is older than the feed's {old.contract_id}"
    if new.contract_id == old.contract_id and shape(new) == shape(old):
        return f"the feed already uses {old.contract_id}"
    problems = change_problems(old, new)
    if problems and new.schema_version == old.schema_version:
        return (
            f"breaking change without a new major version ({old.contract_id} → "
            f"{new.contract_id}): {'; '.join(problems)}; give it schema_version "
            f"{old.schema_version + 1}"
        )
    return None
