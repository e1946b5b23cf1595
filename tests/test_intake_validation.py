"""The streaming validator and the error report, against every CSV pitfall the issue lists."""

from __future__ import annotations

import csv
import io
import json
import tomllib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from foundation.pii import mask_value
from intake.error_report import render_csv, render_json, report_dict
from intake.errors import FileUnreadable
from intake.file_contract import (
    CsvFileContract,
    FixedWidthFileContract,
    load_contract,
    parse_contract,
)
from intake.findings import RowError, Rule, ValidationSummary
from intake.validation import compile_validator, validate_file

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

CUSTOMERS = """
name = "customers"
schema_version = 1
max_bad_row_percent = 100
timezone = "America/New_York"

[[columns]]
name = "id"
type = "integer"
required = true

[[columns]]
name = "name"
type = "string"
required = true
max_length = 20
pii = true

[[columns]]
name = "email"
type = "email"
pii = true

[[columns]]
name = "signup"
type = "date"

[[columns]]
name = "balance"
type = "decimal"
precision = 10
scale = 2

[[columns]]
name = "tier"
type = "enum"
values = ["gold", "silver"]

[[columns]]
name = "active"
type = "boolean"

[[columns]]
name = "code"
type = "string"
pattern = "[A-Z]{2}[0-9]{2}"
"""
HEADER = "id,name,email,signup,balance,tier,active,code\n"
GOOD = "1,Ann Lee,ann@example.com,2025-01-31,12.50,gold,true,AB12\n"


def contract_of(text: str = CUSTOMERS, **top: Any) -> CsvFileContract:
    """The contract in ``text`` with top-level settings replaced."""
    data = tomllib.loads(text, parse_float=Decimal)
    loaded = parse_contract({**data, **top})
    assert isinstance(loaded, CsvFileContract)
    return loaded


def with_dialect(text: str, dialect: str) -> str:
    return text + "\n[csv]\n" + dialect + "\n"


def write(tmp_path: Path, content: str | bytes, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def errors_at(summary: ValidationSummary) -> list[tuple[int, str | None, Rule]]:
    return [(e.row, e.column, e.rule) for e in summary.errors]


def parquet_rows(path: str | None) -> list[dict[str, Any]]:
    assert path is not None
    rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    return rows


# -- the happy path and the types ----------------------------------------------------------------


def test_a_good_file_lands_typed_in_parquet(tmp_path: Path) -> None:
    src = write(tmp_path, HEADER + GOOD + "2,Bo,,,,,,\n")
    summary = validate_file(contract_of(), src, tmp_path / "out.parquet")
    assert summary.status == "accepted"
    assert (summary.rows_total, summary.rows_valid, summary.rows_invalid) == (2, 2, 0)
    assert summary.bytes == src.stat().st_size
    assert summary.errors == ()
    assert summary.parquet_path == str(tmp_path / "out.parquet")
    assert not (tmp_path / "out.parquet.partial").exists()
    assert parquet_rows(summary.parquet_path) == [
        {
            "id": 1,
            "name": "Ann Lee",
            "email": "ann@example.com",
            "signup": date(2025, 1, 31),
            "balance": Decimal("12.50"),
            "tier": "gold",
            "active": True,
            "code": "AB12",
        },
        {
            "id": 2,
            "name": "Bo",
            "email": None,
            "signup": None,
            "balance": None,
            "tier": None,
            "active": None,
            "code": None,
        },
    ]
    schema = pq.read_schema(tmp_path / "out.parquet")
    assert str(schema.field("balance").type) == "decimal128(10, 2)"  # money is never a float
    assert not schema.field("id").nullable


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("id", "", Rule.REQUIRED),
        ("id", "12a", Rule.TYPE),
        ("id", "+5", Rule.TYPE),
        ("id", "0x10", Rule.TYPE),
        ("id", "1234567890123456789", Rule.TYPE),  # over 18 digits
        ("id", "1.0", Rule.TYPE),
        ("name", "", Rule.REQUIRED),
        ("name", "x" * 21, Rule.MAX_LENGTH),
        ("email", "ann@", Rule.TYPE),
        ("email", "ann example.com", Rule.TYPE),
        ("email", "a@" + "b" * 250 + ".com", Rule.TYPE),
        ("signup", "2025-02-30", Rule.TYPE),
        ("signup", "2025-2-3", Rule.TYPE),
        ("signup", " 2025-02-03", Rule.TYPE),
        ("signup", "03/02/2025", Rule.TYPE),
        ("balance", "12.345", Rule.TYPE),
        ("balance", "1e3", Rule.TYPE),
        ("balance", "1,000.00", Rule.TYPE),
        ("balance", "123456789.00", Rule.TYPE),  # 9 digits before the point, 8 allowed
        ("balance", ".5", Rule.TYPE),
        ("tier", "Gold", Rule.ENUM),
        ("active", "maybe", Rule.TYPE),
        ("code", "ab12", Rule.PATTERN),
        ("code", "AB123", Rule.PATTERN),  # the pattern must match the whole value
    ],
)
def test_each_rule_is_reported_at_its_cell(
    tmp_path: Path, column: str, value: str, rule: Rule
) -> None:
    cells = dict(zip(HEADER.strip().split(","), GOOD.strip().split(","), strict=True))
    cells[column] = value
    bad = ",".join(f'"{v}"' if "," in v else v for v in cells.values()) + "\n"
    summary = validate_file(contract_of(), write(tmp_path, HEADER + GOOD + bad + GOOD))
    assert errors_at(summary) == [(2, column, rule)]
    assert summary.rows_invalid == 1
    assert [(c.column, c.rule, c.count) for c in summary.error_counts] == [(column, rule, 1)]


