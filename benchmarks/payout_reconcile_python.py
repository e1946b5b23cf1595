"""Pure-Python payout reconciliation at volume: the fetch-and-loop baseline.

Generates 1,000,000 balance transactions across 10,000 payouts (every 1,000th payout is off by
one cent, so the exception path runs too), reconciles them with ``payouts.reconcile_report``,
then writes the same rows as a Stripe-layout CSV and times streaming it back through
``payouts.iter_balance_transactions``. Prints seconds; run with::

    python benchmarks/payout_reconcile_python.py [--transactions N] [--payouts N]
"""

from __future__ import annotations

import argparse
import csv
import random
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from payouts import (
    BalanceTransaction,
    Category,
    Payout,
    PspReport,
    ReconciliationStatus,
    iter_balance_transactions,
    reconcile_report,
)

_KINDS = [("charge", Category.CHARGE)] * 8 + [
    ("refund", Category.REFUND),
    ("adjustment", Category.DISPUTE),
]


def generate(transactions: int, payouts: int, seed: int = 7) -> PspReport:
    rng = random.Random(seed)
    rows: list[BalanceTransaction] = []
    totals = [0] * payouts
    for i in range(transactions):
        p = i % payouts
        type_, category = _KINDS[rng.randrange(len(_KINDS))]
        amount = rng.randrange(100, 500_000)
        fee = amount * 29 // 1000 + 30 if category is Category.CHARGE else 0
        if category is not Category.CHARGE:
            amount = -amount
        rows.append(
            BalanceTransaction(
                id=f"txn_{i:08d}",
                amount=amount,
                fee=fee,
                net=amount - fee,
                currency="USD",
                type=type_,
                category=category,
                payout_id=f"po_{p:06d}",
            )
        )
        totals[p] += amount - fee
    start = date(2024, 1, 1)
    payout_rows = [
        Payout(
            id=f"po_{p:06d}",
            amount=totals[p] + (1 if p % 1000 == 0 else 0),
            currency="USD",
            arrival_date=start + timedelta(days=p % 365),
        )
        for p in range(payouts)
    ]
    return PspReport(payouts=payout_rows, transactions=rows)


def write_csv(report: PspReport, path: Path) -> None:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            ["id", "_fivetran_synced", "amount", "available_on", "connected_account_id",
             "created", "currency", "description", "exchange_rate", "fee", "net", "source",
             "status", "type", "payout_id"]
        )  # fmt: skip
        for t in report.transactions:
            writer.writerow(
                [t.id, "2024-01-02 02:21:18", t.amount, "2024-01-03 00:00:00", "",
                 "2024-01-01 17:17:15", "usd", "", "", t.fee, t.net, "ch_" + t.id[4:],
                 "available", t.type, t.payout_id]
            )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--payouts", type=int, default=10_000)
    args = parser.parse_args()

    report = generate(args.transactions, args.payouts)
    began = time.perf_counter()
    outcomes = reconcile_report(report)
    reconcile_seconds = time.perf_counter() - began
    exceptions = sum(o.status is ReconciliationStatus.EXCEPTION for o in outcomes)
    print(
        f"reconcile: {len(report.transactions):,} transactions across {len(outcomes):,} payouts "
        f"in {reconcile_seconds:.2f} s ({exceptions} exceptions)"
    )

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "balance_transactions.csv"
        write_csv(report, path)
        size = path.stat().st_size
        del report, outcomes
        problems: list = []  # type: ignore[type-arg]
        began = time.perf_counter()
        count = sum(1 for _ in iter_balance_transactions(path, problems))
        parse_seconds = time.perf_counter() - began
    print(
        f"parse: {count:,} rows ({size / 2**20:.0f} MiB Stripe-layout CSV, streamed) in "
        f"{parse_seconds:.2f} s, {len(problems)} problems"
    )


if __name__ == "__main__":
    main()
