"""Hostile X12 (issue 14): every input ends in a typed result — an acknowledgement, a TA1 or a
refusal — in bounded time, and partner data never becomes a file path. Each class found by
fuzzing has a small crafted regression case; a property test mutates the corpus files."""

from __future__ import annotations

import os
import random
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import edi
from edi import segment_rules
from edi.datatypes import as_int, numeric_problem
from edi.hipaa import HipaaOutcome, _ack
from edi.limits import MB, Limits
from tests.test_edi_core import CORPUS, PO, WHEN, ack_of, find, interchange

needs_corpus = pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")


def corpus(name: str) -> str:
    return (CORPUS / name).read_text()


def assert_typed(validation: edi.Validation) -> None:
    """What every input must give: a refusal, or interchanges with what to answer; the
    acknowledgement renders and the translator runs on whatever was accepted."""
    result = validation.result
    assert result.refusal is not None or result.interchanges or not result.accepted
    if result.refusal is not None:
        assert validation.ack_count == 0 and not result.accepted
    controls = [edi.AckControl(1 + i, WHEN) for i in range(validation.ack_count)]
    validation.acknowledgement(controls)
    validation.translations()
    assert not [i for i in result.issues if i.message.startswith("internal error")]


# -- surplus trailers: pyx12's reader raised IndexError -------------------------------------------


def _duplicate_segment(text: str, seg_id: str) -> str:
    start = text.index(f"{seg_id}*")
    end = text.index("~", start) + 1
    return text[:end] + text[start:end] + text[end:]


@pytest.mark.parametrize("seg_id", ["SE", "GE", "IEA"])
def test_a_surplus_trailer_is_answered_with_a_ta1_022(seg_id: str) -> None:
    validation = edi.validate(_duplicate_segment(interchange(PO), seg_id).encode())
    result = validation.result
    assert not result.accepted and result.ack_kind == "TA1"
    assert result.interchanges[0].ta1_code == "022"  # X12.5: invalid control structure
    assert find(ack_of(validation), "TA1")[0][4:] == ["R", "022"]
    assert any(i.code == "022" and seg_id in i.message for i in result.issues)


@needs_corpus
@pytest.mark.parametrize("seg_id", ["SE", "GE", "IEA"])
def test_a_surplus_trailer_in_a_hipaa_file_is_answered_with_a_ta1(seg_id: str) -> None:
    text = _duplicate_segment(corpus("pyx12_834_deident_new_enroll.txt"), seg_id)
    validation = edi.validate(text.encode())
    assert validation.result.ack_kind == "TA1"
    assert find(ack_of(validation), "TA1")[0][4:] == ["R", "022"]
    assert validation.translations() == []


# -- Latin-1 bytes that decode to superscript digits ('¹'.isdigit() is True) ------------------


def test_superscript_digits_are_not_digits() -> None:
    assert "¹".isdigit()  # why every check is ASCII-only
    assert as_int("¹") is None and as_int("1²") is None and as_int("12") == 12
    assert numeric_problem("¹", "N0") is not None
    assert numeric_problem("٣", "R") is not None  # Arabic-Indic three


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("GE*1*55~", "GE*\xb9*55~"),  # GE01: number of sets
        ("CTT*2~", "CTT*\xb2~"),  # CTT01: number of line items
        ("*000000123*0*T*", "*00000012\xb9*0*T*"),  # ISA13
    ],
)
def test_latin1_superscripts_give_a_typed_rejection(old: str, new: str) -> None:
    text = interchange(PO)
    assert old in text
    data = text.replace(old, new).encode("latin-1")  # b"\xb9" is not UTF-8: read as Latin-1
    validation = edi.validate(data)
    assert_typed(validation)
    assert not validation.result.accepted


def test_latin1_superscripts_in_acknowledgements_we_receive() -> None:
    ack = "ST*997*0001~AK1*PO*55~AK2*850*0001~AK5*A~AK9*A*\xb9*1*\xb2~SE*6*0001~"
    text = interchange(ack, fic="FA").replace(
        "*0*T*:~", "*0*T*:~TA1*00000000\xb9*260401*1200*A*000~"
    )
    validation = edi.validate(text.encode("latin-1"))
    assert_typed(validation)
    received = validation.result.acknowledgements_received
    assert {r.kind for r in received} == {"TA1", "997"}
    ack997 = next(r for r in received if r.kind == "997")
    assert (ack997.sets_included, ack997.sets_received, ack997.sets_accepted) == (None, 1, None)


# -- ST01 is a key, never a path ---------------------------------------------------------------


