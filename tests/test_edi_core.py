"""The EDI core on the real corpus and on the faults partners send: verdicts, acknowledgement
codes, envelopes, separators, the translator, and properties over generated input."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edi
from edi.envelope import normalize

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "x12"
WHEN = datetime(2026, 4, 2, 8, 30, tzinfo=UTC)


def segments(text: str) -> list[list[str]]:
    return [s.strip().split("*") for s in text.split("~") if s.strip()]


def ack_of(validation: edi.Validation, first: int = 7) -> list[list[str]]:
    controls = [edi.AckControl(first + i, WHEN) for i in range(validation.ack_count)]
    return segments(validation.acknowledgement(controls))


def find(segs: list[list[str]], seg_id: str) -> list[list[str]]:
    return [s for s in segs if s[0] == seg_id]


# -- every file of the shared corpus ------------------------------------------------------------

# file → (accepted, ack kind, set-level codes in the ack, group AK9 code)
EXPECTED = {
    "pyx12_834_deident_family.txt": (True, "999", ["A"], "A"),
    "pyx12_834_deident_new_enroll.txt": (True, "999", ["A"], "A"),
    # INS06 "C   " is genuinely invalid (Medicare plan code: 1 character, a code value).
    "pyx12_example834_5010.txt": (False, "999", ["R"], "R"),
    "pyx12_x12testdata_834_lui_id_4010.txt": (True, "997", ["A"], "A"),
    "staedi_simple810.edi": (True, "997", ["A", "A"], "A"),
    # Acknowledgements sent to us: read, never answered.
    "staedi_simple997.edi": (True, None, [], None),
    "staedi_simple999.edi": (True, None, [], None),
}


def test_the_expectations_cover_the_whole_corpus() -> None:
    if not CORPUS.exists():
        pytest.skip("shared corpus not mounted")
    assert sorted(p.name for p in CORPUS.iterdir()) == sorted(EXPECTED)


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name: str) -> None:
    accepted, kind, set_codes, group_code = EXPECTED[name]
    validation = edi.validate((CORPUS / name).read_bytes())
    result = validation.result
    assert result.accepted is accepted
    assert result.ack_kind == kind
    if kind is None:
        assert validation.ack_count == 0
        assert result.acknowledgements_received
        return
    ack = ack_of(validation)
    st_ = find(ack, "ST")
    assert st_ and all(s[1] == kind for s in st_)
    codes = [s[1] for s in find(ack, "IK5" if kind == "999" else "AK5")]
    assert codes == set_codes
    assert find(ack, "AK9")[0][1] == group_code
    # The acknowledgement names the inbound group and sets, and carries our control number.
    inbound = segments((CORPUS / name).read_text())
    gs06 = find(inbound, "GS")[0][6]
    assert find(ack, "AK1")[0][2] == gs06
    assert [s[2] for s in find(ack, "AK2")] == [s[2] for s in find(inbound, "ST")]
    assert find(ack, "ISA")[0][13] == "000000007" == find(ack, "IEA")[0][2]
    assert find(ack, "GS")[0][6] == "7" == find(ack, "GE")[0][2]
    if not accepted:
        assert result.issues, "a rejection comes with itemised errors"


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
def test_the_invalid_834_is_itemised_down_to_the_element() -> None:
    validation = edi.validate((CORPUS / "pyx12_example834_5010.txt").read_bytes())
    issues = validation.result.issues
    assert {(i.segment_id, i.element_position, i.code) for i in issues} >= {
        ("INS", "6:1", "5"),  # too long
        ("INS", "6:1", "7"),  # not a valid code
    }
    assert all(i.value in (None, "***") for i in issues)  # values masked
    ack = ack_of(validation)
    assert ["IK3", "INS", "6", "", "8"] in ack
    assert {s[3] for s in find(ack, "IK4")} >= {"5", "7"}
    assert validation.translations() == []


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
def test_received_acknowledgements_are_read() -> None:
    r997 = edi.validate((CORPUS / "staedi_simple997.edi").read_bytes()).result
    (ack,) = r997.acknowledgements_received
    assert (ack.kind, ack.acknowledged_group, ack.ack_code) == ("997", "000001", "R")
    assert ack.set_codes == {"0021": "R"}
    r999 = edi.validate((CORPUS / "staedi_simple999.edi").read_bytes()).result
    (ack,) = r999.acknowledgements_received
    assert (ack.kind, ack.acknowledged_group, ack.ack_code) == ("999", "17456", "P")
    assert ack.set_codes == {"0001": "A", "0002": "R", "0003": "R"}
    assert (ack.sets_included, ack.sets_received, ack.sets_accepted) == (3, 3, 1)


# -- translator ---------------------------------------------------------------------------------


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
def test_834_members_become_a_roster() -> None:
    (doc,) = edi.validate((CORPUS / "pyx12_834_deident_family.txt").read_bytes()).translations()
    assert doc["schema"] == "edi.834.v1"
    assert doc["member_count"] == 3
    subscriber, spouse, child = doc["members"]
    assert subscriber["subscriber"] is True and spouse["subscriber"] is False
    assert (subscriber["last_name"], subscriber["first_name"]) == ("SMITH", "ROBERT")
    assert subscriber["birth_date"] == "1975-08-20"
    assert subscriber["address"]["city"] == "RIVERSIDE"
    assert subscriber["coverages"][0]["insurance_line"] == "PPO"
    assert subscriber["member_ids"]["0F"] == "M000002"
    assert child["relationship_code"] == "19"
    assert doc["header"]["parties"]["P5"]["name"] == "WIDGET CORPORATION"


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")
def test_810_invoices_translate_with_their_lines() -> None:
    first, second = edi.validate((CORPUS / "staedi_simple810.edi").read_bytes()).translations()
    assert first["invoice"]["number"] == "00001"
    assert first["invoice"]["total"] == "2554.38"  # TDS01 has two implied decimals
    assert len(second["invoice"]["lines"]) == 2
    assert second["invoice"]["lines"][0]["product_ids"] == {"UA": "002840022222"}


def test_820_remittance() -> None:
    body = (
        "ST*820*0001*005010X218~BPR*I*1250.50*C*ACH*CCP*01*011000015*DA*1234*1512345678**01*"
        "021000021*DA*5678*20260402~TRN*3*CHK1001*1512345678~N1*PE*PLAN~N1*PR*ACME~"
        "ENT*1~RMR*IK*INV-1**1000.50*1000.50~RMR*IK*INV-2**250*300~SE*9*0001~"
    )
    validation = edi.validate(interchange(body, fic="RA", version="005010X218").encode())
    docs = [
        edi.translate(i, g, s) for i in validation.interchanges for g in i.groups for s in g.sets
    ]
    (doc,) = docs
    assert doc["payment"] == {
        "handling_code": "I",
        "amount": "1250.50",
        "credit_debit": "C",
        "method": "ACH",
        "date": "2026-04-02",
    }
    assert doc["trace"]["number"] == "CHK1001"
    lines = doc["remittances"][0]["lines"]
    assert [(line["reference"], line["paid"]) for line in lines] == [
        ("INV-1", "1000.50"),
        ("INV-2", "250"),
    ]


# -- faults -------------------------------------------------------------------------------------


def interchange(
    body: str,
    *,
    isa13: str = "000000123",
    iea: str | None = None,
    groups: str = "1",
    gs06: str = "55",
    ge06: str | None = None,
    fic: str = "PO",
    version: str = "004010",
    icvn: str = "00401",
    sets: int | None = None,
) -> str:
    count = sets if sets is not None else body.count("ST*")
    rep = "^" if icvn == "00501" else "U"
    return (
        f"ISA*00*          *00*          *ZZ*PARTNER        *ZZ*US             *260401*1200*"
        f"{rep}*{icvn}*{isa13}*0*T*:~GS*{fic}*PARTNER*US*20260401*1200*{gs06}*X*{version}~"
        f"{body}GE*{count}*{ge06 or gs06}~IEA*{groups}*{iea or isa13}~"
    )


PO = (
    "ST*850*0001~BEG*00*SA*PO-1**20260401~PO1*1*10*EA*9.95**VP*WIDGET~"
    "PO1*2*1*EA*100**VP*GADGET~CTT*2~SE*6*0001~"
)


def test_a_set_pyx12_cannot_map_gets_our_997() -> None:
    validation = edi.validate(interchange(PO).encode())
    (group,) = validation.result.interchanges[0].groups
    assert group.engine == "segment_contract" and group.ack_code == "A"
    ack = ack_of(validation)
    assert find(ack, "AK1") == [["AK1", "PO", "55"]]
    assert find(ack, "AK5") == [["AK5", "A"]]
    assert find(ack, "AK9") == [["AK9", "A", "1", "1", "1"]]
    assert find(ack, "SE")[0][1] == str(len(ack) - 4)  # ST..SE inside ISA/GS/GE/IEA
    (doc,) = validation.translations()
    assert doc["purchase_order"]["number"] == "PO-1"
    assert [line["product_ids"] for line in doc["purchase_order"]["lines"]] == [
        {"VP": "WIDGET"},
        {"VP": "GADGET"},
    ]


def test_wrong_se_count_rejects_the_set() -> None:
    validation = edi.validate(interchange(PO.replace("SE*6*", "SE*9*")).encode())
    assert not validation.result.accepted
    ack = ack_of(validation)
    assert find(ack, "AK5") == [["AK5", "R", "4"]]  # number of included segments wrong
    assert find(ack, "AK9")[0][:2] == ["AK9", "R"]
    assert any(i.code == "4" and i.level == "transaction" for i in validation.result.issues)


def test_wrong_se_count_in_a_hipaa_set_rejects_it_in_the_999() -> None:
    data = (CORPUS / "pyx12_834_deident_new_enroll.txt").read_text().replace("SE*16*", "SE*15*")
    validation = edi.validate(data.encode())
    assert not validation.result.accepted
    assert validation.result.ack_kind == "999"
    assert find(ack_of(validation), "IK5")[0][:2] == ["IK5", "R"]


def test_mismatched_ge_control_number_rejects_the_group() -> None:
    validation = edi.validate(interchange(PO, ge06="56").encode())
    assert not validation.result.accepted
    ak9 = find(ack_of(validation), "AK9")[0]
    assert ak9[1] == "R" and "4" in ak9[5:]  # GS/GE control numbers disagree


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"iea": "000000124"}, "001"),  # IEA02 is not ISA13
        ({"groups": "2"}, "021"),  # IEA01 counts groups that are not there
    ],
)
def test_a_broken_interchange_envelope_gets_a_ta1(kwargs: dict[str, str], code: str) -> None:
    validation = edi.validate(interchange(PO, **kwargs).encode())  # type: ignore[arg-type]
    result = validation.result
    assert not result.accepted and result.ack_kind == "TA1"
    assert not result.interchanges[0].envelope_ok
    ack = ack_of(validation)
    assert find(ack, "TA1") == [["TA1", "000000123", "260401", "1200", "R", code]]
    assert not find(ack, "GS") and find(ack, "IEA")[0][1] == "0"
    assert validation.translations() == []


def test_a_missing_iea_gets_a_ta1() -> None:
    text = interchange(PO)
    validation = edi.validate(text[: text.index("IEA*")].encode())
    assert find(ack_of(validation), "TA1")[0][4:] == ["R", "023"]


def test_a_bad_isa_gets_a_ta1() -> None:
    text = interchange(PO).replace("*260401*1200*", "*261341*1200*", 1)  # month 13
    validation = edi.validate(text.encode())
    assert find(ack_of(validation), "TA1")[0][4:] == ["R", "014"]
    narrow = interchange(PO).replace("PARTNER        ", "PARTNER", 1)  # ISA06 not 15 wide
    assert find(ack_of(edi.validate(narrow.encode())), "TA1")[0][4:] == ["R", "006"]


def test_not_x12_at_all_is_a_clear_rejection() -> None:
    result = edi.validate(b"hello, world").result
    assert not result.accepted and result.ack_kind is None
    assert result.issues[0].level == "interchange" and "ISA" in result.issues[0].message


def test_bom_and_indented_segments_are_accepted() -> None:
    text = interchange(PO).replace("~", "~\r\n    ")
    validation = edi.validate(b"\xef\xbb\xbf  \n" + text.encode())
    result = validation.result
    assert result.accepted
    assert result.bom_stripped and result.leading_whitespace_stripped
    assert not result.issues
    hipaa = (CORPUS / "pyx12_834_deident_family.txt").read_text().replace("\n", "\n\t ")
    assert edi.validate(b"\xef\xbb\xbf" + hipaa.encode()).result.accepted


def test_the_same_interchange_twice_validates_and_acknowledges_alike() -> None:
    data = interchange(PO).encode()
    first, second = edi.validate(data), edi.validate(data)
    assert first.result == second.result
    control = [edi.AckControl(9, WHEN)]
    assert first.acknowledgement(control) == second.acknowledgement(control)


def test_unknown_and_missing_segments_are_itemised() -> None:
    body = "ST*850*0001*~XYZ*1~PO1*1*10*EA~CTT*3~SE*5*0001~"
    validation = edi.validate(interchange(body).encode())
    ack = ack_of(validation)
    assert ["AK3", "XYZ", "2", "", "6"] in ack  # not in the 850
    assert any(s[:2] == ["AK3", "BEG"] and s[4] == "3" for s in ack)  # BEG missing
    assert ["AK4", "1", "", "7", "3"] in ack  # CTT01 says 3 lines, there is 1
    assert find(ack, "AK5") == [["AK5", "R", "5"]]


def test_a_set_without_a_contract_is_not_supported() -> None:
    body = "ST*856*0001~BSN*00*1*20260401*1200~SE*3*0001~"
    validation = edi.validate(interchange(body, fic="SH").encode())
    assert find(ack_of(validation), "AK5") == [["AK5", "R", "1"]]


def test_ta1_requested_is_answered_with_the_997() -> None:
    text = interchange(PO).replace("*0*T*:~", "*1*T*:~", 1)
    ack = ack_of(edi.validate(text.encode()))
    assert find(ack, "TA1") == [["TA1", "000000123", "260401", "1200", "A", "000"]]
    assert find(ack, "AK5") == [["AK5", "A"]]


def test_a_partial_group_is_p() -> None:
    bad = PO.replace("0001", "0002").replace("CTT*2", "CTT*5")
    validation = edi.validate(interchange(PO + bad).encode())
    ak9 = find(ack_of(validation), "AK9")[0]
    assert ak9[:5] == ["AK9", "P", "2", "2", "1"]
    assert [c for _, _, c in validation.result.accepted_sets()] == ["0001"]


# -- properties ---------------------------------------------------------------------------------

SEPARATORS = st.sampled_from(list("*|^!+#@"))
TERMINATORS = st.sampled_from(["~", "\n", "'", "!", "\x1c", "~\n", "~\r\n"])


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(element=SEPARATORS, component=st.sampled_from(list(":>\\")), terminator=TERMINATORS)
def test_any_declared_separators_read_the_same(
    element: str, component: str, terminator: str
) -> None:
    if terminator.strip() == element or component == element or terminator[0] == element:
        return
    text = interchange(PO).replace("*", "\x00").replace("~", "\x01")
    text = text.replace("\x00:\x01", f"\x00{component}\x01")  # ISA16
    text = text.replace("\x00", element).replace("\x01", terminator)
    normalized = normalize(text.encode())
    assert normalized.separators.element == element
    assert normalized.separators.component == component
    assert normalized.separators.segment == terminator[0]
    baseline = edi.validate(interchange(PO).encode()).result
    result = edi.validate(text.encode()).result
    assert result.accepted
    assert result.interchanges == baseline.interchanges


def _po(lines: list[tuple[int, str]], control: str, declared: int | None) -> str:
    body = [f"BEG*00*SA*PO-{control}**20260401"]
    body += [f"PO1*{n}*{q}*EA*1.5**VP*{sku}" for n, (q, sku) in enumerate(lines, 1)]
    body.append(f"CTT*{len(lines) if declared is None else declared}")
    return f"ST*850*{control}~" + "~".join(body) + f"~SE*{len(body) + 2}*{control}~"


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    sets=st.lists(
        st.tuples(
            st.lists(
                st.tuples(st.integers(1, 999), st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True)),
                max_size=5,
            ),
            st.one_of(st.none(), st.integers(0, 6)),
        ),
        min_size=1,
        max_size=4,
    ),
    isa13=st.integers(1, 999_999_999),
    gs06=st.integers(1, 999_999_999),
    ours=st.integers(1, 999_999_999),
)
def test_generated_850s_get_a_997_naming_the_right_control_numbers(
    sets: list[tuple[list[tuple[int, str]], int | None]], isa13: int, gs06: int, ours: int
) -> None:
    controls = [f"{i + 1:04d}" for i in range(len(sets))]
    body = "".join(
        _po(lines, c, declared) for (lines, declared), c in zip(sets, controls, strict=True)
    )
    validation = edi.validate(interchange(body, isa13=f"{isa13:09d}", gs06=str(gs06)).encode())
    text = validation.acknowledgement([edi.AckControl(ours, WHEN)])
    ack = segments(text)
    assert find(ack, "ISA")[0][13] == f"{ours:09d}" == find(ack, "IEA")[0][2]
    assert find(ack, "GS")[0][6] == str(ours) == find(ack, "GE")[0][2]
    assert find(ack, "AK1") == [["AK1", "PO", str(gs06)]]
    assert [s[2] for s in find(ack, "AK2")] == controls
    for (lines, declared), ak5 in zip(sets, find(ack, "AK5"), strict=True):
        good = bool(lines) and (declared is None or declared == len(lines))
        assert ak5[1] == ("A" if good else "R")
    st_, se = find(ack, "ST")[0], find(ack, "SE")[0]
    assert se[2] == st_[2] and int(se[1]) == len(ack) - 4
    # Our acknowledgement is itself valid X12 that our reader accepts as a 997.
    received = edi.validate(text.encode()).result.acknowledgements_received
    assert [r.acknowledged_group for r in received] == [str(gs06)]


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=400))
def test_garbage_never_crashes(data: bytes) -> None:
    result = edi.validate(b"ISA*00*" + data).result
    assert not result.accepted or result.interchanges


def test_ack_text_is_plain_x12() -> None:
    text = edi.validate(interchange(PO).encode()).acknowledgement([edi.AckControl(1, WHEN)])
    assert re.fullmatch(r"(ISA\*.{101}~\n)([A-Z0-9]{2,3}\*[^~]*~\n)+", text)
