"""PayrollRun end to end on real services: the provider simulator over HTTP, its signed
webhook through our route, PostgreSQL, gpg and the bank's OpenSSH outbox."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

import nacha
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from tests.payroll_support import (
    PLANTED_ACCOUNT,
    PLANTED_SSN,
    inputs_csv,
    land,
    payroll_bank_feed,
    payroll_stack,
    roster_csv,
    start_input,
)
from tests.plugins.gpg import GpgKeys
from tests.plugins.services import settings_env
from tests.replay import record_history
from wire.payroll import Decision, PayrollStart, PayrollState, run_workflow_id


async def start_run(
    client: Client, settings: Settings, start: PayrollStart
) -> WorkflowHandle[object, PayrollState]:
    """As the CLI and API do: the id is the business key; a second start returns the first."""
    return await client.start_workflow(
        "PayrollRun",
        start,
        id=run_workflow_id(start),
        task_queue=settings.task_queue_general,
        result_type=PayrollState,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def wait_status(
    handle: WorkflowHandle[object, PayrollState], *statuses: str, timeout: float = 90
) -> PayrollState:
    for _ in range(int(timeout / 0.1)):
        state: PayrollState = await handle.query("status", result_type=PayrollState)
        if state.status in statuses:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"run never reached {statuses}; it is {state.status}")


def update_events(history_events: list[object]) -> int:
    kinds = {
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED,
    }
    return sum(1 for e in history_events if getattr(e, "event_type", None) in kinds)


async def test_run_is_paid_posted_and_published_once_approved(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
    tmp_path: Path,
) -> None:
    async with payroll_stack(client, settings, gpg_keys, pool=pool) as stack:
        own = stack.settings
        feed = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        start = start_input(
            feed,
            own,
            land(lz, "roster.csv", roster_csv(25)),
            land(lz, "inputs.csv", inputs_csv(25)),
        )
        handle = await start_run(client, own, start)
        again = await start_run(client, own, start)  # the same company and period
        assert again.first_execution_run_id == handle.first_execution_run_id

        state = await wait_status(handle, "awaiting_approval")
        assert state.employees == 25 and state.exception_count == 0
        assert state.provider_status == "completed"
        assert state.expected == state.reported

        # Separation of duties: the submitter holds the role but cannot approve their own run.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                "approve", Decision(actor="hr:sam", reason="looks fine"), result_type=PayrollState
            )
        assert "separation of duties" in str(refused.value.cause)
        with pytest.raises(WorkflowUpdateFailedError):
            await handle.execute_update(
                "approve", Decision(actor="intern:joe"), result_type=PayrollState
            )
        assert update_events(list((await handle.fetch_history()).events)) == 0  # nothing kept

        approved = await handle.execute_update(
            "approve", Decision(actor="fin:ada", reason="matches budget"), result_type=PayrollState
        )
        assert approved.decided_by == "fin:ada"
        final = await handle.result()
        stats = await stack.stats()

    assert final.status == "completed"
    assert stats["webhooks_sent"] == 1 and stats["runs_created"] == 1
    assert final.polls == 0  # the webhook arrived: no poll needed

    # Exactly one encrypted file in the bank's outbox; the bank can read it, it is valid NACHA.
    outbox = sorted(p.name for p in sshd_server.folder("outbox").iterdir())
    assert outbox == [f"PAYROLL-{start.run_key}.ach.pgp"]
    plain = tmp_path / "plain.ach"
    gpg_keys.senders.decrypt_and_verify(
        sshd_server.folder("outbox") / outbox[0], plain, gpg_keys.us.fingerprint
    )
    ach = nacha.read(plain)
    assert not [p for p in nacha.validate(ach, strict=True) if p.severity == "error"]
    entries = [e.detail for _, e in ach.entries()]
    assert len(entries) == final.entries == 25
    assert all(d.transaction_code in (22, 32) for d in entries)  # credits
    assert final.reported is not None
    assert sum(d.amount_cents for d in entries) == final.reported.figures["net"]
    assert PLANTED_ACCOUNT in {d.dfi_account_number.strip() for d in entries}

    # Each entry is an origination, so ACH returns find it.
    traces = [d.trace_number for d in entries]
    found = await pool.fetchval(
        "SELECT count(*) FROM originations WHERE trace_number = ANY($1::text[])", traces
    )
    assert found == 25

    # GL journal: debits equal credits.
    assert final.gl_file is not None
    rows = list(csv.DictReader(io.StringIO(Path(final.gl_file).read_text())))
    debit = sum(round(float(r["debit"]) * 100) for r in rows)
    credit = sum(round(float(r["credit"]) * 100) for r in rows)
    assert debit == credit > 0

    # payroll.completed in the outbox, the decision in the audit log, PII sealed in the table.
    event = await pool.fetchrow(
        "SELECT event_type, payload FROM outbox_events WHERE message_id = $1",
        f"{handle.id}/payroll.completed",
    )
    assert event is not None and event["event_type"] == "payroll.completed"
    audit = await pool.fetch("SELECT actor, action FROM audit_log WHERE subject = $1", handle.id)
    assert [(r["actor"], r["action"]) for r in audit] == [("fin:ada", "payroll.approve")]
    sealed = await pool.fetch(
        "SELECT ssn_sealed, account_sealed FROM payroll_employees WHERE run_id = $1", handle.id
    )
    assert sealed and all(
        PLANTED_SSN not in r["ssn_sealed"] and PLANTED_ACCOUNT not in r["account_sealed"]
        for r in sealed
    )
    raw = (await handle.fetch_history()).to_json()
    assert PLANTED_SSN not in raw and PLANTED_ACCOUNT not in raw
    await record_history(handle, "PayrollRun")


async def test_invalid_roster_rows_are_reported_with_masked_values(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
) -> None:
    bad_rows = [
        "E900001,Bad Ssn,666-12-3456,091000019,12345678,checking,hourly,20.00,CA",
        "E900002,Bad Routing,234-56-7890,091000018,87654321,checking,hourly,20.00,CA",
    ]
    async with payroll_stack(client, settings, gpg_keys, pool=pool) as stack:
        own = stack.settings
        feed = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        start = start_input(
            feed,
            own,
            land(lz, "roster.csv", roster_csv(5, extra=bad_rows)),
            land(lz, "inputs.csv", inputs_csv(5, extra=["E777777,10.00,0,0"])),
        )
        handle = await start_run(client, own, start)
        final = await handle.result()
        stats = await stack.stats()
    assert final.status == "invalid_input"
    assert stats.get("runs_created", 0) == 0  # nothing reached the provider
    found = {(e.file, e.row, e.column): e for e in final.input_errors}
    ssn = found[("roster", 6, "ssn")]
    assert ssn.value == "***3456" and "666-12-3456" not in ssn.model_dump_json()
    routing = found[("roster", 7, "routing_number")]
    assert routing.rule == "aba_checksum" and routing.value == "***0018"
    unknown = [e for e in final.input_errors if e.rule == "unknown_employee"]
    assert unknown and unknown[0].file == "inputs"
    raw = (await handle.fetch_history()).to_json()
    assert "666-12-3456" not in raw and "234-56-7890" not in raw


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", "payroll", *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_cli_starts_once_shows_status_and_refuses_the_submitter(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
    tmp_path: Path,
) -> None:
    async with payroll_stack(client, settings, gpg_keys, pool=pool) as stack:
        own = stack.settings
        feed = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        start = start_input(
            feed, own, land(lz, "r.csv", roster_csv(4)), land(lz, "i.csv", inputs_csv(4))
        )
        document = tmp_path / "run.json"
        document.write_text(start.model_dump_json())
        first = await asyncio.to_thread(_cli, own, "start", "--input", f"@{document}")
        second = await asyncio.to_thread(_cli, own, "start", "--input", f"@{document}")
        workflow_id = run_workflow_id(start)
        assert first.stdout.strip() == f"started {workflow_id}", first.stderr
        assert second.stdout.strip() == f"already started: {workflow_id}"
        # The same company and period with another input: refused like the API's 409.
        other = tmp_path / "other.json"
        other.write_text(start.model_copy(update={"approvers": ["fin:ada"]}).model_dump_json())
        conflict = await asyncio.to_thread(_cli, own, "start", "--input", f"@{other}")
        assert conflict.returncode == 1, conflict.stderr
        assert f"{workflow_id} was already started with another input" in conflict.stderr
        handle = client.get_workflow_handle(workflow_id, result_type=PayrollState)
        await wait_status(handle, "awaiting_approval")
        shown = await asyncio.to_thread(_cli, own, "status", start.run_key)
        assert json.loads(shown.stdout)["status"] == "awaiting_approval"
        own_approval = await asyncio.to_thread(
            _cli, own, "approve", workflow_id, "--actor", "hr:sam"
        )
        assert own_approval.returncode == 1 and "separation of duties" in own_approval.stderr
        rejected = await asyncio.to_thread(
            _cli, own, "reject", workflow_id, "--actor", "fin:bob", "--reason", "wrong period"
        )
        assert rejected.returncode == 0 and rejected.stdout.strip().endswith("rejected")
        assert (await handle.result()).status == "rejected"
