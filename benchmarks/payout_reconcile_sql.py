"""Payout reconciliation in PostgreSQL: COPY a 1,000,000-row report, reconcile it set-based,
against fetching the same rows into Python and looping, in the same run.

    python benchmarks/payout_reconcile_sql.py [--transactions N] [--payouts N] [--logged]
                                              [--no-freeze] [--skip-core]

It starts a private PostgreSQL 15 (default settings), creates ``psp_payouts`` and
``psp_balance_transactions`` (UNLOGGED unless ``--logged``), writes a CSV of N balance
transactions across the payouts (Stripe's column names and conventions: integer minor units,
lower-case currency, ``net = amount - fee``; ~1% of the payouts planted so they do not add up,
and a few with one transaction in another currency), then times:

  1. load:      the payouts (10,000 rows) and ``COPY`` of the CSV (asyncpg ``copy_to_table``
                from the file; into a table truncated in the same transaction, ``FREEZE``);
  2. reconcile: two set-based statements: FAILING_SQL finds the payouts that do not add up
                (or hold a transaction in another currency) from per-payout sums, DETAIL_SQL
                returns just those with their per-category sums;
  3. baseline:  ``SELECT *`` of every transaction and payout into Python and a dict loop that
                produces the same rows;
  4. core:      (unless ``--skip-core``) ``payouts.iter_balance_transactions`` over the same CSV
                and ``payouts.reconcile_report`` over the parsed rows.

The SQL and the loop must return the same rows (ids and sums), and every path the same set of
payout ids as was planted; the script exits non-zero otherwise. Prints seconds, no assertions on
timing. The totals follow ``payouts.reconcile_payout``: each transaction adds its ``amount`` to its
category and ``-fee`` to fees; a transaction in another currency than its payout is left out of
the sums and flags the payout.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Final

import asyncpg

from devstack.localstack.ports import free_port
from devstack.localstack.postgres import LocalPostgres
from payouts import (
    Payout,
    PspReport,
    ReconciliationStatus,
    RowProblem,
    iter_balance_transactions,
    reconcile_report,
)

TARGET_SECONDS: Final = 1.5
TARGET_SPEEDUP: Final = 5.0
CATEGORIES: Final = ("charge", "refund", "dispute", "fee", "adjustment")
# Stripe's header names for these columns (its balance_transaction object / Fivetran's table).
CSV_COLUMNS: Final = ("id", "payout_id", "amount", "fee", "net", "currency", "type")
TABLE_COLUMNS: Final = ["id", "payout_id", "amount", "fee", "net", "currency", "category"]

SCHEMA: Final = """
CREATE {kind} TABLE psp_payouts (id text PRIMARY KEY, amount bigint, currency text);
CREATE {kind} TABLE psp_balance_transactions (
    id text, payout_id text, amount bigint, fee bigint, net bigint, currency text, category text
);
"""

# Two passes, because the check needs only each payout's net and the itemised breakdown is
# wanted only for the payouts that fail it (about 1%):
#   1. FAILING_SQL groups the million rows by payout alone, keeping sum(amount) - sum(fee) and the
#      smallest and largest currency (bytewise, COLLATE "C": no strcoll per row): 10,000 small
#      groups, so with default work_mem (4 MB) the planner hashes them in parallel workers (with
#      more aggregates per group the table would not fit and it would sort to disk). A payout
#      fails if a currency other than its own appears (lo or hi differ from it) or if the net
#      differs from its amount; a payout without transactions fails unless it is zero.
#   2. DETAIL_SQL computes, for the failing payouts only, the per-category sums of the
#      transactions in the payout's currency and counts those in another (a scan filtered by a
#      hundred ids).
# sum(bigint) is exact (numeric).
FAILING_SQL: Final = """
WITH per_payout AS (
    SELECT payout_id, min(currency COLLATE "C") AS lo, max(currency COLLATE "C") AS hi,
           sum(amount) - sum(fee) AS net
    FROM psp_balance_transactions
    WHERE payout_id IS NOT NULL
    GROUP BY payout_id
)
SELECT p.id
FROM psp_payouts AS p
LEFT JOIN per_payout AS g ON g.payout_id = p.id
WHERE (g.payout_id IS NULL AND p.amount <> 0)
   OR g.lo <> p.currency OR g.hi <> p.currency OR g.net <> p.amount
