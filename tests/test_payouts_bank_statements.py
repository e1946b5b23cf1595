"""BAI2 and camt readers against the real corpus files, quirks, hostile XML and junk."""

from __future__ import annotations

import contextlib
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from payouts import (
    BankStatementUnreadable,
    Direction,
    StatementFormat,
    read_bai2,
    read_bank_statement,
    read_camt,
)

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SVB = CORPUS / "bai2" / "moj_svb_us_example.bai2"
MOOV = CORPUS / "bai2" / "moov_sample1.txt"
CAMT053 = CORPUS / "camt" / "genkgo_camt053.v2.minimal.xml"
CAMT054 = CORPUS / "camt" / "genkgo_camt054.v4.xml"
CAMT053_BALANCED = (
    CAMT053.read_bytes().replace(
        b'<Amt Ccy="SEK">27.00</Amt>\n                <CdtDbtInd>DBIT',
        b'<Amt Ccy="EUR">27.00</Amt>\n                <CdtDbtInd>CRDT',
    )
    if CAMT053.exists()
    else b""
)

if not CORPUS.is_dir():  # pragma: no cover
    pytest.skip("the shared corpus is not mounted", allow_module_level=True)


def test_svb_bai2() -> None:
    parsed = read_bai2(SVB)
    assert parsed.format is StatementFormat.BAI2 and parsed.problems == []
    assert [
        (
            line.account,
            line.amount,
            line.currency,
            line.direction,
            line.value_date,
            line.bank_reference,
            line.reference_text,
            line.type_code,
        )
        for line in parsed.lines
    ] == [
        ("1234567890", 490196, "USD", Direction.CREDIT, date(2022, 2, 1), "172629",
         "SOME PAYMENT ACH OFFSET", "142"),
        ("1234567890", 905800, "USD", Direction.CREDIT, date(2022, 2, 2), "150675",
         "SOME PAYMENT ACH OFFSET", "142"),
    ]  # fmt: skip
    assert [line.line_id for line in parsed.lines] == ["bai2:1:1:1:1", "bai2:1:2:1:1"]


def test_moov_bai2_value_dated_lines() -> None:
    parsed = read_bai2(MOOV)
    assert parsed.problems == []
    assert len(parsed.lines) == 17
    assert {line.currency for line in parsed.lines} == {"CAD"}
    assert {line.account for line in parsed.lines} == {"10200123456"}
    credits = [line for line in parsed.lines if line.direction is Direction.CREDIT]
    debits = [line for line in parsed.lines if line.direction is Direction.DEBIT]
    # Type 108 credits and 409 debits match the 88 summaries (type 100 total credits, 400 total
    # debits: 208500 and 111500); each 49 control total (834000, 446000) is those summaries plus
    # the details, so the details are half of it.
    assert sum(c.amount for c in credits) == 208500 + 111500
    assert sum(d.amount for d in debits) == 208500 + 111500
    assert sum(line.amount for line in parsed.lines) == (834000 + 446000) // 2
    first = parsed.lines[0]
    assert (first.amount, first.type_code, first.reference_text) == (2500, "409", "RETURNED CHEQUE")
    # Funds type V: the value date (060316) differs from the group's as-of date (060317).
    assert (first.value_date, first.booking_date) == (date(2006, 3, 16), date(2006, 3, 17))
    assert parsed.lines[-1].value_date == date(2006, 3, 17)


def test_bai2_with_bom_and_crlf() -> None:
    data = b"\xef\xbb\xbf" + SVB.read_bytes().replace(b"\n", b"\r\n")
    assert read_bank_statement(data).lines == read_bai2(SVB).lines


def test_bai2_with_wrong_control_total_is_unreadable() -> None:
    data = SVB.read_bytes().replace(b"49,138884258,7/", b"49,138884259,7/")
    with pytest.raises(BankStatementUnreadable) as raised:
        read_bai2(data)
    assert raised.value.format == "bai2"


def test_camt053_corpus_file_is_refused_for_its_closing_balance() -> None:
    # genkgo's fixture: OPBD 18.15 EUR credit + one entry of 8.85 EUR credit, but its CLBD is
    # written as 27.00 SEK *debit*: the balances cannot be reconciled, so the statement is not
    # trusted.
    with pytest.raises(BankStatementUnreadable) as refused:
        read_camt(CAMT053)
    assert refused.value.reason == (
        "camt.053 statement 1: the closing booked balance is in 'SEK', the account in 'EUR'"
    )


def test_camt053() -> None:
    # The same file with its closing balance as the entries make it (27.00 EUR credit).
    parsed = read_camt(CAMT053_BALANCED)
    assert parsed.format is StatementFormat.CAMT_053 and parsed.problems == []
    [line] = parsed.lines
    assert line.account == "NL26VAYB8060476890"
    assert (line.amount, line.currency, line.direction) == (885, "EUR", Direction.CREDIT)
    assert (line.booking_date, line.value_date) == (date(2014, 12, 31), date(2015, 1, 2))
    assert line.reference_text == "4654654654654654"  # RmtInf/Strd/CdtrRefInf/Ref
    assert (line.status, line.type_code, line.reversal) == ("BOOK", "544", False)
    assert line.line_id == "camt.053:253EURNL26VAYB8060476890:1"


