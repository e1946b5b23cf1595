"""The PSP report readers against fivetran's real Stripe seeds, and on junk."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts import (
    Category,
    PspReportUnreadable,
    categorise,
    read_balance_transactions,
    read_payout_links,
    read_payouts,
    read_report,
)

STRIPE = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "stripe"
PAYOUTS = STRIPE / "fivetran_payout_data.csv"
TRANSACTIONS = STRIPE / "fivetran_balance_transaction_data.csv"
LINKS = STRIPE / "fivetran_payout_balance_transaction_data.csv"

if not STRIPE.is_dir():  # pragma: no cover
    pytest.skip("the shared corpus is not mounted", allow_module_level=True)


def test_payouts_file() -> None:
    parsed = read_payouts(PAYOUTS)
    assert parsed.problems == []
    assert len(parsed.rows) == 15
    first = parsed.rows[0]
    assert first.id == "po_0IB8cXig6peNXzgDJWLvHBB7"
    assert first.amount == 3029432  # minor units as Stripe writes them: $30,294.32
    assert first.currency == "USD"
    assert first.arrival_date == date(2021, 1, 20)
    assert first.status == "paid"
    assert first.balance_transaction_id == "txn_0IB8cXig6peNXzgDppfO2tfk"
    assert first.created == datetime(2021, 1, 19, 1, 2, 57, tzinfo=UTC)
    assert first.line == 2
    negative = next(p for p in parsed.rows if p.id == "po_0IE2QFig6peNXzgDCoJMX6xo")
    assert negative.amount == -833651
    assert sum(p.amount for p in parsed.rows) == 21_471_524  # awk over column 3
    assert {p.status for p in parsed.rows} == {"paid", "in_transit"}
    assert all(p.statement_descriptor is None for p in parsed.rows)


def test_balance_transactions_file() -> None:
    parsed = read_balance_transactions(TRANSACTIONS)
    assert parsed.problems == []
    assert len(parsed.rows) == 9
    by_id = {t.id: t for t in parsed.rows}
    own = by_id["xyz_0IV4rIig6peNXzgDK3XAFbaN"]
    assert (own.type, own.category, own.amount, own.fee, own.net) == (
        "payout",
        Category.PAYOUT,
        -18759,
        0,
        -18759,
    )
    assert own.source == own.payout_id == "po_0IV4rIig6peNXzgD51VFKdaB"
    charge = by_id["xyz_0IDYgiig6peNXzgDuNvLeoLR"]
    assert (charge.category, charge.amount, charge.fee, charge.net) == (
        Category.CHARGE,
        2040000,
        59190,
        1980810,
    )
    assert charge.payout_id == "po_0IFUKBig6peNXzgDZQM7WPAo"
    assert charge.available_on == datetime(2021, 2, 1, tzinfo=UTC)
    assert [t.category for t in parsed.rows].count(Category.CHARGE) == 8
    unpaid = [t.id for t in parsed.rows if t.payout_id is None]
    assert unpaid == ["xyz_0IUBwDig6peNXzgDCYCHC7gd", "xyz_0IUIaVig6peNXzgDoGvsNC17"]
    assert sum(t.net for t in parsed.rows) == 20_463_341  # awk over column 11
    assert {t.currency for t in parsed.rows} == {"USD"}


def test_links_file() -> None:
    parsed = read_payout_links(LINKS)
    assert parsed.problems == []
    assert len(parsed.rows) == 15
    assert parsed.rows[0].payout_id == "po_0IB8cXig6peNXzgDJWLvHBB7"
    assert parsed.rows[0].balance_transaction_id == "xyz_0IV4rIig6peNXzgDK3XAFbaN"
    # The last line has no line end: still read.
    assert parsed.rows[-1].balance_transaction_id == "xyz_0IJ74Lig6peNXzgD4IuGp8d3"


def test_whole_report() -> None:
    report = read_report(PAYOUTS, TRANSACTIONS, LINKS)
    assert (len(report.payouts), len(report.transactions)) == (15, 9)
    assert report.links is not None and len(report.links) == 15
    assert report.problems == []


def test_bom_lf_and_bad_rows_become_problems() -> None:
    data = (
        "\ufeffid,amount,fee,net,currency,type,payout_id\n"
        "txn_1,1000,30,970,usd,charge,po_1\n"
        "txn_2,12.50,0,1250,usd,charge,po_1\n"  # a major-unit amount
        "txn_3,1000,30,900,usd,charge,po_1\n"  # net is not amount - fee
        "txn_4,1000,30,970,dollars,charge,po_1\n"
        "txn_5,1000,30\n"
        ",1000,30,970,usd,charge,po_1\n"
        "txn_6,-500,0,-500,EUR,refund,\n"
        "\n"
    ).encode() + b"txn_7,1,0,1,usd,\xff\xfe,po_1\n"
    parsed = read_balance_transactions(data)
    assert [(t.id, t.net, t.currency, t.category) for t in parsed.rows] == [
        ("txn_1", 970, "USD", Category.CHARGE),
        ("txn_6", -500, "EUR", Category.REFUND),
    ]
    assert [(p.line, p.record_id, p.column) for p in parsed.problems] == [
        (3, "txn_2", "amount"),
        (4, "txn_3", "net"),
        (5, "txn_4", "currency"),
        (6, "txn_5", None),
        (7, None, "id"),
        (10, "txn_7", None),
    ]
    assert all(p.layout == "balance_transactions" for p in parsed.problems)


def test_crlf_and_quoted_fields() -> None:
    data = (
        b"id,amount,currency,arrival_date,metadata\r\n"
        b'po_1,100,jpy,2024-05-01,"{""a"":""b,c""}"\r\n'
        b"po_2,5,usd,2024-05-02T00:00:00+02:00,\r\n"
    )
    parsed = read_payouts(data)
    assert parsed.problems == []
    assert [(p.id, p.amount, p.currency, p.arrival_date) for p in parsed.rows] == [
        ("po_1", 100, "JPY", date(2024, 5, 1)),
        ("po_2", 5, "USD", date(2024, 5, 1)),  # 00:00 at +02:00 is the day before in UTC
    ]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"payout_id,amount\n1,2\n", "column(s)"),
        (b"\x00\x01\x02 binary", "column(s)"),
    ],
)
def test_unreadable_reports(data: bytes, reason: str) -> None:
    with pytest.raises(PspReportUnreadable, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_payouts(data)


def test_missing_file_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(PspReportUnreadable, match="cannot open"):
        read_payouts(tmp_path / "nope.csv")


def test_categories() -> None:
    assert categorise("payment") is Category.CHARGE
    assert categorise("payment_refund") is Category.REFUND
    assert categorise("adjustment") is Category.ADJUSTMENT
    assert categorise("adjustment", "dispute") is Category.DISPUTE
    assert categorise("stripe_fee") is Category.FEE
    assert categorise("payout_failure") is Category.PAYOUT
    assert categorise("topup") is Category.OTHER


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_junk_never_raises_anything_else(data: bytes) -> None:
    for reader in (read_payouts, read_balance_transactions, read_payout_links):
        try:
            parsed = reader(data)
        except PspReportUnreadable:
            continue
        assert len(parsed.rows) + len(parsed.problems) <= data.count(b"\n") + data.count(b"\r") + 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.text(max_size=12), min_size=0, max_size=9), max_size=8))
def test_junk_rows_under_a_good_header_are_problems(rows: list[list[str]]) -> None:
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "amount", "fee", "net", "currency", "type", "payout_id"])
    writer.writerows(rows)
    parsed = read_balance_transactions(out.getvalue().encode("utf-8", "surrogatepass"))
    for row in parsed.rows:
        assert row.net == row.amount - row.fee


@pytest.mark.parametrize(
    "stamp",
    [
        "0001-01-01T00:00:00+01:00",  # overflows on its way to UTC (astimezone)
        "9999-12-31T23:00:00-05:00",
        "99999999999999999",  # epoch seconds beyond datetime (fromtimestamp)
        "\u00b9\u00b2\u00b3",  # superscript digits: str.isdigit() says yes, int() says no
        "2024-01-01" + "0" * 100,
    ],
)
def test_a_timestamp_that_overflows_is_that_rows_problem(stamp: str) -> None:
    data = (
        "id,amount,currency,arrival_date,created\n"
        f"po_bad,100,usd,2024-01-01,{stamp}\n"
        "po_good,5,usd,2024-01-02,2024-01-02T00:00:00Z\n"
    ).encode()
    parsed = read_payouts(data)
    assert [p.id for p in parsed.rows] == ["po_good"]
    [problem] = parsed.problems
    assert (problem.line, problem.record_id, problem.column) == (2, "po_bad", "created")
    transactions = read_balance_transactions(
        (
            f"id,amount,fee,net,currency,type,available_on\ntxn_bad,100,0,100,usd,charge,{stamp}\n"
        ).encode()
    )
    assert transactions.rows == []
    assert [p.column for p in transactions.problems] == ["available_on"]


@settings(max_examples=200, deadline=2000)
@given(st.sampled_from([PAYOUTS, TRANSACTIONS, LINKS]), st.data())
def test_mutated_corpus_files_give_only_typed_results(path: Path, data: st.DataObject) -> None:
    buffer = bytearray(path.read_bytes()[:6000])
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(buffer) - 1))
        buffer[i : i + 1] = data.draw(
            st.sampled_from(
                [b",", b'"', b"\n", b"\r", b"-", b"9" * 30, b"+99:00", b"\xb9", b"\xff"]
            )
        )
    for reader in (read_payouts, read_balance_transactions, read_payout_links):
        try:
            parsed = reader(bytes(buffer))
        except PspReportUnreadable as refused:
            assert refused.reason
            continue
        assert all(problem.message for problem in parsed.problems)