"""

DETAIL_SQL: Final = """
SELECT p.id, p.currency, p.amount,
       coalesce(sum(t.amount) FILTER (WHERE same AND t.category = 'charge'), 0)::bigint,
       coalesce(sum(t.amount) FILTER (WHERE same AND t.category = 'refund'), 0)::bigint,
       coalesce(sum(t.amount) FILTER (WHERE same AND t.category = 'dispute'), 0)::bigint,
       coalesce(sum(t.amount) FILTER (WHERE same AND t.category = 'adjustment'), 0)::bigint,
       (coalesce(sum(t.amount) FILTER (WHERE same AND t.category = 'fee'), 0)
        - coalesce(sum(t.fee) FILTER (WHERE same), 0))::bigint,
       coalesce(sum(t.amount) FILTER (WHERE same AND t.category NOT IN
                ('charge', 'refund', 'dispute', 'adjustment', 'fee')), 0)::bigint,
       coalesce(sum(t.amount - t.fee) FILTER (WHERE same), 0)::bigint,
       count(t.id) FILTER (WHERE NOT same)
FROM psp_payouts AS p
LEFT JOIN psp_balance_transactions AS t ON t.payout_id = p.id
CROSS JOIN LATERAL (SELECT t.currency = p.currency AS same) AS c
WHERE p.id = ANY($1::text[])
GROUP BY p.id
"""

# id, currency, payout amount, charges, refunds, disputes, adjustments, fees, other, net, foreign
Row = tuple[str, str, int, int, int, int, int, int, int, int, int]


@dataclass(frozen=True)
class Generated:
    payouts: list[tuple[str, int, str]]
    planted_amount: frozenset[str]
    planted_currency: frozenset[str]
    csv_bytes: int


def stripe_id(prefix: str, n: int) -> str:
    """A Stripe-shaped id: prefix and 24 characters that differ early, as real ids do (a
    zero-padded counter would share its first 20 bytes and defeat the sort's abbreviated keys).
    Multiplying by an odd constant modulo 2**96 is a bijection, so the ids are unique."""
    return f"{prefix}_{n * 0x9E3779B97F4A7C15 % 2**96:024x}"


def payout_id(p: int) -> str:
    return stripe_id("po", p)


def generate(path: Path, transactions: int, payouts: int, seed: int) -> Generated:
    """Write the balance-transaction CSV; return the payouts and what was planted."""
    rng = random.Random(seed)
    currencies = ["usd"] * 7 + ["eur", "gbp", "jpy"]
    payout_currency = [currencies[rng.randrange(len(currencies))] for _ in range(payouts)]
    chosen = rng.sample(range(payouts), max(1, payouts // 100) + max(1, payouts // 2000))
    off_by = set(chosen[: max(1, payouts // 100)])  # ~1%: the payout amount is wrong
    foreign_in = set(chosen[max(1, payouts // 100) :])  # one transaction in another currency
    foreign_done: set[int] = set()
    totals = [0] * payouts
    weights = ["charge"] * 80 + ["refund"] * 8 + ["dispute"] * 2 + ["fee"] * 5 + ["adjustment"] * 5
    lines: list[str] = [",".join(CSV_COLUMNS) + "\n"]
    for i in range(transactions):
        p = i % payouts
        category = weights[rng.randrange(100)]
        if category == "charge":
            amount = rng.randrange(100, 500_000)
            fee = amount * 29 // 1000 + 30
        elif category == "refund":
            amount, fee = -rng.randrange(100, 200_000), 0
        elif category == "dispute":
            amount, fee = -rng.randrange(100, 200_000), 1_500
        elif category == "fee":
            amount, fee = -rng.randrange(100, 5_000), 0
        else:
            amount, fee = rng.randrange(-50_000, 50_000), 0
        currency = payout_currency[p]
        if p in foreign_in and p not in foreign_done:
            currency = "cad"  # left out of the sums; the payout is flagged for its currency only
            foreign_done.add(p)
        else:
            totals[p] += amount - fee
        lines.append(
            f"{stripe_id('txn', i)},{payout_id(p)},{amount},{fee},{amount - fee},{currency},"
            f"{category}\n"
        )
    text = "".join(lines)
    path.write_text(text)
    rows = []
    for p in range(payouts):
        delta = 0
        if p in off_by:
            delta = rng.choice((-1, 1)) * rng.randrange(1, 5_000)
        rows.append((payout_id(p), totals[p] + delta, payout_currency[p]))
    return Generated(
        payouts=rows,
        planted_amount=frozenset(payout_id(p) for p in off_by),
        planted_currency=frozenset(payout_id(p) for p in foreign_done),
        csv_bytes=len(text),
    )


async def load(
    conn: asyncpg.Connection, csv_path: Path, payouts: list[tuple[str, int, str]], freeze: bool
) -> tuple[float, float]:
    """Replace both tables' rows; return (payout seconds, COPY seconds)."""
    started = time.perf_counter()
    async with conn.transaction():
        await conn.execute("TRUNCATE psp_payouts")
        await conn.copy_records_to_table(
            "psp_payouts", records=payouts, columns=["id", "amount", "currency"]
        )
    payout_seconds = time.perf_counter() - started
    started = time.perf_counter()
    async with conn.transaction():
        # Truncated in the same transaction, so FREEZE may write the rows frozen: the first
        # reader does not have to set hint bits on (and dirty) every page.
        await conn.execute("TRUNCATE psp_balance_transactions")
        await conn.copy_to_table(
            "psp_balance_transactions",
            source=csv_path,
            columns=TABLE_COLUMNS,
            format="csv",
            header=True,
            freeze=freeze,
        )
    return payout_seconds, time.perf_counter() - started


async def reconcile_sql(conn: asyncpg.Connection) -> dict[str, Row]:
    failing = [r[0] for r in await conn.fetch(FAILING_SQL)]
    records = await conn.fetch(DETAIL_SQL, failing)
    return {r[0]: tuple(r) for r in records}


async def reconcile_loop(conn: asyncpg.Connection) -> tuple[dict[str, Row], float]:
    """The baseline: every row into Python, then a dict loop. Returns (rows, fetch seconds)."""
    started = time.perf_counter()
    payouts = await conn.fetch("SELECT * FROM psp_payouts")
    # SELECT * in the table's column order: id, payout_id, amount, fee, net, currency, category.
    transactions = await conn.fetch("SELECT * FROM psp_balance_transactions")
    fetched = time.perf_counter() - started
    currency_of = {p["id"]: p["currency"] for p in payouts}
    # payout id -> [charges, refunds, disputes, adjustments, fees, other, foreign count]
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0, 0, 0])
    slot = {"charge": 0, "refund": 1, "dispute": 2, "adjustment": 3, "fee": 4}
    for _id, pid, amount, fee, _net, currency, category in transactions:
        if pid is None:
            continue
        acc = sums[pid]
        if currency != currency_of.get(pid):
            acc[6] += 1
            continue
        acc[slot.get(category, 5)] += amount
        acc[4] -= fee
    found: dict[str, Row] = {}
    for p in payouts:
        c, r, d, a, f, o, foreign = sums.get(p["id"], [0] * 7)
        net = c + r + d + a + f + o
        if net != p["amount"] or foreign:
            found[p["id"]] = (p["id"], p["currency"], p["amount"], c, r, d, a, f, o, net, foreign)
    return found, fetched


