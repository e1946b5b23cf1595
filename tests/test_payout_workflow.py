"""The Payout workflow end to end on the real dev server (and the time-skipping server for its
SLA timers): webhook events deduplicated, the PSP report and the bank statement handed in by
reference, reconciled or an itemised exception that ops resolve."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import WorkflowEnvironment

from runtime.settings import Settings
from tests.plugins.services import settings_env
from tests.replay import record_history
from wire.payout_case import PayoutState, ReportRef, Resolve, StatementRef
from wire.payouts import PayoutStart, PspEvent
from workers.runner import run_workers

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "stripe"
PAYOUT_COLUMNS = "id,amount,arrival_date,currency,status,statement_descriptor,created"
TXN_COLUMNS = "id,amount,fee,net,currency,type,payout_id,source,status,created"


def report_files(tmp: Path, payout_id: str, arrival: date) -> ReportRef:
    """A consistent report: two charges, one refund; net 10,000 - 500 - fees = payout."""
    charges = [(f"txn_c1_{payout_id}", 6000, 204), (f"txn_c2_{payout_id}", 4000, 146)]
    refund = (f"txn_r1_{payout_id}", -500, 0)
    net = sum(a - f for _, a, f in [*charges, refund])
    created = "2024-05-01 10:00:00"
    (tmp / "payouts.csv").write_text(
        f"{PAYOUT_COLUMNS}\n{payout_id},{net},{arrival} 00:00:00,usd,paid,ACME PAYOUT,{created}\n"
    )
    rows = [
        f"{tid},{amount},{fee},{amount - fee},usd,{kind},{payout_id},ch_x,available,{created}"
        for (tid, amount, fee), kind in zip(
            [*charges, refund], ["charge", "charge", "refund"], strict=True
        )
    ]
    (tmp / "balance_transactions.csv").write_text("\n".join([TXN_COLUMNS, *rows]) + "\n")
    return ReportRef(
        payouts_path=str(tmp / "payouts.csv"),
        balance_transactions_path=str(tmp / "balance_transactions.csv"),
    )


def camt_statement(tmp: Path, payout_id: str, amount_minor: int, value_date: date) -> StatementRef:
    entry = (
        f'<Ntry><Amt Ccy="USD">{amount_minor / 100:.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        f"<Sts><Cd>BOOK</Cd></Sts><ValDt><Dt>{value_date}</Dt></ValDt>"
        f"<NtryDtls><TxDtls><Refs><EndToEndId>{payout_id}</EndToEndId></Refs></TxDtls>"
        "</NtryDtls></Ntry>"
    )
    xml = (
        '<?xml version="1.0"?>\n<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">'
        "<BkToCstmrStmt><Stmt><Id>S1</Id><Acct><Id><Othr><Id>987</Id></Othr></Id></Acct>"
        f"{entry}</Stmt></BkToCstmrStmt></Document>"
    )
    path = tmp / "statement.xml"
    path.write_text(xml)
    return StatementRef(path=str(path))


def event(payout_id: str, event_id: str, kind: str = "charge.captured") -> PspEvent:
    return PspEvent(
        provider="stripe",
        event_id=event_id,
        type=kind,
        created=datetime(2024, 5, 1, tzinfo=UTC),
        payout_id=payout_id,
    )


async def _state(handle: WorkflowHandle[object, PayoutState]) -> PayoutState:
    state: PayoutState | None = await handle.query("state", result_type=PayoutState)
    assert state is not None
    return state


async def _wait(handle: WorkflowHandle[object, PayoutState], status: str) -> PayoutState:
    for _ in range(150):
        state = await _state(handle)
        if state.status == status:
            return state
        await asyncio.sleep(0.2)
    raise AssertionError(f"payout stuck in {state.status}")


async def test_payout_reconciles_with_report_and_deposit(
    client: Client, workers: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    payout_id = f"po_{uuid.uuid4().hex[:16]}"
    handle = await client.start_workflow(
        "Payout",
        PayoutStart(payout_id=payout_id, provider="stripe"),
        id=f"payout-{payout_id}",
        task_queue=workers.task_queue_general,
        start_signal="psp_event",
        start_signal_args=[event(payout_id, "evt_1")],
        result_type=PayoutState,
    )
    await handle.signal("psp_event", event(payout_id, "evt_1"))  # redelivered: ignored
    await handle.signal("psp_event", event(payout_id, "evt_2", "payout.paid"))
    report = report_files(tmp_path, payout_id, date(2024, 5, 2))
    await handle.signal("report_landed", report)
    state = await _wait(handle, "awaiting_deposit")
    assert state.reconciliation is not None
    assert state.reconciliation.status == "reconciled"
    net = state.reconciliation.payout_amount or 0
    assert state.reconciliation.totals.refunds == -500
    with pytest.raises(WorkflowUpdateFailedError):  # nothing to resolve: refused, not recorded
        await handle.execute_update("resolve", Resolve(actor="ops", reason="early"))
    await handle.signal(
        "statement_landed", camt_statement(tmp_path, payout_id, net, date(2024, 5, 2))
    )
    final = await handle.result()
    await record_history(handle, "Payout")
    assert final.status == "reconciled"
    assert final.event_ids == ["evt_1", "evt_2"] and final.paid
    assert final.deposit is not None and final.deposit.status == "matched"
    found = [
        w.id
        async for w in client.list_workflows(
            f"PayoutId = '{payout_id}' AND PayoutStatus = 'reconciled' AND Currency = 'USD'"
            f" AND AmountMinor = {net}"
        )
    ]
    assert found == [handle.id]
    assert (
        await pool.fetchval("SELECT event_type FROM outbox_events WHERE subject = $1", payout_id)
        == "payout.reconciled"
    )
    # The ops CLI reads the same state (asynchronously: this loop runs the session's workers).
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli.main",
        "payouts",
        "show",
        payout_id,
        env=settings_env(workers),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out)["status"] == "reconciled"


async def test_real_stripe_report_gives_an_itemised_exception_ops_resolve(
    client: Client, workers: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> None:
    # In the real seeds, payout po_0II1gG... does not add up (see tests/test_payouts_*).
    payout_id = next(
        line.split(",")[0]
        for line in (CORPUS / "fivetran_payout_data.csv").read_text().splitlines()
        if line.startswith("po_0II1gG")
    )
    handle = await client.start_workflow(
        "Payout",
        PayoutStart(payout_id=payout_id, provider="stripe"),
        id=f"payout-{payout_id}-{uuid.uuid4().hex[:6]}",
        task_queue=workers.task_queue_general,
        result_type=PayoutState,
    )
    await handle.signal(
        "report_landed",
        ReportRef(
            payouts_path=str(CORPUS / "fivetran_payout_data.csv"),
            balance_transactions_path=str(CORPUS / "fivetran_balance_transaction_data.csv"),
            links_path=str(CORPUS / "fivetran_payout_balance_transaction_data.csv"),
        ),
    )
    await handle.signal(
        "statement_landed", camt_statement(tmp_path, payout_id, 1, date(2021, 1, 1))
    )
    state = await _wait(handle, "exception")
    assert state.reconciliation is not None and state.reconciliation.discrepancies
    kinds = {d.kind for d in state.reconciliation.discrepancies}
    assert "amount_mismatch" in kinds
    assert state.deposit is not None and state.deposit.status == "not_found"
    assert len(state.exception_reasons) >= 2  # every discrepancy itemised, not just a flag
    resolved = await handle.execute_update(
        "resolve",
        Resolve(actor="ops:fay", reason="PSP confirmed a manual adjustment", resolution="adjusted"),
        result_type=PayoutState,
    )
    assert resolved.status == "resolved" and resolved.resolved_by == "ops:fay"
    assert (await handle.result()).status == "resolved"
    audit = await pool.fetchrow("SELECT actor, action FROM audit_log WHERE subject = $1", payout_id)
    assert audit is not None and tuple(audit) == ("ops:fay", "payout.resolve.adjusted")


@pytest.fixture
async def skipping(
    time_skipping_env: WorkflowEnvironment, settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[tuple[WorkflowEnvironment, Settings]]:
    own = settings.model_copy(update={"task_queue_general": f"ts-pay-{uuid.uuid4().hex[:8]}"})
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_workers(
            time_skipping_env.client, own, ("general",), pool, stop=stop, install_signals=False
        )
    )
    yield time_skipping_env, own
    stop.set()
    await task


async def test_late_report_raises_an_sla_breach_and_a_missing_deposit_an_exception(
    skipping: tuple[WorkflowEnvironment, Settings], pool: asyncpg.Pool, tmp_path: Path
) -> None:
    env, settings = skipping
    payout_id = f"po_{uuid.uuid4().hex[:16]}"
    handle = await env.client.start_workflow(
        "Payout",
        PayoutStart(payout_id=payout_id, provider="stripe"),
        id=f"payout-{payout_id}",
        task_queue=settings.task_queue_general,
        result_type=PayoutState,
    )
    await env.sleep(timedelta(days=3))
    assert (await _state(handle)).report_late
    await handle.signal("report_landed", report_files(tmp_path, payout_id, date(2024, 5, 2)))
    await env.sleep(timedelta(days=6))
    state = await _state(handle)
    assert state.status == "exception" and state.deposit_late
    assert "no bank deposit arrived within the window" in state.exception_reasons
    kinds = [
        r["event_type"]
        for r in await pool.fetch(
            "SELECT event_type FROM outbox_events WHERE subject = $1 ORDER BY created_at", payout_id
        )
    ]
    assert kinds == ["payout.report_late", "payout.exception"]
    await handle.execute_update("resolve", Resolve(actor="ops", reason="bank confirmed by phone"))
    assert (await handle.result()).status == "resolved"
