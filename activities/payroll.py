"""Payroll activities: validate and load the inputs, talk to the provider, reconcile its report,
build the direct-deposit file and the GL journal, keep the run's row. All keyed, all safe to
repeat; files are written once into ``<landing zone>/payroll/<workflow id>/``.

Inputs are read by reference too: a roster or inputs file is CSV text, or a file that intake
landed under a file contract (CSV or fixed-width), read from the Parquet of its rows that intake
wrote beside it; benefit deductions come from 834 files that ``edi.accept`` translated.

Employees travel between activities by reference: ``prepare`` seals each employee's PII into
``payroll_employees`` (adapters/column_crypto.py) and writes the expected amounts (no PII)
as a JSON-lines file; later steps read batches by sequence range and files by path + digest.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import math
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pyarrow as pa
import pyarrow.parquet as pq
from temporalio import activity
from temporalio.exceptions import ApplicationError

import nacha
from adapters.column_crypto import lookup_hash, seal, unseal
from adapters.landing_zone import (
    LandedFileChanged,
    LandedFileMissing,
    LandingZone,
    file_digest,
)
from adapters.payload_codec import KeyRing
from adapters.payroll_provider import (
    CircuitBreaker,
    ProviderClient,
    ProviderRejected,
    ProviderUnavailable,
)
from adapters.pgp import PgpError, keyring_from_settings
from nacha import NachaFile
from payroll.amounts import Pay, expected_run, totals
from payroll.direct_deposit import Deposit, Originator, deposit_file
from payroll.enrolment import Election, deductions_by_employee, elections, with_benefits
from payroll.journal import is_balanced, journal, journal_csv
from payroll.reconciliation import reconcile
from payroll.roster import (
    Employee,
    FileKind,
    InputError,
    PeriodInput,
    Source,
    check_integrity,
    parse_inputs,
    parse_roster,
)
from runtime.settings import Settings, SettingsError
from stores.ach import import_originations
from wire.intake import DeliverRequest, FeedConfig
from wire.payroll import (
    BankTarget,
    DepositFile,
    Enrolment,
    FileRef,
    GlExport,
    GlRequest,
    PayRequest,
    PayrollStart,
    Prepared,
    PrepareRequest,
    ProviderCall,
    ProviderStatus,
    Reconciled,
    ReconcileRequest,
    RunRecord,
    run_workflow_id,
)

MAX_LISTED = 50  # errors and exceptions listed in history; the full list is in a file


def _ref(path: Path) -> FileRef:
    return FileRef(path=str(path), sha256=file_digest(path))


def _read_landed(landing: LandingZone, ref: FileRef) -> str:
    return _landed_bytes(landing, ref).decode("utf-8-sig")


def _landed_bytes(landing: LandingZone, ref: FileRef) -> bytes:
    try:
        return landing.read_verified(Path(ref.path), ref.sha256)
    except LandedFileMissing as exc:
        raise ApplicationError(str(exc), type="InputMissing", non_retryable=True) from None
    except LandedFileChanged as exc:
        raise ApplicationError(str(exc), type="InputChanged", non_retryable=True) from None


def _file_error(kind: FileKind, rule: str, message: str) -> InputError:
    return InputError(file=kind, row=0, column=None, rule=rule, value=None, message=message)


def _landed_source(
    landing: LandingZone, ref: FileRef, kind: FileKind
) -> tuple[Source, list[InputError]]:
    """What a roster or inputs reference holds: the rows of a Parquet file (named directly, or
    the one intake wrote beside a raw file it landed under a file contract, as its metadata
    ``<stem>.json`` says) or else CSV text. One reader for CSV and fixed-width feeds alike:
    intake has already parsed the layout and checked the contract's types."""
    data, path = _landed_bytes(landing, ref), Path(ref.path)
    parquet = path
    if path.suffix != ".parquet":
        meta = landing.read_manifest(path)
        if meta is None or not meta.file_contract:
            return data.decode("utf-8-sig"), []
        parquet = landing.parquet_of(path)
        if not parquet.exists():
            contract = f"{meta.file_contract}.v{meta.schema_version}"
            return [], [_file_error(kind, "no_rows", f"intake landed no rows under {contract}")]
    meta = landing.read_manifest(parquet)
    dropped = meta.rows.invalid if meta is not None else 0
    if dropped:
        # A partial roster would leave people unpaid: the run needs every row the HRIS sent.
        return [], [
            _file_error(
                kind,
                "rows_dropped",
                f"intake rejected {dropped} row(s) of this file (see its error report); "
                "send the whole file again",
            )
        ]
    source = parquet.read_bytes() if parquet != path else data
    try:
        table = pq.read_table(pa.BufferReader(source))
    except (pa.ArrowException, OSError) as exc:
        return [], [_file_error(kind, "format", f"not a readable Parquet file ({exc})"[:200])]
    return table.to_pylist(), []