def test_camt054() -> None:
    parsed = read_camt(CAMT054)
    # Its entry books 200000 SEK; its three transaction details are in CHF (3.1, 3.2, 3.2):
    # they cannot be split out in the account's money, so the entry stays one line.
    assert parsed.format is StatementFormat.CAMT_054
    assert parsed.problems == [
        "camt.054:AAAASESS-FP-ACCR001:1: TxDtls 1 is in 'CHF', the entry in SEK: kept as one line"
    ]
    [line] = parsed.lines
    assert line.account == "CH2801234000123456789"
    assert (line.amount, line.currency, line.direction) == (20_000_000, "SEK", Direction.DEBIT)
    assert line.bank_reference == "ACSR160617103200001"
    assert line.end_to_end_id == "UXC06170000006PI00001EE00001"
    assert line.type_code == "PMNT/ICDT/DMCT"
    assert "UXC06170000006PI00001EE00002" in line.reference_text
    assert "Unstructured Remittance Information V3 block 2" in line.reference_text
    assert "ISR ref number V1" in line.reference_text
    assert line.reference_text.endswith("Order")  # Ntry/AddtlNtryInf


def _camt(entries: str) -> bytes:
    return (
        '<?xml version="1.0"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        "<BkToCstmrStmt><Stmt><Id>S1</Id><Acct><Id><Othr><Id>987</Id></Othr></Id></Acct>"
        f"{entries}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def _entry(amount: str, currency: str = "EUR", indicator: str = "CRDT") -> str:
    return (
        f'<Ntry><Amt Ccy="{currency}">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd>'
        "<Sts><Cd>BOOK</Cd></Sts><ValDt><DtTm>2024-05-02T10:00:00Z</DtTm></ValDt>"
        "<NtryDtls><TxDtls><Refs><EndToEndId>po_123</EndToEndId></Refs></TxDtls></NtryDtls></Ntry>"
    )


def test_camt_amounts_and_problem_entries() -> None:
    data = "\ufeff".encode() + _camt(
        _entry("12.5")
        + _entry("1000", "JPY")
        + _entry("1.234", "BHD", "DBIT")
        + _entry("1.001")  # too many decimals for EUR
        + _entry("7", "XX")
        + _entry("3", indicator="BOTH")
    ).replace(b"\n", b"\r\n")
    parsed = read_bank_statement(data)
    assert [(x.amount, x.currency, x.direction.value) for x in parsed.lines] == [
        (1250, "EUR", "credit"),
        (1000, "JPY", "credit"),
        (1234, "BHD", "debit"),
    ]
    assert parsed.lines[0].account == "987"
    assert parsed.lines[0].status == "BOOK"  # Sts/Cd, camt.053.001.08 on
    assert parsed.lines[0].value_date == date(2024, 5, 2)
    assert parsed.lines[0].end_to_end_id == "po_123"
    assert len(parsed.problems) == 3
    assert parsed.problems[0].startswith("camt.053:S1:4: Ntry/Amt:")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<Document><BkToCstmrStmt>&lol2;</BkToCstmrStmt></Document>"""
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Document><BkToCstmrStmt><Stmt><Id>&xxe;</Id></Stmt></BkToCstmrStmt></Document>"""


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (BILLION_LAUGHS, "forbidden"),
        (XXE, "forbidden"),
        (b"<Document><Stmt>", "well-formed"),
        (b"<Foo/>", "not Document"),
        (b"<Document><pain.001/></Document>", "not a camt"),
        (b"   ", "empty"),
    ],
)
def test_unreadable_camt(data: bytes, reason: str) -> None:
    with pytest.raises(BankStatementUnreadable, match=reason):
        read_camt(data)


def test_unknown_statement_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(BankStatementUnreadable, match="neither"):
        read_bank_statement(b"hello")
    with pytest.raises(BankStatementUnreadable, match="cannot read"):
        read_bank_statement(tmp_path / "nope")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_junk_raises_only_the_typed_error(data: bytes) -> None:
    for reader in (read_bai2, read_camt, read_bank_statement):
        with contextlib.suppress(BankStatementUnreadable):
            reader(data)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_mutated_bai2_raises_only_the_typed_error(data: st.DataObject) -> None:
    text = bytearray(MOOV.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text) - 1))
        text[i] = data.draw(st.sampled_from(b"0123456789,/-+V \n9A"))
    with contextlib.suppress(BankStatementUnreadable):
        read_bai2(bytes(text))


@settings(max_examples=300, deadline=2000)
@given(st.data())
def test_mutated_camt_raises_only_the_typed_error(data: st.DataObject) -> None:
    source = data.draw(st.sampled_from([CAMT054.read_bytes(), CAMT053_BALANCED]))
    text = bytearray(source)
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(text) - 1))
        text[i] = data.draw(st.sampled_from(b"<>/&;\"'0123456789.-ABC \x00"))
    with contextlib.suppress(BankStatementUnreadable):
        read_camt(bytes(text))
