"""Activities of partner onboarding.

``OnboardingRecords`` (general queue, async) writes the registry in PostgreSQL and steers the
intake Schedules. ``OnboardingFiles`` (sftp queue, sync: paramiko, gpg and the validator block)
makes keys, probes the partner's server, imports their PGP key and checks test files. Test files
are validated in a staging folder of their own and never land as production data.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.intake_files import validate_sandboxed
from adapters.landing_zone import LandingZone, digest_bytes, file_digest
from adapters.pgp import Keyring, PgpError, discard_plaintext, keyring_from_settings
from adapters.sftp import (
    AuthenticationRefused,
    HostKeyMismatch,
    RemoteFile,
    RemoteFileNotFound,
    SftpEndpoint,
    SftpError,
    SftpSession,
    connect,
    fingerprint,
    load_private_key,
)
from intake.error_report import REPORT_COLUMNS, render_csv
from intake.errors import ChecksumMismatch, ContractError, NamingError, UnsafeFileName
from intake.file_contract import load_contract_text
from intake.naming import check_safe_name, read_chunks, verify_crc32
from readers.built_in import check_built_in
from runtime.settings import Settings, SettingsError
from stores import partners
from wire.intake import FeedConfig
from wire.partners import (
    ContractInstall,
    Credentials,
    CredentialsRequest,
    CutOverRequest,
    DeliverAnswer,
    GoLiveRequest,
    KeyProbe,
    KeyProbed,
    KeyRecord,
    KeyRequest,
    OffboardWork,
    Registered,
    RegisterRequest,
    RemoveKeys,
    SshKeyRef,
    StageChange,
    TestAttempt,
    TestCheck,
    TestCheckRequest,
)

CHUNK = 1 << 20
# Answered test files go to <archive>/test or <quarantine>/test on the partner's server.
TEST_SUBFOLDER = "test"


def _safe(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip("._-")
    return (cleaned or "file")[:150]


def _permanent(message: str, kind: str) -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)


@dataclass
class OnboardingRecords:
    pool: asyncpg.Pool
    settings: Settings
    client: Client | None

    def _client(self) -> Client:
        if self.client is None:
            raise _permanent("this worker has no Temporal client for Schedules", "Settings")
        return self.client

    @activity.defn(name="onboarding.register")
    async def register(self, request: RegisterRequest) -> Registered:
        """Check every feed's file contract and record the partner (idempotent upsert)."""
        try:
            texts = partners.contract_texts(request.definition, self.settings.file_contracts_dir)
        except partners.PartnerDefinitionError as exc:
            raise _permanent(str(exc), "PartnerDefinition") from None
        await partners.upsert_partner(self.pool, request.definition)
        # Read before this onboarding records any key, so a retry answers the same.
        before = await partners.key_count(self.pool, request.definition.partner_id)
        return Registered(contracts=texts, keys_before=before)

    @activity.defn(name="onboarding.set_stage")
    async def set_stage(self, change: StageChange) -> None:
        await partners.set_stage(self.pool, change.partner_id, change.stage)

    @activity.defn(name="onboarding.record_key")
    async def record_key(self, record: KeyRecord) -> None:
        await partners.record_key(self.pool, record)

    @activity.defn(name="onboarding.go_live")
    async def go_live(self, request: GoLiveRequest) -> list[str]:
        """Store each feed and create its intake Schedule (updated if it already exists)."""
        for feed in request.feeds:
            await partners.install_feed(self.pool, self._client(), self.settings, feed)
        return [feed.schedule_id for feed in request.feeds]

    @activity.defn(name="onboarding.cut_over")
    async def cut_over(self, request: CutOverRequest) -> None:
        await partners.cut_over(
            self.pool,
            request.partner_id,
            request.feeds,
            request.old_key,
            request.new_key,
            request.at,
        )

    @activity.defn(name="onboarding.install_contract")
    async def install_contract(self, request: ContractInstall) -> None:
        """Put the agreed contract file in place (write-once) and move the feed onto it."""
        feed = request.feed
        path = self.settings.file_contracts_dir / f"{feed.file_contract}.toml"
        if path.exists():
            if path.read_text(encoding="utf-8") != request.contract_text:
                raise _permanent(
                    f"{path.name} already exists with other content: a published contract "
                    "version never changes; give the new one another version",
                    "ContractConflict",
                )
        else:
            tmp = path.with_name(f".{path.name}.{activity.info().activity_id}.tmp")
            tmp.write_text(request.contract_text, encoding="utf-8")
            tmp.replace(path)
        await partners.install_feed(self.pool, self._client(), self.settings, feed)

    @activity.defn(name="onboarding.offboard")
    async def offboard(self, work: OffboardWork) -> list[str]:
        return await partners.offboard(
            self.pool, self._client(), work.partner_id, work.feeds, activity.info().started_time
        )