def _enrolment_documents(
    landing: LandingZone,
    enrolment: Enrolment,
) -> tuple[list[dict[str, Any]], list[InputError]]:
    documents: list[dict[str, Any]] = []
    errors: list[InputError] = []
    for ref in enrolment.files:
        try:
            loaded = json.loads(_landed_bytes(landing, ref))
            documents.extend(loaded["documents"])
        except (ValueError, KeyError, TypeError):
            errors.append(
                _file_error(
                    "enrolment",
                    "format",
                    f"{Path(ref.path).name} is not an edi.accept translation",
                )
            )
    if not errors and not any(str(d.get("schema", "")).startswith("edi.834.") for d in documents):
        errors.append(_file_error("enrolment", "no_834", "no accepted 834 in the enrolment"))
    return documents, errors


def _jsonl(pays: Iterable[Pay]) -> str:
    return "".join(p.model_dump_json() + "\n" for p in pays)


def _read_pays(landing: LandingZone, ref: FileRef) -> list[Pay]:
    lines = _read_landed(landing, ref).splitlines()
    return [Pay.model_validate_json(line) for line in lines if line]


def _error_report(errors: list[InputError]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "row", "column", "rule", "value", "message"])
    for e in errors:
        writer.writerow([e.file, e.row, e.column or "", e.rule, e.value or "", e.message])
    return out.getvalue()


@dataclass
class _Parsed:
    employees: list[Employee]
    inputs: list[PeriodInput]  # benefit deductions included
    errors: list[InputError]
    elections: list[Election] = field(default_factory=list)


_FILE_ORDER: dict[str, int] = {"roster": 0, "inputs": 1, "enrolment": 2}


def _parse(landing: LandingZone, start: PayrollStart) -> _Parsed:
    roster_source, errors = _landed_source(landing, start.roster, "roster")
    inputs_source, input_file_errors = _landed_source(landing, start.inputs, "inputs")
    roster, roster_errors = parse_roster(roster_source)
    inputs, input_errors = parse_inputs(inputs_source)
    errors += input_file_errors + roster_errors + input_errors + check_integrity(roster, inputs)
    employees, items = [e for _, e in roster], [i for _, i in inputs]
    chosen: list[Election] = []
    if start.enrolment is not None:
        documents, enrolment_errors = _enrolment_documents(landing, start.enrolment)
        errors += enrolment_errors
        if not enrolment_errors:
            chosen, enrolment_errors = elections(
                documents,
                employees,
                start.enrolment.rates_cents,
                start.period_start,
                start.period_end,
            )
            errors += enrolment_errors
        items = with_benefits(items, deductions_by_employee(chosen))
    errors.sort(key=lambda e: (_FILE_ORDER[e.file], e.row))
    return _Parsed(employees, items, errors, chosen)


def _elections_csv(chosen: list[Election]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["employee_id", "insurance_line", "coverage_level", "plan", "cents", "priced_by"]
    )
    for e in chosen:
        writer.writerow(
            [
                e.employee_id,
                e.insurance_line,
                e.coverage_level or "",
                e.plan or "",
                e.cents,
                e.priced_by,
            ]
        )
    return out.getvalue()


@asynccontextmanager
async def _heartbeating(every: float = 2.0) -> AsyncIterator[None]:
    """Heartbeat while a step works (also through blocking calls in threads), so a worker
    that dies is noticed within the heartbeat timeout rather than the step's whole timeout."""

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()


