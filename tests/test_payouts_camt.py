"""camt statements are checked before their lines are trusted: balances, TxsSummry, one line
per transaction detail, amounts strictly xs:decimal (small crafted inputs, one per class)."""

from __future__ import annotations

import pytest

from payouts import BankStatementUnreadable, Direction, read_camt


def _balance(code: str, amount: str, indicator: str = "CRDT", currency: str = "EUR") -> str:
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        "<Dt><Dt>2024-05-02</Dt></Dt></Bal>"
    )


def _tx(amount: str | None, end_to_end: str, indicator: str = "CRDT", ccy: str = "EUR") -> str:
    amt = f'<Amt Ccy="{ccy}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>' if amount else ""
    return (
        f"<TxDtls><Refs><EndToEndId>{end_to_end}</EndToEndId></Refs>{amt}"
        f"<RmtInf><Ustrd>for {end_to_end}</Ustrd></RmtInf></TxDtls>"
    )


def _entry(amount: str, indicator: str = "CRDT", details: str = "", status: str = "BOOK") -> str:
    return (
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        f"<Sts><Cd>{status}</Cd></Sts><BookgDt><Dt>2024-05-02</Dt></BookgDt>"
        f"<AcctSvcrRef>BANKREF1</AcctSvcrRef><NtryDtls>{details}</NtryDtls></Ntry>"
    )