@pytest.mark.parametrize(
    ("value", "ok"),
    [("-0.5", True), ("12", True), ("12345678.99", True), ("-", False), ("12.", False)],
)
def test_decimal_edges(tmp_path: Path, value: str, ok: bool) -> None:
    row = GOOD.replace("12.50", value)
    summary = validate_file(contract_of(), write(tmp_path, HEADER + row), tmp_path / "o.parquet")
    assert (summary.rows_invalid == 0) is ok
    if ok:
        assert parquet_rows(summary.parquet_path)[0]["balance"] == Decimal(value)


def test_booleans_in_any_case(tmp_path: Path) -> None:
    rows = "".join(GOOD.replace("true", v) for v in ("TRUE", "Yes", "n", "0", "F"))
    summary = validate_file(contract_of(), write(tmp_path, HEADER + rows), tmp_path / "o.parquet")
    assert summary.rows_invalid == 0
    assert [r["active"] for r in parquet_rows(summary.parquet_path)] == [
        True,
        True,
        False,
        False,
        False,
    ]


DATETIMES = """
name = "events"
schema_version = 1
timezone = "America/New_York"
max_bad_row_percent = 100

[[columns]]
name = "local"
type = "datetime"
format = "%Y-%m-%d %H:%M:%S"

[[columns]]
name = "zoned"
type = "datetime"
format = "%Y-%m-%dT%H:%M:%S%z"
"""


def test_datetimes_become_utc(tmp_path: Path) -> None:
    content = (
        "local,zoned\n"
        "2025-01-15 09:30:00,2025-01-15T09:30:00+02:00\n"
        "2025-07-15 09:30:00,2025-07-15T09:30:00Z\n"
        "2025-02-30 09:30:00,2025-02-30T09:30:00+0000\n"
        "2025-01-15 25:00:00,2025-01-15 09:30:00\n"
    )
    summary = validate_file(
        contract_of(DATETIMES), write(tmp_path, content), tmp_path / "o.parquet"
    )
    assert errors_at(summary) == [
        (3, "local", Rule.TYPE),
        (3, "zoned", Rule.TYPE),
        (4, "local", Rule.TYPE),
        (4, "zoned", Rule.TYPE),
    ]
    rows = parquet_rows(summary.parquet_path)
    # New York is UTC-5 in winter and UTC-4 in summer: the contract's zone, DST included.
    assert [r["local"].astimezone(UTC) for r in rows] == [
        datetime(2025, 1, 15, 14, 30, tzinfo=UTC),
        datetime(2025, 7, 15, 13, 30, tzinfo=UTC),
    ]
    assert [r["zoned"].astimezone(UTC) for r in rows] == [
        datetime(2025, 1, 15, 7, 30, tzinfo=UTC),
        datetime(2025, 7, 15, 9, 30, tzinfo=UTC),
    ]


# -- CSV pitfalls ----------------------------------------------------------------------------------