def _application_error(exc: Exception) -> ApplicationError:
    if isinstance(exc, ProviderUnavailable):
        delay = None if exc.retry_after is None else timedelta(seconds=max(exc.retry_after, 1))
        # Retryable: Temporal's policy retries the activity, after the breaker's wait.
        return ApplicationError(str(exc), type="ProviderUnavailable", next_retry_delay=delay)
    return ApplicationError(str(exc), type="ProviderRejected", non_retryable=True)


def _checked_deposit_ach(request: PayRequest, deposits: list[Deposit], first: int) -> NachaFile:
    """The run's PPD file, refused when strict NACHA validation finds an error in it."""
    start, bank = request.start, request.start.bank
    ach = deposit_file(
        Originator(
            company_name=bank.company_name,
            company_identification=bank.company_identification,
            odfi_routing_number=bank.odfi_routing_number,
            immediate_destination=bank.immediate_destination,
            immediate_origin=bank.immediate_origin,
            destination_name=bank.destination_name,
            origin_name=bank.origin_name,
        ),
        deposits,
        effective_entry_date=start.pay_date,
        created=request.approved_at,
        first_trace_sequence=first,
        reversal=start.kind == "reversal",
    )
    problems = [p for p in nacha.validate(ach, strict=True) if p.severity == "error"]
    if problems:
        raise ApplicationError(
            f"direct-deposit file would be invalid: {problems[0].message}",
            type="NachaInvalid",
            non_retryable=True,
        )
    return ach


