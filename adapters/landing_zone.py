"""The landing zone: every path a file lives at after intake, and write-once publishing.

One type owns the layout, so no caller spells a path by hand::

    <root>/<partner>/<entity>/<date>/<sha256>.<ext>          raw file, as the partner sent it
                                     <sha256>.parquet        valid rows (file contracts)
                                     <sha256>.unique.parquet rows left after row de-duplication
                                     <sha256>.json           manifest (:class:`FileManifest`)
                                     <sha256>.errors.csv     error report (and .errors.json)
                                     <sha256>.<suffix>       derived files (EDI ack, translation)
                                     _quarantine/<sha256>.<ext>  refused bytes, kept
    <root>/outbound/<partner>/<name>                         files we send
    <root>/payroll/<workflow id>/<name>                      a payroll run's own files
    <root>/<source>/<key>/<sha256>-<name>                    handed over outside a feed
    <root>/.staging/<partner>/<feed>/...                     downloads in flight, refusal reports
    <root>/.onboarding/<partner>/<feed>/...                  test files of an onboarding

Methods are named by what a file is, not where it is, so a second backend (Azure Blob) and
at-rest encryption plug in behind the same calls. A file's identity is the SHA-256 of its
plaintext whatever the backend stores (:func:`file_digest`).

A file is written under a unique temporary name and hard-linked into place: the link either
creates the target atomically or fails because it exists, in which case an earlier attempt of
the same (content-addressed or allocated) work already put the same bytes there. Readers never
see a partial file and a retry never overwrites one.

Errors::

    LandingError            base
    ├── LandedFileMissing   a referenced file is not there (permanent)
    └── LandedFileChanged   its bytes no longer match the digest it was handed over with
"""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO

from pydantic import BaseModel, ConfigDict, Field

CHUNK = 1 << 20
QUARANTINE = "_quarantine"


class LandingError(Exception):
    pass


class LandedFileMissing(LandingError):
    pass


class LandedFileChanged(LandingError):
    pass


def digest_bytes(data: bytes) -> str:
    """The identity of a file's content: hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    """:func:`digest_bytes` of a file, read in chunks so memory stays flat."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ManifestRows(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    total: int
    valid: int
    invalid: int