def test_utf8_bom_and_crlf(tmp_path: Path) -> None:
    content = ("\ufeff" + HEADER + GOOD + GOOD.replace("1,", "2,", 1)).replace("\n", "\r\n")
    summary = validate_file(contract_of(), write(tmp_path, content), tmp_path / "o.parquet")
    assert summary.status == "accepted"
    assert summary.schema_drift is None  # the BOM is not part of the first column's name
    rows = parquet_rows(summary.parquet_path)
    assert [r["id"] for r in rows] == [1, 2]
    assert rows[0]["code"] == "AB12"  # no stray "\r"


def test_quoted_delimiters_quotes_and_newlines(tmp_path: Path) -> None:
    content = (
        HEADER
        + '1,"Lee, Ann",ann@example.com,,,,,\n'
        + '2,"Line one\nline two",,,,,,\n'
        + '3,"say ""hi""",,,,,,\n'
        + "4,x,bad-email,,,,,\n"  # data row 4, though it is line 6 of the file
    )
    summary = validate_file(contract_of(), write(tmp_path, content), tmp_path / "o.parquet")
    assert errors_at(summary) == [(4, "email", Rule.TYPE)]
    summary = validate_file(
        contract_of(max_bad_row_percent=25), write(tmp_path, content), tmp_path / "o.parquet"
    )
    assert summary.status == "accepted"
    assert [r["name"] for r in parquet_rows(summary.parquet_path)] == [
        "Lee, Ann",
        "Line one\nline two",
        'say "hi"',
    ]


def test_wrong_field_counts_are_row_errors_and_later_rows_keep_their_numbers(
    tmp_path: Path,
) -> None:
    content = (
        HEADER
        + GOOD
        + "2,too,many,fields,,,,,,extra\n"
        + "3,too few\n"
        + "\n"  # a blank line is not a row
        + GOOD.replace("ann@example.com", "not-an-email")  # data row 4
    )
    summary = validate_file(contract_of(), write(tmp_path, content))
    assert errors_at(summary) == [
        (2, None, Rule.COLUMN_COUNT),
        (3, None, Rule.COLUMN_COUNT),
        (4, "email", Rule.TYPE),
    ]
    assert summary.errors[0].message == "expected 8 fields, found 10"
    assert summary.errors[1].value is None  # a broken row is never echoed: it may hold PII
    assert (summary.rows_total, summary.rows_invalid) == (4, 3)


def test_declared_latin1(tmp_path: Path) -> None:
    content = (HEADER + GOOD.replace("Ann Lee", "Zoë Müller")).encode("latin-1")
    latin = contract_of(with_dialect(CUSTOMERS, 'encoding = "latin-1"'))
    summary = validate_file(latin, write(tmp_path, content), tmp_path / "o.parquet")
    assert summary.status == "accepted"
    assert parquet_rows(summary.parquet_path)[0]["name"] == "Zoë Müller"


def test_bytes_that_are_not_the_declared_utf8(tmp_path: Path) -> None:
    content = (HEADER + GOOD + GOOD.replace("Ann Lee", "Zoë Müller")).encode("latin-1")
    summary = validate_file(contract_of(), write(tmp_path, content))
    assert errors_at(summary) == [(2, "name", Rule.ENCODING)]
    assert summary.errors[0].message == "not valid utf-8 text"
    assert summary.errors[0].value is None


def test_empty_file(tmp_path: Path) -> None:
    summary = validate_file(contract_of(), write(tmp_path, b""), tmp_path / "o.parquet")
    assert summary.status == "rejected"
    assert [p.rule for p in summary.file_problems] == [Rule.EMPTY_FILE]
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", b"\n\n", b"\r\n"])
def test_a_file_of_nothing_but_a_bom_or_blank_lines_is_empty(
    tmp_path: Path, content: bytes
) -> None:
    summary = validate_file(contract_of(), write(tmp_path, content))
    assert [p.rule for p in summary.file_problems] == [Rule.EMPTY_FILE]


@pytest.mark.parametrize("content", [HEADER, HEADER.strip(), HEADER.replace("\n", "\r\n")])
def test_header_only_is_a_valid_empty_delivery(tmp_path: Path, content: str) -> None:
    summary = validate_file(contract_of(), write(tmp_path, content), tmp_path / "o.parquet")
    assert summary.status == "accepted"
    assert (summary.rows_total, summary.bad_row_percent) == (0, Decimal(0))
    table = pq.read_table(tmp_path / "o.parquet")
    assert table.num_rows == 0 and table.column_names[0] == "id"


