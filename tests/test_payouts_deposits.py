"""Matching a payout's net amount with bank statement lines: matched, split, combined, missing."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts import (
    BankCredit,
    DepositMatch,
    DepositStatus,
    Direction,
    DiscrepancyKind,
    Payout,
    StatementFormat,
    match_deposit,
    read_bai2,
)

ARRIVAL = date(2024, 3, 4)
PAYOUT = Payout("po_AAA", 150_000, "USD", ARRIVAL, statement_descriptor="ACME SHOP")


def _line(
    n: int,
    amount: int,
    *,
    days: int = 0,
    text: str = "",
    currency: str = "USD",
    direction: Direction = Direction.CREDIT,
    status: str | None = None,
) -> BankCredit:
    return BankCredit(
        line_id=f"L{n}",
        source_format=StatementFormat.CAMT_053,
        account="DE00",
        amount=amount,
        currency=currency,
        direction=direction,
        value_date=ARRIVAL + timedelta(days=days),
        booking_date=ARRIVAL + timedelta(days=days),
        reference_text=text,
        status=status,
    )


def test_exact_credit_with_reference() -> None:
    lines = [_line(1, 150_000, days=1), _line(2, 150_000, days=2, text="STRIPE po_AAA")]
    match = match_deposit(PAYOUT, lines)
    assert (match.status, match.bank_line_ids, match.reference_matched) == (
        DepositStatus.MATCHED,
        ["L2"],
        True,
    )
    assert match.discrepancies == [] and not match.is_exception


def test_exact_credit_by_descriptor_then_by_date() -> None:
    assert match_deposit(PAYOUT, [_line(1, 150_000, text="acme shop payout")]).reference_matched
    match = match_deposit(PAYOUT, [_line(1, 150_000, days=3), _line(2, 150_000, days=-1)])
    assert (match.status, match.bank_line_ids, match.reference_matched) == (
        DepositStatus.MATCHED,
        ["L2"],
        False,
    )


def test_lines_that_do_not_fit_are_ignored() -> None:
    lines = [
        _line(1, 150_000, days=4),  # outside the window
        _line(2, 150_000, currency="EUR"),
        _line(3, 150_000, direction=Direction.DEBIT),
        _line(4, 150_000, status="PDNG"),
        _line(5, 150_000, text="po_BBB"),  # names another candidate payout
    ]
    other = Payout("po_BBB", 150_000, "USD", ARRIVAL)
    match = match_deposit(PAYOUT, lines, candidate_payouts=[other])
    assert match.status is DepositStatus.NOT_FOUND
    assert [d.kind for d in match.discrepancies] == [DiscrepancyKind.DEPOSIT_NOT_FOUND]
    assert match_deposit(PAYOUT, lines[:1], window_days=5).status is DepositStatus.MATCHED


def test_ambiguous() -> None:
    match = match_deposit(PAYOUT, [_line(1, 150_000, days=1), _line(2, 150_000, days=-1)])
    assert match.status is DepositStatus.AMBIGUOUS
    assert match.discrepancies[0].bank_line_ids == ["L1", "L2"]


def test_split() -> None:
    lines = [_line(1, 100_000, text="po_AAA 1/2"), _line(2, 7), _line(3, 50_000, days=1)]
    match = match_deposit(PAYOUT, lines)
    assert (match.status, match.bank_line_ids, match.matched_amount) == (
        DepositStatus.SPLIT,
        ["L1", "L3"],
        150_000,
    )
    [item] = match.discrepancies
    assert (item.kind, item.expected, item.actual) == (
        DiscrepancyKind.DEPOSIT_SPLIT,
        150_000,
        150_000,
    )


def test_combined() -> None:
    others = [
        Payout("po_BBB", 20_000, "USD", ARRIVAL),
        Payout("po_CCC", 30_000, "USD", ARRIVAL + timedelta(days=1)),
        Payout("po_DDD", 999, "USD", ARRIVAL),
        Payout("po_EUR", 30_000, "EUR", ARRIVAL),
    ]
    match = match_deposit(PAYOUT, [_line(1, 200_000, days=1)], candidate_payouts=others)
    assert match.status is DepositStatus.COMBINED
    assert match.covered_payout_ids == ["po_AAA", "po_BBB", "po_CCC"]
    assert match.bank_line_ids == ["L1"]
    [item] = match.discrepancies
    assert (item.kind, item.actual) == (DiscrepancyKind.DEPOSIT_COMBINED, 200_000)
    # Without the candidate payouts nothing explains the bigger credit.
    assert match_deposit(PAYOUT, [_line(1, 200_000)]).status is DepositStatus.NOT_FOUND


def test_not_found_itemises_a_named_line_of_another_amount() -> None:
    match = match_deposit(PAYOUT, [_line(1, 149_000, text="po_AAA")])
    assert [(d.kind, d.actual) for d in match.discrepancies] == [
        (DiscrepancyKind.DEPOSIT_NOT_FOUND, None),
        (DiscrepancyKind.AMOUNT_MISMATCH, 149_000),
    ]


def test_negative_payout_is_a_debit_and_zero_expects_nothing() -> None:
    debit = Payout("po_NEG", -833_651, "USD", ARRIVAL)
    lines = [_line(1, 833_651), _line(2, 833_651, direction=Direction.DEBIT)]
    assert match_deposit(debit, lines).bank_line_ids == ["L2"]
    zero = Payout("po_ZERO", 0, "USD", ARRIVAL)
    assert match_deposit(zero, lines).status is DepositStatus.NOTHING_EXPECTED


def test_against_the_real_bai2_statement() -> None:
    path = Path(__file__).resolve().parents[2] / "shared/corpus/bai2/moj_svb_us_example.bai2"
    if not path.exists():  # pragma: no cover
        pytest.skip("corpus not mounted")
    lines = read_bai2(path).lines
    first = Payout("po_X", 490196, "USD", date(2022, 2, 1))
    assert match_deposit(first, lines, window_days=0).bank_line_ids == ["bai2:1:1:1:1"]
    both = Payout("po_Y", 490196 + 905800, "USD", date(2022, 2, 1))
    split = match_deposit(both, lines, window_days=1)
    assert (split.status, split.bank_line_ids) == (
        DepositStatus.SPLIT,
        ["bai2:1:1:1:1", "bai2:1:2:1:1"],
    )
    assert match_deposit(both, lines, window_days=0).status is DepositStatus.NOT_FOUND


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 10_000_000), min_size=2, max_size=5), st.data())
def test_any_split_is_found(parts: list[int], data: st.DataObject) -> None:
    payout = Payout("po_S", sum(parts), "EUR", ARRIVAL)
    noise = data.draw(st.lists(st.integers(1, 10_000_000), max_size=4))
    lines = [
        _line(i, amount, currency="EUR", days=data.draw(st.integers(-3, 3)))
        for i, amount in enumerate(parts + noise)
    ]
    match = match_deposit(payout, data.draw(st.permutations(lines)))
    assert match.status in (DepositStatus.MATCHED, DepositStatus.SPLIT, DepositStatus.AMBIGUOUS)
    if match.status is not DepositStatus.AMBIGUOUS:
        by_id = {line.line_id: line.amount for line in lines}
        assert sum(by_id[i] for i in match.bank_line_ids) == payout.amount
    assert DepositMatch.model_validate_json(match.model_dump_json()) == match