def _statement(body: str, summary: str = "") -> bytes:
    return (
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
        "<Stmt><Id>S1</Id><Acct><Id><Othr><Id>987</Id></Othr></Id><Ccy>EUR</Ccy></Acct>"
        f"{summary}{body}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


BALANCED = _balance("OPBD", "100.00") + _entry("25.50") + _entry("5.50", "DBIT")


def test_balances_that_add_up_are_accepted() -> None:
    for closing in (_balance("CLBD", "120.00"), _balance("CLBD", "120")):
        parsed = read_camt(_statement(BALANCED + closing))
        assert [(x.amount, x.direction) for x in parsed.lines] == [
            (2550, Direction.CREDIT),
            (550, Direction.DEBIT),
        ]
        assert parsed.problems == []


def test_a_pending_entry_does_not_count_and_prcd_opens() -> None:
    body = _balance("PRCD", "100.00") + _entry("25.50") + _entry("999", status="PDNG")
    assert len(read_camt(_statement(body + _balance("CLBD", "125.50"))).lines) == 2


@pytest.mark.parametrize(
    ("closing", "reason"),
    [
        (
            _balance("CLBD", "120.01"),
            "opening balance 100.00 + booked entries 20.00 = 120.00, "
            "but the closing balance is 120.01 EUR",
        ),
        (_balance("CLBD", "120.00", "DBIT"), "but the closing balance is -120.00 EUR"),
        (_balance("CLBD", "120.00", currency="SEK"), "closing booked balance is in 'SEK'"),
        (_balance("CLBD", "1E2"), "not an xs:decimal amount: '1E2'"),
        (_balance("CLBD", "120.00", "BOTH"), "balance CLBD CdtDbtInd is 'BOTH'"),
    ],
)
def test_balances_that_do_not_add_up_are_refused(closing: str, reason: str) -> None:
    with pytest.raises(BankStatementUnreadable) as refused:
        read_camt(_statement(BALANCED + closing))
    assert refused.value.reason.startswith("camt.053 statement 1: ")
    assert reason in refused.value.reason


def _summary(count: int, total: str, net: str, indicator: str = "CRDT") -> str:
    return (
        f"<TxsSummry><TtlNtries><NbOfNtries>{count}</NbOfNtries><Sum>{total}</Sum>"
        f"<TtlNetNtry><Amt>{net}</Amt><CdtDbtInd>{indicator}</CdtDbtInd></TtlNetNtry></TtlNtries>"
        "<TtlCdtNtries><NbOfNtries>1</NbOfNtries><Sum>25.50</Sum></TtlCdtNtries>"
        "<TtlDbtNtries><NbOfNtries>1</NbOfNtries><Sum>5.50</Sum></TtlDbtNtries></TxsSummry>"
    )


def test_a_true_transaction_summary_is_accepted() -> None:
    body = _entry("25.50") + _entry("5.50", "DBIT")
    assert len(read_camt(_statement(body, _summary(2, "31.00", "20.00"))).lines) == 2


@pytest.mark.parametrize(
    ("summary", "reason"),
    [
        (
            _summary(3, "31.00", "20.00"),
            "TxsSummry/TtlNtries/NbOfNtries is '3', the statement has 2",
        ),
        (
            _summary(2, "31.01", "20.00"),
            "TxsSummry/TtlNtries/Sum is 31.01, the entries add up to 31.00",
        ),
        (_summary(2, "31.00", "20.00", "DBIT"), "TxsSummry net DBIT 20.00, the entries net 20.00"),
        (_summary(2, "31.00", "2E1"), "not an xs:decimal amount: '2E1'"),
    ],
)
def test_a_wrong_transaction_summary_is_refused(summary: str, reason: str) -> None:
    body = _entry("25.50") + _entry("5.50", "DBIT")
    with pytest.raises(BankStatementUnreadable) as refused:
        read_camt(_statement(body, summary))
    assert reason in refused.value.reason


def test_one_line_per_transaction_detail() -> None:
    details = _tx("10.00", "po_A") + _tx("12.00", "po_B") + _tx("2.00", "po_C", "DBIT")
    parsed = read_camt(_statement(_entry("20.00", details=details)))
    assert parsed.problems == []
    assert [
        (x.line_id, x.amount, x.direction, x.end_to_end_id, x.reference_text, x.bank_reference)
        for x in parsed.lines
    ] == [
        ("camt.053:S1:1:1", 1000, Direction.CREDIT, "po_A", "po_A for po_A", "BANKREF1"),
        ("camt.053:S1:1:2", 1200, Direction.CREDIT, "po_B", "po_B for po_B", "BANKREF1"),
        ("camt.053:S1:1:3", 200, Direction.DEBIT, "po_C", "po_C for po_C", "BANKREF1"),
    ]


@pytest.mark.parametrize(
    ("details", "problem"),
    [
        (_tx("10.00", "po_A") + _tx("9.99", "po_B"), "its 2 transaction details net 1999"),
        (_tx("10.00", "po_A") + _tx(None, "po_B"), "TxDtls 2 has no amount"),
        (_tx("10.00", "po_A") + _tx("10.00", "po_B", ccy="CHF"), "TxDtls 2 is in 'CHF'"),
        (_tx("10.00", "po_A") + _tx("1E1", "po_B"), "TxDtls 2 Amt: not an xs:decimal"),
    ],
)
def test_details_that_do_not_book_the_entry_keep_it_whole(details: str, problem: str) -> None:
    parsed = read_camt(_statement(_entry("20.00", details=details)))
    [line] = parsed.lines
    assert (line.line_id, line.amount, line.end_to_end_id) == ("camt.053:S1:1", 2000, "po_A")
    [message] = parsed.problems
    assert message.startswith("camt.053:S1:1: ") and problem in message


@pytest.mark.parametrize(
    "amount",
    [
        "1E2",
        "1e2",
        "\u0661\u0662",  # Arabic-Indic digits: Decimal() reads them as 12
        "\u00b9",  # superscript one: str.isdigit() says yes
        "1E-999999999",
        "NaN",
        "Infinity",
        "0x10",
        "1,00",
        "1" * 100,
        "",
    ],
)
def test_amounts_that_are_not_xs_decimal_are_problems(amount: str) -> None:
    parsed = read_camt(_statement(_entry("5.00") + _entry(amount)))
    assert [x.amount for x in parsed.lines] == [500]
    [problem] = parsed.problems
    assert problem.startswith("camt.053:S1:2: Ntry/Amt")


def test_an_unreadable_entry_leaves_the_balances_unchecked_and_says_so() -> None:
    body = BALANCED + _entry("1E2") + _balance("CLBD", "120.00")
    parsed = read_camt(_statement(body))
    assert len(parsed.lines) == 2
    assert parsed.problems[-1] == (
        "camt.053 statement 1: balances and TxsSummry not checked, 1 entries unreadable"
    )


def test_size_caps_refuse_before_building_lines() -> None:
    body = _entry("1.00") * 3
    with pytest.raises(BankStatementUnreadable, match="3 entries, more than 2"):
        read_camt(_statement(body), max_lines=2)
    with pytest.raises(BankStatementUnreadable, match="more than 10 XML elements"):
        read_camt(_statement(body), max_elements=10)
    assert len(read_camt(_statement(body), max_lines=3).lines) == 3
