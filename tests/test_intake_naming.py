"""The feed naming contract: parsing, unsafe and temporary names, CRC32, sequence tracking."""

from __future__ import annotations

import contextlib
import io
import re
import zlib
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from foundation.wire_model import all_wire_models
from intake.errors import (
    ChecksumMismatch,
    NameMismatch,
    NamingError,
    TemporaryFileName,
    UnsafeFileName,
)
from intake.naming import (
    Crc32,
    FeedFileName,
    NamingContract,
    SequenceGap,
    SequenceState,
    check_safe_name,
    crc32_of,
    is_temporary_name,
    read_chunks,
    track_sequences,
    verify_crc32,
)

EXAMPLE = "acme_customers_2025-11-05_seq-00023_crc32-1A2B3C4D.csv"


def test_parses_the_example_from_the_issue() -> None:
    parsed = NamingContract().parse(EXAMPLE)
    assert parsed == FeedFileName(
        name=EXAMPLE,
        system="acme",
        entity="customers",
        file_date=date(2025, 11, 5),
        sequence=23,
        crc32=0x1A2B3C4D,
        extension="csv",
    )
    assert parsed.crc32_hex == "1A2B3C4D"


def test_is_a_registered_contract() -> None:
    assert all_wire_models()["naming_contract@1"] is NamingContract
    assert "pattern" in NamingContract.model_json_schema()["properties"]


@pytest.mark.parametrize(
    "name",
    [
        "../acme_customers_2025-11-05_seq-00023_crc32-1A2B3C4D.csv",
        "inbox/acme.csv",
        "..\\..\\etc\\passwd",
        "/etc/passwd",
        "..",
        ".",
        "",
        "acme\x00.csv",
        "acme\n.csv",
        "acme\r.csv",
        "acme\x7f.csv",
        "acme\u202egpj.csv",  # right-to-left override disguising the extension
        "acme\udcff.csv",  # an undecodable byte, as surrogateescape delivers it
        "a" * 252 + ".csv",  # 256 bytes
        "é" * 126 + ".csv",  # 256 bytes in UTF-8 though only 130 characters
    ],
)
def test_refuses_unsafe_names(name: str) -> None:
    with pytest.raises(UnsafeFileName):
        NamingContract().parse(name)
    with pytest.raises(UnsafeFileName):
        check_safe_name(name)


def test_255_bytes_is_still_a_name() -> None:
    check_safe_name("a" * 251 + ".csv")


def test_a_leading_dot_is_unsafe_to_land_but_reads_as_still_uploading() -> None:
    with pytest.raises(UnsafeFileName, match=re.escape("starting with '.'")):
        check_safe_name(".bashrc")
    with pytest.raises(TemporaryFileName):
        NamingContract().parse("." + EXAMPLE)


@pytest.mark.parametrize(
    "name",
    [EXAMPLE + ".part", EXAMPLE + ".tmp", EXAMPLE + ".PART", EXAMPLE + ".filepart", "." + EXAMPLE],
)
def test_temporary_names_are_still_being_written(name: str) -> None:
    assert is_temporary_name(name)
    with pytest.raises(TemporaryFileName, match="still being written"):
        NamingContract().parse(name)


def test_a_finished_name_is_not_temporary() -> None:
    assert not is_temporary_name(EXAMPLE)
    assert not is_temporary_name("report.partial.csv")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("acme_customers_2025-11-05_seq-0023_crc32-1A2B3C4D.csv", "expected {sequence}"),
        ("acme_customers_2025-11-05_seq-00023_crc32-1A2B3C4D.txt", "expected {ext} (one of csv)"),
        ("acme_customers_2025-11-05_seq-00023_crc32-1A2B3C4G.csv", "expected {crc32}"),
        ("acme_customers_20251105_seq-00023_crc32-1A2B3C4D.csv", "expected {date}"),
        ("acme_customers_2025-11-05_seq-00023_crc32-1A2B3C4D.csv.gz", "after the end"),
        ("acme-customers.csv", "expected '_'"),
    ],
)
def test_a_mismatch_says_where_the_name_goes_wrong(name: str, expected: str) -> None:
    with pytest.raises(NameMismatch) as caught:
        NamingContract().parse(name)
    assert expected in str(caught.value)
    assert EXAMPLE in str(caught.value)  # an example of a good name


