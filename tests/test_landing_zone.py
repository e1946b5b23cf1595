"""The landing zone owns every path and writes each file once; its identity is its digest."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import pytest

from adapters.landing_zone import (
    FileManifest,
    LandedFileChanged,
    LandedFileMissing,
    LandingZone,
    ManifestChecksum,
    ManifestRows,
    digest_bytes,
    file_digest,
)

DAY = date(2025, 11, 5)
DIGEST = "ab" * 32


def test_the_layout_is_partner_entity_date_digest(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    key = ("acme", "customers", DAY, DIGEST)
    folder = tmp_path / "acme" / "customers" / "2025-11-05"
    assert zone.raw(*key, "csv") == folder / f"{DIGEST}.csv"
    assert zone.parquet(*key) == folder / f"{DIGEST}.parquet"
    assert zone.metadata(*key) == folder / f"{DIGEST}.json"
    assert zone.error_report(*key) == folder / f"{DIGEST}.errors.csv"
    assert zone.error_report(*key, fmt="json") == folder / f"{DIGEST}.errors.json"
    assert zone.quarantine(*key, "csv.pgp") == folder / "_quarantine" / f"{DIGEST}.csv.pgp"
    assert (
        zone.outbound("bank", "PAYROLL-1.ach") == tmp_path / "outbound" / "bank" / "PAYROLL-1.ach"
    )
    # Files found from a landed file's reference, as it travels in history.
    raw = zone.raw(*key, "csv")
    assert zone.parquet_of(raw) == zone.parquet(*key)
    assert zone.metadata_of(raw) == zone.metadata(*key)
    assert zone.unique_of(zone.parquet(*key)) == folder / f"{DIGEST}.unique.parquet"
    assert zone.derived(raw, DIGEST, ".ack.x12") == folder / f"{DIGEST}.ack.x12"


def test_a_file_is_written_once_and_a_retry_never_overwrites_it(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    target = zone.raw("acme", "customers", DAY, DIGEST, "csv")
    assert zone.write_bytes(target, b"first") is True
    assert zone.write_bytes(target, b"second") is False
    assert target.read_bytes() == b"first"
    source = tmp_path / "source.csv"
    source.write_bytes(b"raw")
    copy = zone.quarantine("acme", "customers", DAY, DIGEST, "csv")
    assert zone.copy(source, copy) is True
    assert copy.stat().st_mode & 0o777 == 0o444  # what a partner sent is read-only
    assert sorted(p.name for p in target.parent.iterdir()) == ["_quarantine", f"{DIGEST}.csv"]


def test_reading_checks_the_digest_it_was_handed(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n")
    digest = hashlib.sha256(b"a,b\n").hexdigest()
    assert digest_bytes(b"a,b\n") == file_digest(path) == digest
    assert zone.read_verified(path, digest) == b"a,b\n"
    with pytest.raises(LandedFileChanged, match="does not match its digest"):
        zone.read_verified(path, "0" * 64)
    with pytest.raises(LandedFileMissing, match="missing"):
        zone.read_verified(tmp_path / "gone.csv", digest)


def test_the_manifest_round_trips_and_old_ones_still_read(tmp_path: Path) -> None:
    zone = LandingZone(tmp_path)
    raw = zone.raw("acme", "returns", DAY, DIGEST, "ach")
    manifest = FileManifest(
        source="sftp://h:22/inbox/x.ach",
        partner_id="acme",
        feed="returns",
        received_at="2025-11-05T10:00:00+00:00",
        checksum=ManifestChecksum(sha256=DIGEST),
        size_bytes=940,
        file_contract="nacha",
        schema_version=1,
        rows=ManifestRows(total=3, valid=3, invalid=0),
        warnings=2,
    )
    assert zone.write_manifest(zone.metadata_of(raw), manifest)
    assert zone.read_manifest(raw) == manifest
    # A manifest written before this model (no warnings, sequence or file date) still reads.
    old = zone.metadata_of(zone.raw("acme", "returns", DAY, "cd" * 32, "ach"))
    old.write_text(
        '{"source": "s", "partner_id": "acme", "feed": "returns", "received_at": "t", '
        f'"checksum": {{"sha256": "{"cd" * 32}"}}, "size_bytes": 1, "pgp_fingerprint": null, '
        '"file_contract": "nacha", "schema_version": 1, '
        '"rows": {"total": 1, "valid": 1, "invalid": 0}}'
    )
    read = zone.read_manifest(old.with_suffix(".ach"))
    assert read is not None and read.warnings == 0 and read.sequence is None
    assert zone.read_manifest(tmp_path / "none.csv") is None
