"""ACH returns end to end on the real dev server, PostgreSQL and sshd: ingest opens one case per
original entry, duplicates start nothing, ops steer cases through validated, audited updates,
and a re-presentment reaches the bank's outbox exactly once."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

import nacha
from ach_returns.state_machine import (
    ApproveRepresentment,
    CaseState,
    ProvideCorrection,
    ReturnCase,
    WriteOff,
)
from adapters.payload_codec import KeyRing
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from stores.ach import ingest, workflow_id
from stores.feeds import register_feed
from tests.ach_support import bank_feed, bank_file, fresh_odfi, originate, outbound_debits, write
from tests.replay import record_history
from wire.ach import IngestRequest
from wire.intake import FeedConfig


async def wait_for_state(
    handle: WorkflowHandle[object, object], *states: CaseState, timeout: float = 30
) -> ReturnCase:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        case: ReturnCase | None = await handle.query("case", result_type=ReturnCase)
        if case is not None and case.state in states:
            return case
        assert asyncio.get_running_loop().time() < deadline, f"case stuck in {case and case.state}"
        await asyncio.sleep(0.2)


@pytest.fixture
async def bank(
    sshd_server: LocalSshd, pool: asyncpg.Pool, client: Client, workers: Settings
) -> FeedConfig:
    feed = bank_feed(sshd_server, f"returns-{uuid.uuid4().hex[:6]}")
    await register_feed(pool, client, workers, feed)
    return feed


async def test_return_file_opens_cases_and_ops_steer_them(
    bank: FeedConfig,
    sshd_server: LocalSshd,
    client: Client,
    workers: Settings,
    pool: asyncpg.Pool,
    key_ring: KeyRing,
    tmp_path: Path,
) -> None:
    odfi, outbound = await originate(pool, workers, key_ring, bank, tmp_path, [5000, 6000, 7000])
    returns = bank_file(outbound, {0: "R01", 2: "R03"}, rdfi_trace_base=fresh_odfi())
    request = IngestRequest(
        path=str(write(tmp_path, "returns.ach", returns)),
        partner_id=bank.partner_id,
        bank_feed=bank.feed,
        received_on=date.today(),
    )
    summary = await ingest(pool, client, workers, request)
    assert (summary.returns, summary.signalled, summary.unmatched) == (2, 2, 0)
    assert summary.returns_by_code == {"R01": 1, "R03": 1}

    r01 = client.get_workflow_handle(workflow_id(f"{odfi}0000001"))
    r03 = client.get_workflow_handle(workflow_id(f"{odfi}0000003"))
    await wait_for_state(r01, CaseState.REPRESENTMENT_PENDING)
    await wait_for_state(r03, CaseState.AWAITING_CORRECTION)

    # The same file again: signals arrive, the cases recognise them, nothing happens twice.
    again = await ingest(pool, client, workers, request)
    assert again.signalled == 2
    await asyncio.sleep(1)
    case = await r01.query("case", result_type=ReturnCase)
    assert case.codes == ["R01"] and len(case.timeline) == 1
    runs = [w async for w in client.list_workflows(f"WorkflowId = '{r01.id}'")]
    assert len(runs) == 1

    # Search attributes make the Web UI's list filterable by business keys.
    found = [
        w
        async for w in client.list_workflows(
            f"TraceNumber = '{odfi}0000001' AND ReturnCode = 'R01' AND Partner = 'firstbank'"
        )
    ]
    assert [w.id for w in found] == [r01.id]

    # Approve the re-presentment: RETRY PYMT lands in the bank's outbox, exactly once.
    case = await r01.execute_update(
        "approve_representment",
        ApproveRepresentment(actor="ops:ann", reason="customer says funds are in"),
        result_type=ReturnCase,
    )
    assert case.state == CaseState.REPRESENTED and case.representments == 1
    name = f"RETRY-{odfi}0000001-1.ach"
    assert [p.name for p in sshd_server.folder("outbox").iterdir()] == [name]
    sent = nacha.read(sshd_server.folder("outbox") / name)
    assert nacha.validate(sent, strict=True) == []
    (batch,) = sent.batches
    (entry,) = batch.entries
    assert batch.header.company_entry_description.strip() == "RETRY PYMT"
    assert entry.detail.amount_cents == 5000 and entry.detail.transaction_code == 27
    assert entry.detail.trace_number.startswith(odfi)
    assert entry.detail.trace_number != f"{odfi}0000001"
    audit = await pool.fetchrow(
        "SELECT actor, action, reason FROM audit_log WHERE subject = $1", f"{odfi}0000001"
    )
    assert audit is not None and tuple(audit) == (
        "ops:ann",
        "ach.approve",
        "customer says funds are in",
    )

    # A correction with a bad routing number is refused by the validator: nothing in history.
    before = len((await r03.fetch_history()).events)
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await r03.execute_update(
            "provide_correction",
            ProvideCorrection(
                actor="ops:bo",
                reason="bank letter",
                routing_number="091000018",
                account_number="5550001234",
            ),
        )
    assert "check digit" in str(refused.value.cause)
    history = await r03.fetch_history()
    assert len(history.events) == before
    assert not any(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        for e in history.events
    )
    case = await r03.execute_update(
        "provide_correction",
        ProvideCorrection(
            actor="ops:bo",
            reason="bank letter",
            routing_number="091000019",
            account_number="5550001234",
        ),
        result_type=ReturnCase,
    )
    assert case.state == CaseState.CORRECTED
    sealed = await pool.fetchval(
        "SELECT fields_sealed FROM ach_corrections WHERE trace_number = $1", f"{odfi}0000003"
    )
    assert sealed and "5550001234" not in sealed  # sealed in PostgreSQL too
    with pytest.raises(WorkflowUpdateFailedError, match="Workflow update failed"):
        await r03.execute_update("write_off", WriteOff(actor="ops:bo", reason="too late"))

    timeline = await r01.query("timeline")
    assert [t["what"] for t in timeline][:2] == ["return R01 received", "re-presentment 1 approved"]
    await record_history(r01, "AchReturn")


async def test_unauthorized_blocks_unknown_is_exception_noc_applies(
    bank: FeedConfig,
    client: Client,
    workers: Settings,
    pool: asyncpg.Pool,
    key_ring: KeyRing,
    tmp_path: Path,
) -> None:
    odfi, outbound = await originate(pool, workers, key_ring, bank, tmp_path, [1000, 2000])
    stray_odfi = fresh_odfi()
    stray = outbound_debits(stray_odfi, [999], date.today())  # never imported: unknown trace
    for name, data in (
        ("r10.ach", bank_file(outbound, {0: "R10"}, rdfi_trace_base=fresh_odfi())),
        ("noc.ach", bank_file(outbound, {1: "C01"}, rdfi_trace_base=fresh_odfi())),
        ("stray.ach", bank_file(stray, {0: "R01"}, rdfi_trace_base=fresh_odfi())),
    ):
        await ingest(
            pool,
            client,
            workers,
            IngestRequest(
                path=str(write(tmp_path, name, data)),
                partner_id=bank.partner_id,
                bank_feed=bank.feed,
                received_on=date.today(),
            ),
        )
    stopped = await wait_for_state(
        client.get_workflow_handle(workflow_id(f"{odfi}0000001")), CaseState.STOPPED
    )
    assert stopped.codes == ["R10"]
    blocked = await pool.fetchrow(
        "SELECT account_last4, reason FROM blocked_accounts WHERE trace_number = $1",
        f"{odfi}0000001",
    )
    assert blocked is not None and blocked["reason"].startswith("R10")
    await wait_for_state(
        client.get_workflow_handle(workflow_id(f"{odfi}0000002")), CaseState.NOC_APPLIED
    )
    assert (
        await pool.fetchval(
            "SELECT source FROM ach_corrections WHERE trace_number = $1", f"{odfi}0000002"
        )
        == "C01"
    )
    unknown = await wait_for_state(
        client.get_workflow_handle(workflow_id(f"{stray_odfi}0000001")), CaseState.EXCEPTION
    )
    assert unknown.exception_reason == "no original entry matches this trace number"
    events = await pool.fetch(
        "SELECT event_type FROM outbox_events WHERE subject = ANY($1::text[])",
        [f"{odfi}0000001", f"{stray_odfi}0000001"],
    )
    assert {e["event_type"] for e in events} == {"ach.return.unauthorized", "ach.return.exception"}
    assert random  # (module imported for fresh ids in helpers)
