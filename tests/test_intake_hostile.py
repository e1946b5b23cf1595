"""Hostile CSV files (issue 14): every input gets a typed answer in bounded time and memory.

Each class seen by fuzzing has a regression test from a small crafted input: a header of tens of
thousands of columns (the drift check was quadratic), a megabyte of commas (pyarrow went to
8 GB), a 50 MB single line (the process aborted at exit one run in twelve). The limits are
settings; a stopped reader ends as a quarantine with a report, never as endless retries.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client
from temporalio.testing import ActivityEnvironment

from activities.intake_files import FileActivities
from devstack.localstack.sshd import LocalSshd
from intake.file_contract import CsvFileContract, load_contract
from intake.findings import Rule, ValidationSummary
from intake.read_limits import ReadLimits
from intake.schema_drift import compare_header
from intake.validation import validate_file
from readers.sandbox import SandboxLimits, run_sandboxed
from runtime.settings import Settings, SettingsError, load_settings
from stores.feeds import register_feed
from tests.intake_support import HEADER, customer_rows, customers_csv, feed_for, name_for
from tests.test_file_intake import run_intake
from wire.intake import NACHA_CONTRACT, FetchedFile, InboxFile, ProcessRequest

REPO = Path(__file__).resolve().parent.parent
ACME = load_contract(REPO / "file_contracts" / "acme_customers.v1.toml")
assert isinstance(ACME, CsvFileContract)


def _rules(summary: ValidationSummary) -> list[Rule]:
    return [p.rule for p in summary.file_problems]


# --- the drift check -------------------------------------------------------------------------


def test_the_drift_check_is_linear_in_the_number_of_columns() -> None:
    expected = HEADER.split(",")
    wide = [*expected, *(f"extra_{i}" for i in range(100_000))]
    started = time.perf_counter()
    drift = compare_header(expected, wide)
    # Quadratic, 30k columns took 10 s here: 100k would take minutes.
    assert time.perf_counter() - started < 5
    assert len(drift.unexpected) == 100_000 and not drift.missing
    # The description becomes a quarantine reason in workflow history: it stays short.
    assert len(drift.describe()) < 1_000 and "and 99,980 more" in drift.describe()


def test_the_linear_drift_check_still_finds_renames_repeats_and_order() -> None:
    drift = compare_header(["id", "email", "name"], ["name", "E-Mail", "id", "id"])
    assert drift.renamed == (("email", "E-Mail"),)
    assert drift.duplicated == ("id",)
    assert drift.reordered and not drift.missing and not drift.unexpected


# --- limits checked before pyarrow ------------------------------------------------------------


def test_a_header_of_thirty_thousand_columns_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text(HEADER + "," + ",".join(f"c{i}" for i in range(30_000)) + "\n1,a\n")
    started = time.perf_counter()
    summary = validate_file(ACME, path)
    assert time.perf_counter() - started < 5
    assert _rules(summary) == [Rule.TOO_MANY_COLUMNS]
    assert summary.file_problems[0].message == (
        "the header has 30,009 columns; at most 2,048 are read"
    )


def test_a_megabyte_of_commas_stays_within_a_small_memory_cap(tmp_path: Path) -> None:
    path = tmp_path / "commas.csv"
    path.write_bytes(b"," * (1 << 20) + b"\n")
    # Unchecked, pyarrow took this file to 8 GB; under a 512 MiB cap it must answer normally.
    limits = SandboxLimits(base_seconds=60, seconds_per_mb=0, memory_bytes=512 << 20)
    summary = run_sandboxed(validate_file, ACME, path, size=path.stat().st_size, limits=limits)
    assert _rules(summary) == [Rule.TOO_MANY_COLUMNS]


@pytest.mark.parametrize(
    ("content", "answer"),
    [
        (b"x" * (50 << 20), "line_too_long"),
        # A quote never closed: one row runs past Arrow's block while its read-ahead waits.
        (HEADER.encode() + b'\n"' + b"a,b\n" * (10 << 20), "malformed_file"),
    ],
    ids=["fifty-megabyte-line", "forty-megabyte-open-quote"],
)
def test_a_huge_row_is_refused_and_the_process_exits_cleanly(
    tmp_path: Path, content: bytes, answer: str
) -> None:
    path = tmp_path / "huge-row.csv"
    path.write_bytes(content)
    # Every caller reads a partner's CSV through the sandbox, as here: in-process, pyarrow's
    # read-ahead thread could abort the interpreter at exit (SIGABRT); the sandbox's child
    # leaves without interpreter teardown, so the calling process exits cleanly every time.
    script = (
        "import sys; from pathlib import Path; from intake.file_contract import load_contract; "
        "from intake.validation import validate_file; "
        "from readers.sandbox import SandboxLimits, run_sandboxed; "
        "c = load_contract(Path('file_contracts/acme_customers.v1.toml')); p = Path(sys.argv[1]); "
        "limits = SandboxLimits(base_seconds=120, seconds_per_mb=0, memory_bytes=1 << 30); "
        "s = run_sandboxed(validate_file, c, p, size=p.stat().st_size, limits=limits); "
        "print(s.file_problems[0].rule)"
    )
    for _ in range(4):
        done = subprocess.run(
            [sys.executable, "-c", script, str(path)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert (done.returncode, done.stdout.strip(), done.stderr) == (0, answer, "")


def test_a_long_line_after_good_rows_rejects_the_file_and_names_the_line(
    tmp_path: Path,
) -> None:
    rows = customer_rows(5, start=1)
    rows.insert(3, "1," + "y" * 3000)
    path = tmp_path / "long-row.csv"
    path.write_bytes(customers_csv(rows))
    summary = validate_file(
        ACME, path, tmp_path / "out.parquet", limits=ReadLimits(max_line_bytes=1024)
    )
    assert not summary.accepted
    assert _rules(summary) == [Rule.LINE_TOO_LONG]
    assert summary.file_problems[0].message.startswith("line 5 is longer than 1,024 bytes")
    assert not (tmp_path / "out.parquet").exists()  # a rejected file lands nothing


def test_a_header_line_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long-header.csv"
    path.write_bytes(b"\r\n\r\n" + HEADER.encode() + b"x" * 2000 + b"\r\n1\r\n")
    summary = validate_file(ACME, path, limits=ReadLimits(max_line_bytes=1024))
    assert _rules(summary) == [Rule.LINE_TOO_LONG]
    assert summary.file_problems[0].message.startswith("line 3 is longer")


def test_files_within_the_limits_read_as_before(tmp_path: Path) -> None:
    path = tmp_path / "good.csv"
    path.write_bytes(customers_csv(customer_rows(50, start=1)))
    tight = ReadLimits(max_line_bytes=1024, max_columns=3)  # a contract's own columns count
    summary = validate_file(ACME, path, limits=tight)
    assert summary.accepted and summary.rows_valid == 50
    cr_only = tmp_path / "cr.csv"
    cr_only.write_bytes(customers_csv(customer_rows(50, start=1)).replace(b"\r\n", b"\r"))
    assert validate_file(ACME, cr_only, limits=tight).rows_valid == 50


def test_content_over_the_decompressed_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(customers_csv(customer_rows(50, start=1)))
    summary = validate_file(ACME, path, limits=ReadLimits(max_content_bytes=1000))
    assert _rules(summary) == [Rule.FILE_TOO_LARGE]
    assert "files are limited to 1,000" in summary.file_problems[0].message


# --- random mutations: only typed results ------------------------------------------------------

SEED = customers_csv(customer_rows(8, start=1))
HOSTILE_BYTES = [b",", b'"', b"\n", b"\r", b"\x00", b"\xff", b"\xc3", b",,,,,,,,", b'""']


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(SEED)
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "truncate"]))
        if kind == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            piece = draw(st.sampled_from(HOSTILE_BYTES))
            data[at:at] = piece * draw(st.integers(1, 300))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 80))] * draw(st.integers(1, 40))
        else:
            del data[at:]
    return bytes(data)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=mutated())
def test_random_mutations_of_a_valid_file_get_only_typed_results(
    tmp_path_factory: pytest.TempPathFactory, content: bytes
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "mutated.csv"
    path.write_bytes(content)
    # Small limits, so the mutations reach them too.
    summary = validate_file(
        ACME, path, folder / "out.parquet", limits=ReadLimits(max_line_bytes=512, max_columns=40)
    )
    assert summary.status in ("accepted", "rejected")
    assert summary.rows_valid + summary.rows_invalid == summary.rows_total
    assert summary.accepted == (not summary.file_problems)
    assert summary.accepted == (folder / "out.parquet").exists()


# --- settings -----------------------------------------------------------------------------------


def test_limits_are_settings_with_safe_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert defaults.read_limits() == ReadLimits()
    assert defaults.sandbox_limits().memory_bytes == 1 << 30
    assert defaults.builtin_max_file_bytes == 100 << 20
    monkeypatch.setenv("INTEGRATIONS_READER_MAX_LINE_BYTES", "65536")
    monkeypatch.setenv("INTEGRATIONS_READER_MAX_COLUMNS", "100")
    monkeypatch.setenv("INTEGRATIONS_READER_SECONDS_PER_MB", "7")
    configured = load_settings()
    assert configured.read_limits().max_line_bytes == 65536
    assert configured.read_limits().max_columns == 100
    assert configured.sandbox_limits().deadline_seconds(10 << 20) == 30 + 70
    monkeypatch.setenv("INTEGRATIONS_READER_MEMORY_BYTES", "1000")
    with pytest.raises(SettingsError, match="INTEGRATIONS_READER_MEMORY_BYTES"):
        load_settings()


def test_built_in_contracts_get_the_default_size_limit(sshd_server: LocalSshd) -> None:
    files = FileActivities(Settings(builtin_max_file_bytes=5_000))
    feed = feed_for(sshd_server).model_copy(update={"file_contract": NACHA_CONTRACT})
    assert files._size_limit(feed, None) == 5_000
    assert files._size_limit(feed.model_copy(update={"max_file_bytes": 10}), None) == 10


# --- through the activity and the workflow ------------------------------------------------------


async def test_a_stopped_reader_ends_as_a_quarantine_with_a_report_not_a_retry(
    sshd_server: LocalSshd, settings: Settings, tmp_path: Path
) -> None:
    # A budget no reader meets: the sandbox stops it, the activity answers, nothing raises.
    tight = settings.model_copy(
        update={
            "landing_zone_dir": tmp_path,
            "reader_seconds_base": 0.01,
            "reader_seconds_per_mb": 1e-9,
        }
    )
    content = customers_csv(customer_rows(60_000, start=1))
    staged = tmp_path / "staged.part"
    staged.write_bytes(content)
    name = name_for(content, 1)
    request = ProcessRequest(
        feed=feed_for(sshd_server, feed=f"timeout-{uuid.uuid4().hex[:6]}"),
        file=InboxFile(name=name, size=len(content), mtime=0),
        fetched=FetchedFile(
            staged_path=str(staged), sha256=hashlib.sha256(content).hexdigest(), size=len(content)
        ),
        received_at=datetime.now(UTC),
    )
    env = ActivityEnvironment()
    env.info = replace(
        env.info, start_to_close_timeout=timedelta(hours=1), started_time=datetime.now(UTC)
    )
    processed = env.run(FileActivities(tight).process, request)
    assert processed.outcome == "quarantined"
    assert processed.reason.startswith("the file could not be read: reading took longer than")
    report = Path(processed.report_path or "").read_text()
    assert ",read_timed_out," in report
    assert not staged.with_suffix(".parquet").exists()
    assert not Path(f"{staged.with_suffix('.parquet')}.partial").exists()


async def test_hostile_csvs_are_quarantined_with_reports_and_the_run_completes(
    sshd_server: LocalSshd, pool: asyncpg.Pool, client: Client, workers: Settings
) -> None:
    feed = feed_for(sshd_server, feed=f"hostile-{uuid.uuid4().hex[:6]}")
    await register_feed(pool, client, workers, feed)
    wide = (HEADER + "," + ",".join(f"c{i}" for i in range(30_000)) + "\r\n").encode()
    one_line = customers_csv(customer_rows(3)) + b"9," + b"z" * (2 << 20) + b"\r\n"
    good = customers_csv(customer_rows(20))
    names = {
        "wide": name_for(wide, 1),
        "one_line": name_for(one_line, 2),
        "good": name_for(good, 3),
    }
    sshd_server.drop_file("inbox", names["wide"], wide)
    sshd_server.drop_file("inbox", names["one_line"], one_line)
    sshd_server.drop_file("inbox", names["good"], good)

    result = await run_intake(client, workers, feed)

    by_name = {d.remote_name: d for d in result.decisions}
    assert by_name[names["good"]].outcome == "landed"
    wide_decision = by_name[names["wide"]]
    assert wide_decision.outcome == "quarantined"
    assert wide_decision.reason == "the header has 30,009 columns; at most 2,048 are read"
    long_decision = by_name[names["one_line"]]
    assert long_decision.outcome == "quarantined"
    assert long_decision.reason.startswith("line 5 is longer than 1,048,576 bytes")
    outbox = sshd_server.folder("outbox")
    assert ",too_many_columns," in (outbox / f"{names['wide']}.errors.csv").read_text()
    assert ",line_too_long," in (outbox / f"{names['one_line']}.errors.csv").read_text()
    assert sorted(p.name for p in sshd_server.folder("quarantine").iterdir()) >= sorted(
        [names["wide"], names["one_line"]]
    )
    assert not any(sshd_server.folder("inbox").iterdir())