def test_header_only_is_refused_when_the_contract_wants_rows(tmp_path: Path) -> None:
    summary = validate_file(contract_of(allow_no_rows=False), write(tmp_path, HEADER))
    assert [p.rule for p in summary.file_problems] == [Rule.NO_ROWS]


def test_last_line_without_newline(tmp_path: Path) -> None:
    summary = validate_file(contract_of(), write(tmp_path, HEADER + GOOD + GOOD.strip()))
    assert (summary.status, summary.rows_total) == ("accepted", 2)


def test_unterminated_quote_is_not_silently_swallowed(tmp_path: Path) -> None:
    content = HEADER + GOOD + '2,"Ann,a@b.co,,,,,\n' + GOOD + GOOD
    summary = validate_file(contract_of(), write(tmp_path, content), tmp_path / "o.parquet")
    assert summary.status == "rejected"
    assert Rule.UNTERMINATED_QUOTE in [p.rule for p in summary.file_problems]
    assert not (tmp_path / "o.parquet").exists()


# -- header drift --------------------------------------------------------------------------------


def _drift(tmp_path: Path, header: str, **top: Any) -> ValidationSummary:
    return validate_file(contract_of(**top), write(tmp_path, header + "\n" + GOOD))


def test_missing_column(tmp_path: Path) -> None:
    summary = _drift(tmp_path, "id,name,email,signup,balance,tier,active")
    assert summary.status == "rejected"
    assert summary.schema_drift is not None and summary.schema_drift.missing == ("code",)
    assert "missing column(s) 'code'" in summary.file_problems[0].message
    assert summary.rows_total == 0  # nothing is read against the wrong header


def test_unexpected_and_renamed_columns(tmp_path: Path) -> None:
    summary = _drift(tmp_path, "id,Name,email,signup_date,balance,tier,active,code,notes")
    drift = summary.schema_drift
    assert drift is not None
    assert drift.renamed == (("name", "Name"),)
    assert drift.missing == ("signup",)
    assert drift.unexpected == ("signup_date", "notes")
    assert [p.rule for p in summary.file_problems] == [Rule.SCHEMA_DRIFT]


def test_renamed_in_place(tmp_path: Path) -> None:
    summary = _drift(tmp_path, "id,name,mail,signup,balance,tier,active,code")
    assert summary.schema_drift is not None
    assert summary.schema_drift.renamed == (("email", "mail"),)


def test_duplicated_column(tmp_path: Path) -> None:
    summary = _drift(tmp_path, "id,name,email,signup,balance,tier,active,code,code")
    assert summary.schema_drift is not None and summary.schema_drift.duplicated == ("code",)
    assert summary.status == "rejected"


def test_reordered_columns_are_matched_by_name(tmp_path: Path) -> None:
    content = (
        "code,active,tier,balance,signup,email,name,id\n"
        + ",".join(reversed(GOOD.strip().split(",")))
        + "\n"
    )
    summary = validate_file(contract_of(), write(tmp_path, content), tmp_path / "o.parquet")
    assert summary.status == "accepted"
    assert summary.schema_drift is not None and summary.schema_drift.reordered
    row = parquet_rows(summary.parquet_path)[0]
    assert (row["id"], row["code"], next(iter(row))) == (1, "AB12", "id")


def test_extra_columns_when_allowed(tmp_path: Path) -> None:
    content = HEADER.strip() + ",notes\n" + GOOD.strip() + ",anything\n"
    summary = validate_file(
        contract_of(allow_extra_columns=True), write(tmp_path, content), tmp_path / "o.parquet"
    )
    assert summary.status == "accepted"
    assert "notes" not in parquet_rows(summary.parquet_path)[0]


def test_a_missing_header_does_not_echo_the_data_row(tmp_path: Path) -> None:
    content = "7,Jane Roe,jane@example.com,2025-01-01,1.00,gold,true,AB12\n" + GOOD
    summary = validate_file(contract_of(), write(tmp_path, content))
    assert summary.status == "rejected"
    report = render_json(summary) + render_csv(summary)
    assert "Jane" not in report and "jane@example.com" not in report


def test_no_header_contract(tmp_path: Path) -> None:
    text = with_dialect(CUSTOMERS, 'header = false\ndelimiter = "|"')
    content = GOOD.replace(",", "|") + "x|Bo||||||\n" + "3|Cy\n"
    summary = validate_file(contract_of(text), write(tmp_path, content), tmp_path / "o.parquet")
    # without a header, the first line is data row 1
    assert errors_at(summary) == [(2, "id", Rule.TYPE), (3, None, Rule.COLUMN_COUNT)]
    assert parquet_rows(summary.parquet_path)[0]["code"] == "AB12"


