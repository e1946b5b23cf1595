"""One source for every ACH rule (issue 13): the return workflow's state machine acts on a code
only through the NACHA table in ``nacha.return_reasons``; the late-return window lives in the
ACH returns core; one routing check digit."""

from __future__ import annotations

import ast
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

import ach_returns.state_machine as sm
from ach_returns.banking_days import add_banking_days
from ach_returns.notices import notices_in, within_time_limit
from ach_returns.state_machine import (
    CaseState,
    Command,
    Handling,
    OriginalEntry,
    ReturnCase,
    ReturnNotice,
    decide,
    handling_for,
)
from nacha import RETURN_REASONS, ReturnCategory, is_valid_routing_number, read, return_reason

CORPUS = Path(__file__).resolve().parents[2] / "shared/corpus/nacha"
SETTLED = date(2026, 3, 2)
ORIGINAL = OriginalEntry(
    trace_number="091000010000001",
    amount_cents=12_345,
    settlement_date=SETTLED,
    effective_date=SETTLED,
    transaction_code=27,
    sec_code="PPD",
    routing_number="091000019",
    account_last4="6789",
)


def _decide(code: str) -> tuple[ReturnCase, list[Command]]:
    case = ReturnCase(trace_number=ORIGINAL.trace_number, partner_id="bank", original=ORIGINAL)
    notice = ReturnNotice(notice_id="r1", code=code, received_on=SETTLED + timedelta(days=1))
    updated, commands = decide(case, notice, SETTLED)
    return updated, list(commands)


@pytest.mark.parametrize("n", range(100))
def test_handling_comes_from_the_nacha_table(n: int) -> None:
    code = f"R{n:02d}"
    reason = return_reason(code)
    expected = {
        ReturnCategory.INSUFFICIENT_FUNDS: Handling.INSUFFICIENT_FUNDS,
        ReturnCategory.UNAUTHORIZED: Handling.UNAUTHORIZED,
        ReturnCategory.ACCOUNT_LEVEL: Handling.ACCOUNT_LEVEL,
        ReturnCategory.DISHONORED: Handling.DISHONORED,
        ReturnCategory.CONTESTED: Handling.CONTESTED,
    }.get(reason.category, Handling.OTHER)
    assert handling_for(code) is expected
    assert reason.may_represent == (expected is Handling.INSUFFICIENT_FUNDS)
    assert reason.needs_correction == (expected is Handling.ACCOUNT_LEVEL)
    assert reason.stops_debits == (expected is Handling.UNAUTHORIZED)


def test_the_state_machine_keeps_no_code_table_of_its_own() -> None:
    tree = ast.parse(Path(sm.__file__).read_text())
    docstring = ast.get_docstring(tree, clean=False)
    literals = [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value != docstring
        and re.search(r"\bR\d\d\b", node.value)
    ]
    assert literals == []


@pytest.mark.parametrize("code", ["R14", "R15", "R16", "R28"])
def test_deceased_frozen_and_check_digit_returns_await_a_correction(code: str) -> None:
    # NACHA Rules: account-level, reinitiated only once the reason is corrected (2.12.4).
    assert RETURN_REASONS[code].category is ReturnCategory.ACCOUNT_LEVEL
    case, commands = _decide(code)
    assert case.state is CaseState.AWAITING_CORRECTION
    assert case.deadline_kind == "correction"
    assert [c.kind for c in commands] == ["notify"]


def test_r70_is_a_dishonored_return() -> None:
    assert RETURN_REASONS["R70"].category is ReturnCategory.DISHONORED
    assert _decide("R70")[0].state is CaseState.DISHONOR_REVIEW
    assert _decide("R71")[0].state is CaseState.CONTEST_REVIEW
    assert _decide("R77")[0].state is CaseState.CONTEST_REVIEW


def test_retired_dishonor_codes_go_to_a_person() -> None:
    # R63-R66 are not in the current table: unknown, an exception for operators.
    for code in ("R63", "R66"):
        case, _ = _decide(code)
        assert case.state is CaseState.EXCEPTION
        assert case.exception_reason == f"return code {code} needs a person"


def test_representment_limits_come_from_the_rules_table() -> None:
    from nacha.return_reasons import REINITIATION_LIMIT, REINITIATION_WINDOW_DAYS

    assert sm.MAX_REPRESENTMENTS == REINITIATION_LIMIT == 2
    assert timedelta(days=REINITIATION_WINDOW_DAYS) == sm.REPRESENTMENT_WINDOW


@pytest.mark.parametrize(
    "routing",
    ["091000019", "021000021", "091000018", "09100001", "09100001\u00b9", "0910000\u00b99", ""],
)
def test_one_routing_check_digit(routing: str) -> None:
    assert sm.routing_check_digit_ok(routing) == is_valid_routing_number(routing)


def test_late_return_window_per_code() -> None:
    two_days = add_banking_days(SETTLED, 2)
    assert within_time_limit("R01", SETTLED, two_days)
    assert not within_time_limit("R01", SETTLED, two_days + timedelta(days=1))
    # R10: 60 calendar days (extended return).
    assert within_time_limit("R10", SETTLED, SETTLED + timedelta(days=60))
    assert not within_time_limit("R10", SETTLED, SETTLED + timedelta(days=61))
    # R06: no NACHA limit; an unknown code has none either.
    assert within_time_limit("R06", SETTLED, SETTLED + timedelta(days=400))
    assert within_time_limit("R99", SETTLED, SETTLED + timedelta(days=400))


def test_notices_from_the_public_files() -> None:
    returns = notices_in(read(CORPUS / "moov_return-WEB.ach"), SETTLED)
    assert [(trace, n.kind, n.code) for trace, n in returns] == [
        ("091400600000001", "return", "R01"),
        ("091400600000003", "return", "R03"),
    ]
    [(trace, noc)] = notices_in(read(CORPUS / "moov_cor-example.ach"), SETTLED)
    assert trace == "121042880000001" and noc.kind == "noc" and noc.code == "C01"
    assert noc.corrected == {"account_number": "1918171614"}
