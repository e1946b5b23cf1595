"""Payroll inputs beyond hand-landed CSV: a fixed-width roster and inputs landed by real file
intake (sshd, the contract's validator, Parquet), and benefit deductions from a real X12 834
validated with pyx12 and translated as ``edi.accept`` does."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import random
import uuid
import zlib
from datetime import date
from pathlib import Path

import asyncpg
from temporalio.client import Client

import edi
from activities.payroll import _landed_source
from adapters.landing_zone import (
    FileManifest,
    LandingZone,
    ManifestChecksum,
    ManifestRows,
    file_digest,
)
from devstack.localstack.sshd import LocalSshd
from intake.file_contract import load_contract
from intake.validation import compile_validator
from payroll.amounts import Pay
from payroll.roster import parse_inputs, parse_roster
from runtime.settings import Settings
from stores.feeds import register_feed
from tests.payroll_support import (
    PLANTED_ACCOUNT,
    PLANTED_SSN,
    hris_feed,
    inputs_csv,
    inputs_fixed_width,
    land,
    payroll_bank_feed,
    payroll_stack,
    roster_csv,
    roster_fixed_width,
    start_input,
)
from tests.plugins.gpg import GpgKeys
from tests.test_payroll_workflow import start_run, wait_status
from wire.intake import FeedConfig, IntakeRequest, IntakeRunResult
from wire.payroll import Decision, Enrolment, FileRef, PayrollState

CONTRACTS = Path(__file__).resolve().parents[1] / "file_contracts"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "x12"


def _validated_rows(contract: str, text: str, tmp_path: Path) -> list[dict[str, object]]:
    """The Parquet intake's validator writes for ``text`` under ``contract``, as records."""
    import pyarrow.parquet as pq

    raw, parquet = tmp_path / f"{contract}.dat", tmp_path / f"{contract}.parquet"
    raw.write_text(text, encoding="latin-1")
    summary = compile_validator(load_contract(CONTRACTS / f"{contract}.toml")).validate(
        raw, parquet
    )
    assert summary.accepted and summary.rows_invalid == 0, summary
    rows: list[dict[str, object]] = pq.read_table(parquet).to_pylist()
    return rows


def test_fixed_width_rows_read_like_the_same_csv(tmp_path: Path) -> None:
    roster, inputs = roster_csv(30), inputs_csv(30)
    from_csv = parse_roster(roster)
    from_fixed = parse_roster(
        _validated_rows("hris_payroll_roster.v1", roster_fixed_width(roster), tmp_path)
    )
    assert from_fixed == from_csv and not from_csv[1] and len(from_csv[0]) == 30
    assert parse_inputs(
        _validated_rows("hris_payroll_inputs.v1", inputs_fixed_width(inputs), tmp_path)
    ) == parse_inputs(inputs)


def test_payroll_rules_still_apply_to_contract_valid_fixed_width_rows(tmp_path: Path) -> None:
    # The contract checks the layout (nine digits); the ABA check digit is payroll's rule.
    bad = "E000009,Bad Routing,234-56-7890,091000018,87654321,checking,hourly,20.00,CA"
    rows = _validated_rows(
        "hris_payroll_roster.v1", roster_fixed_width(roster_csv(3, extra=[bad])), tmp_path
    )
    employees, errors = parse_roster(rows)
    assert len(employees) == 3
    assert [(e.row, e.column, e.rule, e.value) for e in errors] == [
        (4, "routing_number", "aba_checksum", "***0018")
    ]


def test_a_landed_file_is_read_from_intakes_parquet_and_refused_with_dropped_rows(
    tmp_path: Path,
) -> None:
    text = roster_fixed_width(roster_csv(4))
    rows = _validated_rows("hris_payroll_roster.v1", text, tmp_path)
    raw = tmp_path / "abc.dat"
    raw.write_text(text, encoding="latin-1")
    (tmp_path / "abc.parquet").write_bytes(
        (tmp_path / "hris_payroll_roster.v1.parquet").read_bytes()
    )
    landing = LandingZone(tmp_path)
    meta = FileManifest(
        source="sftp://hris/inbox/roster.dat",
        partner_id="hris",
        feed="roster",
        received_at="2026-01-05T00:00:00+00:00",
        checksum=ManifestChecksum(sha256=file_digest(raw)),
        size_bytes=raw.stat().st_size,
        file_contract="hris_payroll_roster",
        schema_version=1,
        rows=ManifestRows(total=4, valid=4, invalid=0),
    )
    landing.write_manifest(landing.metadata_of(raw), meta)

    def ref(path: Path) -> FileRef:
        return FileRef(path=str(path), sha256=file_digest(path))

    # The raw file names the Parquet beside it; the Parquet can be named directly too.
    assert _landed_source(landing, ref(raw), "roster") == (rows, [])
    assert _landed_source(landing, ref(tmp_path / "abc.parquet"), "roster") == (rows, [])
    landing.metadata_of(raw).unlink()
    dropped = meta.model_copy(update={"rows": ManifestRows(total=4, valid=3, invalid=1)})
    landing.write_manifest(landing.metadata_of(raw), dropped)
    source, errors = _landed_source(landing, ref(raw), "roster")
    assert source == [] and [(e.file, e.rule) for e in errors] == [("roster", "rows_dropped")]
    # Without intake's metadata, a file is CSV text.
    plain = tmp_path / "roster.csv"
    plain.write_text(roster_csv(2))
    assert _landed_source(landing, ref(plain), "roster") == (roster_csv(2), [])


