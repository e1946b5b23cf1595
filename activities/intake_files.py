"""File-moving activities of intake: list, fetch, validate-and-land, archive or quarantine.

All blocking (paramiko, gpg, pyarrow), so they are sync activities run on the ``sftp`` worker's
thread pool. Each is idempotent: downloads resume from the staged bytes, the landing zone is
write-once by content digest, and remote moves accept "already moved".

The staging folder lives inside the landing zone, which every file worker mounts (a shared
volume in production), because fetch and process may run on different workers.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from adapters.landing_zone import (
    FileManifest,
    LandingZone,
    ManifestChecksum,
    ManifestRows,
    digest_bytes,
    file_digest,
)
from adapters.pgp import Keyring, PgpError, discard_plaintext, keyring_from_settings
from adapters.sftp import (
    RemoteFile,
    RemoteFileNotFound,
    SftpEndpoint,
    SftpError,
    SftpSession,
    connect,
    load_private_key,
)
from intake.error_report import REPORT_COLUMNS, render_csv, render_json
from intake.errors import ChecksumMismatch, ContractError, NamingError, UnsafeFileName
from intake.file_contract import CsvFileContract, FixedWidthFileContract, load_contract
from intake.findings import FileProblem, Rule, ValidationSummary
from intake.naming import FeedFileName, check_safe_name, read_chunks, verify_crc32
from intake.read_limits import ReadLimits
from intake.validation import validate_file
from readers.built_in import check_built_in
from readers.sandbox import (
    ReaderCrashed,
    ReaderOutOfMemory,
    ReaderRefused,
    ReaderTimedOut,
    run_sandboxed,
)
from runtime.settings import Settings, SettingsError
from wire.intake import (
    BUILT_IN_CONTRACTS,
    Delivered,
    DeliverRequest,
    FeedConfig,
    FetchedFile,
    FetchRequest,
    FileDecision,
    Finished,
    FinishRequest,
    InboxFile,
    InboxListing,
    ProcessedFile,
    ProcessRequest,
)

CHUNK = 1 << 20
WireModel = CsvFileContract | FixedWidthFileContract


def _application_error(exc: SftpError | PgpError) -> ApplicationError:
    # Permanent failures (host key, auth, jail) must not be retried: they need a person.
    return ApplicationError(
        f"{type(exc).__name__}: {exc}",
        type=exc.error_type,
        non_retryable=not exc.retryable,
    )


def _schema_version(feed: FeedConfig, contract: WireModel | None) -> int:
    """The contract's schema version; a built-in contract's is in its name (``nacha.v1``)."""
    if contract is not None:
        return contract.schema_version
    return int(feed.file_contract.rsplit(".v", 1)[1])


class _Quarantine(Exception):
    """A check refused the file: it goes to quarantine with ``reason`` and what is known of
    it so far (``fields``, e.g. its sequence number)."""

    def __init__(self, reason: str, **fields: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fields = fields


def _parse_name(feed: FeedConfig, name: str) -> FeedFileName:
    try:
        return feed.naming.parse(name)
    except NamingError as exc:
        raise _Quarantine(f"file name {exc.reason}") from None


def _verify_checksum(parsed: FeedFileName, staged: Path) -> None:
    """The CRC32 the file name declares, if any, matches the bytes received."""
    try:
        with staged.open("rb") as stream:
            verify_crc32(parsed, read_chunks(stream, CHUNK))
    except ChecksumMismatch as exc:
        raise _Quarantine(str(exc), sequence=parsed.sequence) from None


def _refusal_reasons(summary: ValidationSummary, contract: WireModel) -> list[str]:
    """Why a file contract refused the file: its file-level problems, or too many bad rows."""
    return [p.message for p in summary.file_problems] or [
        f"{summary.rows_invalid} of {summary.rows_total} rows invalid "
        f"({summary.bad_row_percent}%), over the contract's "
        f"{contract.max_bad_row_percent}%"
    ]


@dataclass(frozen=True)
class _Landed:
    """Where one received file lands: its place in the zone, by plaintext digest."""

    zone: LandingZone
    partner: str
    entity: str
    day: date
    digest: str
    ext: str
    received: Path  # the bytes as received (encrypted for PGP feeds)
    received_digest: str
    received_ext: str

    @property
    def _key(self) -> tuple[str, str, date, str]:
        return self.partner, self.entity, self.day, self.digest

    @property
    def raw(self) -> Path:
        return self.zone.raw(*self._key, self.ext)

    @property
    def parquet(self) -> Path:
        return self.zone.parquet(*self._key)

    @property
    def metadata(self) -> Path:
        return self.zone.metadata(*self._key)

    @property
    def error_csv(self) -> Path:
        return self.zone.error_report(*self._key)

    @property
    def error_json(self) -> Path:
        return self.zone.error_report(*self._key, fmt="json")

    def keep_refused(self) -> None:
        """Nothing a partner sent is thrown away: the refused bytes, as received (never the
        decrypted plaintext), go to quarantine under their own digest."""
        target = self.zone.quarantine(
            self.partner, self.entity, self.day, self.received_digest, self.received_ext
        )
        self.zone.copy(self.received, target)


_REFUSAL_RULES: dict[type[ReaderRefused], Rule] = {
    ReaderTimedOut: Rule.READ_TIMED_OUT,
    ReaderOutOfMemory: Rule.READ_OUT_OF_MEMORY,
    ReaderCrashed: Rule.READ_CRASHED,
}


def _refused_summary(contract: WireModel, size: int, refusal: ReaderRefused) -> ValidationSummary:
    rule = _REFUSAL_RULES.get(type(refusal), Rule.READ_CRASHED)
    return ValidationSummary(
        file_contract=contract.name,
        schema_version=contract.schema_version,
        status="rejected",
        bytes=size,
        rows_total=0,
        rows_valid=0,
        rows_invalid=0,
        bad_row_percent=Decimal(0),
        file_problems=(
            FileProblem(rule=rule, message=f"the file could not be read: {refusal.reason}"),
        ),
    )


def validate_sandboxed(
    settings: Settings,
    contract: WireModel,
    content: Path,
    parquet: Path | None,
    *,
    decrypted: bool,
) -> ValidationSummary:
    """Validate a partner's file in a child process with a deadline and a memory cap (pyarrow's
    reader cannot be stopped from a thread), from inside a sync activity. A stopped reader
    becomes a rejected summary, so the file is quarantined with a report, never retried."""
    limits = settings.read_limits()
    if not decrypted:  # the decompressed-size limit is for what decryption produced
        limits = ReadLimits(max_line_bytes=limits.max_line_bytes, max_columns=limits.max_columns)
    sandbox = settings.sandbox_limits()
    info = activity.info()
    if info.start_to_close_timeout is not None:
        # Refuse the file before Temporal times the attempt out and retries it (each attempt
        # gets the whole timeout again, so only what this attempt spent is taken off; never
        # below the base budget).
        elapsed = (datetime.now(UTC) - info.started_time).total_seconds()
        left = info.start_to_close_timeout.total_seconds() - elapsed - 60
        sandbox = replace(sandbox, max_seconds=max(left, sandbox.base_seconds))
    size = content.stat().st_size
    try:
        return run_sandboxed(
            functools.partial(validate_file, limits=limits),
            contract,
            content,
            parquet,
            size=size,
            limits=sandbox,
            heartbeat=lambda: activity.heartbeat("validating"),
        )
    except ReaderRefused as exc:
        if parquet is not None:
            Path(f"{parquet}.partial").unlink(missing_ok=True)
        activity.logger.warning("reader stopped: %s", type(exc).__name__)
        return _refused_summary(contract, size, exc)


def safe_name(remote_name: str) -> str:
    """The partner's name, cleaned to what is safe on any server (reports, quarantine)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", remote_name).lstrip(".") or "file"
    return cleaned[:180]