class ManifestChecksum(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Of the landed plaintext.")


class FileManifest(BaseModel):
    """What the landing zone knows about a landed file: ``<sha256>.json`` beside it.

    The one writer of this file is :meth:`LandingZone.write_manifest`; readers (payroll reads
    the rows count of an HRIS file) go through :meth:`LandingZone.read_manifest`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    source: str
    partner_id: str
    feed: str
    received_at: str
    checksum: ManifestChecksum
    received_sha256: str | None = Field(
        default=None, description="Of the bytes received, when they differ (PGP feeds)."
    )
    size_bytes: int = Field(description="Bytes received (the encrypted file for PGP feeds).")
    pgp_fingerprint: str | None = None
    file_contract: str
    schema_version: int = Field(ge=1)
    rows: ManifestRows
    warnings: int = 0
    sequence: int | None = None
    file_date: str | None = None


@dataclass(frozen=True)
class LandingZone:
    """The landing zone of one deployment (a mounted volume today)."""

    root: Path

    # --- where things are, by logical name --------------------------------------------------

    def folder(self, partner: str, entity: str, day: date) -> Path:
        return self.root / partner / entity / day.isoformat()

    def raw(self, partner: str, entity: str, day: date, digest: str, ext: str) -> Path:
        return self.folder(partner, entity, day) / f"{digest}.{ext}"

    def parquet(self, partner: str, entity: str, day: date, digest: str) -> Path:
        return self.folder(partner, entity, day) / f"{digest}.parquet"

    def metadata(self, partner: str, entity: str, day: date, digest: str) -> Path:
        return self.folder(partner, entity, day) / f"{digest}.json"

    def error_report(
        self, partner: str, entity: str, day: date, digest: str, fmt: str = "csv"
    ) -> Path:
        return self.folder(partner, entity, day) / f"{digest}.errors.{fmt}"

    def quarantine(self, partner: str, entity: str, day: date, digest: str, ext: str) -> Path:
        return self.folder(partner, entity, day) / QUARANTINE / f"{digest}.{ext}"

    def outbound(self, partner: str, name: str) -> Path:
        return self.root / "outbound" / partner / name

    def run_folder(self, workflow_id: str) -> Path:
        """The files a payroll run writes (inputs report, expected amounts, GL journal)."""
        return self.root / "payroll" / workflow_id

    def handed_over(self, source: str, key: str) -> Path:
        """Files a system hands straight to a workflow, outside a feed (the demo's HRIS)."""
        return self.root / source / key

    def staging(self, partner: str, feed: str, name: str) -> Path:
        """Work in flight for a feed (a download, a refusal report); not landed data."""
        return self.root / ".staging" / partner / feed / name

    def onboarding(self, partner: str, feed: str) -> Path:
        """A feed's test files in onboarding: beside, not inside, the partner folders, since
        nothing here is production data."""
        return self.root / ".onboarding" / partner / feed

    def clear_onboarding(self, partner: str) -> None:
        shutil.rmtree(self.root / ".onboarding" / partner, ignore_errors=True)

    # Files beside a landed one, found from its reference (what travels in history).

    @staticmethod
    def parquet_of(landed: Path) -> Path:
        return landed.with_suffix(".parquet")

    @staticmethod
    def metadata_of(landed: Path) -> Path:
        return landed.with_suffix(".json")

    @staticmethod
    def unique_of(parquet: Path) -> Path:
        return parquet.with_name(parquet.name.replace(".parquet", ".unique.parquet"))

    @staticmethod
    def derived(landed: Path, digest: str, suffix: str) -> Path:
        """``<digest><suffix>`` beside a landed file (``.ack.x12``, ``.translated.json``)."""
        return landed.parent / f"{digest}{suffix}"

    # --- writing, once ----------------------------------------------------------------------

    def publish(
        self, target: Path, write: Callable[[Path], object], *, read_only: bool = False
    ) -> bool:
        """Create ``target`` by calling ``write(temporary path)``; False when it existed."""
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
        try:
            write(tmp)
            if read_only:
                tmp.chmod(0o444)
            os.link(tmp, target)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def copy(self, source: Path, target: Path) -> bool:
        """A read-only copy of ``source`` at ``target`` (the raw files partners sent)."""
        return self.publish(target, lambda tmp: shutil.copyfile(source, tmp), read_only=True)

    def write_text(self, target: Path, text: str) -> bool:
        return self.publish(target, lambda tmp: tmp.write_text(text))

    def write_bytes(self, target: Path, data: bytes) -> bool:
        return self.publish(target, lambda tmp: tmp.write_bytes(data))

    def write_manifest(self, target: Path, manifest: FileManifest) -> bool:
        return self.write_text(target, manifest.model_dump_json(indent=2) + "\n")

    # --- reading ----------------------------------------------------------------------------

    def open(self, path: Path) -> BinaryIO:
        try:
            return path.open("rb")
        except FileNotFoundError:
            raise LandedFileMissing(f"landed file {path.name} is missing") from None

    def read_chunks(self, path: Path) -> Iterator[bytes]:
        with self.open(path) as stream:
            yield from iter(lambda: stream.read(CHUNK), b"")

    def read_verified(self, path: Path, digest: str, limit: int | None = None) -> bytes:
        """The bytes of a landed file, checked against the digest it was handed over with.

        With ``limit``, at most ``limit + 1`` bytes are kept (one more says the file is too
        large for the reader) while the digest still covers the whole file: a large file never
        sits in memory whole."""
        hasher, kept = hashlib.sha256(), bytearray()
        for chunk in self.read_chunks(path):
            hasher.update(chunk)
            if limit is None:
                kept += chunk
            elif len(kept) <= limit:
                kept += chunk[: limit + 1 - len(kept)]
        if hasher.hexdigest() != digest:
            raise LandedFileChanged(f"landed file {path.name} does not match its digest")
        return bytes(kept)

    def read_manifest(self, landed: Path) -> FileManifest | None:
        """The manifest beside a landed file (or its Parquet); None when there is none."""
        try:
            return FileManifest.model_validate_json(self.metadata_of(landed).read_bytes())
        except (OSError, ValueError):
            return None
