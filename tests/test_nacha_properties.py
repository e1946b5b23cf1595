"""Property tests: generated valid files validate clean and round-trip; corrupted ones never make
the reader raise anything but NachaReadError, and validation reports the corruption."""

from __future__ import annotations

from datetime import date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nacha import (
    NachaFile,
    NachaReadError,
    Payment,
    build_file,
    check_digit,
    ppd_batch,
    read,
    validate,
    write,
)

_ALNUM = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", min_size=1, max_size=22).map(
    lambda s: s.strip() or "X"
)


@st.composite
def routing_numbers(draw: st.DrawFn) -> str:
    first = draw(st.text(alphabet="0123456789", min_size=8, max_size=8))
    return first + str(check_digit(first))


payments = st.builds(
    Payment,
    routing_number=routing_numbers(),
    account_number=st.text(alphabet="0123456789", min_size=4, max_size=17),
    amount_cents=st.integers(min_value=0, max_value=99_999_999),
    name=_ALNUM,
    account_type=st.sampled_from(["checking", "savings"]),
    addenda=st.none() | st.text(alphabet="ABC123 *", min_size=1, max_size=80).map(str.strip),
)


@st.composite
def nacha_files(draw: st.DrawFn) -> bytes:
    batches = [
        ppd_batch(
            company_name=draw(_ALNUM).ljust(1)[:16],
            company_identification=draw(st.text(alphabet="0123456789", min_size=10, max_size=10)),
            odfi_routing_number=draw(routing_numbers()),
            entry_description=draw(_ALNUM)[:10],
            effective_entry_date=draw(st.dates(date(2000, 1, 1), date(2099, 12, 31))),
            payments=draw(st.lists(payments, min_size=1, max_size=6)),
            credit=draw(st.booleans()),
            sec_code=draw(st.sampled_from(["PPD", "CCD", "WEB"])),
        )
        for _ in range(draw(st.integers(1, 3)))
    ]
    file = build_file(
        immediate_destination=draw(routing_numbers()),
        immediate_origin="1234567890",
        destination_name="BANK",
        origin_name="US",
        created=draw(st.datetimes(datetime(2000, 1, 1), datetime(2099, 12, 31))),
        batches=batches,
    )
    return write(file)


def _read_or_none(data: bytes) -> NachaFile | None:
    try:
        return read(data)
    except NachaReadError:
        return None


def _flags_corruption(data: bytes) -> bool:
    file = _read_or_none(data)
    return file is None or any(p.severity == "error" for p in validate(file, strict=True))


fast = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@fast
@given(nacha_files())
def test_generated_files_validate_clean_and_round_trip(data: bytes) -> None:
    file = read(data)
    assert validate(file, strict=True) == []
    assert write(file) == data
    assert read(write(file)) == file
    assert read(data.replace(b"\n", b"\r\n")) == file


@fast
@given(nacha_files(), st.data())
def test_truncation_is_reported(data: bytes, draw: st.DataObject) -> None:
    cut = draw.draw(st.integers(0, len(data) - 2))
    assert _flags_corruption(data[:cut])


@fast
@given(nacha_files(), st.data())
def test_a_dropped_record_is_reported(data: bytes, draw: st.DataObject) -> None:
    lines = data.split(b"\n")[:-1]
    i = draw.draw(st.integers(0, len(lines) - 1))
    assert _flags_corruption(b"\n".join(lines[:i] + lines[i + 1 :]) + b"\n")


@fast
@given(nacha_files(), st.data())
def test_a_non_printable_byte_is_reported(data: bytes, draw: st.DataObject) -> None:
    positions = [i for i, b in enumerate(data) if b != 0x0A]
    i = draw.draw(st.sampled_from(positions))
    bad = draw.draw(st.sampled_from([0x00, 0x07, 0x1B, 0x7F, 0x80, 0xC3, 0xFF]))
    assert _flags_corruption(data[:i] + bytes([bad]) + data[i + 1 :])


@fast
@given(nacha_files(), st.data())
def test_a_changed_amount_or_routing_digit_is_reported(data: bytes, draw: st.DataObject) -> None:
    lines = data.split(b"\n")
    entries = [i for i, line in enumerate(lines) if line[:1] == b"6"]
    i = draw.draw(st.sampled_from(entries))
    # positions 4-12 (routing number with its check digit) or 30-39 (amount)
    pos = draw.draw(st.sampled_from([*range(3, 12), *range(29, 39)]))
    old = lines[i][pos]
    new = draw.draw(st.sampled_from([d for d in b"0123456789" if d != old]))
    lines[i] = lines[i][:pos] + bytes([new]) + lines[i][pos + 1 :]
    assert _flags_corruption(b"\n".join(lines))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise_anything_but_nacha_read_error(data: bytes) -> None:
    file = _read_or_none(data)
    if file is not None:
        validate(file, strict=False)
        validate(file, strict=True)


@fast
@given(
    nacha_files(),
    st.lists(st.tuples(st.integers(0, 10_000), st.binary(min_size=1, max_size=8)), max_size=5),
)
def test_spliced_junk_never_raises_anything_but_nacha_read_error(
    data: bytes, splices: list[tuple[int, bytes]]
) -> None:
    for at, junk in splices:
        at %= len(data)
        data = data[:at] + junk + data[at:]
    file = _read_or_none(data)
    if file is not None:
        validate(file, strict=True)