async def _land_through_intake(
    client: Client,
    pool: asyncpg.Pool,
    settings: Settings,
    sshd: LocalSshd,
    feed: FeedConfig,
    content: bytes,
) -> FileRef:
    """Drop ``content`` in the feed's inbox and run FileIntake: the landed raw file by
    reference (what a run names), with the Parquet and metadata intake wrote beside it."""
    await register_feed(pool, client, settings, feed)
    name = feed.naming.format_name(
        file_date=date(2026, 11, 14), sequence=1, crc32=zlib.crc32(content), extension="dat"
    )
    sshd.drop_file("inbox", name, content)
    handle = await client.start_workflow(
        "FileIntake",
        IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
        id=f"intake-test-{uuid.uuid4()}",
        task_queue=settings.task_queue_general,
        result_type=IntakeRunResult,
    )
    result: IntakeRunResult = await handle.result()
    (decision,) = result.decisions
    assert decision.outcome == "landed", decision.reason
    assert decision.landing_path is not None and decision.sha256 is not None
    landed = Path(decision.landing_path)
    assert landed.with_suffix(".parquet").exists()
    return FileRef(path=str(landed), sha256=hashlib.sha256(landed.read_bytes()).hexdigest())


def _provider_report(settings: Settings, workflow_id: str) -> dict[str, Pay]:
    path = settings.landing_zone_dir / "payroll" / workflow_id / "provider-report.jsonl"
    pays = [Pay.model_validate_json(line) for line in path.read_text().splitlines() if line]
    return {p.employee_id: p for p in pays}


async def test_a_fixed_width_roster_landed_by_intake_is_paid(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
) -> None:
    # One employee with a random id: intake rightly calls a file it has seen a duplicate.
    extra = f"R{random.randint(0, 10**8):08d}"
    roster = roster_csv(
        12, extra=[f"{extra},New Hire,234-56-7890,091000019,5550001,savings,salary,1000.00,TX"]
    )
    inputs = inputs_csv(12, extra=[f"{extra},0,50.00,0"])
    async with payroll_stack(client, settings, gpg_keys, pool=pool) as stack:
        own = stack.settings
        roster_ref = await _land_through_intake(
            client,
            pool,
            own,
            sshd_server,
            hris_feed(sshd_server, "roster", "hris_payroll_roster.v1"),
            roster_fixed_width(roster).encode("latin-1"),
        )
        inputs_ref = await _land_through_intake(
            client,
            pool,
            own,
            sshd_server,
            hris_feed(sshd_server, "inputs", "hris_payroll_inputs.v1"),
            inputs_fixed_width(inputs).encode("latin-1"),
        )
        bank = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        start = start_input(bank, own, roster_ref, inputs_ref)
        handle = await start_run(client, own, start)
        state = await wait_status(handle, "awaiting_approval", "invalid_input")
        assert state.status == "awaiting_approval", state.input_errors
        reported = _provider_report(own, handle.id)
        await handle.execute_update(
            "reject",
            Decision(actor="fin:ada", reason="test ends here"),
            result_type=PayrollState,
        )
        await handle.result()

    # The same pay as the same roster in CSV: the provider got every employee and agrees.
    assert state.employees == 13 and state.exception_count == 0
    assert state.expected == state.reported
    assert set(reported) == {f"E{i:06d}" for i in range(1, 13)} | {extra}
    assert reported[extra].gross_cents == 100000 + 5000  # salary and bonus
    # Employee 1 worked 71.50 h at 31.25 and had 25.00 deducted, as the fixed-width said.
    assert reported["E000001"].gross_cents == 223438
    assert reported["E000001"].deductions_cents == 2500
    sealed = await pool.fetchval(
        "SELECT ssn_last4 FROM payroll_employees WHERE run_id = $1 AND employee_id = 'E000001'",
        handle.id,
    )
    assert sealed == PLANTED_SSN[-4:]
    raw = (await handle.fetch_history()).to_json()
    assert PLANTED_SSN not in raw and PLANTED_ACCOUNT not in raw