def test_an_impossible_date_is_a_mismatch() -> None:
    with pytest.raises(NameMismatch, match="'2025-02-30' is not a calendar date"):
        NamingContract().parse("acme_customers_2025-02-30_seq-00023_crc32-1A2B3C4D.csv")


def test_pinned_system_and_entity() -> None:
    feed = NamingContract(system="acme", entity="customers", extensions=("csv", "csv.pgp"))
    assert feed.parse(EXAMPLE + ".pgp").extension == "csv.pgp"
    with pytest.raises(NameMismatch, match=re.escape("expected {system} = 'acme'")):
        feed.parse(EXAMPLE.replace("acme", "globex"))
    with pytest.raises(NameMismatch, match=re.escape("expected {entity} = 'customers'")):
        feed.parse(EXAMPLE.replace("customers", "orders"))


def test_a_pattern_is_declarative_per_feed() -> None:
    feed = NamingContract(
        pattern="{entity}-{date}.{ext}", date_format="%Y%m%d", extensions=("txt",)
    )
    parsed = feed.parse("roster-20250131.txt")
    assert (parsed.entity, parsed.file_date, parsed.sequence, parsed.crc32) == (
        "roster",
        date(2025, 1, 31),
        None,
        None,
    )
    assert feed.format_name(entity="roster", file_date=date(2025, 1, 31)) == "roster-20250131.txt"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"pattern": "{system}_{nonsense}.{ext}"}, "unknown field"),
        ({"pattern": "{date}_{date}.{ext}"}, "more than once"),
        ({"pattern": "../{date}.{ext}"}, "path separator"),
        ({"pattern": "{date.{ext}"}, "unbalanced"),
        ({"extensions": ()}, "at least one extension"),
        ({"extensions": ("c/sv",)}, "extension"),
        ({"system": "ac me"}, "letters and digits"),
        ({"sequence_digits": 0}, "greater than or equal to 1"),
        ({"patern": "{date}.{ext}"}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_naming_contract_is_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NamingContract.model_validate(changes)


def test_format_refuses_values_that_would_not_parse() -> None:
    with pytest.raises(ValueError, match="does not fit 5 digits"):
        NamingContract().format_name(
            system="acme", entity="x", file_date=date(2025, 1, 1), sequence=100000, crc32=1
        )
    with pytest.raises(ValueError, match="values missing"):
        NamingContract().format_name(system="acme", entity="x")


# -- CRC32 ---------------------------------------------------------------------------------------


def test_crc32_streams_in_chunks() -> None:
    content = b"id,name\n1,Ann\n" * 10_000
    chunks = list(read_chunks(io.BytesIO(content), chunk_size=4096))
    assert len(chunks) > 30
    assert crc32_of(chunks) == zlib.crc32(content)
    running = Crc32()
    for chunk in chunks:
        running.update(chunk)
    assert (running.value, running.bytes) == (zlib.crc32(content), len(content))
    assert running.hex == f"{zlib.crc32(content):08X}"


def test_crc32_in_the_name_must_match_the_content() -> None:
    content = b"id\n1\n"
    feed = NamingContract()
    good = feed.parse(
        feed.format_name(
            system="acme",
            entity="customers",
            file_date=date(2025, 11, 5),
            sequence=1,
            crc32=zlib.crc32(content),
        )
    )
    assert verify_crc32(good, [content[:2], content[2:]]) == zlib.crc32(content)
    with pytest.raises(ChecksumMismatch) as caught:
        verify_crc32(good, [content + b"2\n"])
    assert caught.value.expected == zlib.crc32(content)
    assert f"{zlib.crc32(content):08X}" in str(caught.value)


def test_lowercase_hex_is_accepted() -> None:
    assert NamingContract().parse(EXAMPLE.replace("1A2B3C4D", "1a2b3c4d")).crc32 == 0x1A2B3C4D


# -- sequence tracking ---------------------------------------------------------------------------


def test_the_first_file_opens_no_gap() -> None:
    state, report = track_sequences(SequenceState(), [23])
    assert state == SequenceState(high_water=23)
    assert report.new == (23,)
    assert report.open_gaps == ()


def test_gaps_late_arrivals_and_repeats() -> None:
    state, report = track_sequences(SequenceState(high_water=10), [11, 15, 15, 10])
    assert report.new == (11, 15)
    assert report.repeats == (10, 15)
    assert report.new_gaps == (SequenceGap(first=12, last=14),)
    assert state.high_water == 15

    state, report = track_sequences(state, [13])
    assert report.late == (13,)
    assert report.repeats == ()
    assert state.open_gaps == (SequenceGap(first=12, last=12), SequenceGap(first=14, last=14))

    state, report = track_sequences(state, [12, 14, 13])
    assert report.late == (12, 14)
    assert report.repeats == (13,)
    assert state.open_gaps == ()


def test_a_huge_jump_is_one_gap() -> None:
    _state, report = track_sequences(SequenceState(high_water=1), [10**12])
    assert report.new_gaps == (SequenceGap(first=2, last=10**12 - 1),)


def test_unordered_batch_opens_no_spurious_gap() -> None:
    _, report = track_sequences(SequenceState(high_water=4), [7, 5, 6])
    assert report.new_gaps == ()
    assert report.new == (5, 6, 7)


# -- properties ----------------------------------------------------------------------------------

_words = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,10}[A-Za-z0-9])?", fullmatch=True)