def test_st01_never_reaches_the_filesystem(tmp_path: Path) -> None:
    # A contract the partner would like us to load: before the fix, ST01 ``../../<tmp>/evil``
    # opened it (path traversal) and a long ST01 raised ENAMETOOLONG.
    evil = tmp_path / "evil.toml"
    shutil.copy(segment_rules.CONTRACTS_DIR / "850.toml", evil)
    traversal = os.path.relpath(tmp_path / "evil", segment_rules.CONTRACTS_DIR)
    for st01 in (traversal, "A" * 5000, "/etc/passwd", "850.toml", ".."):
        validation = edi.validate(interchange(PO.replace("ST*850*", f"ST*{st01}*")).encode())
        assert_typed(validation)
        assert find(ack_of(validation), "AK5") == [["AK5", "R", "1"]]  # set not supported
        (issue,) = [i for i in validation.result.issues if i.level == "transaction"]
        assert len(issue.message) < 80  # the partner's ST01 is not echoed whole
    assert segment_rules.available() == ["810", "850", "997", "999"]


# -- pyx12's own 999 with bare ST segments -------------------------------------------------------


def test_a_bare_st_in_pyx12s_999_is_no_set() -> None:
    outcome = HipaaOutcome(valid=False)
    _ack("ISA*00~\nGS*FA*A*B~\nST~\nAK1*BE*1~\nSE*3~\nST*~\nGE*1*1~\nIEA*1*1~\n", outcome)
    assert outcome.ack_sets == [] and outcome.ack_kind is None


@needs_corpus
def test_a_hipaa_set_with_a_bare_st_is_rejected_in_a_999() -> None:
    text = corpus("pyx12_834_deident_new_enroll.txt")
    start = text.index("ST*834")
    text = text[:start] + "ST" + text[text.index("~", start) :]
    validation = edi.validate(text.encode())
    assert_typed(validation)
    assert validation.result.ack_kind == "999"
    assert [s[1] for s in find(ack_of(validation), "IK5")] == ["R"]


# -- numeric elements: strict X12 R and N --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind", "ok"),
    [
        ("10", "R", True),
        ("-1.5", "R", True),
        (".5", "R", True),
        ("10.", "R", True),
        ("1E+1000002", "R", False),
        ("1e3", "R", False),
        ("+5", "R", False),
        ("1,000.00", "R", False),
        ("NaN", "R", False),
        ("Infinity", "R", False),
        (" 5", "R", False),
        ("1" * 19, "R", False),
        ("255438", "N2", True),
        ("2554.38", "N2", False),
        ("-12", "N0", True),
    ],
)
def test_numeric_element_types(value: str, kind: str, ok: bool) -> None:
    assert (numeric_problem(value, kind) is None) is ok


@needs_corpus
def test_an_exponent_amount_is_a_problem_not_a_crash() -> None:
    text = corpus("staedi_simple810.edi")
    start = text.index("TDS*")
    text = text[:start] + "TDS*1E+1000002" + text[text.index("~", start) :]
    validation = edi.validate(text.encode())
    assert_typed(validation)
    result = validation.result
    assert not result.accepted
    issue = next(i for i in result.issues if i.segment_id == "TDS")
    assert (issue.level, issue.code, issue.element_position) == ("element", "6", "1")
    ack = ack_of(validation)
    assert ["AK4", "1", "", "6", "1E+1000002"] in ack  # invalid character in data element
    assert [s[1] for s in find(ack, "AK5")] == ["R", "A"]
    # The translator itself never trusts an amount: the rejected set translates to no total.
    (group,) = validation.interchanges[0].groups
    assert (
        edi.translate(validation.interchanges[0], group, group.sets[0])["invoice"]["total"] is None
    )


def test_an_exponent_quantity_in_an_850_is_rejected() -> None:
    validation = edi.validate(interchange(PO.replace("PO1*1*10*", "PO1*1*1e3*")).encode())
    assert find(ack_of(validation), "AK5") == [["AK5", "R", "5"]]
    assert ["AK4", "2", "", "6", "1e3"] in ack_of(validation)


# -- ISA11 "U" in a 00501 interchange ------------------------------------------------------------


@needs_corpus
def test_a_5010_isa11_of_u_is_accepted_with_a_warning() -> None:
    good = corpus("pyx12_834_deident_family.txt")
    assert "*^*00501*" in good
    validation = edi.validate(good.replace("*^*00501*", "*U*00501*", 1).encode())
    result = validation.result
    assert result.accepted and result.ack_kind == "999"
    (warning,) = [i for i in result.issues if i.severity == "warning"]
    assert warning.code == "016" and "ISA11" in warning.message
    assert "repetition" not in result.separators
    # "U" is not a repetition separator: the members read the same as with "^".
    (baseline,) = edi.validate(good.encode()).translations()
    (doc,) = validation.translations()
    assert doc["members"] == baseline["members"]
    assert [s[1] for s in find(ack_of(validation), "IK5")] == ["A"]