@dataclass
class PayrollActivities:
    pool: asyncpg.Pool
    settings: Settings
    ring: KeyRing
    provider: ProviderClient | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def _client(self) -> ProviderClient:
        if self.provider is None:
            s = self.settings
            self.provider = ProviderClient(
                base_url=s.require("payroll_provider_url"),
                client_id=s.require("payroll_provider_client_id"),
                client_secret=s.require("payroll_provider_client_secret"),
                breaker=CircuitBreaker(s.payroll_breaker_failures, s.payroll_breaker_reset_seconds),
                attempts=s.payroll_provider_attempts,
            )
        return self.provider

    @property
    def landing(self) -> LandingZone:
        return LandingZone(self.settings.landing_zone_dir)

    def _folder(self, workflow_id: str) -> Path:
        folder = self.landing.run_folder(workflow_id)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # --- inputs -----------------------------------------------------------------------------

    @activity.defn(name="payroll.prepare")
    async def prepare(self, request: PrepareRequest) -> Prepared:
        """Validate roster and inputs (rows and referential integrity), seal the employees into
        PostgreSQL and write the expected amounts; or report every error, masked."""
        async with _heartbeating():
            return await self._prepare(request)

    async def _prepare(self, request: PrepareRequest) -> Prepared:
        start, folder = request.start, self._folder(request.workflow_id)
        if start.correction_of is not None:
            original = await self.pool.fetchval(
                "SELECT status FROM payroll_runs WHERE run_id = $1", start.correction_of
            )
            if original != "completed":
                raise ApplicationError(
                    f"{start.correction_of} is not a completed run to correct",
                    type="NoOriginalRun",
                    non_retryable=True,
                )
        parsed = await asyncio.to_thread(_parse, self.landing, start)
        if parsed.errors:
            report = folder / "input-errors.csv"
            self.landing.write_text(report, _error_report(parsed.errors))
            return Prepared(
                employees=len(parsed.employees),
                batches=0,
                errors=parsed.errors[:MAX_LISTED],
                error_count=len(parsed.errors),
                error_report=str(report),
            )
        pays = expected_run(parsed.employees, parsed.inputs)
        rows = await asyncio.to_thread(self._sealed_rows, request.workflow_id, parsed, pays)
        async with self.pool.acquire() as conn, conn.transaction():
            # Replaced as a whole, so a retried activity leaves exactly one copy.
            await conn.execute(
                "DELETE FROM payroll_employees WHERE run_id = $1", request.workflow_id
            )
            await conn.copy_records_to_table("payroll_employees", records=rows, columns=_COLUMNS)
        expected = folder / "expected.jsonl"
        self.landing.write_text(expected, _jsonl(pays))
        if start.enrolment is not None:
            # What the 834 added to each employee's deductions (no PII: ids and plan codes).
            self.landing.write_text(
                folder / "benefit-elections.csv", _elections_csv(parsed.elections)
            )
        return Prepared(
            employees=len(pays),
            batches=math.ceil(len(pays) / start.batch_size),
            expected=totals(pays),
            expected_ref=_ref(expected),
            benefit_elections=len(parsed.elections),
        )

    def _sealed_rows(
        self, workflow_id: str, parsed: _Parsed, pays: list[Pay]
    ) -> list[tuple[Any, ...]]:
        secret = base64.b64decode(self.settings.require("pii_lookup_key"))
        by_id = {i.employee_id: i for i in parsed.inputs}
        rows = []
        for seq, (e, pay) in enumerate(zip(parsed.employees, pays, strict=True)):
            item = by_id.get(e.employee_id)
            rows.append(
                (
                    workflow_id,
                    seq,
                    e.employee_id,
                    seal(self.ring, e.name, "payroll_employees.name_sealed"),
                    seal(self.ring, e.ssn, "payroll_employees.ssn_sealed"),
                    e.ssn[-4:],
                    e.routing_number,
                    seal(self.ring, e.account_number, "payroll_employees.account_sealed"),
                    e.account_number[-4:],
                    lookup_hash(secret, e.routing_number, e.account_number),
                    e.account_type,
                    e.state,
                    e.pay_type,
                    e.rate_cents,
                    item.hours if item else 0,
                    item.bonus_cents if item else 0,
                    item.deductions_cents if item else 0,
                    pay.net_cents,
                )
            )
        return rows

    # --- the provider -------------------------------------------------------------------------

    @activity.defn(name="payroll.open_run")
    async def open_run(self, call: ProviderCall) -> str:
        """Create the provider's run once (Idempotency-Key: ``<workflow id>/create``)."""
        s = call.start
        try:
            run = await self._client().create_run(
                {
                    "external_id": call.workflow_id,
                    "company_id": s.company_id,
                    "period_start": s.period_start.isoformat(),
                    "period_end": s.period_end.isoformat(),
                    "pay_date": s.pay_date.isoformat(),
                    "kind": s.kind,
                },
                key=f"{call.workflow_id}/create",
            )
        except (ProviderUnavailable, ProviderRejected) as exc:
            raise _application_error(exc) from None
        return str(run["id"])

    @activity.defn(name="payroll.submit_batch")
    async def submit_batch(self, call: ProviderCall) -> int:
        """Send employees ``[batch * size, (batch + 1) * size)`` (key ``…/batch/<n>``)."""
        assert call.provider_run_id is not None
        size = call.start.batch_size
        rows = await self.pool.fetch(
            """SELECT employee_id, name_sealed, ssn_sealed, state, pay_type, rate_cents, hours,
                      bonus_cents, deductions_cents
                 FROM payroll_employees WHERE run_id = $1 AND seq >= $2 AND seq < $3
                ORDER BY seq""",
            call.workflow_id,
            call.batch * size,
            (call.batch + 1) * size,
        )
        employees = [
            {
                "employee_id": r["employee_id"],
                "name": unseal(self.ring, r["name_sealed"], "payroll_employees.name_sealed"),
                "ssn": unseal(self.ring, r["ssn_sealed"], "payroll_employees.ssn_sealed"),
                "state": r["state"],
                "pay_type": r["pay_type"],
                "rate_cents": r["rate_cents"],
                "hours": str(r["hours"]),
                "bonus_cents": r["bonus_cents"],
                "deductions_cents": r["deductions_cents"],
            }
            for r in rows
        ]
        try:
            await self._client().add_employees(
                call.provider_run_id, employees, key=f"{call.workflow_id}/batch/{call.batch}"
            )
        except (ProviderUnavailable, ProviderRejected) as exc:
            raise _application_error(exc) from None
        return len(employees)

    @activity.defn(name="payroll.submit")
    async def submit(self, call: ProviderCall) -> ProviderStatus:
        assert call.provider_run_id is not None
        try:
            run = await self._client().submit(
                call.provider_run_id, key=f"{call.workflow_id}/submit"
            )
        except (ProviderUnavailable, ProviderRejected) as exc:
            raise _application_error(exc) from None
        return ProviderStatus(provider_run_id=call.provider_run_id, status=str(run["status"]))

    @activity.defn(name="payroll.poll_status")
    async def poll_status(self, call: ProviderCall) -> ProviderStatus:
        """The provider's status of the run (the fallback when a webhook was lost)."""
        assert call.provider_run_id is not None
        try:
            run = await self._client().run(call.provider_run_id)
        except (ProviderUnavailable, ProviderRejected) as exc:
            raise _application_error(exc) from None
        return ProviderStatus(
            provider_run_id=call.provider_run_id, status=str(run["status"]), event_id="poll"
        )

    @activity.defn(name="payroll.reconcile")
    async def reconcile(self, request: ReconcileRequest) -> Reconciled:
        """Read the provider's report (every page), keep it, reconcile it with what we sent."""
        reported: list[Pay] = []
        try:
            async for row in self._client().report(request.provider_run_id):
                reported.append(Pay.model_validate(row))
                if len(reported) % 1000 == 0:
                    activity.heartbeat(len(reported))
        except (ProviderUnavailable, ProviderRejected) as exc:
            raise _application_error(exc) from None
        folder = self._folder(request.workflow_id)
        report = folder / "provider-report.jsonl"
        self.landing.write_text(report, _jsonl(reported))
        expected = _read_pays(self.landing, request.expected_ref)
        result = reconcile(expected, _read_pays(self.landing, _ref(report)))
        exceptions_ref = None
        if result.exceptions:
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["kind", "employee_id", "figure", "expected_cents", "reported_cents"])
            for x in result.exceptions:
                writer.writerow(
                    [
                        x.kind,
                        x.employee_id or "",
                        x.figure or "",
                        x.expected_cents,
                        x.reported_cents,
                    ]
                )
            path = folder / "exceptions.csv"
            self.landing.write_text(path, out.getvalue())
            exceptions_ref = _ref(path)
        return Reconciled(
            expected=result.expected,
            reported=result.reported,
            exceptions=result.exceptions[:MAX_LISTED],
            exception_count=len(result.exceptions),
            report_ref=_ref(report),
            exceptions_ref=exceptions_ref,
        )

    # --- pay and post -------------------------------------------------------------------------

    @activity.defn(name="payroll.build_deposit_file")
    async def build_deposit_file(self, request: PayRequest) -> DepositFile:
        """Write the PPD file once, record its entries as originations, encrypt it once for the
        bank. Every retry finds the same files, so ``sftp.deliver`` uploads one file."""
        async with _heartbeating():
            return await self._build_deposit_file(request)

    async def _build_deposit_file(self, request: PayRequest) -> DepositFile:
        bank = request.start.bank
        feed, recipient = await self._bank_feed(bank)
        signer = self.settings.require("payroll_pgp_signer")
        report = {p.employee_id: p for p in _read_pays(self.landing, request.report_ref)}
        rows = await self.pool.fetch(
            """SELECT employee_id, name_sealed, routing_number, account_sealed, account_type
                 FROM payroll_employees WHERE run_id = $1 ORDER BY seq""",
            request.workflow_id,
        )
        first = await self._trace_block(
            request.workflow_id, bank.odfi_routing_number[:8], len(rows)
        )
        deposits = [self._deposit(row, report) for row in rows]
        ach = _checked_deposit_ach(request, deposits, first)
        plain = await self._write_deposit_file(request, ach)
        encrypted = self.landing.outbound(bank.partner_id, f"{plain.name}.pgp")
        await self._encrypt_for_bank(plain, encrypted, recipient, signer)
        plain_digest = file_digest(plain)
        await self.pool.execute(
            "UPDATE payroll_runs SET nacha_file = $2, nacha_sha256 = $3, updated_at = now() "
            "WHERE run_id = $1",
            request.workflow_id,
            encrypted.name,
            plain_digest,
        )
        paid = [d for d in deposits if d.net_cents > 0]
        return DepositFile(
            delivery=DeliverRequest(
                feed=feed,
                local_path=str(encrypted),
                remote_name=encrypted.name,
                sha256=file_digest(encrypted),
                size=encrypted.stat().st_size,
            ),
            entries=len(paid),
            total_cents=sum(d.net_cents for d in paid),
            plain_sha256=plain_digest,
        )

    async def _bank_feed(self, bank: BankTarget) -> tuple[FeedConfig, str]:
        """The bank's feed and the PGP key the deposit file is encrypted to."""
        feed = await self._feed(bank.partner_id, bank.feed)
        if feed.pgp is None:
            raise ApplicationError(
                f"bank feed {bank.partner_id}/{bank.feed} has no PGP key to encrypt to",
                type="BankKeyMissing",
                non_retryable=True,
            )
        return feed, feed.pgp.signer_fingerprint

    def _deposit(self, row: asyncpg.Record, report: dict[str, Pay]) -> Deposit:
        """One employee's deposit: bank details unsealed, the provider's net pay."""
        employee_id = row["employee_id"]
        return Deposit(
            employee_id=employee_id,
            name=unseal(self.ring, row["name_sealed"], "payroll_employees.name_sealed"),
            routing_number=row["routing_number"],
            account_number=unseal(
                self.ring, row["account_sealed"], "payroll_employees.account_sealed"
            ),
            account_type=row["account_type"],
            # The provider's net is what is paid (it computes the taxes it files).
            net_cents=report[employee_id].net_cents if employee_id in report else 0,
        )

    async def _write_deposit_file(self, request: PayRequest, ach: NachaFile) -> Path:
        """Write the plaintext PPD file to the bank's outbound folder and record its entries
        as originations (so returns against them find their origin)."""
        start, bank = request.start, request.start.bank
        plain = self.landing.outbound(bank.partner_id, f"PAYROLL-{start.run_key}.ach")
        self.landing.write_bytes(plain, nacha.write(ach))
        await import_originations(
            self.pool,
            self.ring,
            base64.b64decode(self.settings.require("pii_lookup_key")),
            plain,
            partner_id=bank.partner_id,
            bank_feed=bank.feed,
            source=request.workflow_id,
        )
        return plain

    async def _encrypt_for_bank(
        self, plain: Path, encrypted: Path, recipient: str, signer: str
    ) -> None:
        try:
            keyring = keyring_from_settings(self.settings)
        except SettingsError as exc:
            raise ApplicationError(str(exc), type="Settings", non_retryable=True) from None

        def encrypt() -> None:
            # gpg output differs on every run: the first encryption wins, retries reuse it.
            self.landing.publish(
                encrypted,
                lambda tmp: keyring.encrypt_and_sign(plain, tmp, recipient, signer),
                read_only=True,
            )

        try:
            async with self._lock:  # one gpg at a time per worker
                await asyncio.to_thread(encrypt)
        except PgpError as exc:
            raise ApplicationError(
                f"cannot encrypt the direct-deposit file: {exc}",
                type=exc.error_type,
                non_retryable=not exc.retryable,
            ) from None

    async def _trace_block(self, workflow_id: str, odfi: str, entries: int) -> int:
        """The run's first trace sequence, allocated once and above every trace number this
        ODFI already used (originations, re-presentments, other runs)."""
        async with self.pool.acquire() as conn, conn.transaction():
            # The same lock as re-presentment allocation: one allocator at a time.
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext('ach_trace_allocation'))")
            first = await conn.fetchval(
                "SELECT first_sequence FROM payroll_trace_blocks WHERE run_id = $1", workflow_id
            )
            if first is not None:
                return int(first)
            top = await conn.fetchval(
                """SELECT greatest(
                     (SELECT max(first_sequence + entries - 1) FROM payroll_trace_blocks
                       WHERE odfi = $1),
                     (SELECT max(right(trace_number, 7)::int) FROM originations
                       WHERE left(trace_number, 8) = $1),
                     (SELECT max(right(trace_number, 7)::int) FROM ach_representments
                       WHERE left(trace_number, 8) = $1))""",
                odfi,
            )
            first = int(top or 0) + 1
            if first + entries > 10**7:
                raise ApplicationError(
                    f"ODFI {odfi} has no trace numbers left for {entries} entries",
                    type="TraceNumbersExhausted",
                    non_retryable=True,
                )
            await conn.execute(
                "INSERT INTO payroll_trace_blocks (run_id, odfi, first_sequence, entries) "
                "VALUES ($1, $2, $3, $4)",
                workflow_id,
                odfi,
                first,
                entries,
            )
            return first

    async def _feed(self, partner_id: str, feed: str) -> FeedConfig:
        config = await self.pool.fetchval(
            "SELECT config FROM feeds WHERE partner_id = $1 AND feed = $2", partner_id, feed
        )
        if config is None:
            raise ApplicationError(
                f"no bank feed {partner_id}/{feed} to deliver to",
                type="FeedNotFound",
                non_retryable=True,
            )
        return FeedConfig.model_validate_json(config)

    @activity.defn(name="payroll.gl_export")
    async def gl_export(self, request: GlRequest) -> GlExport:
        """The run's journal entry as CSV for the ERP, written once; debits equal credits."""
        figures = totals(_read_pays(self.landing, request.report_ref))
        lines = journal(figures, reversal=request.start.kind == "reversal")
        if not is_balanced(lines):  # journal() always balances; never post one that does not
            raise ApplicationError("GL journal does not balance", type="GlUnbalanced")
        path = self._folder(request.workflow_id) / "gl-journal.csv"
        self.landing.write_text(
            path,
            journal_csv(lines, journal_id=request.workflow_id, posting_date=request.posting_date),
        )
        await self.pool.execute(
            "UPDATE payroll_runs SET gl_file = $2, updated_at = now() WHERE run_id = $1",
            request.workflow_id,
            str(path),
        )
        return GlExport(
            file=_ref(path),
            debit_cents=sum(x.debit_cents for x in lines),
            credit_cents=sum(x.credit_cents for x in lines),
            lines=len(lines),
        )

    @activity.defn(name="payroll.record")
    async def record(self, record: RunRecord) -> None:
        """Upsert the run's row (status and whatever the step learnt). The first record of a
        run refuses a workflow id that is not ``payroll-<run key>``: company and period are the
        idempotency key, so a run started under another id could pay the period twice."""
        s = record.start
        if record.workflow_id != run_workflow_id(s):
            raise ApplicationError(
                f"a payroll run for this input must have id {run_workflow_id(s)}",
                type="WrongWorkflowId",
                non_retryable=True,
            )
        await self.pool.execute(
            """INSERT INTO payroll_runs
                 (run_id, company_id, period_start, period_end, pay_date, kind, correction_of,
                  status, submitted_by, provider_run_id, decided_by, decision_reason,
                  employees, net_cents, exceptions)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
               ON CONFLICT (run_id) DO UPDATE SET
                 status = excluded.status,
                 provider_run_id = coalesce(excluded.provider_run_id,
                                            payroll_runs.provider_run_id),
                 decided_by = coalesce(excluded.decided_by, payroll_runs.decided_by),
                 decision_reason = coalesce(excluded.decision_reason,
                                            payroll_runs.decision_reason),
                 employees = coalesce(excluded.employees, payroll_runs.employees),
                 net_cents = coalesce(excluded.net_cents, payroll_runs.net_cents),
                 exceptions = coalesce(excluded.exceptions, payroll_runs.exceptions),
                 updated_at = now()""",
            record.workflow_id,
            s.company_id,
            s.period_start,
            s.period_end,
            s.pay_date,
            s.kind,
            s.correction_of,
            record.status,
            s.submitted_by,
            record.provider_run_id,
            record.decided_by,
            record.decision_reason,
            record.employees,
            record.net_cents,
            record.exceptions,
        )


_COLUMNS = [
    "run_id",
    "seq",
    "employee_id",
    "name_sealed",
    "ssn_sealed",
    "ssn_last4",
    "routing_number",
    "account_sealed",
    "account_last4",
    "account_lookup",
    "account_type",
    "state",
    "pay_type",
    "rate_cents",
    "hours",
    "bonus_cents",
    "deductions_cents",
    "expected_net_cents",
]
