"""Every NACHA file in the shared corpus: read, validated, rewritten byte for byte."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import pytest

from nacha import (
    NocAddenda,
    ReturnAddenda,
    ReturnCategory,
    change_notices,
    read,
    return_notices,
    validate,
    write,
)
from nacha.iat import IatBatchHeader, IatEntryDetail

CORPUS = Path(__file__).resolve().parents[2] / "shared/corpus/nacha"
FILES = sorted(CORPUS.glob("*.ach*"))


def _raw(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_the_corpus_is_there() -> None:
    assert len(FILES) == 5


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_file_reads_rewrites_byte_for_byte_and_round_trips(path: Path) -> None:
    file = read(path)
    assert write(file) == _raw(path)
    assert read(write(file)) == file
    # Reading bytes, text or a path gives the same model.
    assert read(_raw(path)) == file
    assert read(_raw(path).decode("ascii")) == file


def test_return_web_holds_r01_and_r03() -> None:
    file = read(CORPUS / "moov_return-WEB.ach")
    assert validate(file, strict=False) == []
    assert [b.header.sec_code for b in file.batches] == ["WEB", "WEB"]
    notices = return_notices(file)
    assert [(n.return_code, n.category) for n in notices] == [
        ("R01", ReturnCategory.INSUFFICIENT_FUNDS),
        ("R03", ReturnCategory.ACCOUNT_LEVEL),
    ]
    r01, r03 = notices
    assert r01.original_trace_number == "091400600000001"
    assert r01.original_rdfi == "09100001"
    assert r01.trace_number == "091000017611242"
    assert r01.amount_cents == 12354 and r01.transaction_code == 26 and r01.is_debit
    assert r01.time_limit_days == 2 and r01.time_limit_unit == "banking_days"
    assert r01.date_of_death is None
    assert r03.original_trace_number == "091400600000003"
    assert r03.amount_cents == 4565 and r03.transaction_code == 21 and not r03.is_debit
    addenda = file.batches[0].entries[0].addenda[0]
    assert isinstance(addenda, ReturnAddenda) and addenda.record_number == 4
    assert file.control is not None
    assert (file.control.total_debit_cents, file.control.total_credit_cents) == (12354, 4565)


def test_cor_example_holds_a_c01_noc_with_the_corrected_account() -> None:
    file = read(CORPUS / "moov_cor-example.ach")
    assert validate(file, strict=False) == []
    noc = file.batches[0].entries[0].noc
    assert isinstance(noc, NocAddenda)
    assert noc.change_code == "C01" and not noc.is_refused
    assert noc.correction.account_number == "1918171614"
    assert noc.correction.routing_number is None
    [notice] = change_notices(file)
    assert notice.corrected_account_number == "1918171614"
    assert notice.original_trace_number == "121042880000001"
    assert notice.original_rdfi == "12104288"
    assert notice.description == "Incorrect DFI Account Number"


def test_ppd_debit_example() -> None:
    file = read(CORPUS / "moov_examples_ppd-debit.ach")
    assert validate(file, strict=True) == []
    [batch] = file.batches
    assert batch.header.sec_code == "PPD" and batch.header.service_class_code == 225
    [entry] = batch.entries
    assert entry.detail.transaction_code == 27 and entry.detail.amount_cents == 200000000
    assert batch.header.effective_entry_date == date(2019, 8, 16)
    assert not file.layout.final_newline


def test_20110805a_has_iat_batches_addenda_05_and_a_wrong_batch_count() -> None:
    file = read(CORPUS / "moov_20110805A.ach")
    assert file.record_count == 93 and not file.layout.blocked
    assert [b.header.sec_code for b in file.batches] == ["PPD", "PPD", "IAT", "IAT"]
    assert isinstance(file.batches[2].header, IatBatchHeader)
    iat_entry = file.batches[2].entries[0]
    assert isinstance(iat_entry.detail, IatEntryDetail)
    assert [a.type_code for a in iat_entry.addenda] == ["10", "11", "12", "13", "14", "15", "16"]
    assert sum(len(b.entries) for b in file.batches) == 48
    problems = validate(file, strict=False)
    assert [(p.code, p.severity) for p in problems] == [
        ("not_blocked", "warning"),
        ("file_batch_count_mismatch", "error"),
        ("reserved_not_blank", "warning"),
    ]
    batch_count = problems[1]
    assert batch_count.record_number == 93 and batch_count.field == "batch_count"
    assert "batch count 5" in batch_count.message and "holds 4" in batch_count.message
    strict = validate(file, strict=True)
    assert all(p.severity == "error" for p in strict) and len(strict) == 3


def test_the_100000_entry_file() -> None:
    file = read(CORPUS / "moov_PPD-200-batches-100000-entries.ach.gz")
    assert len(file.batches) == 200
    assert sum(len(b.entries) for b in file.batches) == 100199
    assert file.record_count == 100610 and file.layout.blocked
    assert validate(file, strict=True) == []
    assert file.control is not None and file.control.batch_count == 200
    assert file.control.total_debit_cents == 0
    assert file.control.total_credit_cents == sum(e.detail.amount_cents for _, e in file.entries())