@given(
    system=_words,
    entity=_words,
    file_date=st.dates(),
    sequence=st.integers(0, 99_999),
    crc=st.integers(0, 0xFFFFFFFF),
    extension=st.sampled_from(["csv", "txt", "csv.pgp"]),
)
def test_format_then_parse_round_trips(
    system: str, entity: str, file_date: date, sequence: int, crc: int, extension: str
) -> None:
    feed = NamingContract(extensions=("csv", "txt", "csv.pgp"))
    name = feed.format_name(
        system=system,
        entity=entity,
        file_date=file_date,
        sequence=sequence,
        crc32=crc,
        extension=extension,
    )
    assert feed.parse(name) == FeedFileName(
        name=name,
        system=system,
        entity=entity,
        file_date=file_date,
        sequence=sequence,
        crc32=crc,
        extension=extension,
    )


@given(st.text(max_size=300))
def test_junk_raises_only_naming_errors(name: str) -> None:
    with contextlib.suppress(NamingError):
        NamingContract().parse(name)


@given(
    st.text(
        alphabet=st.sampled_from("acme_customers-2025-11-05seq0123crc.CSVpart/\\\x00"), max_size=80
    )
)
def test_near_misses_raise_only_naming_errors(name: str) -> None:
    with contextlib.suppress(NamingError):
        NamingContract().parse(name)


@given(st.lists(st.lists(st.integers(0, 60), max_size=8), max_size=8))
def test_sequence_state_accounts_for_every_number(batches: list[list[int]]) -> None:
    """After any batches, every number from the first file's to the high-water mark is either
    received or in an open gap, never both. A repeat is a number received before, twice in one
    batch, or older than the first file tracked."""
    state = SequenceState()
    received: set[int] = set()
    start: int | None = None
    for batch in batches:
        state, report = track_sequences(state, batch)
        if start is None and batch:
            start = min(batch)
        old = {n for n in set(batch) if n in received or (start is not None and n < start)}
        twice = [n for n in set(batch) for _ in range(batch.count(n) - 1)]
        assert sorted(report.repeats) == sorted([*old, *twice])
        received |= set(batch)
        if state.high_water is None or start is None:
            continue
        missing = {n for g in state.open_gaps for n in range(g.first, g.last + 1)}
        assert missing.isdisjoint(received)
        assert missing | {n for n in received if n >= start} == set(
            range(start, state.high_water + 1)
        )
