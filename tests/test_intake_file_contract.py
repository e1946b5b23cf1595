"""File contracts: loading the repo's TOML files, refusing bad ones, the partner spec."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from foundation.wire_model import all_wire_models
from intake.errors import ContractError
from intake.file_contract import (
    ColumnType,
    CsvFileContract,
    FixedWidthFileContract,
    load_contract,
    load_contract_text,
    load_contracts,
)

REPO_CONTRACTS = Path(__file__).resolve().parent.parent / "file_contracts"

MINIMAL = """
name = "demo_feed"
schema_version = 2

[[columns]]
name = "id"
type = "integer"
required = true
"""


def test_every_repo_contract_loads() -> None:
    contracts = load_contracts(REPO_CONTRACTS)
    assert {"acme_customers.v1", "globex_payroll_roster.v1", "stripe_payouts.v1"} <= set(contracts)
    customers = contracts["acme_customers.v1"]
    assert isinstance(customers, CsvFileContract)
    assert customers.max_bad_row_percent == Decimal("1.0")
    assert customers.natural_key == ("customer_id",)
    assert [c.name for c in customers.columns if c.pii] == ["full_name", "email", "postal_code"]
    roster = contracts["globex_payroll_roster.v1"]
    assert isinstance(roster, FixedWidthFileContract)
    assert roster.encoding == "iso8859-1"
    assert roster.fixed_width.record_length == 80


def test_contract_models_are_registered_for_schema_export() -> None:
    registry = all_wire_models()
    assert registry["csv_file_contract@1"] is CsvFileContract
    assert registry["fixed_width_file_contract@1"] is FixedWidthFileContract
    schema = CsvFileContract.model_json_schema()
    assert "columns" in schema["properties"]
    assert FixedWidthFileContract.model_json_schema()["title"] == "FixedWidthFileContract"


def test_toml_floats_become_exact_decimals() -> None:
    text = MINIMAL.replace("schema_version = 2", "schema_version = 2\nmax_bad_row_percent = 0.1")
    # exactly one tenth, not 0.1000000000000000055511151231257827 from a binary float
    assert load_contract_text(text).max_bad_row_percent == Decimal("0.1")


def test_defaults_are_a_plain_utf8_csv_with_header() -> None:
    loaded = load_contract_text(MINIMAL)
    assert isinstance(loaded, CsvFileContract)
    assert (loaded.csv.delimiter, loaded.csv.encoding, loaded.csv.header) == (",", "utf-8", True)
    assert loaded.columns[0].type is ColumnType.INTEGER
    assert loaded.contract_id == "demo_feed.v2"


def _top(line: str) -> str:
    """MINIMAL with a top-level key (after [[columns]] a key would belong to the column)."""
    return MINIMAL.replace("schema_version = 2", f"schema_version = 2\n{line}")


def _with_column(body: str) -> str:
    return MINIMAL + "\n[[columns]]\n" + body


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_with_column('name = "b"\ntype = "strng"'), "columns[1] ('b').type: Input should be"),
        (
            _with_column('name = "b"\ntype = "string"\npatern = "x"'),
            "columns[1] ('b').patern: Extra inputs are not permitted",
        ),
        (
            _with_column('name = "b"\ntype = "enum"'),
            "columns[1] ('b'): Value error, an enum column",
        ),
        (_with_column('name = "b"\ntype = "decimal"'), "states its 'scale'"),
        (
            _with_column('name = "b"\ntype = "decimal"\nprecision = 4\nscale = 6'),
            "scale cannot exceed precision",
        ),
        (
            _with_column('name = "b"\ntype = "decimal"\nprecision = 40\nscale = 2'),
            "columns[1] ('b').precision",
        ),
        (_with_column('name = "b"\ntype = "string"\nscale = 2'), "apply to decimal columns"),
        (_with_column('name = "b"\ntype = "string"\npattern = "(a)\\\\1"'), "not supported by RE2"),
        (
            _with_column('name = "b"\ntype = "string"\npattern = "(unclosed"'),
            "invalid regular expression",
        ),
        (
            _with_column('name = "b"\ntype = "date"\nformat = "%d/%b/%Y"'),
            "directive(s) ['%b'] unsupported",
        ),
        (
            _with_column('name = "b"\ntype = "date"\nformat = "%Y-%m-%d%z"'),
            "a date has no time zone",
        ),
        (_with_column('name = "b"\ntype = "string"\nformat = "%Y"'), "format applies to date"),
        (
            _with_column('name = "b"\ntype = "boolean"\ntrue_values = ["Y"]\nfalse_values = ["y"]'),
            "disjoint",
        ),
        (_with_column('name = "id"\ntype = "string"'), "['id'] declared more than once"),
        (_with_column('name = " b"\ntype = "string"'), "no surrounding spaces"),
        (_top('natural_key = ["nope"]'), "natural_key: ['nope'] are not columns"),
        (MINIMAL.replace("schema_version = 2", "schema_version = 0"), "schema_version"),
        (MINIMAL.replace('"demo_feed"', '"Demo Feed"'), "name: String should match pattern"),
        (_top("max_bad_row_percent = 101"), "max_bad_row_percent"),
        (_top('timezone = "Mars/Olympus"'), "unknown time zone"),
        (_top('kind = "xml"'), "kind: must be one of ['csv', 'fixed_width']"),
        (MINIMAL + '[csv]\nencoding = "klingon"', "csv.encoding: Value error, unknown encoding"),
        (MINIMAL + '[csv]\nencoding = "utf-16"', "not ASCII-compatible"),
        (MINIMAL + '[csv]\ndelimiter = ";;"', "csv.delimiter"),
        (MINIMAL + "[csv]\ndelimiter = '\"'", "must differ"),
        (MINIMAL + '[csv]\ndelimiter = "\\n"', "cannot be line breaks"),
        ('name = "x"\nschema_version = 1\ncolumns = []', "columns: Tuple should have at least 1"),
        ("name = ", "not valid TOML"),
    ],
)
def test_a_bad_contract_names_the_field(text: str, message: str) -> None:
    with pytest.raises(ContractError) as caught:
        load_contract_text(text, "bad.v1.toml")
    assert message in str(caught.value)
    assert str(caught.value).startswith("bad.v1.toml: ")


FIXED = """
name = "fw"
kind = "fixed_width"
schema_version = 1

