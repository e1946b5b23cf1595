"""Hostile NACHA files (issue 14): every input ends as a typed result — a ``NachaFile`` with its
problems, or a ``NachaReadError`` — in bounded memory, and ``integrations ach inspect`` answers
with the sysexits table (0 valid, 1 problems, 65 unreadable, 66 no such file, 70 internal)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import zlib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import nacha
from ach_returns.notices import notices_in
from app.cli import ach as ach_cli
from app.cli.ach import ach_app
from nacha import NachaFile, NachaReadError, read, validate
from nacha.reader import _gunzip

CORPUS = Path(__file__).resolve().parents[2] / "shared/corpus/nacha"
SMALL = sorted(p for p in CORPUS.glob("*.ach"))
WEB = (CORPUS / "moov_return-WEB.ach").read_bytes()
COR = (CORPUS / "moov_cor-example.ach").read_bytes()
SUPERSCRIPTS = [0xB2, 0xB3, 0xB9, 0xBC, 0xBD, 0xBE]  # Latin-1 '²', '³', '¹', '¼', '½', '¾'

runner = CliRunner()


def _inspect(path: Path) -> tuple[int, dict[str, Any] | None, str]:
    result = runner.invoke(ach_app, ["inspect", str(path), "--json"])
    doc = json.loads(result.stdout) if result.stdout.strip() else None
    return result.exit_code, doc, result.stderr


def _gz(*members: bytes) -> bytes:
    return b"".join(gzip.compress(m) for m in members)


def _set(data: bytes, line: int, index: int, byte: int) -> bytes:
    lines = data.split(b"\n")
    record = bytearray(lines[line])
    record[index] = byte
    lines[line] = bytes(record)
    return b"\n".join(lines)


# --- superscript digits -------------------------------------------------------------------------

# (record, 0-based index): header creation time, batch header effective date and ODFI, entry
# transaction code, routing, amount and trace, addenda 99 original trace, controls' counts.
FIELDS = [(0, 29), (0, 30), (1, 69), (1, 79), (2, 1), (2, 5), (2, 33), (2, 90), (3, 10)]
FIELDS += [(4, 5), (4, 30), (9, 2), (9, 40)]


@pytest.mark.parametrize(("line", "index"), FIELDS)
def test_superscript_digits_are_problems_not_crashes(tmp_path: Path, line: int, index: int) -> None:
    # '¹'.isdigit() is True but int('¹') raises: every numeric check must be ASCII [0-9].
    data = _set(WEB, line, index, 0xB9)
    file = read(data)
    problems = validate(file, strict=False)
    assert any(p.severity == "error" and p.record_number == line + 1 for p in problems)
    path = tmp_path / "sup.ach"
    path.write_bytes(data)
    code, doc, stderr = _inspect(path)
    assert code == 1 and doc is not None and doc["readable"] is True
    assert "Traceback" not in stderr


def test_routing_checks_refuse_superscripts_without_raising() -> None:
    from ach_returns.state_machine import routing_check_digit_ok

    assert not nacha.is_valid_routing_number("09100001\u00b9")
    assert not routing_check_digit_ok("09100001\u00b9")
    assert not routing_check_digit_ok("\u00b2\u00b3\u00b9000019")
    with pytest.raises(ValueError, match="digits"):
        nacha.check_digit("0910000\u00b9")


# --- gzip ---------------------------------------------------------------------------------------


def test_the_cap_counts_every_gzip_member() -> None:
    cap = 1 << 20
    # A small valid first member, then a large one: the second used to be inflated uncapped.
    with pytest.raises(NachaReadError, match="inflates beyond 1 MiB"):
        read(_gz(WEB, b" " * (2 << 20)), max_bytes=cap)
    # Two members each under the cap, over it together.
    half = b" " * (600 << 10)
    with pytest.raises(NachaReadError, match="inflates beyond"):
        read(_gz(WEB + half, half), max_bytes=cap)
    # A plain file over the cap is refused too.
    with pytest.raises(NachaReadError, match="larger than"):
        read(WEB + b" " * cap, max_bytes=cap)


def test_concatenated_members_read_as_one_file(tmp_path: Path) -> None:
    cut = WEB.index(b"\n5200", 10) + 1
    path = tmp_path / "two-members.ach.gz"
    path.write_bytes(_gz(WEB[:cut], WEB[cut:]))
    assert read(path) == read(WEB)
    assert read(path.read_bytes()) == read(WEB)


def test_truncated_and_corrupt_gzip_are_refused(tmp_path: Path) -> None:
    whole = _gz(WEB)
    with pytest.raises(NachaReadError, match="truncated"):
        read(whole[:-12])
    with pytest.raises(NachaReadError, match="cannot be inflated"):
        read(whole[:20] + b"\xff" * 40 + whole[60:])
    path = tmp_path / "cut.ach.gz"
    path.write_bytes(whole[: len(whole) // 2])
    code, doc, _ = _inspect(path)
    assert code == 65 and doc is not None and doc["readable"] is False


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.binary(max_size=3000), min_size=1, max_size=4),
    st.lists(st.integers(1, 700), min_size=1, max_size=20),
)
def test_gunzip_is_chunking_independent(members: list[bytes], sizes: list[int]) -> None:
    data = _gz(*members)
    chunks, at, i = [], 0, 0
    while at < len(data):
        size = sizes[i % len(sizes)]
        chunks.append(data[at : at + size])
        at, i = at + size, i + 1
    assert bytes(_gunzip(chunks, 1 << 20)) == b"".join(members)


def _bomb(path: Path, members: int, member_mib: int) -> None:
    # Written 1 MiB at a time so the test itself stays small.
    zeros = b"\0" * (1 << 20)
    with path.open("wb") as f:
        f.write(gzip.compress(WEB))
        for _ in range(members):
            c = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
            for _ in range(member_mib):
                f.write(c.compress(zeros))
            f.write(c.flush())


@pytest.mark.parametrize(("members", "member_mib"), [(1, 160), (4, 40)])
def test_a_refused_bomb_never_holds_more_than_the_cap(
    tmp_path: Path, members: int, member_mib: int
) -> None:
    path = tmp_path / "bomb.ach.gz"
    _bomb(path, members, member_mib)
    assert path.stat().st_size < 1 << 20  # ~160 MiB inflated from well under 1 MB
    probe = (
        "import sys, nacha\n"
        "try:\n"
        "    nacha.read(__import__('pathlib').Path(sys.argv[1]))\n"
        "except nacha.NachaReadError as e:\n"
        "    print(e.reason)\n"
        # VmHWM, not ru_maxrss: the latter keeps the forking parent's peak across exec.
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        "print(int(hwm.split()[1]) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout.splitlines()
    assert out[0] == "the gzip inflates beyond 128 MiB: refused"
    # The cap (128 MiB) plus the interpreter: far from the 2 GB the old reader peaked at.
    assert int(out[1]) < 300, f"peak RSS {out[1]} MB"


# --- change codes and several addenda 99 --------------------------------------------------------


def test_a_change_code_outside_the_table_is_a_problem(tmp_path: Path) -> None:
    data = COR.replace(b"798C01", b"798C42")
    problems = validate(read(data), strict=False)
    [unknown] = [p for p in problems if p.code == "unknown_change_code"]
    assert unknown.severity == "error" and unknown.record_number == 4
    path = tmp_path / "noc.ach"
    path.write_bytes(data)
    code, doc, _ = _inspect(path)
    assert code == 1 and doc is not None
    assert doc["summary"]["valid"] is False


def _dishonored(code: str) -> bytes:
    line = (
        "799" + code + "091400600000001" + " " * 6 + "09100001" + " " * 3 + "091000017611242"
        "123" + "01" + " " * 21 + "091400600000009"
    )
    assert len(line) == 94
    return line.encode()


def _contested(code: str) -> bytes:
    line = (
        "799" + code + "091400600000001" + "260105" + "09100001" + "005" + "091000017611242"
        "006" + "01" + "091400600000009" + "007" + "61" + " " + "091000017611243"
    )
    assert len(line) == 94
    return line.encode()


def test_every_addenda_99_of_an_entry_is_reported(tmp_path: Path) -> None:
    lines = WEB.split(b"\n")
    data = b"\n".join([*lines[:4], _dishonored("R61"), _contested("R71"), *lines[4:]])
    file = read(data)
    first = next(e for _, e in file.entries())
    assert [a.return_code for a in first.returns] == ["R01", "R61", "R71"]
    assert [n.return_code for n in nacha.return_notices(file)] == ["R01", "R61", "R71", "R03"]
    problems = validate(file, strict=False)
    [several] = [p for p in problems if p.code == "multiple_return_addenda"]
    assert "'R01', 'R61', 'R71'" in several.message
    path = tmp_path / "several.ach"
    path.write_bytes(data)
    code, doc, _ = _inspect(path)
    assert code == 1 and doc is not None
    assert doc["summary"]["returns_by_code"] == {"R01": 1, "R03": 1, "R61": 1, "R71": 1}
    assert [r["return_code"] for r in doc["returns"]] == ["R01", "R61", "R71", "R03"]


def test_a_mangled_return_code_is_an_error_and_never_reaches_the_workflow() -> None:
    data = WEB.replace(b"799R01", b"799R\xb91")
    file = read(data)
    assert any(p.code == "bad_return_code" for p in validate(file, strict=False))
    assert [n.code for _, n in notices_in(file, date(2026, 1, 5))] == ["R03"]


# --- the exit codes ---------------------------------------------------------------------------


def test_exit_codes_follow_sysexits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    valid = CORPUS / "moov_return-WEB.ach"
    assert _inspect(valid)[0] == 0
    assert _inspect(CORPUS / "moov_20110805A.ach")[0] == 1
    text = tmp_path / "text.ach"
    text.write_text("hello\n")
    code, doc, _ = _inspect(text)
    assert code == 65 and doc == {
        "error": "no file header or batch header record: not a NACHA file",
        "file": str(text),
        "format_version": 1,
        "readable": False,
    }
    assert _inspect(tmp_path / "nope.ach")[0] == 66
    assert _inspect(tmp_path)[0] == 66  # a directory is no input file either

    # A bug of ours (simulated: validation raising) is 70 and one line, never a traceback,
    # and the exception's text (which could quote the file) is not printed.
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("account 123456789 in a message")

    monkeypatch.setattr(ach_cli, "validate", broken)
    result = runner.invoke(ach_app, ["inspect", str(valid), "--json"])
    assert result.exit_code == 70
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "RuntimeError" in result.stderr
    assert "123456789" not in result.stderr and "Traceback" not in result.stderr


def test_the_installed_cli_never_prints_a_traceback(tmp_path: Path) -> None:
    cli = Path(sys.executable).with_name("integrations")
    junk = tmp_path / "junk.ach.gz"
    junk.write_bytes(_gz(WEB)[:30])
    for path, want in ((junk, 65), (tmp_path / "missing.ach", 66)):
        done = subprocess.run(
            [str(cli), "ach", "inspect", "--json", str(path)], capture_output=True, text=True
        )
        assert done.returncode == want, done.stderr
        assert "Traceback" not in done.stderr


# --- random mutations of the public files ------------------------------------------------------

_BYTES = st.sampled_from([*SUPERSCRIPTS, 0x00, 0x0D, 0x0A, 0x20, 0x30, 0x39, 0x7F, 0xFF])
_MUTATION = st.one_of(
    st.tuples(st.just("set"), st.integers(0, 10**6), _BYTES),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.binary(min_size=1, max_size=12)),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.integers(1, 200)),
    st.tuples(st.just("duplicate_line"), st.integers(0, 10**6), st.integers(0, 3)),
    st.tuples(st.just("truncate"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("gzip"), st.integers(0, 10**6), st.booleans()),
)


def _mutate(data: bytes, mutation: tuple[str, int, object]) -> bytes:
    kind, at, arg = mutation
    at %= max(len(data), 1)
    if kind == "set":
        assert isinstance(arg, int)
        return data[:at] + bytes([arg]) + data[at + 1 :]
    if kind == "insert":
        assert isinstance(arg, bytes)
        return data[:at] + arg + data[at:]
    if kind == "delete":
        assert isinstance(arg, int)
        return data[:at] + data[at + arg :]
    if kind == "duplicate_line":
        assert isinstance(arg, int)
        lines = data.split(b"\n")
        i = at % len(lines)
        return b"\n".join(lines[: i + 1] + [lines[i]] * (arg + 1) + lines[i + 1 :])
    if kind == "truncate":
        return data[:at]
    # gzip: one member, or two split at ``at``
    return _gz(data[:at], data[at:]) if arg else _gz(data)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.sampled_from(SMALL), st.lists(_MUTATION, min_size=1, max_size=6))
def test_mutated_public_files_give_only_typed_results(
    source: Path, mutations: list[tuple[str, int, object]]
) -> None:
    data = source.read_bytes()
    for mutation in mutations:
        data = _mutate(data, mutation)
    try:
        file = read(data)
    except NachaReadError as exc:
        assert exc.reason
        return
    assert isinstance(file, NachaFile)
    for strict in (False, True):
        problems = validate(file, strict=strict)
        nacha.summarize(file, problems, strict=strict)
    nacha.return_notices(file)
    nacha.change_notices(file)
    notices_in(file, date(2026, 1, 5))