@dataclass
class OnboardingFiles:
    settings: Settings

    def _keys_dir(self) -> Path:
        if self.settings.sftp_keys_dir is None:
            raise _permanent("missing setting INTEGRATIONS_SFTP_KEYS_DIR", "Settings")
        return self.settings.sftp_keys_dir

    def _connect(self, feed: FeedConfig) -> SftpSession:
        try:
            key = load_private_key(self._keys_dir() / feed.sftp.private_key)
        except (OSError, ValueError) as exc:
            raise _permanent(
                f"cannot load SSH key {feed.sftp.private_key!r}: {type(exc).__name__}", "SftpKey"
            ) from None
        endpoint = SftpEndpoint(
            host=feed.sftp.host,
            port=feed.sftp.port,
            username=feed.sftp.username,
            host_key=feed.sftp.host_key,
        )
        return connect(endpoint, key, timeout=20.0, io_timeout=60.0)

    @activity.defn(name="onboarding.ssh_key")
    def ssh_key(self, request: KeyRequest) -> SshKeyRef:
        """Generate (or adopt) our key for the partner; during a rotation, also put its public
        half in the partner's outbox over the old key, for them to install."""
        keys_dir = self._keys_dir()
        if request.source.mode == "provided" and request.announce_via is None:
            assert request.source.key_file is not None
            path = keys_dir / request.source.key_file
            if not path.exists():
                raise _permanent(
                    f"provided key {request.source.key_file!r} is not in the keys dir", "SftpKey"
                )
            try:
                public = partners.public_key_of(path)
            except ValueError as exc:
                raise _permanent(str(exc), "SftpKey") from None
            name = request.source.key_file
        else:
            public = partners.generate_ssh_key(keys_dir, request.key_name)
            name = request.key_name
        if request.announce_via is not None:
            feed = request.announce_via
            staged = self._staging(feed.partner_id, "keys") / f"{name}.pub"
            staged.write_text(public.line + f" {feed.partner_id}-{name}\n")
            try:
                with self._connect(feed) as session:
                    session.upload_atomic(staged, f"{feed.sftp.outbox}/{name}.pub")
            except SftpError as exc:
                raise ApplicationError(
                    f"{type(exc).__name__}: {exc}",
                    type=exc.error_type,
                    non_retryable=not exc.retryable,
                ) from None
        activity.logger.info("SSH key %s ready for %s", public.fingerprint, request.partner_id)
        return partners.key_ref(name, public, request.at)

    @activity.defn(name="onboarding.credentials")
    def credentials(self, request: CredentialsRequest) -> Credentials:
        """Check the pinned host key against the real server, and import the partner's PGP key,
        refusing one whose fingerprint is not the declared one."""
        probed = self._probe(request.feed)
        pgp_fpr = None
        if request.pgp is not None:
            keyring = self._keyring()
            # Look before importing: a key that is not the declared one must never reach the
            # keyring intake verifies signatures with.
            scanned = keyring.scan_public_keys(request.pgp.public_key)
            if scanned != [request.pgp.fingerprint]:
                found = ", ".join(scanned) or "no public key"
                raise _permanent(
                    f"the PGP key sent has fingerprint {found}, not the declared "
                    f"{request.pgp.fingerprint}: refusing to import or pin it",
                    "PgpKey",
                )
            try:
                imported = keyring.import_public_key(request.pgp.public_key)
            except PgpError as exc:
                raise _permanent(f"PGP key: {exc}", "PgpKey") from None
            pgp_fpr = imported
        pin = request.feed.sftp.host_key
        return Credentials(
            host_key_fingerprint=pin if pin.startswith("SHA256:") else fingerprint(pin),
            authenticated=probed.authenticated,
            detail=probed.detail,
            pgp_fingerprint=pgp_fpr,
        )

    @activity.defn(name="onboarding.probe_key")
    def probe_key(self, request: KeyProbe) -> KeyProbed:
        return self._probe(request.feed)

    def _probe(self, feed: FeedConfig) -> KeyProbed:
        """Log in with the feed's key. A wrong host key stops everything (a person must look);
        a refused key only means the partner has not installed it yet."""
        try:
            with self._connect(feed) as session:
                session.list_dir(feed.sftp.outbox)
        except HostKeyMismatch as exc:
            raise _permanent(
                f"host key pin does not match the server: {exc}", exc.error_type
            ) from None
        except AuthenticationRefused:
            return KeyProbed(authenticated=False, detail="our key is not installed yet")
        except SftpError as exc:
            if not exc.retryable:
                raise _permanent(f"{type(exc).__name__}: {exc}", exc.error_type) from None
            raise
        return KeyProbed(authenticated=True)

    def _staging(self, partner_id: str, feed: str) -> Path:
        folder = LandingZone(self.settings.landing_zone_dir).onboarding(partner_id, feed)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _keyring(self) -> Keyring:
        try:
            return keyring_from_settings(self.settings)
        except SettingsError as exc:
            raise _permanent(str(exc), "Settings") from None

    @activity.defn(name="onboarding.check_test_file")
    def check_test_file(self, request: TestCheckRequest) -> TestCheck:
        """Take the next unanswered file from the partner's test folder and run it through
        intake's checks (name, checksum, PGP, file contract) without landing it. Returns the
        acknowledgement or error report to deliver.

        The answered file then leaves the test folder like an intake file leaves the inbox:
        by posix rename into ``<archive>/test`` (passed) or ``<quarantine>/test`` (failed).
        The look's result is kept in staging before the move, so a retry after the move (the
        file is gone from the test folder) returns the same answer instead of losing it."""
        feed = request.feed
        folder = self._staging(feed.partner_id, feed.feed)
        look = f"{feed.feed}|{request.attempt}|{request.at.isoformat()}"
        kept = folder / f"look-{digest_bytes(look.encode())[:24]}.json"
        if kept.exists():  # an earlier attempt of this very activity got this far
            return self._answer_again(request, kept)
        fetched = self._fetch_next_test_file(request, folder)
        if isinstance(fetched, TestCheck):
            return fetched
        passed, reason, report, rows_total, rows_invalid = self._check_fetched(request, fetched)
        answer = _write_answer(request, folder, fetched, passed, report, rows_total)
        activity.logger.info(
            "test file of %s/%s: %s", feed.partner_id, feed.feed, "passed" if passed else "failed"
        )
        attempt = TestAttempt(
            feed=feed.feed,
            file_name=fetched.remote.name,
            signature=fetched.signature,
            passed=passed,
            reason=reason,
            rows_total=rows_total,
            rows_invalid=rows_invalid,
            answer=f"{feed.sftp.outbox}/{answer.remote_name}",
            at=request.at,
        )
        return self._keep_and_file_away(request, kept, attempt, answer)

    def _answer_again(self, request: TestCheckRequest, kept: Path) -> TestCheck:
        """The answer an earlier attempt kept; its file is (again) moved out of the test
        folder, which is a no-op when that attempt got to move it."""
        check = TestCheck.model_validate_json(kept.read_text(encoding="utf-8"))
        if check.attempt is not None:
            try:
                with self._connect(request.feed) as session:
                    self._file_away(session, request, check.attempt)
            except SftpError as exc:
                raise self._sftp_failure(exc) from None
        return check

    def _fetch_next_test_file(
        self, request: TestCheckRequest, folder: Path
    ) -> _FetchedTestFile | TestCheck:
        """Download the first settled, unanswered file of the test folder into staging; or
        the answer when there is none (or our key is not installed yet)."""
        feed = request.feed
        try:
            with self._connect(feed) as session:
                files = session.list_stable(
                    request.test_folder,
                    settle_seconds=feed.settle_seconds,
                    temporary_suffixes=feed.naming.temporary_suffixes,
                )
                pending = [
                    f for f in files if f"{f.name}:{f.size}:{f.mtime}" not in request.answered
                ]
                if not pending:
                    return TestCheck(reachable=True, detail="no new test file")
                remote = pending[0]
                signature = f"{remote.name}:{remote.size}:{remote.mtime}"
                stem = digest_bytes(signature.encode())[:24]
                staged = folder / f"{stem}.part"
                staged.unlink(missing_ok=True)
                session.download(remote.path, staged, resume=False, expected=remote)
        except AuthenticationRefused:
            return TestCheck(reachable=False, detail="our key is not installed yet")
        except SftpError as exc:
            raise self._sftp_failure(exc) from None
        return _FetchedTestFile(remote=remote, signature=signature, stem=stem, staged=staged)

    def _check_fetched(
        self, request: TestCheckRequest, fetched: _FetchedTestFile
    ) -> tuple[bool, str, str, int | None, int | None]:
        """:meth:`_validate`, then nothing of the file (nor its plaintext) stays in staging."""
        staged = fetched.staged
        try:
            return self._validate(request, fetched.remote.name, staged)
        finally:
            discard_plaintext(staged.with_suffix(".plain"))
            for leftover in (staged, staged.with_suffix(".pq")):
                leftover.unlink(missing_ok=True)

    def _keep_and_file_away(
        self, request: TestCheckRequest, kept: Path, attempt: TestAttempt, answer: DeliverAnswer
    ) -> TestCheck:
        """Choose where the file goes, keep the answer in staging, then move the file there:
        from that point on a retry answers from what was kept."""
        feed = request.feed
        base = feed.sftp.archive if attempt.passed else feed.sftp.quarantine
        try:
            with self._connect(feed) as session:
                filed_to = _free_name(
                    session, f"{base}/{TEST_SUBFOLDER}", attempt.file_name, attempt.signature
                )
                attempt = attempt.model_copy(update={"filed_to": filed_to})
                check = TestCheck(reachable=True, attempt=attempt, answer=answer)
                # Kept before the move: from here on, a retry answers from this.
                tmp = kept.with_suffix(f".{activity.info().attempt}.tmp")
                tmp.write_text(check.model_dump_json(), encoding="utf-8")
                tmp.replace(kept)
                self._file_away(session, request, attempt)
        except SftpError as exc:
            raise self._sftp_failure(exc) from None
        return check

    @staticmethod
    def _file_away(session: SftpSession, request: TestCheckRequest, attempt: TestAttempt) -> None:
        """Move an answered test file out of the test folder to ``attempt.filed_to``.
        Idempotent: a file no longer listed with the same name, size and mtime was moved
        already (or replaced by the partner since) and is left alone."""
        assert attempt.filed_to is not None
        listed = session.list_dir(request.test_folder)
        if any(f"{f.name}:{f.size}:{f.mtime}" == attempt.signature for f in listed):
            session.rename_listed(request.test_folder, attempt.file_name, attempt.filed_to)

    @staticmethod
    def _sftp_failure(exc: SftpError) -> BaseException:
        """A wrong host key or another permanent failure stops (a person must look); the
        rest is retried by Temporal."""
        if isinstance(exc, HostKeyMismatch):
            return _permanent(f"host key pin does not match the server: {exc}", exc.error_type)
        if isinstance(exc, AuthenticationRefused):  # it logged in a moment ago: try again
            return ApplicationError(f"{type(exc).__name__}: {exc}", type=exc.error_type)
        if not exc.retryable:
            return _permanent(f"{type(exc).__name__}: {exc}", exc.error_type)
        return exc

    def _validate(
        self, request: TestCheckRequest, name: str, staged: Path
    ) -> tuple[bool, str, str, int | None, int | None]:
        """(passed, reason, report CSV, rows, invalid rows): the checks intake.process makes, in
        the same order, with the same report — minus landing."""
        feed = request.feed

        def refused(reason: str) -> tuple[bool, str, str, None, None]:
            out = io.StringIO()
            csv.writer(out, lineterminator="\r\n").writerows(
                [REPORT_COLUMNS, ["", "", "file_refused", "", reason]]
            )
            return False, reason, out.getvalue(), None, None

        try:
            check_safe_name(name)
            parsed = feed.naming.parse(name)
        except (UnsafeFileName, NamingError) as exc:
            return refused(f"file name {exc.reason}")
        try:
            with staged.open("rb") as stream:
                verify_crc32(parsed, read_chunks(stream, CHUNK))
        except ChecksumMismatch as exc:
            return refused(str(exc))
        content = staged
        if feed.pgp is not None:
            content = staged.with_suffix(".plain")
            try:
                self._keyring().decrypt_and_verify(staged, content, feed.pgp.signer_fingerprint)
            except PgpError as exc:
                if exc.retryable:
                    raise
                return refused(f"PGP: {exc}")
        if not request.contract_text:  # a built-in contract (NACHA, PSP report, statement)
            check = check_built_in(feed, content)
            if check.unreadable or check.errors:
                out = io.StringIO()
                writer = csv.writer(out, lineterminator="\r\n")
                writer.writerow(REPORT_COLUMNS)
                if check.unreadable:
                    writer.writerow(["", "", "unreadable", "", check.unreadable])
                for p in check.problems:
                    writer.writerow([p.record, p.field, p.code, "", f"{p.severity}: {p.message}"])
                reason = check.unreadable or f"{len(check.errors)} {check.kind} error(s)"
                return False, reason, out.getvalue(), check.rows, len(check.errors)
            return True, "", "", check.rows, 0
        try:
            contract = load_contract_text(request.contract_text, feed.file_contract)
        except ContractError as exc:
            raise _permanent(str(exc), "FileContract") from None
        # A partner's file, hostile until read: in the reader sandbox, like intake's.
        summary = validate_sandboxed(
            self.settings, contract, content, None, decrypted=feed.pgp is not None
        )
        # A test file must be clean: production tolerates max_bad_row_percent, a first
        # exchange proves the partner can produce the format without errors.
        if summary.accepted and not summary.rows_invalid:
            return True, "", "", summary.rows_total, 0
        reasons = [p.message for p in summary.file_problems] or [
            f"{summary.rows_invalid} of {summary.rows_total} rows invalid"
        ]
        return (
            False,
            "; ".join(reasons),
            render_csv(summary, contract),
            summary.rows_total,
            summary.rows_invalid,
        )

    @activity.defn(name="onboarding.remove_keys")
    def remove_keys(self, request: RemoveKeys) -> list[str]:
        """Delete our copies of revoked keys (their only copies)."""
        keys_dir = self._keys_dir()
        return [k for k in request.key_names if partners.remove_key_file(keys_dir, k)]


