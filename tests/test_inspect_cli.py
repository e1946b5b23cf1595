"""``integrations inspect`` as an operator runs it: a real subprocess, real files, and every exit
code of the table (``app.cli.exit_codes``) reached by a real input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import support as cli_support
from app.cli.exit_codes import ExitCode
from app.cli.inspection import Kind, Limits, detect, inspect_bounded, scrub
from readers.sandbox import SandboxLimits
from runtime.settings import Settings

CORPUS = Path(__file__).resolve().parents[2] / "shared/corpus"
HOSTILE = Path(__file__).resolve().parent / "fixtures/hostile"
CLI = [sys.executable, "-c", "from app.cli.main import main; main()", "inspect"]
ACME_HEADER = (
    "customer_id,full_name,email,created_date,updated_at,country,credit_limit,active,postal_code"
)

pytestmark = pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not mounted")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180, check=False)


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    """stderr is exactly one ``error: ...; hint: ...`` line: never a traceback."""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "; hint: " in lines[0], lines
    assert "Traceback" not in done.stderr
    return lines[0]


def test_a_valid_file_exits_0_with_its_kind_detected_and_pii_masked() -> None:
    done = run("--json", str(CORPUS / "nacha/moov_cor-example.ach"))
    assert done.returncode == ExitCode.OK, done.stderr
    doc = json.loads(done.stdout)
    assert doc["kind"] == "nacha" and doc["detected"] is True and doc["verdict"] == "valid"
    assert doc["summary"]["entries"] == 1 and doc["summary"]["nocs_by_code"] == {"C01": 1}
    assert doc["problems"] == [] and doc["reason"] is None
    assert "1918171614" not in done.stdout and "Best Co" not in done.stdout


@pytest.mark.parametrize(
    ("relative", "kind", "summary"),
    [
        ("bai2/moov_sample1.txt", "bai2", {"lines": 17, "credits": 5, "debits": 12}),
        ("x12/staedi_simple810.edi", "x12", {"interchanges": 1, "sets": 2}),
        ("stripe/fivetran_payout_data.csv", "stripe-payouts", {"usable": 15, "skipped": 0}),
        ("stripe/fivetran_balance_transaction_data.csv", "stripe-balance-transactions", {}),
        ("stripe/fivetran_payout_balance_transaction_data.csv", "stripe-links", {"rows": 15}),
    ],
)
def test_every_kind_is_detected_from_its_first_bytes(
    relative: str, kind: str, summary: dict[str, object]
) -> None:
    assert detect(CORPUS / relative) == kind
    done = run("--json", str(CORPUS / relative))
    assert done.returncode == ExitCode.OK, done.stderr
    doc = json.loads(done.stdout)
    assert doc["kind"] == kind and doc["verdict"] == "valid"
    assert summary.items() <= doc["summary"].items()


def test_the_public_camt_files_are_inconsistent_and_say_so() -> None:
    """Neither public camt file balances as published: the camt.053's closing balance is in
    another currency than its account (refused, 65), the camt.054 books an entry in SEK whose
    details are in CHF (read, one problem, 1)."""
    statement = CORPUS / "camt/genkgo_camt053.v2.minimal.xml"
    assert detect(statement) == "camt"
    refused = run("--json", str(statement))
    assert refused.returncode == ExitCode.DATA_ERROR, refused.stderr
    doc = json.loads(refused.stdout)
    assert doc["verdict"] == "unreadable" and "'SEK'" in doc["reason"] and "'EUR'" in doc["reason"]
    notification = run("--json", str(CORPUS / "camt/genkgo_camt054.v4.xml"))
    assert notification.returncode == ExitCode.REFUSED, notification.stderr
    doc = json.loads(notification.stdout)
    assert doc["verdict"] == "problems" and doc["summary"]["lines"] == 1
    assert [p["code"] for p in doc["problems"]] == ["entry_skipped"]


def test_a_file_with_problems_exits_1_with_positions() -> None:
    done = run("--json", "--as", "nacha", str(CORPUS / "nacha/moov_20110805A.ach"))
    assert done.returncode == ExitCode.REFUSED, done.stderr
    doc = json.loads(done.stdout)
    assert doc["verdict"] == "problems" and doc["detected"] is False
    assert doc["position_unit"] == "record"
    errors = [p for p in doc["problems"] if p["severity"] == "error"]
    assert [p["code"] for p in errors] == ["file_batch_count_mismatch"]
    assert isinstance(errors[0]["position"], int) and errors[0]["position"] > 0
    assert "JULIAN PRICE" not in done.stdout


def test_a_rejected_x12_interchange_exits_1() -> None:
    done = run("--json", str(CORPUS / "x12/pyx12_example834_5010.txt"))
    assert done.returncode == ExitCode.REFUSED, done.stderr
    doc = json.loads(done.stdout)
    assert doc["kind"] == "x12" and doc["verdict"] == "rejected"
    assert any(p["field"] and p["field"].startswith("INS") for p in doc["problems"])


def test_unreadable_garbage_exits_65_with_a_typed_reason(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)) * 4)
    done = run("--json", str(junk))
    assert done.returncode == ExitCode.DATA_ERROR, done.stderr
    doc = json.loads(done.stdout)
    assert doc["verdict"] == "unreadable" and doc["reason"] == "the kind of file is not recognised"
    # Asked to read a camt file as BAI2: the BAI2 reader's own refusal, as JSON.
    done = run("--json", "--as", "bai2", str(CORPUS / "camt/genkgo_camt054.v4.xml"))
    assert done.returncode == ExitCode.DATA_ERROR, done.stderr
    doc = json.loads(done.stdout)
    assert doc["kind"] == "bai2" and doc["verdict"] == "unreadable" and doc["reason"]


def test_a_missing_file_exits_66_in_one_line(tmp_path: Path) -> None:
    done = run("--json", str(tmp_path / "nope.ach"))
    assert done.returncode == ExitCode.NO_INPUT
    assert done.stdout == ""
    assert "no such file" in one_error_line(done)
    done = run(str(tmp_path))  # a directory is no file either
    assert done.returncode == ExitCode.NO_INPUT
    one_error_line(done)


@pytest.mark.parametrize("kind", ["foo", "contract:../../etc/passwd", "contract:nope.v1"])
def test_an_unknown_kind_is_a_usage_error(kind: str) -> None:
    done = run("--as", kind, str(CORPUS / "nacha/moov_cor-example.ach"))
    assert done.returncode == ExitCode.USAGE
    assert done.stdout == ""
    one_error_line(done)


def test_a_file_contract_checks_a_csv_and_masks_pii_columns(tmp_path: Path) -> None:
    good = tmp_path / "acme.csv"
    rows = [
        f"{i},Customer {i},c{i}@example.com,2024-01-0{i},2024-02-01T10:00:00+0000,US,"
        f"{i}0.50,true,1000{i}"
        for i in range(1, 6)
    ]
    good.write_text("\r\n".join([ACME_HEADER, *rows]) + "\r\n")
    done = run("--json", "--as", "contract:acme_customers", str(good))
    assert done.returncode == ExitCode.OK, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["kind"] == "contract:acme_customers.v1" and doc["summary"]["rows_valid"] == 5

    bad = tmp_path / "acme-bad.csv"
    bad.write_text(
        "\r\n".join([ACME_HEADER, *rows, "6,Jane Roe,not-an-email,2024-01-06,x,US,1,true,1"])
    )
    done = run("--json", "--as", "contract:acme_customers.v1", str(bad))
    assert done.returncode == ExitCode.REFUSED, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert doc["verdict"] == "rejected" and doc["position_unit"] == "row"
    assert {p["field"] for p in doc["problems"]} >= {"email"}
    assert "not-an-email" not in done.stdout and "Jane Roe" not in done.stdout


def test_a_reader_that_hangs_ends_as_unreadable_within_its_budget() -> None:
    """A BAI2 file cut off after a 16 record makes the bai2 library loop: the child is killed
    at the deadline and the answer is a typed refusal naming the budget."""
    lines = (CORPUS / "bai2/moov_sample1.txt").read_text().splitlines(keepends=True)
    cut = next(i for i, line in enumerate(lines) if line.startswith("16,")) + 1
    path = HOSTILE / "bai2" / "truncated_after_16.bai2"
    assert path.read_text() == "".join(lines[:cut])
    quick = Limits(sandbox=SandboxLimits(base_seconds=3, seconds_per_mb=0))
    result, detected = inspect_bounded(path, None, quick)
    assert detected and result.kind == Kind.BAI2
    if result.verdict == "unreadable" and "budget" in (result.reason or ""):
        return  # today: the library loops, and the budget stops it
    assert result.verdict in ("problems", "unreadable")  # once the reader refuses it itself


def test_limits_are_the_workers_settings_and_flags_override_them() -> None:
    settings = Settings(reader_seconds_base=7, reader_memory_bytes=512 << 20)
    limits = Limits.from_settings(settings)
    assert limits.sandbox == settings.sandbox_limits()
    assert limits.read == settings.read_limits()
    assert limits.max_bytes == settings.builtin_max_file_bytes
    assert limits.sandbox.deadline_seconds(1 << 20) == 7 + settings.reader_seconds_per_mb
    flagged = Limits.from_settings(settings, max_seconds=4, memory_mb=300)
    assert flagged.sandbox.deadline_seconds(50 << 20) == 4  # a fixed budget, whatever the size
    assert flagged.sandbox.memory_bytes == 300 << 20


def test_a_reader_over_its_memory_limit_ends_as_unreadable() -> None:
    path = HOSTILE / "bai2" / "truncated_after_16.bai2"
    tiny = Limits(sandbox=SandboxLimits(memory_bytes=1 << 20))  # less than an interpreter
    result, _ = inspect_bounded(path, "bai2", tiny)
    assert result.verdict == "unreadable" and "1 MiB of memory" in (result.reason or "")


def test_hostile_inputs_never_end_in_a_traceback() -> None:
    """Every saved hostile input: JSON with a verdict (0/1/65), or one line and 70 while its
    reader's fix is in another branch."""
    for path in sorted(HOSTILE.glob("*/*")):
        if path.suffix == ".txt":
            continue
        done = run("--json", "--max-seconds", "4", "--as", path.parent.name, str(path))
        assert "Traceback" not in done.stderr, path
        if done.returncode == ExitCode.INTERNAL:
            assert "internal error: the " in one_error_line(done), path
            assert done.stdout == ""
        else:
            assert done.returncode in (0, 1, 65), (path, done.returncode, done.stderr)
            assert json.loads(done.stdout)["verdict"]


def test_an_unexpected_exception_is_one_line_with_code_70_and_no_message() -> None:
    def reader() -> None:
        raise ValueError("invalid literal for int(): '123456789 JANE ROE'")

    try:
        reader()
    except ValueError as exc:
        code, message, hint = cli_support.classify(exc)
    assert code == ExitCode.INTERNAL and hint
    assert message.startswith("internal error (ValueError at tests/test_inspect_cli.py:")
    assert "JANE" not in message and "123456789" not in message


def test_scrub_masks_long_digit_runs_and_ssns() -> None:
    assert scrub("account 1234567890 ok") == "account ******7890 ok"
    assert scrub("ssn 123-45-6789") == "ssn ***-**-****"
    assert scrub("trace 42, amount 1000") == "trace 42, amount 1000"