def test_strip_whitespace(tmp_path: Path) -> None:
    content = HEADER + GOOD.replace("1,", " 1 ,", 1).replace("gold", " gold")
    assert validate_file(contract_of(), write(tmp_path, content)).rows_invalid == 1
    stripping = contract_of(with_dialect(CUSTOMERS, "strip_whitespace = true"))
    assert validate_file(stripping, write(tmp_path, content)).rows_invalid == 0


# -- limits and acceptance -----------------------------------------------------------------------


def test_a_file_over_the_size_limit_is_not_read(tmp_path: Path) -> None:
    src = write(tmp_path, HEADER + GOOD * 10)
    summary = validate_file(contract_of(max_file_bytes=100), src, tmp_path / "o.parquet")
    assert [p.rule for p in summary.file_problems] == [Rule.FILE_TOO_LARGE]
    assert f"{src.stat().st_size:,} bytes" in summary.file_problems[0].message
    assert summary.rows_total == 0 and not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize(("bad", "status"), [(1, "accepted"), (2, "rejected")])
def test_bad_row_threshold(tmp_path: Path, bad: int, status: str) -> None:
    rows = [GOOD] * (100 - bad) + [GOOD.replace("gold", "bronze")] * bad
    src = write(tmp_path, HEADER + "".join(rows))
    summary = validate_file(contract_of(max_bad_row_percent=1), src, tmp_path / "o.parquet")
    assert summary.status == status
    assert summary.bad_row_percent == Decimal(bad)
    if status == "accepted":
        assert len(parquet_rows(summary.parquet_path)) == 99  # the good rows land
    else:
        assert summary.file_problems[0].rule is Rule.TOO_MANY_BAD_ROWS
        assert not (tmp_path / "o.parquet").exists()
        assert not (tmp_path / "o.parquet.partial").exists()


def test_error_sample_is_capped_but_counts_are_complete(tmp_path: Path) -> None:
    rows = HEADER + GOOD.replace("gold", "x") * 30
    summary = compile_validator(contract_of(), max_errors=5).validate(write(tmp_path, rows))
    assert [e.row for e in summary.errors] == [1, 2, 3, 4, 5]
    assert summary.errors_truncated
    assert summary.error_counts[0].count == 30
    assert "25 more errors not listed" in render_csv(summary)


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    with pytest.raises(FileUnreadable):
        validate_file(contract_of(), tmp_path / "nope.csv")


def test_streams_in_small_blocks_with_exact_row_numbers(tmp_path: Path) -> None:
    """Many blocks, skipped rows in several of them: every error keeps its file row number."""
    lines = []
    expected: list[tuple[int, str | None, Rule]] = []
    for row in range(1, 3001):
        if row % 250 == 0:
            lines.append(f"{row},short\n")
            expected.append((row, None, Rule.COLUMN_COUNT))
        elif row % 333 == 0:
            lines.append(GOOD.replace("1,", f"{row},", 1).replace("AB12", "bad"))
            expected.append((row, "code", Rule.PATTERN))
        else:
            lines.append(GOOD.replace("1,", f"{row},", 1))
    validator = compile_validator(contract_of(), block_size=4096)
    summary = validator.validate(write(tmp_path, HEADER + "".join(lines)), tmp_path / "o.parquet")
    assert errors_at(summary) == sorted(expected)
    assert summary.rows_total == 3000
    ids = [r["id"] for r in parquet_rows(summary.parquet_path)]
    assert ids == [r for r in range(1, 3001) if r % 250 and r % 333]


# -- fixed width ---------------------------------------------------------------------------------


def _record(
    emp: str, last: str, first: str, ssn: str, pay_date: str, net: str, kind: str, dd: str
) -> str:
    line = f"{emp:0>9}{last:<20}{first:<15}{ssn:<9}{pay_date:<8}{net:>12}{kind:<3}{dd:<1}"
    return f"{line:<80}"