@dataclass
class FileActivities:
    settings: Settings

    # --- seams -------------------------------------------------------------------------------

    def _session(self, feed: FeedConfig) -> SftpSession:
        keys_dir = self.settings.sftp_keys_dir
        if keys_dir is None:
            raise ApplicationError(
                "missing setting INTEGRATIONS_SFTP_KEYS_DIR", type="Settings", non_retryable=True
            )
        try:
            key = load_private_key(keys_dir / feed.sftp.private_key)
        except (OSError, SftpError) as exc:
            raise ApplicationError(
                f"cannot load SSH key {feed.sftp.private_key!r}: {type(exc).__name__}",
                type="SftpKey",
                non_retryable=True,
            ) from None
        endpoint = SftpEndpoint(
            host=feed.sftp.host,
            port=feed.sftp.port,
            username=feed.sftp.username,
            host_key=feed.sftp.host_key,
        )
        try:
            return connect(endpoint, key)
        except SftpError as exc:
            raise _application_error(exc) from None

    def _staging(self, feed: FeedConfig, key: str) -> Path:
        name = digest_bytes(key.encode())[:32] + ".part"
        path = self.landing.staging(feed.partner_id, feed.feed, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _contract(self, feed: FeedConfig) -> WireModel | None:
        if feed.file_contract in BUILT_IN_CONTRACTS:
            return None
        try:
            return load_contract(self.settings.file_contracts_dir / f"{feed.file_contract}.toml")
        except ContractError as exc:
            raise ApplicationError(str(exc), type="FileContract", non_retryable=True) from None

    def _size_limit(self, feed: FeedConfig, contract: WireModel | None) -> int | None:
        if feed.max_file_bytes is not None:
            return feed.max_file_bytes
        if contract is None:  # a built-in format: no contract file states a size
            return self.settings.builtin_max_file_bytes
        return contract.max_file_bytes

    # --- activities --------------------------------------------------------------------------

    @activity.defn(name="intake.list_inbox")
    def list_inbox(self, feed: FeedConfig) -> InboxListing:
        """Stable files in the inbox; unsafe names and oversized files are refused up front."""
        limit = self._size_limit(feed, self._contract(feed))
        try:
            with self._session(feed) as session:
                stable = session.list_stable(
                    feed.sftp.inbox,
                    settle_seconds=feed.settle_seconds,
                    temporary_suffixes=feed.naming.temporary_suffixes,
                )
        except SftpError as exc:
            raise _application_error(exc) from None
        listing = InboxListing()
        for remote in stable:
            refusal = None
            try:
                check_safe_name(remote.name)
            except UnsafeFileName as exc:
                refusal = f"unsafe file name: {exc.reason}"
            if refusal is None and limit is not None and remote.size > limit:
                refusal = f"file has {remote.size:,} bytes; the feed allows {limit:,}"
            if refusal is not None:
                listing.refused.append(
                    FileDecision(
                        remote_name=remote.name,
                        outcome="quarantined",
                        reason=refusal,
                        size=remote.size,
                    )
                )
            else:
                listing.files.append(
                    InboxFile(name=remote.name, size=remote.size, mtime=remote.mtime)
                )
        activity.logger.info(
            "inbox of %s/%s: %d file(s), %d refused",
            feed.partner_id,
            feed.feed,
            len(listing.files),
            len(listing.refused),
        )
        return listing

    @activity.defn(name="intake.fetch")
    def fetch(self, request: FetchRequest) -> FetchedFile:
        """Download to a staging name, resuming from the bytes an earlier attempt left."""
        feed, inbox_file = request.feed, request.file
        staged = self._staging(feed, request.staging_key)
        remote_path = f"{feed.sftp.inbox}/{inbox_file.name}"
        expected = RemoteFile(inbox_file.name, remote_path, inbox_file.size, inbox_file.mtime)
        try:
            with self._session(feed) as session:
                result = session.download(
                    remote_path,
                    staged,
                    resume=True,
                    expected=expected,
                    progress=lambda done, _total: activity.heartbeat(done),
                )
        except RemoteFileNotFound as exc:
            raise ApplicationError(
                f"{inbox_file.name} vanished from the inbox: {exc}",
                type="RemoteFileNotFound",
                non_retryable=True,
            ) from None
        except SftpError as exc:
            raise _application_error(exc) from None
        return FetchedFile(
            staged_path=str(staged),
            sha256=file_digest(staged),
            size=result.size,
            resumed_from=result.resumed_from,
        )

    @activity.defn(name="intake.process")
    def process(self, request: ProcessRequest) -> ProcessedFile:
        """Check name, checksum and signature, validate, and land write-once by digest."""
        staged = Path(request.fetched.staged_path)
        try:
            return self._process(request, staged)
        finally:
            # Plaintext and rows never outlive this step in staging (landed copies stay), on
            # success, refusal or an error that Temporal retries.
            discard_plaintext(staged.with_suffix(".plain"))
            staged.with_suffix(".parquet").unlink(missing_ok=True)

    def _process(self, request: ProcessRequest, staged: Path) -> ProcessedFile:
        feed, fetched = request.feed, request.fetched
        contract = self._contract(feed)
        base: dict[str, Any] = {
            "sha256": fetched.sha256,
            "size": fetched.size,
            "file_contract": contract.name if contract else feed.file_contract.split(".")[0],
            "schema_version": _schema_version(feed, contract),
        }
        try:
            parsed = _parse_name(feed, request.file.name)
            _verify_checksum(parsed, staged)
            self._check_size(feed, contract, fetched.size)
            content, pgp_fingerprint = self._decrypt(feed, staged, parsed)
        except _Quarantine as refusal:
            return ProcessedFile(
                outcome="quarantined", reason=refusal.reason, **base, **refusal.fields
            )
        landed = self._landing_place(request, parsed, staged, content)
        common: dict[str, Any] = {
            "sequence": parsed.sequence,
            "file_date": landed.day.isoformat(),
            "pgp_fingerprint": pgp_fingerprint,
        }
        if contract is None:
            return self._land_checked(request, content, landed, base, common)
        return self._land_validated(request, contract, staged, content, landed, base, common)

    def _check_size(self, feed: FeedConfig, contract: WireModel | None, size: int) -> None:
        limit = self._size_limit(feed, contract)
        if limit is not None and size > limit:
            raise _Quarantine(f"file has {size:,} bytes; the feed allows {limit:,}")

    def _decrypt(
        self, feed: FeedConfig, staged: Path, parsed: FeedFileName
    ) -> tuple[Path, str | None]:
        """The plaintext to check and land, and the PGP signer (the staged file itself and
        None when the feed is not PGP)."""
        if feed.pgp is None:
            return staged, None
        content = staged.with_suffix(".plain")
        try:
            verified = self._keyring().decrypt_and_verify(
                staged, content, feed.pgp.signer_fingerprint
            )
        except PgpError as exc:
            if exc.retryable:
                raise _application_error(exc) from None
            raise _Quarantine(f"PGP: {exc}", sequence=parsed.sequence) from None
        return content, verified.signer_fingerprint

    def _landing_place(
        self, request: ProcessRequest, parsed: FeedFileName, staged: Path, content: Path
    ) -> _Landed:
        feed = request.feed
        ext = parsed.extension or "dat"
        if feed.pgp is not None:
            ext = ext.removesuffix(".pgp").removesuffix(".gpg") or "dat"
        return _Landed(
            zone=self.landing,
            partner=feed.partner_id,
            entity=parsed.entity or feed.feed,
            day=parsed.file_date or request.received_at.date(),
            # A file's identity is the digest of its plaintext (the bytes received, unless PGP).
            digest=request.fetched.sha256 if content == staged else file_digest(content),
            ext=ext,
            received=staged,
            received_digest=request.fetched.sha256,
            received_ext=parsed.extension or "dat",
        )

    def _land_validated(
        self,
        request: ProcessRequest,
        contract: WireModel,
        staged: Path,
        content: Path,
        landed: _Landed,
        base: dict[str, Any],
        common: dict[str, Any],
    ) -> ProcessedFile:
        """A partner's own file contract: validate in the sandbox, report, then land the raw
        file and its Parquet rows, or quarantine what the contract refuses."""
        parquet_tmp = staged.with_suffix(".parquet")
        summary = validate_sandboxed(
            self.settings, contract, content, parquet_tmp, decrypted=request.feed.pgp is not None
        )
        activity.heartbeat("validated")
        common = common | {
            "report_path": self._write_error_report(summary, contract, landed),
            "rows_total": summary.rows_total,
            "rows_valid": summary.rows_valid,
            "rows_invalid": summary.rows_invalid,
            "schema_drift": summary.schema_drift is not None,
        }
        if not summary.accepted:
            landed.keep_refused()
            reason = "; ".join(_refusal_reasons(summary, contract))
            return ProcessedFile(outcome="quarantined", reason=reason, **base, **common)
        parquet = landed.parquet
        if parquet_tmp.exists():
            self.landing.copy(parquet_tmp, parquet)
        rows = ManifestRows(
            total=summary.rows_total, valid=summary.rows_valid, invalid=summary.rows_invalid
        )
        raw, metadata = self._land(request, content, landed, base, common, rows, warnings=0)
        return ProcessedFile(
            outcome="landed",
            reason=(
                f"{summary.rows_invalid} invalid row(s) reported" if summary.rows_invalid else ""
            ),
            landing_path=str(raw),
            parquet_path=str(parquet) if parquet.exists() else None,
            metadata_path=str(metadata),
            **base,
            **common,
        )

    def _write_error_report(
        self, summary: ValidationSummary, contract: WireModel, landed: _Landed
    ) -> str | None:
        """Write the CSV and JSON error reports when there is anything to report; the CSV's
        path, or None."""
        if not (summary.rows_invalid or not summary.accepted):
            return None
        report = landed.error_csv
        self.landing.write_text(report, render_csv(summary, contract))
        self.landing.write_text(landed.error_json, render_json(summary, contract))
        return str(report)

    @activity.defn(name="intake.finish")
    def finish(self, request: FinishRequest) -> Finished:
        """Archive or quarantine the remote file by atomic rename; upload the error report."""
        feed, decision = request.feed, request.decision
        folder = feed.sftp.quarantine if decision.outcome == "quarantined" else feed.sftp.archive
        uploaded = None
        inbox, name = feed.sftp.inbox, decision.remote_name
        # The name as the partner wrote it may be unusable (control characters): file it under
        # a cleaned name, with the digest when an earlier file already has that name.
        target = f"{folder}/{safe_name(name)}"
        try:
            with self._session(feed) as session:
                if self._exists(session, target) and not session.exists_listed(inbox, name):
                    pass  # moved by an earlier attempt of this activity
                else:
                    if self._exists(session, target):
                        # Never overwrite an earlier file of the same name.
                        suffix = (decision.sha256 or digest_bytes(name.encode()))[:12]
                        target = f"{target}.{suffix}"
                    if session.exists_listed(inbox, name):
                        session.rename_listed(inbox, name, target)
                # Quarantined files always get a report; landed ones when rows were rejected.
                if decision.outcome == "quarantined" or decision.report_path:
                    report = self._report_for(feed, decision)
                    uploaded = f"{feed.sftp.outbox}/{safe_name(name)}.errors.csv"
                    session.upload_atomic(report, uploaded)
        except SftpError as exc:
            raise _application_error(exc) from None
        if request.staged_path:
            staged = Path(request.staged_path)
            discard_plaintext(staged.with_suffix(".plain"))
            for leftover in (staged, staged.with_suffix(".parquet")):
                leftover.unlink(missing_ok=True)
        return Finished(moved_to=target, report_uploaded=uploaded)

    def _land(
        self,
        request: ProcessRequest,
        content: Path,
        landed: _Landed,
        base: dict[str, Any],
        common: dict[str, Any],
        rows: ManifestRows,
        warnings: int,
    ) -> tuple[Path, Path]:
        """Land the raw file and write its manifest (the only place a manifest is written)."""
        feed, raw = request.feed, landed.raw
        self.landing.copy(content, raw)
        manifest = FileManifest(
            source=f"sftp://{feed.sftp.host}:{feed.sftp.port}/{feed.sftp.inbox}/"
            f"{request.file.name}",
            partner_id=feed.partner_id,
            feed=feed.feed,
            received_at=request.received_at.isoformat(),
            checksum=ManifestChecksum(sha256=landed.digest),
            received_sha256=(
                landed.received_digest if landed.received_digest != landed.digest else None
            ),
            size_bytes=request.fetched.size,
            pgp_fingerprint=common["pgp_fingerprint"],
            file_contract=base["file_contract"],
            schema_version=base["schema_version"],
            rows=rows,
            warnings=warnings,
            sequence=common["sequence"],
            file_date=common["file_date"],
        )
        metadata = landed.metadata
        self.landing.write_manifest(metadata, manifest)
        return raw, metadata

    def _land_checked(
        self,
        request: ProcessRequest,
        content: Path,
        landed: _Landed,
        base: dict[str, Any],
        common: dict[str, Any],
    ) -> ProcessedFile:
        """Built-in contracts (NACHA, PSP report parts, bank statements) are checked by the
        domain's own reader, and every problem goes in the report with its record and field."""
        check = check_built_in(request.feed, content)
        report_path = None
        if check.problems or check.unreadable:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\r\n")
            writer.writerow(REPORT_COLUMNS)
            if check.unreadable:
                writer.writerow(["", "", "unreadable", "", check.unreadable])
            for p in check.problems:
                writer.writerow([p.record, p.field, p.code, "", f"{p.severity}: {p.message}"])
            report = landed.error_csv
            self.landing.write_text(report, out.getvalue())
            report_path = str(report)
        errors = check.errors
        rows = check.rows
        common = common | {
            "report_path": report_path,
            "rows_total": rows,
            "rows_valid": rows if not errors and not check.unreadable else 0,
            "rows_invalid": len(errors),
        }
        if check.unreadable or errors:
            landed.keep_refused()
            reason = check.unreadable or (
                f"{len(errors)} {check.kind} error(s), first: {errors[0].message}"
            )
            return ProcessedFile(outcome="quarantined", reason=reason, **base, **common)
        warnings = len(check.problems)
        raw, metadata = self._land(
            request,
            content,
            landed,
            base,
            common,
            ManifestRows(total=rows, valid=rows, invalid=0),
            warnings=warnings,
        )
        return ProcessedFile(
            outcome="landed",
            reason=f"{warnings} {check.kind} warning(s)" if warnings else "",
            landing_path=str(raw),
            metadata_path=str(metadata),
            **base,
            **common,
        )

    # --- helpers -----------------------------------------------------------------------------

    @property
    def landing(self) -> LandingZone:
        return LandingZone(self.settings.landing_zone_dir)

    def _keyring(self) -> Keyring:
        try:
            return keyring_from_settings(self.settings)
        except SettingsError as exc:
            raise ApplicationError(str(exc), type="Settings", non_retryable=True) from None

    @staticmethod
    def _exists(session: SftpSession, path: str) -> bool:
        try:
            session.stat(path)
        except RemoteFileNotFound:
            return False
        return True

    def _report_for(self, feed: FeedConfig, decision: FileDecision) -> Path:
        if decision.report_path and Path(decision.report_path).exists():
            return Path(decision.report_path)
        # Refused before validation (name, size, duplicate of a rejected file): a one-line report.
        path = self.landing.staging(
            feed.partner_id, feed.feed, f"{safe_name(decision.remote_name)}.errors.csv"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerows([REPORT_COLUMNS, ["", "", "file_refused", "", decision.reason]])
        path.write_text(out.getvalue())
        return path

    # --- outbound ----------------------------------------------------------------------------

    @activity.defn(name="sftp.deliver")
    def deliver(self, request: DeliverRequest) -> Delivered:
        """Upload once: a file of that name and size already in the outbox is ours from an
        earlier attempt (names are unique per business key), so it is not sent again."""
        local = Path(request.local_path)
        if file_digest(local) != request.sha256:
            raise ApplicationError(
                f"{local.name} changed since it was prepared",
                type="OutboundChanged",
                non_retryable=True,
            )
        remote = f"{request.feed.sftp.outbox}/{request.remote_name}"
        try:
            with self._session(request.feed) as session:
                if self._exists(session, remote) and session.stat(remote).size == request.size:
                    return Delivered(remote_path=remote, already_there=True)
                session.upload_atomic(
                    local, remote, progress=lambda done, _total: activity.heartbeat(done)
                )
        except SftpError as exc:
            raise _application_error(exc) from None
        activity.logger.info("delivered %s to %s", request.remote_name, request.feed.partner_id)
        return Delivered(remote_path=remote, already_there=False)
