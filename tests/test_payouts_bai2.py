"""Our BAI2 reader (payouts.bai2): the public files, the specification's shapes, and hostile
input — every input ends in a typed result, quickly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from payouts import BankStatementUnreadable, Direction, ParsedStatement, bai2, read_bai2

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "bai2"
SVB = CORPUS / "moj_svb_us_example.bai2"
MOOV = CORPUS / "moov_sample1.txt"

if not CORPUS.is_dir():  # pragma: no cover
    pytest.skip("the shared corpus is not mounted", allow_module_level=True)


def _shape(file: bai2.Bai2File) -> list[list[tuple[int, int | None, int | None]]]:
    """Per group, per account: (details, 49 control total, 49 record count)."""
    return [
        [
            (
                len(a.details),
                a.trailer.control_total if a.trailer else None,
                a.trailer.records if a.trailer else None,
            )
            for a in g.accounts
        ]
        for g in file.groups
    ]


# -- the public files -----------------------------------------------------------------------


def test_svb_file_yields_two_groups_of_one_account_and_its_totals() -> None:
    file = bai2.read(SVB.read_bytes())
    assert bai2.validate(file) == []
    assert _shape(file) == [[(1, 138884258, 7)], [(1, 143145938, 7)]]
    assert [g.trailer.control_total for g in file.groups if g.trailer] == [138884258, 143145938]
    assert file.trailer is not None
    assert (file.trailer.control_total, file.trailer.groups, file.trailer.records) == (
        282030196,
        2,
        20,
    )
    assert file.records == 20
    # 03 and its three 88s: eight balances and summaries (010 015 040 045 072 074 100 400).
    summaries = file.groups[0].accounts[0].header.summaries
    assert [s.type_code for s in summaries] == [
        "010",
        "015",
        "040",
        "045",
        "072",
        "074",
        "100",
        "400",
    ]
    assert summaries[6].amount == 490196 and summaries[6].item_count == 1
    detail = file.groups[0].accounts[0].details[0]
    # 16,142,490196,,172629,/ then 88,SOME PAYMENT ACH OFFSET: ",/" defaults the customer
    # reference, so the 88 is the text.
    assert (detail.type_code, detail.amount, detail.bank_reference, detail.customer_reference) == (
        "142",
        490196,
        "172629",
        "",
    )
    assert (detail.text, detail.lines) == ("SOME PAYMENT ACH OFFSET", 2)


def test_moov_file_yields_one_group_two_accounts_seventeen_details() -> None:
    file = bai2.read(MOOV.read_bytes())
    assert bai2.validate(file) == []
    assert _shape(file) == [[(11, 834000, 14), (6, 446000, 9)]]
    assert file.trailer is not None
    assert (file.trailer.control_total, file.trailer.groups, file.trailer.records) == (
        1280000,
        1,
        27,
    )
    first = file.groups[0].accounts[0].details[0]
    assert first.funds.value_date is not None and first.funds.value_date.isoformat() == "2006-03-16"
    statement = read_bai2(MOOV)
    assert len(statement.lines) == 17 and statement.problems == []
    assert sum(line.amount for line in statement.lines) == 640000


@pytest.mark.parametrize("path", [SVB, MOOV], ids=["svb", "moov"])
def test_re_read_with_other_line_ends_and_a_bom_gives_the_same_lines(path: Path) -> None:
    data = path.read_bytes()
    expected = read_bai2(data).lines
    for variant in (
        b"\xef\xbb\xbf" + data.replace(b"\n", b"\r\n"),
        data.replace(b"\n", b"\r"),
        data + b"\n\n",
    ):
        assert read_bai2(variant).lines == expected


# -- the specification's shapes ---------------------------------------------------------------

# The shape of the BAI2 specification's example: an 03 record ending "190/" whose amount is the
# first field of the next 88, a funds type S detail, and a detail whose text is continued.
SPEC = """01,122099999,123456789,040621,0200,1,65,,2/
02,031001234,122099999,1,040620,2359,,2/
03,0975312468,GBP,010,500000,,,190/
88,70000000,4,0/
16,115,10000000,S,5000000,4000000,1000000/
88,AX13612,B096132,AMALGAMATED CORP. LOCKBOX
88,DEPOSIT-MISC. RECEIVABLES
49,80500000,6/
98,80500000,1,8/
99,80500000,1,10/
"""


def test_specification_example_continuations_continue_the_field_sequence() -> None:
    file = bai2.read(SPEC)
    assert bai2.validate(file) == []
    account = file.groups[0].accounts[0]
    assert [(s.type_code, s.amount, s.item_count) for s in account.header.summaries] == [
        ("010", 500000, None),
        ("190", 70000000, 4),
    ]
    [detail] = account.details
    assert (detail.funds.immediate, detail.funds.one_day, detail.funds.two_or_more_days) == (
        5000000,
        4000000,
        1000000,
    )
    assert (detail.bank_reference, detail.customer_reference) == ("AX13612", "B096132")
    # Text continued on an 88 is joined exactly: nothing inserted.
    assert detail.text == "AMALGAMATED CORP. LOCKBOXDEPOSIT-MISC. RECEIVABLES"
    [line] = read_bai2(SPEC.encode()).lines
    assert (line.amount, line.currency, line.direction, line.type_code) == (
        10000000,
        "GBP",
        Direction.CREDIT,
        "115",
    )


def _svb_with(old: str, new: str, extra_records: int = 0) -> bytes:
    """The SVB file with one change, its 49/98/99 record counts raised by ``extra_records``."""
    text = SVB.read_text().replace(old, new, 1)
    text = text.replace("49,138884258,7/", f"49,138884258,{7 + extra_records}/", 1)
    text = text.replace("98,138884258,1,9/", f"98,138884258,1,{9 + extra_records}/", 1)
    return text.replace("99,282030196,2,20", f"99,282030196,2,{20 + extra_records}").encode()


def test_wrapped_payout_reference_is_joined_exactly() -> None:
    data = _svb_with("88,SOME PAYMENT ACH OFFSET\n", "88,PAYOUT PO_CLIE\n88,NT/\n", 1)
    first = read_bai2(data).lines[0]
    assert first.reference_text == "PAYOUT PO_CLIENT"


def test_negative_balances_are_read_and_added_with_their_sign() -> None:
    # 010 opening ledger of -34726979: every control total drops by twice that.
    data = SVB.read_text().replace("USD,010,34726979,", "USD,010,-34726979,", 1)
    data = data.replace("49,138884258,", "49,69430300,", 1).replace("98,138884258,", "98,69430300,")
    data = data.replace("99,282030196,", "99,212576238,")
    file = bai2.read(data)
    assert bai2.validate(file) == []
    assert file.groups[0].accounts[0].header.summaries[0].amount == -34726979
    assert len(read_bai2(data.encode()).lines) == 2


def test_a_negative_detail_is_a_problem_not_a_line() -> None:
    data = SVB.read_text().replace("16,142,490196,", "16,142,-490196,", 1)
    data = data.replace("49,138884258,", "49,137903866,", 1).replace(
        "98,138884258,", "98,137903866,"
    )
    data = data.replace("99,282030196,", "99,281049804,")
    statement = read_bai2(data.encode())
    assert [line.amount for line in statement.lines] == [905800]
    assert statement.problems == [
        "bai2:1:1:1:1 (line 7): amount -490196 is negative: the type code gives the direction"
    ]


# -- hostile and broken files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cut_after", "reason"),
    [("16,142,490196,,172629,/\n", "no 49 trailer"), ("88,SOME PAYMENT ACH OFFSET\n", "no 49")],
)
def test_a_file_cut_after_a_16_or_88_is_refused_at_once(cut_after: str, reason: str) -> None:
    text = SVB.read_text()
    data = text[: text.index(cut_after) + len(cut_after)].encode()
    started = time.monotonic()
    with pytest.raises(BankStatementUnreadable, match=reason) as refused:
        read_bai2(data)
    assert time.monotonic() - started < 1.0
    assert "without a 99 file trailer" in refused.value.reason
    assert refused.value.format == "bai2"


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("49,138884258,7/", "49,138884259,7/", "line 9: the 49 account control total is 138884259"),
        (
            "49,138884258,7/",
            "49,138884258,8/",
            "line 9: the 49 number of records is 8, the file has 7",
        ),
        ("98,138884258,1,9/", "98,138884258,2,9/", "98 number of accounts is 2"),
        ("99,282030196,2,20", "99,282030196,2,21", "99 number of records is 21"),
        ("99,282030196,2,20", "99,282030197,2,20", "99 file control total is 282030197"),
        ("0754,1,,,2/", "0754,1,x,,2/", ""),  # a record length that is not a number: tolerated
        ("16,142,490196,", "16,142,49O196,", "amount '49O196' is not a signed whole number"),
        ("16,142,490196,", "16,142,\u00b9\u00b2\u00b3,", "is not a signed whole number"),
        ("16,142,490196,", "16,14\u00b2,490196,", "detail type code '14²' is not 3 digits"),
        ("16,142,490196,", "17,142,490196,", "record code '17' is not a BAI2 record"),
        ("02,121140399,121140399,1,220201,", "02,121140399,121140399,1,221301,", "as-of date"),
        ("0754,1,,,2/", "0754,1,,,3/", "only BAI2 (version 2) is read"),
        ("16,142,490196,,", "16,142,490196,Q,", "funds type 'Q'"),
        ("98,138884258,1,9/\n", "", "no 98 trailer before the 02 group header"),
    ],
)
def test_what_is_wrong_is_refused_with_its_line(old: str, new: str, reason: str) -> None:
    data = SVB.read_text().replace(old, new, 1).encode()
    if not reason:
        assert len(read_bai2(data).lines) == 2
        return
    with pytest.raises(BankStatementUnreadable) as refused:
        read_bai2(data)
    assert reason in refused.value.reason


def test_every_problem_is_listed_by_validate() -> None:
    data = (
        SVB.read_text()
        .replace("49,138884258,7/", "49,1,7/")
        .replace("98,143145938,1,9/", "98,1,1,9/")
    )
    problems = bai2.validate(bai2.read(data))
    assert [(p.line, p.code) for p in problems] == [
        (9, "control_total"),
        (10, "control_total"),
        (19, "control_total"),
        (20, "control_total"),
    ]


def test_limits_refuse_instead_of_growing() -> None:
    with pytest.raises(BankStatementUnreadable, match="longer than 4096 characters"):
        read_bai2(SVB.read_bytes() + b"88," + b"A" * 5000 + b"\n")
    with pytest.raises(BankStatementUnreadable, match="more than 10 lines"):
        bai2.read(SVB.read_bytes(), max_records=10)
    with pytest.raises(BankStatementUnreadable, match="more than 19 records"):
        bai2.read(SVB.read_text().rstrip("\n"), max_records=19)  # 19 line ends, 20 records
    many = SVB.read_text().replace("88,SOME PAYMENT ACH OFFSET\n", "88,X\n" * 20, 1)
    with pytest.raises(BankStatementUnreadable, match="more than 5 continuations"):
        bai2.read(many, max_continuations=5)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"  \n\n", "empty"),
        (b"02,1,2,1,220201,,USD,2/", "not a 01 file header"),
        (b"hello", "not a 01 file header"),
        (b"01,1,2,230214,0754,1,,,2/", "without a 99 file trailer"),
        (
            b"01,1,2,230214,0754,1,,,2/\nXY,1\n88,1\n99,0,0,4/",
            "line 3: an 88 record continues nothing",
        ),
    ],
)
def test_not_bai2_or_nothing_but_a_header(data: bytes, reason: str) -> None:
    with pytest.raises(BankStatementUnreadable, match=reason):
        read_bai2(data)


def _mutate(data: bytes, draw: st.DataObject) -> bytes:
    buffer = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 6), label="mutations")):
        kind = draw.draw(st.sampled_from(["replace", "insert", "delete", "cut"]))
        i = draw.draw(st.integers(0, max(len(buffer) - 1, 0)))
        if kind == "replace" and buffer:
            buffer[i] = draw.draw(st.sampled_from(b"0123456789,/-+VSDZ \n\r8\xb9\xff"))
        elif kind == "insert":
            buffer[i:i] = draw.draw(st.sampled_from([b"88,", b"\n88,", b"/", b",", b"\n", b"16,"]))
        elif kind == "delete":
            del buffer[i : i + draw.draw(st.integers(1, 40))]
        else:
            del buffer[i:]
    return bytes(buffer)


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([SVB, MOOV]), st.data())
def test_mutated_files_give_only_typed_results_quickly(path: Path, data: st.DataObject) -> None:
    mutated = _mutate(path.read_bytes(), data)
    try:
        result = read_bai2(mutated)
    except BankStatementUnreadable as refused:
        assert refused.reason
        return
    assert isinstance(result, ParsedStatement)
    assert all(line.amount >= 0 for line in result.lines)


def test_statement_line_cap_and_a_line_of_commas_stay_cheap() -> None:
    with pytest.raises(BankStatementUnreadable, match="2 detail records, more than 1"):
        read_bai2(SVB, max_lines=1)
    # 900 continuations of 4,000 commas each: refused at the summary limit, in linear time.
    hostile = SVB.read_text().replace("88,040,", ("88," + "," * 4000 + "\n") * 900 + "88,040,", 1)
    started = time.monotonic()
    with pytest.raises(BankStatementUnreadable, match="line 3: more than 500 summaries"):
        read_bai2(hostile.encode())
    assert time.monotonic() - started < 5


def test_intake_check_reports_a_truncated_file_as_unreadable(tmp_path: Path) -> None:
    """The file-intake check (what quarantines a feed's file) gets the refusal as one line."""
    from readers.built_in import check_bank_statement

    text = SVB.read_text()
    path = tmp_path / "cut.bai2"
    path.write_text(text[: text.index("49,138884258")])
    check = check_bank_statement(path)
    assert check.rows is None
    assert check.unreadable.startswith("bai2: the account at line 3 has no 49 trailer")
    assert "\n" not in check.unreadable
