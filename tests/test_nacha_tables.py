"""Return reasons, change codes, routing check digits, outbound building and the CLI."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli.ach import ach_app
from nacha import (
    CHANGE_CODES,
    RETURN_REASONS,
    BatchHeader,
    EntryDetail,
    Payment,
    ReturnCategory,
    build_file,
    check_digit,
    is_valid_routing_number,
    parse_correction,
    ppd_batch,
    read,
    representment_batch,
    return_reason,
    validate,
    write,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared/corpus/nacha"


def test_return_table_covers_r01_to_r85() -> None:
    expected = (
        {f"R{i:02d}" for i in range(1, 54)} - {"R48", "R49"}
        | {"R61", "R62", "R67", "R68", "R69"}
        | {f"R{i}" for i in range(70, 78)}
        | {f"R{i}" for i in range(80, 86)}
    )
    assert set(RETURN_REASONS) == expected
    assert return_reason("R10").time_limit_days == 60
    assert return_reason("R10").time_limit_unit == "calendar_days"
    assert return_reason("R01").time_limit_days == 2
    for code in ("R05", "R07", "R10", "R11", "R29", "R51"):
        assert return_reason(code).category is ReturnCategory.UNAUTHORIZED
    for code in ("R02", "R03", "R04", "R20"):
        assert return_reason(code).category is ReturnCategory.ACCOUNT_LEVEL
    assert all(
        return_reason(f"R{i}").category is ReturnCategory.DISHONORED
        for i in (61, 62, 67, 68, 69, 70)
    )
    assert all(return_reason(f"R{i}").category is ReturnCategory.CONTESTED for i in range(71, 78))


def test_a_code_a_bank_made_up_is_kept_as_unknown() -> None:
    reason = return_reason("R99")
    assert reason.category is ReturnCategory.UNKNOWN and not reason.known


def test_change_codes_and_corrected_data() -> None:
    assert {f"C{i:02d}" for i in range(1, 14)} <= set(CHANGE_CODES)
    assert {f"C{i}" for i in range(61, 70)} <= set(CHANGE_CODES)
    assert all(CHANGE_CODES[f"C{i}"].refused for i in range(61, 70))
    assert parse_correction("C02", "091000019").routing_number == "091000019"
    c03 = parse_correction("C03", "091000019   12345678901234567")
    assert (c03.routing_number, c03.account_number) == ("091000019", "12345678901234567")
    assert parse_correction("C05", "32").transaction_code == 32
    c06 = parse_correction("C06", "1234567".ljust(21) + "32")
    assert (c06.account_number, c06.transaction_code) == ("1234567", 32)
    c07 = parse_correction("C07", "0910000191234567890123456737")
    assert (c07.routing_number, c07.account_number, c07.transaction_code) == (
        "091000019",
        "12345678901234567",
        37,
    )
    assert parse_correction("C13", "").account_number is None


@pytest.mark.parametrize("routing", ["091000019", "021000021", "231380104", "011000015"])
def test_valid_routing_numbers(routing: str) -> None:
    assert is_valid_routing_number(routing)
    assert check_digit(routing[:8]) == int(routing[8])


@pytest.mark.parametrize("routing", ["091000018", "02100002", "abcdefghi", "0910000199", ""])
def test_invalid_routing_numbers(routing: str) -> None:
    assert not is_valid_routing_number(routing)


def _payroll() -> bytes:
    batch = ppd_batch(
        company_name="ACME PAYROLL",
        company_identification="1234567890",
        odfi_routing_number="091000019",
        entry_description="PAYROLL",
        effective_entry_date=date(2026, 5, 8),
        credit=True,
        payments=[
            Payment("021000021", "12345678", 150000, "EMPLOYEE ONE"),
            Payment(
                "231380104",
                "987654321",
                99,
                "EMPLOYEE TWO",
                account_type="savings",
                addenda="BONUS",
            ),
        ],
    )
    file = build_file(
        immediate_destination="091000019",
        immediate_origin="1234567890",
        destination_name="FED",
        origin_name="ACME",
        created=datetime(2026, 5, 7, 9, 30),
        batches=[batch],
    )
    return write(file)


def test_built_ppd_file_is_valid_blocked_and_round_trips() -> None:
    data = _payroll()
    lines = data.decode().splitlines()
    assert len(lines) == 10 and lines[-1] == "9" * 94 and all(len(x) == 94 for x in lines)
    file = read(data)
    assert validate(file, strict=True) == []
    assert write(file) == data
    assert file.control is not None and file.control.total_credit_cents == 150099


def test_representment_is_a_retry_pymt_with_a_new_trace_and_the_same_amount() -> None:
    original = read(CORPUS / "moov_examples_ppd-debit.ach")
    [batch] = original.batches
    header = batch.header
    assert isinstance(header, BatchHeader)
    detail = batch.entries[0].detail
    assert isinstance(detail, EntryDetail)
    retry = representment_batch(
        header, detail, trace_sequence=2, effective_entry_date=date(2026, 5, 11)
    )
    assert isinstance(retry.header, BatchHeader)
    assert retry.header.company_entry_description == "RETRY PYMT"
    assert retry.header.company_name == header.company_name
    assert retry.header.company_identification == header.company_identification
    [entry] = retry.entries
    assert entry.detail.amount_cents == detail.amount_cents
    assert entry.detail.trace_number == "121042880000002" != detail.trace_number
    file = build_file(
        immediate_destination="231380104",
        immediate_origin="121042882",
        destination_name="FED",
        origin_name="ACME",
        created=datetime(2026, 5, 8, 10, 0),
        batches=[retry],
    )
    assert validate(read(write(file)), strict=True) == []


runner = CliRunner()


def test_cli_valid_file_exits_0_with_masked_accounts() -> None:
    result = runner.invoke(ach_app, ["inspect", str(CORPUS / "moov_return-WEB.ach")])
    assert result.exit_code == 0, result.output
    assert "R01" in result.output and "R03" in result.output
    assert "****6789" in result.output and "123456789 " not in result.output
    assert "Paul Jones" not in result.output and "Bob Marley" not in result.output


def test_cli_json_is_stable_and_masked() -> None:
    result = runner.invoke(ach_app, ["inspect", str(CORPUS / "moov_cor-example.ach"), "--json"])
    assert result.exit_code == 0
    doc = json.loads(result.output)
    assert doc["readable"] and doc["summary"]["valid"]
    assert doc["summary"]["nocs_by_code"] == {"C01": 1}
    assert doc["nocs"][0]["corrected_account_number_masked"] == "****1614"
    assert "1918171614" not in result.output and "Best Co" not in result.output


def test_cli_problems_exit_1() -> None:
    result = runner.invoke(ach_app, ["inspect", str(CORPUS / "moov_20110805A.ach"), "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.output)
    assert [p["code"] for p in doc["problems"] if p["severity"] == "error"] == [
        "file_batch_count_mismatch"
    ]
    assert "JULIAN PRICE" not in result.output


def test_cli_unreadable_exits_65_and_missing_exits_66(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ach"
    junk.write_bytes(b"\x1f\x8bnot really gzip")
    result = runner.invoke(ach_app, ["inspect", str(junk), "--json"])
    assert result.exit_code == 65  # EX_DATAERR, with the refusal as JSON
    assert json.loads(result.stdout)["readable"] is False
    missing = runner.invoke(ach_app, ["inspect", str(tmp_path / "missing.ach")])
    assert missing.exit_code == 66  # EX_NOINPUT