def test_fixed_width_roster(tmp_path: Path) -> None:
    roster = load_contract(REPO / "file_contracts" / "globex_payroll_roster.v1.toml")
    assert isinstance(roster, FixedWidthFileContract)
    lines = [
        "GLOBEX ROSTER 2025-01-31".ljust(80),
        _record("1042", "Müller", "Zoë", "123456789", "20250131", "2345.67", "REG", "Y"),
        _record("0", "Zero", "", "987654321", "20250131", "-12.00", "BON", "N"),
        _record("1043", "Short", "Rec", "123456789", "20250131", "1.00", "REG", "Y")[:70],
        _record("1044", "Bad", "Date", "12345678X", "20250230", "1.001", "XXX", "Y"),
    ]
    content = "\r\n".join(lines).encode("latin-1")
    summary = validate_file(roster, write(tmp_path, content, "roster.txt"), tmp_path / "o.parquet")
    assert errors_at(summary) == [
        (3, None, Rule.RECORD_LENGTH),
        (3, "pay_type", Rule.REQUIRED),
        (3, "direct_deposit", Rule.REQUIRED),
        (4, "ssn", Rule.PATTERN),
        (4, "pay_date", Rule.TYPE),
        (4, "net_pay", Rule.TYPE),
        (4, "pay_type", Rule.ENUM),
    ]
    assert summary.errors[3].value == "***678X"  # SSN is PII
    assert summary.status == "rejected"  # the roster allows no bad rows
    lenient = roster.model_copy(update={"max_bad_row_percent": Decimal(100)})
    summary = validate_file(lenient, tmp_path / "roster.txt", tmp_path / "o.parquet")
    rows = parquet_rows(summary.parquet_path)
    assert rows[0]["employee_id"] == 1042
    assert rows[0]["last_name"] == "Müller" and rows[0]["first_name"] == "Zoë"
    assert rows[0]["net_pay"] == Decimal("2345.67")
    assert rows[0]["pay_date"] == date(2025, 1, 31)
    assert rows[1]["employee_id"] == 0  # "000000000" is zero, not absent
    assert rows[1]["first_name"] is None and rows[1]["net_pay"] == Decimal("-12.00")


# -- the real corpus -----------------------------------------------------------------------------


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
def test_real_stripe_payout_file(tmp_path: Path) -> None:
    """A real export: quoted JSON with doubled quotes, no newline at the end of the file."""
    payouts = load_contract(REPO / "file_contracts" / "stripe_payouts.v1.toml")
    summary = validate_file(
        payouts, CORPUS / "stripe" / "fivetran_payout_data.csv", tmp_path / "payouts.parquet"
    )
    assert (summary.status, summary.rows_total, summary.rows_invalid) == ("accepted", 15, 0)
    rows = parquet_rows(summary.parquet_path)
    assert rows[0]["amount"] == 3029432
    assert rows[5]["amount"] == -833651
    assert rows[0]["metadata"] == '{"external_id":"80755622-45b3-40a6-9544-25af39e0e50c"}'
    assert rows[-1]["id"] == "po_0IJ74Lig6peNXzgD2WboJcUe"


# -- the error report ----------------------------------------------------------------------------


def test_report_masks_pii_and_is_actionable(tmp_path: Path) -> None:
    content = HEADER + GOOD.replace("ann@example.com", "ann.secret@example")
    summary = validate_file(contract_of(), write(tmp_path, content))
    assert summary.errors[0].value == mask_value("ann.secret@example") == "***mple"
    as_json = json.loads(render_json(summary, contract_of(), file_name="in.csv"))
    assert as_json["errors"] == [
        {
            "row": 1,
            "column": "email",
            "rule": "type",
            "value": "***mple",
            "message": "not an e-mail address",
        }
    ]
    assert (as_json["status"], as_json["file"]) == ("accepted", "in.csv")
    assert as_json["rows_invalid"] == 1
    rows = list(csv.reader(io.StringIO(render_csv(summary, contract_of()))))
    assert rows == [
        ["row", "column", "rule", "value", "message"],
        ["1", "email", "type", "***mple", "not an e-mail address"],
    ]
    assert "secret" not in render_json(summary) + render_csv(summary)