[fixed_width]
record_length = 20

[[columns]]
name = "a"
type = "string"
start = 1
length = 10

[[columns]]
name = "b"
type = "integer"
start = {b_start}
length = {b_length}
"""


@pytest.mark.parametrize(
    ("b_start", "b_length", "message"),
    [
        (10, 5, "'a' (positions 1-10) overlaps 'b' (from 10)"),
        (15, 10, "'b' ends at 24, past record_length 20"),
        (0, 5, "columns[1] ('b').start"),
    ],
)
def test_fixed_width_layout_is_checked(b_start: int, b_length: int, message: str) -> None:
    with pytest.raises(ContractError, match=re.escape(message)):
        load_contract_text(FIXED.format(b_start=b_start, b_length=b_length))


def test_fixed_width_needs_its_positions() -> None:
    text = FIXED.format(b_start=11, b_length=5).replace("start = 1\nlength = 10\n", "")
    with pytest.raises(ContractError, match=r"columns\[0\] \('a'\).start: Field required"):
        load_contract_text(text)


def test_file_name_must_agree_with_the_content(tmp_path: Path) -> None:
    wrong = tmp_path / "demo_feed.v1.toml"
    wrong.write_text(MINIMAL)
    with pytest.raises(ContractError, match=re.escape("belongs in 'demo_feed.v2.toml'")):
        load_contract(wrong)
    right = tmp_path / "demo_feed.v2.toml"
    right.write_text(MINIMAL)
    assert load_contract(right).schema_version == 2


def test_unreadable_contract_file(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match="cannot be read"):
        load_contract(tmp_path / "missing.v1.toml")
    (tmp_path / "latin.v1.toml").write_bytes(b'name = "caf\xe9"')
    with pytest.raises(ContractError, match="cannot be read"):
        load_contract(tmp_path / "latin.v1.toml")


def test_csv_spec_for_partners() -> None:
    spec = load_contract(REPO_CONTRACTS / "acme_customers.v1.toml").to_markdown()
    assert spec.startswith("# File specification: acme_customers, version 1")
    assert "comma-separated, encoded in utf-8" in spec
    assert "| 1 | `customer_id` | integer | yes |" in spec
    assert "| 2 | `full_name` | string | yes | at most 200 characters | yes |" in spec
    assert "one of `US`, `CA`, `GB`, `DE`, `FR`" in spec
    assert "up to 10 digits before the point and 2 after" in spec
    assert "format `%Y-%m-%dT%H:%M:%S%z`" in spec
    assert "more than 1.0% of its rows" in spec
    assert "Times without an offset are in America/New_York." in spec
    # a pattern's "|" must not break the markdown table
    assert "[0-9]{5}(-[0-9]{4})?\\|" in spec


def test_fixed_width_spec_for_partners() -> None:
    spec = load_contract(REPO_CONTRACTS / "globex_payroll_roster.v1.toml").to_markdown()
    assert "Every record is exactly 80 characters long." in spec
    assert "| 1 | `employee_id` | 1 | 9 | 9 | right | `0` | integer | yes |" in spec
    assert "| 4 | `ssn` | 45 | 9 | 53 | left | ` ` | string | yes |" in spec
    assert "The first 1 line(s) are a header" in spec