def reconcile_core(
    csv_path: Path, payouts: list[tuple[str, int, str]]
) -> tuple[set[str], float, float, int]:
    """``payouts.psp_report`` parse + ``payouts.reconcile_report``: (exception ids, parse s,
    reconcile s, parse problems)."""
    problems: list[RowProblem] = []
    started = time.perf_counter()
    transactions = list(iter_balance_transactions(csv_path, problems))
    parsed = time.perf_counter() - started
    report = PspReport(
        payouts=[
            Payout(id=i, amount=a, currency=c.upper(), arrival_date=date(2024, 1, 2))
            for i, a, c in payouts
        ],
        transactions=transactions,
    )
    started = time.perf_counter()
    outcomes = reconcile_report(report)
    reconciled = time.perf_counter() - started
    ids = {o.payout_id for o in outcomes if o.status is ReconciliationStatus.EXCEPTION}
    return ids, parsed, reconciled, len(problems)


LABEL: Final = 42


def show(label: str, seconds: float, note: str = "") -> None:
    print(f"{label + ':':<{LABEL}} {seconds:6.3f} s  {note}".rstrip())


def fail(message: str) -> None:
    print(f"FAIL: {message}", file=sys.stderr)
    raise SystemExit(1)


async def bench(args: argparse.Namespace, root: Path) -> None:
    csv_path = root / "balance_transactions.csv"
    started = time.perf_counter()
    data = generate(csv_path, args.transactions, args.payouts, args.seed)
    print(
        f"generated {args.transactions:,} balance transactions across {args.payouts:,} payouts "
        f"({data.csv_bytes / 2**20:.0f} MiB CSV) in {time.perf_counter() - started:.1f} s; "
        f"planted {len(data.planted_amount)} amount + {len(data.planted_currency)} currency "
        "mismatches"
    )
    planted = data.planted_amount | data.planted_currency

    pg = LocalPostgres(root=root / "pg", port=free_port())
    pg.init()
    pg.start()
    try:
        pg.bootstrap()
        conn = await asyncpg.connect(pg.owner_dsn)
        try:
            kind = "" if args.logged else "UNLOGGED"
            await conn.execute(SCHEMA.format(kind=kind))
            version = await conn.fetchval("SHOW server_version")

            payout_s, copy_s = await load(conn, csv_path, data.payouts, not args.no_freeze)
            started = time.perf_counter()
            sql_rows = await reconcile_sql(conn)
            sql_s = time.perf_counter() - started
            started = time.perf_counter()
            again = await reconcile_sql(conn)
            sql_again_s = time.perf_counter() - started

            started = time.perf_counter()
            loop_rows, fetch_s = await reconcile_loop(conn)
            loop_s = time.perf_counter() - started
        finally:
            await conn.close()
    finally:
        pg.stop("fast")

    if sql_rows != again:
        fail("the reconcile statement returned different rows on its second run")
    if sql_rows.keys() != loop_rows.keys():
        only_sql = sorted(sql_rows.keys() - loop_rows.keys())[:5]
        only_loop = sorted(loop_rows.keys() - sql_rows.keys())[:5]
        fail(f"SQL and loop disagree on the ids: only SQL {only_sql}, only loop {only_loop}")
    differing = [pid for pid in sql_rows if sql_rows[pid] != loop_rows[pid]]
    if differing:
        pid = differing[0]
        fail(
            f"SQL and loop disagree on {len(differing)} rows, "
            f"e.g. {sql_rows[pid]} vs {loop_rows[pid]}"
        )
    if sql_rows.keys() != planted:
        fail(
            f"found {len(sql_rows)} mismatching payouts, planted {len(planted)}: "
            f"missed {sorted(planted - sql_rows.keys())[:5]}, "
            f"extra {sorted(sql_rows.keys() - planted)[:5]}"
        )
    by_currency = sum(1 for row in sql_rows.values() if row[10])

    table = "regular (logged)" if args.logged else "UNLOGGED"
    freeze = "" if args.no_freeze else ", COPY FREEZE"
    total = payout_s + copy_s + sql_s
    speedup = loop_s / sql_s
    print(f"PostgreSQL {version}, default settings; {table} tables{freeze}")
    show(f"load payouts ({args.payouts:,} rows)", payout_s)
    show(f"COPY balance transactions ({args.transactions:,} rows)", copy_s)
    show("reconcile, set-based SQL", sql_s, f"(again, warm: {sql_again_s:.3f} s)")
    met = "met" if total < TARGET_SECONDS else "NOT met"
    show("load + reconcile", total, f"(target < {TARGET_SECONDS} s: {met})")
    show(
        "fetch-and-loop baseline",
        loop_s,
        f"(fetch {fetch_s:.3f} s + loop {loop_s - fetch_s:.3f} s)",
    )
    met = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
    print(
        f"{'speed-up, SQL vs fetch-and-loop:':<{LABEL}} {speedup:6.1f}x  "
        f"(target >= {TARGET_SPEEDUP:.0f}x: {met})"
    )
    print(
        f"mismatching payouts: {len(sql_rows)} ({len(sql_rows) - by_currency} amount, "
        f"{by_currency} currency); SQL and loop rows identical; = the planted set"
    )

    if not args.skip_core:
        ids, parse_s, core_s, problems = reconcile_core(csv_path, data.payouts)
        if problems:
            fail(f"payouts.psp_report found {problems} problem rows in the generated CSV")
        if ids != sql_rows.keys():
            fail(
                f"payouts.reconcile_report flags {len(ids)} payouts, SQL {len(sql_rows)}: "
                f"only core {sorted(ids - sql_rows.keys())[:5]}, "
                f"only SQL {sorted(sql_rows.keys() - ids)[:5]}"
            )
        show(
            "pure Python, payouts package",
            parse_s + core_s,
            f"(parse CSV {parse_s:.3f} s + reconcile_report {core_s:.3f} s; same {len(ids)} ids)",
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transactions", type=int, default=1_000_000)
    parser.add_argument("--payouts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--logged", action="store_true", help="regular tables, not UNLOGGED")
    parser.add_argument("--no-freeze", action="store_true", help="plain COPY, without FREEZE")
    parser.add_argument("--skip-core", action="store_true", help="skip the payouts-package run")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix=f"payout-sql-bench-{uuid.uuid4().hex[:6]}-"))
    root.chmod(0o755)
    try:
        asyncio.run(bench(args, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