def test_report_masks_pii_even_in_a_summary_built_elsewhere() -> None:
    leaky = ValidationSummary(
        file_contract="customers",
        schema_version=1,
        status="rejected",
        bytes=1,
        rows_total=1,
        rows_valid=0,
        rows_invalid=1,
        bad_row_percent=Decimal(100),
        errors=(
            RowError(
                row=1,
                column="name",
                rule=Rule.MAX_LENGTH,
                value="Jonathan Q. Public",
                message="too long",
            ),
            RowError(row=2, column=None, rule=Rule.COLUMN_COUNT, value="1,Jonathan", message="x"),
        ),
    )
    text = render_json(leaky, contract_of()) + render_csv(leaky, contract_of())
    assert "Jonathan" not in text
    assert report_dict(leaky, contract_of())["errors"][0]["value"] == "***blic"


def test_report_neutralises_spreadsheet_formulas(tmp_path: Path) -> None:
    content = HEADER + GOOD.replace("AB12", "=HYPERLINK(x)") + GOOD.replace("12.50", "-5")
    summary = validate_file(contract_of(), write(tmp_path, content))
    rows = list(csv.reader(io.StringIO(render_csv(summary))))
    assert rows[1][3] == "'=HYPERLINK(x)"


def test_mask_value() -> None:
    assert mask_value("123-45-6789") == "***6789"
    assert mask_value("1234") == "***"  # too short to show any of it
    assert mask_value("") == "***"
    assert mask_value(mask_value("123-45-6789")) == "***6789"


# -- properties ----------------------------------------------------------------------------------

PROPS = """
name = "props"
schema_version = 1
max_bad_row_percent = 100

[[columns]]
name = "id"
type = "integer"
required = true

[[columns]]
name = "label"
type = "string"
max_length = 30

[[columns]]
name = "amount"
type = "decimal"
precision = 12
scale = 2

[[columns]]
name = "day"
type = "date"

[[columns]]
name = "flag"
type = "boolean"

[[columns]]
name = "kind"
type = "enum"
values = ["a", "b", "c"]
"""
_COLUMNS = ["id", "label", "amount", "day", "flag", "kind"]
# Text a partner might send: delimiters, quotes, line breaks, accents, emoji.
_label = st.lists(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff")
    | st.sampled_from([",", '"', "\n", "\r\n", " "]),
    min_size=1,
    max_size=14,  # "\r\n" is one piece: at most 28 characters
).map("".join)
_row = st.fixed_dictionaries(
    {
        "id": st.integers(-(10**18) + 1, 10**18 - 1).map(str),
        "label": st.one_of(st.just(""), _label),
        "amount": st.one_of(
            st.just(""),
            st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False).map(str),
        ),
        "day": st.one_of(st.just(""), st.dates().map(date.isoformat)),
        "flag": st.sampled_from(["", "true", "FALSE", "y", "0"]),
        "kind": st.sampled_from(["", "a", "b", "c"]),
    }
)


def _csv_text(rows: list[dict[str, str]], line_end: str) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_COLUMNS, lineterminator=line_end)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _bad_cell(column: str) -> st.SearchStrategy[str]:
    return {
        "id": st.sampled_from(["", "x", "1.5", "9" * 19]),
        "label": st.just("y" * 31),
        "amount": st.sampled_from(["1.234", "abc", "1e2"]),
        "day": st.sampled_from(["2025-02-29", "2025-13-01", "20250101"]),
        "flag": st.just("perhaps"),
        "kind": st.just("d"),
    }[column]


_FAST = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_FAST
@given(
    rows=st.lists(_row, min_size=1, max_size=40),
    line_end=st.sampled_from(["\n", "\r\n"]),
    bom=st.booleans(),
)
def test_generated_valid_rows_all_pass(
    tmp_path: Path, rows: list[dict[str, str]], line_end: str, bom: bool
) -> None:
    text = ("\ufeff" if bom else "") + _csv_text(rows, line_end)
    summary = validate_file(contract_of(PROPS), write(tmp_path, text), tmp_path / "o.parquet")
    assert summary.errors == (), summary.errors
    assert (summary.status, summary.rows_total) == ("accepted", len(rows))
    landed = parquet_rows(summary.parquet_path)
    assert [r["id"] for r in landed] == [int(r["id"]) for r in rows]
    # the csv module writes "\r\n" inside a quoted label as-is; line ends inside values survive
    assert [r["label"] or "" for r in landed] == [r["label"] for r in rows]
    assert [r["amount"] for r in landed] == [
        Decimal(r["amount"]) if r["amount"] else None for r in rows
    ]