# -- limits: size, segment length, time -----------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.x12"
    path.write_bytes(interchange(PO).encode() * 10)
    validation = edi.validate_file(path, Limits(max_file_bytes=1024))
    refusal = validation.result.refusal
    assert refusal is not None and refusal.reason == "too_large"
    assert validation.ack_count == 0 and not validation.result.accepted
    assert edi.validate_file(path, Limits(max_file_bytes=1024 * 1024)).result.refusal is None
    with pytest.raises(FileNotFoundError):
        edi.validate_file(tmp_path / "missing.x12")


def test_a_segment_over_the_length_limit_is_refused() -> None:
    text = interchange(PO.replace("PO-1", "P" * 5000))
    validation = edi.validate(text.encode(), Limits(max_segment_chars=1000))
    refusal = validation.result.refusal
    assert refusal is not None and refusal.reason == "segment_too_long"
    assert edi.validate(b"ISA*" + b"x" * 200_000, Limits()).result.refusal is not None


@needs_corpus
def test_validation_past_its_time_budget_is_refused() -> None:
    data = (CORPUS / "pyx12_834_deident_family.txt").read_bytes()
    validation = edi.validate(data, Limits(seconds=0.0, seconds_per_mb=0.0))
    refusal = validation.result.refusal
    assert refusal is not None and refusal.reason == "time_budget"
    assert validation.ack_count == 0
    assert edi.validate(data, Limits()).result.accepted


def test_the_time_budget_grows_with_the_size() -> None:
    limits = Limits()
    # pyx12 validates about 0.33 MB/s: a budget per MB must allow at least that pace.
    assert limits.seconds_per_mb >= 1 / 0.33
    assert limits.budget_for(100 * MB) > 10 * limits.budget_for(1 * MB) / 2


# -- property: mutations of the corpus only ever give typed results ------------------------------

TOKENS = [
    b"\xb9",
    b"\xb2",
    b"SE*1*0001~",
    b"GE*1*1~",
    b"IEA*1*000000001~",
    b"ST~",
    b"ST*~",
    b"1E+999999",
    b"~",
    b"*",
    b":",
    b"^",
    b"U",
    b"\n",
    b"ISA",
    b"GS*",
    b"-",
    b".",
]


def mutate(data: bytes, seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    out = bytearray(data)
    for _ in range(count):
        op, pos = rng.randrange(5), rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(pos, len(out) - 1)] = rng.randrange(256)
        elif op == 1:
            del out[pos : pos + rng.randint(1, 40)]
        elif op == 2:
            out[pos:pos] = rng.choice(TOKENS)
        elif op == 3 and out:
            start = rng.randrange(len(out))
            end = out.find(b"~", start)
            if end > 0:  # a copy of a whole segment somewhere else
                where = rng.randrange(len(out))
                out[where:where] = out[start : end + 1]
        else:
            out = out[:pos]  # truncated, like a partial upload
    return bytes(out)


CORPUS_FILES = sorted(p.name for p in CORPUS.iterdir()) if CORPUS.exists() else []


@needs_corpus
@settings(
    max_examples=60,
    deadline=timedelta(seconds=20),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(CORPUS_FILES or ["none"]),
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(1, 4),
)
def test_mutated_corpus_files_give_only_typed_results(name: str, seed: int, count: int) -> None:
    data = mutate((CORPUS / name).read_bytes(), seed, count)
    assert_typed(edi.validate(data))


def test_intake_counts_sets_streaming_in_small_chunks(tmp_path: Path) -> None:
    from edi.envelope import count_segments, normalize

    text = interchange(PO + PO.replace("0001", "0002")).replace("~", "~\r\n  ")
    path = tmp_path / "po.x12"
    path.write_text(text)
    separators = normalize(text.encode()).separators
    for chunk in (1, 3, 7, 64, 1 << 20):
        assert count_segments(path, separators, "ST", chunk=chunk) == 2
        assert count_segments(path, separators, "PO1", chunk=chunk) == 4


def test_the_default_budget_ends_before_edi_accept_times_out() -> None:
    # A refusal is a result; a start-to-close timeout would be retried (file_intake: 30 min).
    limits = Limits()
    assert limits.budget_for(limits.max_file_bytes) < 30 * 60


@needs_corpus
def test_the_budget_stops_pyx12_inside_its_own_loop() -> None:
    import time

    # 400 copies of the family's member loops (SE01 left wrong: this is about time only):
    # pyx12 takes seconds over it.
    text = corpus("pyx12_834_deident_family.txt")
    first, last = text.index("INS*"), text.rindex("SE*")
    big = text[:first] + text[first:last] * 400 + text[last:]
    started = time.monotonic()
    validation = edi.validate(big.encode(), Limits(seconds=1.0, seconds_per_mb=0.0))
    elapsed = time.monotonic() - started
    refusal = validation.result.refusal
    assert refusal is not None and refusal.reason == "time_budget"
    assert elapsed < 5  # pyx12 reads 8 KiB at a time, and each read checks the budget