@dataclass(frozen=True)
class _FetchedTestFile:
    """A partner's test file, downloaded to staging for checking."""

    remote: RemoteFile
    signature: str  # name:size:mtime, how the workflow remembers it was answered
    stem: str  # staging names of this file and its answer
    staged: Path


def _write_answer(
    request: TestCheckRequest,
    folder: Path,
    fetched: _FetchedTestFile,
    passed: bool,
    report: str,
    rows_total: int | None,
) -> DeliverAnswer:
    """Write the acknowledgement (passed) or the error report (failed) to staging, ready for
    delivery to the partner's outbox."""
    name = fetched.remote.name
    if passed:
        body = {
            "file": name,
            "result": "accepted",
            "contract": request.feed.file_contract,
            "rows": rows_total,
            "checked_at": request.at.isoformat(),
            "attempt": request.attempt,
        }
        answer_path = folder / f"{fetched.stem}.ack.json"
        answer_path.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
        remote_name = f"{_safe(name)}.ack.json"
    else:
        answer_path = folder / f"{fetched.stem}.errors.csv"
        answer_path.write_text(report)
        remote_name = f"{_safe(name)}.errors.csv"
    return DeliverAnswer(
        local_path=str(answer_path),
        remote_name=remote_name,
        sha256=file_digest(answer_path),
        size=answer_path.stat().st_size,
    )


def _free_name(session: SftpSession, folder: str, name: str, signature: str) -> str:
    """Where to file ``name`` in ``folder`` (created when missing): under its cleaned name, or
    with the signature's digest appended when an earlier file has it, as intake does, so no
    earlier test file is ever overwritten."""
    session.ensure_folder(folder)
    target = f"{folder}/{_safe(name)}"
    try:
        session.stat(target)
    except RemoteFileNotFound:
        return target
    return f"{target}.{digest_bytes(signature.encode())[:12]}"


def clear_staging(settings: Settings, partner_id: str) -> None:
    """Remove a partner's onboarding staging folder (test files and answers)."""
    LandingZone(settings.landing_zone_dir).clear_onboarding(partner_id)
