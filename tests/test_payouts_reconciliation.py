"""Reconciliation over the real Stripe seeds, and properties over generated payouts."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts import (
    BalanceTransaction,
    Category,
    DiscrepancyKind,
    Payout,
    PayoutReconciliation,
    ReconciliationStatus,
    read_report,
    reconcile_payout,
    reconcile_report,
)

STRIPE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "stripe"
if not STRIPE.is_dir():  # pragma: no cover
    pytest.skip("the shared corpus is not mounted", allow_module_level=True)

Kind = DiscrepancyKind


def _seeds(with_links: bool) -> dict[str, PayoutReconciliation]:
    report = read_report(
        STRIPE / "fivetran_payout_data.csv",
        STRIPE / "fivetran_balance_transaction_data.csv",
        STRIPE / "fivetran_payout_balance_transaction_data.csv" if with_links else None,
    )
    return {outcome.payout_id: outcome for outcome in reconcile_report(report)}


def _kinds(outcome: PayoutReconciliation) -> list[tuple[Kind, str | None]]:
    return [(d.kind, d.transaction_id) for d in outcome.discrepancies]


def test_seeds_by_the_report_column_one_reconciles() -> None:
    outcomes = _seeds(with_links=False)
    reconciled = [pid for pid, o in outcomes.items() if o.status is ReconciliationStatus.RECONCILED]
    assert reconciled == ["po_0IFUKBig6peNXzgDZQM7WPAo"]
    ok = outcomes["po_0IFUKBig6peNXzgDZQM7WPAo"]
    assert (ok.payout_amount, ok.computed_net, ok.transaction_count) == (1980810, 1980810, 1)
    assert (ok.totals.charges, ok.totals.fees) == (2040000, -59190)  # 2,040,000 - 59,190
    assert ok.arrival_date == date(2021, 2, 1)

    short = outcomes["po_0II1gGig6peNXzgD4BxKEJJJ"]
    [mismatch] = short.discrepancies
    assert (mismatch.kind, mismatch.expected, mismatch.actual) == (
        Kind.AMOUNT_MISMATCH,
        2849353,
        114086,
    )
    # Transactions name payouts the payouts file does not have.
    unknown = {pid for pid, o in outcomes.items() if o.payout_amount is None}
    assert unknown == {
        "po_0IN6L6ig6peNXzgDu7m6fhRI",
        "po_0IQ08Sig6peNXzgDC6UG0Oxc",
        "po_0ITGUHig6peNXzgD78pmjvio",
        "po_0IV4rIig6peNXzgD51VFKdaB",
    }
    # po_0IV4rI's own payout debit (-18,759) and its charge's net (18,759) agree: the only
    # finding is that the payout itself is unknown.
    assert _kinds(outcomes["po_0IV4rIig6peNXzgD51VFKdaB"]) == [(Kind.UNKNOWN_PAYOUT, None)]
    assert len(outcomes) == 19


def test_seeds_by_the_link_table_are_all_itemised_exceptions() -> None:
    outcomes = _seeds(with_links=True)
    assert len(outcomes) == 15
    assert all(o.status is ReconciliationStatus.EXCEPTION for o in outcomes.values())
    # The link table lists another transaction for po_0IFUKB than the report row does.
    assert _kinds(outcomes["po_0IFUKBig6peNXzgDZQM7WPAo"]) == [(Kind.AMOUNT_MISMATCH, None)]
    assert outcomes["po_0IFUKBig6peNXzgDZQM7WPAo"].computed_net == 3382652
    # Linked, but the row's payout_id says another payout.
    assert _kinds(outcomes["po_0IBrZLig6peNXzgD7Q0he6QN"]) == [
        (Kind.ATTRIBUTION_CONFLICT, "xyz_0IDYgiig6peNXzgDuNvLeoLR"),
        (Kind.AMOUNT_MISMATCH, None),
    ]
    # Six links name transactions the balance-transaction file does not hold.
    missing = {
        pid: o.discrepancies[0].transaction_id
        for pid, o in outcomes.items()
        if o.discrepancies[0].kind is Kind.MISSING_TRANSACTION
    }
    assert missing == {
        "po_0IGZkNig6peNXzgDKn9LrliN": "xyz_0IGZkNig6peNXzgDHrcegNwS",
        "po_0IGwErig6peNXzgDEGgZ8lu3": "xyz_0IGwErig6peNXzgDiZ6nFXFL",
        "po_0II1gGig6peNXzgD4BxKEJJJ": "xyz_0II1gGig6peNXzgDFFGOaKud",
        "po_0IIOASig6peNXzgDiKGtfbo9": "xyz_0IIOASig6peNXzgDk2yRKDOz",
        "po_0IIkbpig6peNXzgDs1u3xoyq": "xyz_0IIkbpig6peNXzgDPUQ4T1Hd",
        "po_0IJ74Lig6peNXzgD2WboJcUe": "xyz_0IJ74Lig6peNXzgD4IuGp8d3",
    }
    conflicts = sum(
        d.kind is Kind.ATTRIBUTION_CONFLICT for o in outcomes.values() for d in o.discrepancies
    )
    assert conflicts == 7


def test_outcomes_are_small_json_contracts() -> None:
    for outcome in _seeds(with_links=True).values():
        wire = outcome.model_dump_json()
        assert len(wire) < 4096
        assert PayoutReconciliation.model_validate(json.loads(wire)) == outcome


def test_currency_mismatch_and_unknown_payout_need_an_id() -> None:
    payout = Payout("po_1", 970, "USD", date(2024, 1, 2))
    euro = BalanceTransaction("t1", 1000, 30, 970, "EUR", "charge", Category.CHARGE)
    outcome = reconcile_payout(payout, [euro])
    assert [d.kind for d in outcome.discrepancies] == [
        Kind.CURRENCY_MISMATCH,
        Kind.AMOUNT_MISMATCH,
    ]
    with pytest.raises(ValueError, match="needs the payout"):
        reconcile_payout(None, [])


def test_discrepancies_are_capped_but_counted() -> None:
    payout = Payout("po_1", 0, "USD", date(2024, 1, 2))
    rows = [BalanceTransaction("t", 1, 0, 1, "USD", "charge", Category.CHARGE)] * 500
    outcome = reconcile_payout(payout, rows)
    assert outcome.discrepancy_count == 500  # 499 duplicates and the amount mismatch
    assert len(outcome.discrepancies) == 100


# -- properties --------------------------------------------------------------------------------

_TYPES = [
    ("charge", Category.CHARGE, 1),
    ("payment", Category.CHARGE, 1),
    ("refund", Category.REFUND, -1),
    ("adjustment", Category.ADJUSTMENT, 0),
    ("dispute", Category.DISPUTE, -1),
    ("stripe_fee", Category.FEE, -1),
    ("payout_failure", Category.PAYOUT, 1),
    ("topup", Category.OTHER, 1),
]


@st.composite
def consistent_payouts(draw: st.DrawFn) -> tuple[Payout, list[BalanceTransaction]]:
    """A payout and the transactions paid out in it, adding up; maybe with its own debit."""
    currency = draw(st.sampled_from(["USD", "EUR", "JPY"]))
    rows: list[BalanceTransaction] = []
    for i in range(draw(st.integers(1, 12))):
        type_, category, sign = draw(st.sampled_from(_TYPES))
        magnitude = draw(st.integers(1, 10_000_000))
        amount = magnitude * sign if sign else draw(st.integers(-10_000, 10_000))
        fee = draw(st.integers(0, abs(amount) // 10)) if category is Category.CHARGE else 0
        rows.append(
            BalanceTransaction(
                f"txn_{i}", amount, fee, amount - fee, currency, type_, category, line=i + 2
            )
        )
    total = sum(r.net for r in rows)
    payout = Payout("po_gen", total, currency, date(2024, 3, 1), balance_transaction_id="txn_own")
    if draw(st.booleans()):
        rows.append(
            BalanceTransaction(
                "txn_own", -total, 0, -total, currency, "payout", Category.PAYOUT, source="po_gen"
            )
        )
    return payout, draw(st.permutations(rows))


@settings(max_examples=300, deadline=None)
@given(consistent_payouts())
def test_consistent_payouts_reconcile(case: tuple[Payout, list[BalanceTransaction]]) -> None:
    payout, rows = case
    outcome = reconcile_payout(payout, rows, linked_transaction_ids=[r.id for r in rows])
    assert outcome.status is ReconciliationStatus.RECONCILED
    assert outcome.discrepancies == [] and outcome.discrepancy_count == 0
    assert outcome.computed_net == payout.amount == outcome.totals.net
    assert outcome.transaction_count == len(rows)


def _victim(data: st.DataObject, rows: list[BalanceTransaction]) -> BalanceTransaction:
    return data.draw(st.sampled_from([r for r in rows if r.id != "txn_own"]))


@settings(max_examples=300, deadline=None)
@given(consistent_payouts(), st.data())
def test_dropping_a_transaction_is_itemised(
    case: tuple[Payout, list[BalanceTransaction]], data: st.DataObject
) -> None:
    payout, rows = case
    victim = _victim(data, rows)
    kept = [r for r in rows if r is not victim]
    outcome = reconcile_payout(payout, kept, linked_transaction_ids=[r.id for r in rows])
    expected: list[tuple[Kind, str | None]] = [(Kind.MISSING_TRANSACTION, victim.id)]
    if victim.net != 0:
        expected.append((Kind.AMOUNT_MISMATCH, None))
    assert _kinds(outcome) == expected
    if victim.net != 0:
        mismatch = outcome.discrepancies[1]
        assert mismatch.actual is not None and mismatch.expected == payout.amount
        assert mismatch.actual - mismatch.expected == -victim.net
    # Without the link table only the sum can tell.
    unlinked = reconcile_payout(payout, kept)
    assert [d.kind for d in unlinked.discrepancies] == [Kind.AMOUNT_MISMATCH] * (victim.net != 0)


@settings(max_examples=300, deadline=None)
@given(consistent_payouts(), st.data(), st.integers(-1_000_000, 1_000_000).filter(bool))
def test_changing_an_amount_is_itemised(
    case: tuple[Payout, list[BalanceTransaction]], data: st.DataObject, delta: int
) -> None:
    payout, rows = case
    victim = _victim(data, rows)
    changed = [
        replace(r, amount=r.amount + delta, net=r.net + delta) if r is victim else r for r in rows
    ]
    outcome = reconcile_payout(payout, changed, linked_transaction_ids=[r.id for r in rows])
    [mismatch] = outcome.discrepancies
    assert mismatch.kind is Kind.AMOUNT_MISMATCH
    assert mismatch.actual is not None and mismatch.expected is not None
    assert mismatch.actual - mismatch.expected == delta


@settings(max_examples=300, deadline=None)
@given(consistent_payouts(), st.data())
def test_duplicating_a_transaction_is_itemised(
    case: tuple[Payout, list[BalanceTransaction]], data: st.DataObject
) -> None:
    payout, rows = case
    victim = data.draw(st.sampled_from(rows))
    position = data.draw(st.integers(0, len(rows)))
    doubled = [*rows[:position], replace(victim, line=999), *rows[position:]]
    outcome = reconcile_payout(payout, doubled, linked_transaction_ids=[r.id for r in rows])
    assert _kinds(outcome) == [(Kind.DUPLICATE_TRANSACTION, victim.id)]
    assert outcome.computed_net == payout.amount  # counted once
