"""Data contracts: exported schemas match the code, and breaking changes are caught."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import BaseModel

import wire.registered  # noqa: F401
from foundation.compatibility import breaking_changes, shape
from foundation.wire_model import WireModel, all_wire_models
from wire.schemas import SCHEMA_DIR, check, export


def _shape_of(model: type[BaseModel]) -> dict[str, Any]:
    return shape(model.model_json_schema())


def test_repository_schemas_match_the_code() -> None:
    assert check() == []


def test_every_workflow_input_and_result_is_a_registered_contract() -> None:
    from workflows.catalog import CATALOG

    registered = set(all_wire_models().values())
    for spec in CATALOG.values():
        assert spec.input in registered
        hints = spec.workflow.run.__annotations__  # type: ignore[attr-defined]
        assert "return" in hints


class V1(BaseModel):
    id: str
    amount: int
    note: str | None = None


class RemovedField(BaseModel):
    id: str
    note: str | None = None


class RetypedField(BaseModel):
    id: str
    amount: str
    note: str | None = None


class NewRequired(BaseModel):
    id: str
    amount: int
    note: str | None = None
    currency: str


class NewOptional(BaseModel):
    id: str
    amount: int
    note: str | None = None
    currency: str = "USD"


class Inner(BaseModel):
    iban: str


class InnerRetyped(BaseModel):
    iban: int


class Outer(BaseModel):
    account: Inner


class OuterRetyped(BaseModel):
    account: InnerRetyped


@pytest.mark.parametrize(
    ("new", "expected"),
    [
        (RemovedField, ["field 'amount' was removed"]),
        (RetypedField, ["field 'amount' changed type"]),
        (NewRequired, ["field 'currency' is newly required"]),
        (NewOptional, []),
    ],
)
def test_breaking_change_rules(new: type[BaseModel], expected: list[str]) -> None:
    assert breaking_changes(_shape_of(V1), _shape_of(new)) == expected


class Kind1(BaseModel):
    kind: Literal["a"] | None = None


class Kind2(BaseModel):
    kind: Literal["a", "b"] | None = None


class Kind3(BaseModel):
    kind: Literal["b", "c"] | None = None


def test_an_enum_that_gains_values_is_compatible_and_one_that_loses_them_is_not() -> None:
    assert breaking_changes(_shape_of(Kind1), _shape_of(Kind2)) == []
    assert breaking_changes(_shape_of(Kind2), _shape_of(Kind1)) == ["field 'kind' changed type"]
    assert breaking_changes(_shape_of(Kind1), _shape_of(Kind3)) == ["field 'kind' changed type"]


def test_nested_model_change_is_breaking() -> None:
    assert breaking_changes(_shape_of(Outer), _shape_of(OuterRetyped)) == [
        "field 'account.iban' changed type"
    ]


class Line1(BaseModel):
    code: str


class Line2(BaseModel):
    code: str
    severity: str = "error"


class Lines1(BaseModel):
    lines: list[Line1] = []


class Lines2(BaseModel):
    lines: list[Line2] = []


def test_an_optional_field_added_to_list_items_is_compatible_and_removing_it_is_not() -> None:
    assert breaking_changes(_shape_of(Lines1), _shape_of(Lines2)) == []
    assert breaking_changes(_shape_of(Lines2), _shape_of(Lines1)) == [
        "field 'lines[].severity' was removed"
    ]


def test_check_refuses_an_unversioned_breaking_change(tmp_path: Path) -> None:
    schemas = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, schemas)
    demo_input = schemas / "demo.input.v1.json"
    doc = json.loads(demo_input.read_text())
    # Pretend the exported (released) schema had a field the code no longer has.
    doc["schema"]["properties"]["legacy_ref"] = {"type": "string"}
    demo_input.write_text(json.dumps(doc))
    problems = check(schemas)
    assert problems == [
        "demo.input@1: breaking change without a new major version: field 'legacy_ref' was removed"
    ]


def test_export_writes_one_file_per_contract_major(tmp_path: Path) -> None:
    written = export(tmp_path)
    assert {p.name for p in written} == {
        f"{cls.wire_name}.v{cls.major_version()}.json" for cls in all_wire_models().values()
    }
    for path in written:
        doc = json.loads(path.read_text())
        assert set(doc) == {"contract", "version", "schema"}


def test_contract_base_ignores_unknown_fields_for_forward_compatibility() -> None:
    from wire.demo import DemoInput

    parsed = DemoInput.model_validate(
        {"customer_name": "A", "ssn": "123-45-6789", "amount": "1.00", "added_in_v1_2": True}
    )
    assert isinstance(parsed, WireModel)
    assert not hasattr(parsed, "added_in_v1_2")