def _translated(folder: Path, *corpus_files: str) -> list[FileRef]:
    """Each 834 validated with pyx12 and translated, written as ``edi.accept`` writes it:
    ``<sha>.translated.json`` beside the raw file."""
    refs = []
    folder.mkdir(parents=True, exist_ok=True)
    for name in corpus_files:
        data = (CORPUS / name).read_bytes()
        validation = edi.validate(data)
        assert validation.result.accepted, name
        digest = hashlib.sha256(data).hexdigest()
        (folder / f"{digest}.x12").write_bytes(data)
        path = folder / f"{digest}.translated.json"
        text = json.dumps({"documents": validation.translations()}, indent=2, sort_keys=True)
        path.write_text(text + "\n")
        refs.append(FileRef(path=str(path), sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    return refs


def _members_as_employees(text: str) -> str:
    # The 834s' subscribers are M000001 (Jane Doe) and M000002 (Robert Smith): the employer
    # sends its employee id as the subscriber identifier (REF*0F).
    return text.replace("E000001", "M000001").replace("E000002", "M000002")


async def test_benefit_deductions_come_from_the_834(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
) -> None:
    async with payroll_stack(client, settings, gpg_keys, pool=pool) as stack:
        own = stack.settings
        bank = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        files = _translated(
            own.landing_zone_dir / "benefits" / uuid.uuid4().hex[:8],
            "pyx12_834_deident_new_enroll.txt",
            "pyx12_834_deident_family.txt",
        )
        start = start_input(
            bank,
            own,
            land(lz, "roster.csv", _members_as_employees(roster_csv(4))),
            land(lz, "inputs.csv", _members_as_employees(inputs_csv(4))),
            enrolment=Enrolment(files=files, rates_cents={"HMO/EMP": 4500, "PPO/FAM": 18000}),
        )
        handle = await start_run(client, own, start)
        state = await wait_status(handle, "awaiting_approval", "invalid_input")
        assert state.status == "awaiting_approval", state.input_errors
        reported = _provider_report(own, handle.id)
        elections = own.landing_zone_dir / "payroll" / handle.id / "benefit-elections.csv"
        chosen = list(csv.DictReader(io.StringIO(elections.read_text())))
        await handle.execute_update(
            "reject", Decision(actor="fin:ada", reason="test ends here"), result_type=PayrollState
        )
        await handle.result()
        raw = (await handle.fetch_history()).to_json()

    # What the provider received and computed: the 834's cover on top of the HRIS deductions.
    assert state.employees == 4 and state.exception_count == 0
    assert {k: p.deductions_cents for k, p in reported.items()} == {
        "M000001": 2500 + 4500,  # HMO, employee only
        "M000002": 2500 + 18000,  # PPO, family (wife and son are dependents: nothing extra)
        "E000003": 0,  # salaried, no inputs row, not enrolled
        "E000004": 2500,
    }
    assert [
        (r["employee_id"], r["insurance_line"], r["coverage_level"], r["cents"]) for r in chosen
    ] == [
        ("M000001", "HMO", "EMP", "4500"),
        ("M000002", "PPO", "FAM", "18000"),
    ]
    # Members stay in the translated file: the history holds references only.
    assert "SMITH" not in raw and "000000002" not in raw and "RIVERSIDE" not in raw


async def test_an_834_subscriber_on_no_roster_stops_the_run(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
) -> None:
    async with payroll_stack(client, settings, gpg_keys, pool=pool) as stack:
        own = stack.settings
        bank = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        files = _translated(lz, "pyx12_834_deident_family.txt")
        start = start_input(
            bank,
            own,
            land(lz, "roster.csv", roster_csv(3)),
            land(lz, "inputs.csv", inputs_csv(3)),
            enrolment=Enrolment(files=files, rates_cents={"PPO": 18000}),
        )
        final = await (await start_run(client, own, start)).result()
        stats = await stack.stats()
    assert final.status == "invalid_input"
    assert stats.get("runs_created", 0) == 0
    assert [(e.file, e.rule, e.value) for e in final.input_errors] == [
        ("enrolment", "unknown_member", "***")
    ]