@_FAST
@given(data=st.data(), rows=st.lists(_row, min_size=1, max_size=40))
def test_a_corrupted_cell_is_reported_at_its_row_and_column(
    tmp_path: Path, data: st.DataObject, rows: list[dict[str, str]]
) -> None:
    index = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from(_COLUMNS))
    rows[index] = {**rows[index], column: data.draw(_bad_cell(column))}
    validator = compile_validator(
        contract_of(PROPS), block_size=data.draw(st.sampled_from([1 << 20, 2048]))
    )
    summary = validator.validate(write(tmp_path, _csv_text(rows, "\n")))
    assert [(e.row, e.column) for e in summary.errors] == [(index + 1, column)]
    assert summary.rows_invalid == 1


@_FAST
@given(content=st.binary(max_size=400) | st.text(max_size=200).map(str.encode))
def test_the_reader_raises_nothing_on_junk(tmp_path: Path, content: bytes) -> None:
    summary = validate_file(contract_of(PROPS), write(tmp_path, content), tmp_path / "o.parquet")
    assert summary.rows_total == summary.rows_valid + summary.rows_invalid
    assert summary.status in ("accepted", "rejected")


@_FAST
@given(
    rows=st.lists(_row, min_size=1, max_size=20),
    cut=st.integers(0, 2000),
    junk=st.binary(min_size=1, max_size=20),
)
def test_damaged_real_looking_files_raise_nothing(
    tmp_path: Path, rows: list[dict[str, str]], cut: int, junk: bytes
) -> None:
    raw = _csv_text(rows, "\n").encode("utf-8")
    cut = min(cut, len(raw))
    summary = validate_file(contract_of(PROPS), write(tmp_path, raw[:cut] + junk + raw[cut:]))
    assert summary.rows_total == summary.rows_valid + summary.rows_invalid


def test_multibyte_characters_split_across_blocks_are_not_encoding_errors(tmp_path: Path) -> None:
    rows = "".join(
        GOOD.replace("1,", f"{i},", 1).replace("Ann Lee", "Zoë Müller€𝄞") for i in range(1, 400)
    )
    summary = compile_validator(contract_of(), block_size=1000).validate(
        write(tmp_path, HEADER + rows), tmp_path / "o.parquet"
    )
    assert summary.errors == ()
    assert {r["name"] for r in parquet_rows(summary.parquet_path)} == {"Zoë Müller€𝄞"}


def test_a_broken_row_of_undecodable_bytes(tmp_path: Path) -> None:
    content = (
        HEADER.encode() + b"\xfe\xff\n" + GOOD.encode() + b"2,\xff\xfe,,,,,,,,\n" + GOOD.encode()
    )
    summary = validate_file(contract_of(), write(tmp_path, content))
    assert errors_at(summary) == [(1, None, Rule.COLUMN_COUNT), (3, None, Rule.COLUMN_COUNT)]
    assert summary.rows_total == 4


def test_fixed_width_record_holding_the_separator(tmp_path: Path) -> None:
    roster = load_contract(REPO / "file_contracts" / "globex_payroll_roster.v1.toml")
    good = _record("1", "A", "B", "123456789", "20250131", "1.00", "REG", "Y")
    lines = ["HEADER".ljust(80), good, good[:20] + "\x1f" + good[21:], good]
    summary = validate_file(roster, write(tmp_path, "\n".join(lines) + "\n", "r.txt"))
    assert errors_at(summary) == [(2, None, Rule.RECORD_LENGTH)]
    assert summary.rows_total == 3


def test_blocks_of_nothing_but_blank_lines(tmp_path: Path) -> None:
    """Blocks that hold no row must not stall the reader, which is held to a few blocks ahead."""
    content = HEADER + GOOD * 50 + "\n" * 20_000 + GOOD.replace("gold", "x") + GOOD * 49
    summary = compile_validator(contract_of(), block_size=1024).validate(write(tmp_path, content))
    assert summary.rows_total == 100
    assert errors_at(summary) == [(51, "tier", Rule.ENUM)]


def test_a_file_of_only_broken_rows_keeps_a_bounded_sample(tmp_path: Path) -> None:
    """A partner switching to semicolons breaks every row; the sample stays the first few."""
    content = HEADER + GOOD.replace(",", ";") * 5000
    validator = compile_validator(contract_of(), block_size=4096, max_errors=10)
    summary = validator.validate(write(tmp_path, content))
    assert [e.row for e in summary.errors] == list(range(1, 11))
    assert summary.error_counts[0].count == 5000 and summary.rows_invalid == 5000
    assert summary.errors_truncated
