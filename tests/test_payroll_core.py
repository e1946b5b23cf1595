"""The pure payroll core: roster validation with masked values, referential integrity, expected
amounts, reconciliation, the GL journal (debits == credits for any figures) and the PPD file."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

import nacha
from payroll.amounts import TAXES, Pay, Totals, expected_pay, expected_run, totals
from payroll.direct_deposit import Deposit, Originator, deposit_file
from payroll.journal import is_balanced, journal, journal_csv
from payroll.reconciliation import reconcile
from payroll.roster import (
    Employee,
    PeriodInput,
    check_integrity,
    normalise_ssn,
    parse_inputs,
    parse_roster,
)
from tests.payroll_support import PLANTED_ACCOUNT, PLANTED_SSN, inputs_csv, roster_csv

HEADER = "employee_id,name,ssn,routing_number,account_number,account_type,pay_type,rate,state"


def test_a_clean_roster_and_inputs_parse_without_errors() -> None:
    roster, errors = parse_roster(roster_csv(12))
    inputs, input_errors = parse_inputs(inputs_csv(12))
    assert not errors and not input_errors and len(roster) == 12
    assert roster[0][1].ssn == PLANTED_SSN and roster[0][1].account_number == PLANTED_ACCOUNT
    assert not check_integrity(roster, inputs)


def test_bad_rows_are_reported_with_row_column_and_masked_value() -> None:
    text = "\n".join(
        [
            HEADER,
            "E1,Ann,123-45-6789,091000019,12345678,checking,hourly,20.00,CA",
            "E2,Bob,000-12-3456,091000019,12345678,checking,hourly,20.00,CA",
            "E3,Cy,234567890,091000018,1234567890123,checking,hourly,20.00,CA",
            "E4,Di,234-56-7891,091000019,12,checking,weekly,-1,California",
        ]
    )
    roster, errors = parse_roster(text)
    assert [e.employee_id for _, e in roster] == ["E1"]
    by_key = {(e.row, e.column): e for e in errors}
    assert by_key[(2, "ssn")].value == "***3456"
    assert by_key[(3, "routing_number")].value == "***0018"
    assert by_key[(3, "routing_number")].rule == "aba_checksum"
    assert by_key[(4, "account_number")].value == "***"  # too short to show anything
    assert {(4, "pay_type"), (4, "rate"), (4, "state")} <= set(by_key)
    dumped = " ".join(e.model_dump_json() for e in errors)
    for secret in ("000-12-3456", "234567890", "091000018", "1234567890123"):
        assert secret not in dumped


def test_referential_integrity_across_roster_and_inputs() -> None:
    roster, _ = parse_roster(
        roster_csv(3) + "E000002,Twin,234-56-7891,091000019,5555666677,checking,hourly,1,CA\n"
    )
    inputs, _ = parse_inputs(
        "employee_id,hours,bonus,deductions\nE000001,1,0,0\nE000001,2,0,0\nE999,1,0,0\n"
    )
    rules = {(e.file, e.rule, e.row) for e in check_integrity(roster, inputs)}
    assert rules == {
        ("roster", "duplicate", 4),
        ("inputs", "duplicate", 2),
        ("inputs", "unknown_employee", 3),
    }


@given(st.from_regex(r"\A\d{3}-?\d{2}-?\d{4}\Z"))
def test_ssn_normalisation_follows_ssa_rules(value: str) -> None:
    digits = value.replace("-", "")
    valid = not (
        digits[:3] in ("000", "666")
        or digits[0] == "9"
        or digits[3:5] == "00"
        or digits[5:] == "0000"
    )
    assert (normalise_ssn(value) is not None) == valid


employees = st.builds(
    Employee,
    employee_id=st.from_regex(r"\AE[0-9]{1,6}\Z"),
    name=st.just("X"),
    ssn=st.just("123-45-6789"),
    routing_number=st.just("091000019"),
    account_number=st.just("12345678"),
    pay_type=st.sampled_from(["hourly", "salary"]),
    rate_cents=st.integers(0, 1_000_000),
    state=st.sampled_from(["CA", "NY", "TX", "ZZ"]),
)


@given(employees, st.decimals(0, 200, places=2), st.integers(0, 10**6), st.integers(0, 10**7))
def test_expected_pay_adds_up(e: Employee, hours: Decimal, bonus: int, deductions: int) -> None:
    pay = expected_pay(
        e,
        PeriodInput(
            employee_id=e.employee_id, hours=hours, bonus_cents=bonus, deductions_cents=deductions
        ),
    )
    assert pay.net_cents >= 0
    assert pay.gross_cents == pay.net_cents + sum(pay.taxes.values()) + pay.deductions_cents
    assert set(pay.taxes) == set(TAXES)


pays = st.lists(
    st.builds(
        lambda i, gross, fed, dedu: Pay(
            employee_id=f"E{i}",
            gross_cents=gross,
            taxes={"federal_income_tax": fed},
            deductions_cents=dedu,
            net_cents=gross - fed - dedu,
        ),
        st.integers(0, 10**6),
        st.integers(0, 10**7),
        st.integers(0, 10**5),
        st.integers(0, 10**5),
    ),
    max_size=20,
    unique_by=lambda p: p.employee_id,
)


@given(pays)
def test_a_report_equal_to_what_we_sent_reconciles(sent: list[Pay]) -> None:
    result = reconcile(sent, list(reversed(sent)))
    assert result.balanced and result.expected == result.reported


@given(pays.filter(bool), st.data())
def test_any_difference_is_an_itemised_exception(sent: list[Pay], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(sent) - 1))
    delta = data.draw(st.integers(1, 500))
    changed = sent[index].model_copy(update={"net_cents": sent[index].net_cents + delta})
    reported = [*sent[:index], changed, *sent[index + 1 :]]
    result = reconcile(sent, reported)
    assert {(x.kind, x.employee_id, x.figure) for x in result.exceptions} == {
        ("mismatch", sent[index].employee_id, "net"),
        ("total", None, "net"),
    }
    missing = reconcile(sent, reported[:index] + reported[index + 1 :])
    assert ("missing_from_report", sent[index].employee_id) in {
        (x.kind, x.employee_id) for x in missing.exceptions
    }


figures = st.dictionaries(
    st.sampled_from(["gross", *TAXES, "deductions", "net"]), st.integers(-(10**9), 10**11)
)


@settings(max_examples=300)
@given(
    figures,
    st.dictionaries(st.sampled_from(["social_security", "medicare"]), st.integers(0, 10**9)),
    st.booleans(),
)
def test_gl_journal_debits_equal_credits(
    f: dict[str, int], employer: dict[str, int], reversal: bool
) -> None:
    lines = journal(Totals(employees=1, figures=f, employer_taxes=employer), reversal=reversal)
    assert is_balanced(lines)
    text = journal_csv(lines, journal_id="payroll-x", posting_date=date(2026, 1, 2))
    assert text.count("\n") == len(lines) + 1


@given(st.lists(employees, min_size=1, max_size=30, unique_by=lambda e: e.employee_id))
def test_a_consistent_run_posts_without_suspense(staff: list[Employee]) -> None:
    lines = journal(totals(expected_run(staff, [])))
    assert is_balanced(lines) and all(x.account != "1999" for x in lines)


def test_deposit_file_is_valid_nacha_with_one_credit_per_paid_employee() -> None:
    originator = Originator(
        company_name="ACME PAYROLL",
        company_identification="1234567890",
        odfi_routing_number="123456780",
        immediate_destination="091000019",
        immediate_origin="021000021",
        destination_name="FIRST BANK",
        origin_name="ACME",
    )
    deposits = [
        Deposit(f"E{i}", f"Person {i}", "091000019", f"{1000 + i}", "checking", i * 100)
        for i in range(0, 5)
    ]
    file = deposit_file(
        originator,
        deposits,
        effective_entry_date=date(2026, 12, 4),
        created=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        first_trace_sequence=41,
    )
    assert not [p for p in nacha.validate(file, strict=True) if p.severity == "error"]
    again = nacha.read(nacha.write(file))
    details = [e.detail for _, e in again.entries()]
    assert len(details) == 4  # the employee with no net pay gets no entry
    assert [d.trace_number for d in details] == [f"12345678{n:07d}" for n in range(41, 45)]
    assert sum(d.amount_cents for d in details) == 1000
    assert again.control is not None and again.control.total_credit_cents == 1000
    reversal = deposit_file(
        originator,
        deposits,
        effective_entry_date=date(2026, 12, 4),
        created=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
        first_trace_sequence=41,
        reversal=True,
    )
    assert {e.detail.transaction_code for _, e in reversal.entries()} == {27}
