"""Our segment contracts for sets pyx12 has no map for (``segment_contracts/<set>.toml``).

The contracts are read once, at first use, into a table keyed by transaction set id; a set is
looked up by its ST01 in that table and nowhere else. ST01 is partner data and never becomes a
file path (a long one raised ENAMETOOLONG, ``../..`` read a file outside the folder).

A contract names the segments X12 defines for the set, which must occur, how often they may,
their mandatory elements and count checks (CTT01 = number of line items). Checking a set gives
the same codes a 997 carries: AK304 for a segment, AK403 for an element, AK502 for the set.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from edi.datatypes import as_int, numeric_problem
from edi.reader import Segment, TransactionSet

CONTRACTS_DIR = Path(__file__).resolve().parent / "segment_contracts"
ENVELOPE = ("ST", "SE")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


NumericType = Literal["R", "N", "N0", "N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8", "N9"]


class SegmentRule(_Strict):
    id: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,2}$")
    required: bool = False
    max_use: int = Field(default=0, ge=0, description="0: unbounded")
    elements: tuple[int, ...] = ()
    numeric: dict[int, NumericType] = Field(
        default_factory=dict, description="Element number → X12 type (R, N, N0..N9)."
    )


class CountRule(_Strict):
    segment: str
    element: int = Field(ge=1)
    counts: str


class SegmentContract(_Strict):
    set_id: str = Field(pattern=r"^\d{3}$")
    functional_id: str = Field(pattern=r"^[A-Z]{2}$")
    name: str
    segments: tuple[SegmentRule, ...]
    other_segments: tuple[str, ...] = ()
    counts: tuple[CountRule, ...] = ()

    def known(self) -> frozenset[str]:
        return frozenset({*ENVELOPE, *self.other_segments, *(s.id for s in self.segments)})


@dataclass
class SegmentProblem:
    segment: Segment | None  # None: a mandatory segment that is missing
    segment_id: str
    code: str  # AK304
    message: str
    element: int | None = None
    element_code: str | None = None  # AK403
    value: str | None = None


@dataclass
class SetCheck:
    problems: list[SegmentProblem] = field(default_factory=list)
    set_codes: list[str] = field(default_factory=list)  # AK502


@cache
def contracts(directory: Path = CONTRACTS_DIR) -> dict[str, SegmentContract]:
    """Every contract in ``directory``, keyed by its set id (which must be its file's name)."""
    table: dict[str, SegmentContract] = {}
    for path in sorted(directory.glob("*.toml")):
        contract = SegmentContract.model_validate(tomllib.loads(path.read_text()))
        if contract.set_id != path.stem:
            raise ValueError(f"{path.name} declares set_id {contract.set_id}")
        table[contract.set_id] = contract
    return table


def load(set_id: str) -> SegmentContract | None:
    """The contract for ST01 ``set_id``, or None: a key lookup, never a path."""
    return contracts().get(set_id)


def available() -> list[str]:
    return sorted(contracts())


def check(contract: SegmentContract, transaction: TransactionSet) -> SetCheck:
    """Every problem of ``transaction`` against ``contract`` (not only the first)."""
    result = SetCheck()
    rules = {rule.id: rule for rule in contract.segments}
    known = contract.known()
    seen: dict[str, int] = {}
    body = [s for s in transaction.segments if s.id not in ENVELOPE]
    for segment in body:
        seen[segment.id] = seen.get(segment.id, 0) + 1
        if segment.id not in known:
            result.problems.append(
                SegmentProblem(
                    segment,
                    segment.id,
                    "6",
                    f"{segment.id} is not a segment of the {contract.name}",
                )
            )
            continue
        rule = rules.get(segment.id)
        if rule is None:
            continue
        if rule.max_use and seen[segment.id] == rule.max_use + 1:
            result.problems.append(
                SegmentProblem(
                    segment,
                    segment.id,
                    "5",
                    f"{segment.id} occurs more than {rule.max_use} time(s)",
                )
            )
        for number in rule.elements:
            if not segment.get(number).strip():
                result.problems.append(
                    SegmentProblem(
                        segment,
                        segment.id,
                        "8",
                        f"{segment.id}{number:02d} is mandatory",
                        element=number,
                        element_code="1",
                    )
                )
        for number, kind in rule.numeric.items():
            value = segment.get(number)
            why = numeric_problem(value, kind) if value else None
            if why is not None:
                # AK403 6: invalid character in data element (an exponent, a plus sign, ...).
                result.problems.append(
                    SegmentProblem(
                        segment,
                        segment.id,
                        "8",
                        f"{segment.id}{number:02d} {why}",
                        element=number,
                        element_code="6",
                        value=value,
                    )
                )
    for rule in contract.segments:
        if rule.required and not seen.get(rule.id):
            result.problems.append(
                SegmentProblem(None, rule.id, "3", f"mandatory segment {rule.id} is missing")
            )
    for count in contract.counts:
        for segment in body:
            if segment.id != count.segment:
                continue
            declared = segment.get(count.element)
            actual = seen.get(count.counts, 0)
            declared_count = as_int(declared)
            if declared_count is not None and declared_count != actual:
                result.problems.append(
                    SegmentProblem(
                        segment,
                        segment.id,
                        "8",
                        f"{segment.id}{count.element:02d} says {declared} {count.counts} "
                        f"segment(s); the set has {actual}",
                        element=count.element,
                        element_code="7",
                        value=declared,
                    )
                )
    if result.problems:
        result.set_codes.append("5")  # one or more segments in error
    return result
