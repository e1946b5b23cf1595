"""PSP reports and bank statements arriving over SFTP: file intake lands each part, the last
part of a day's report reconciles it once and hands it to every payout's workflow (starting the
ones no webhook has started yet), waiting webhook events are tied to their payouts, and a landed
bank statement reaches every open payout, which matches its deposit."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date
from pathlib import Path

import asyncpg
from temporalio.client import Client, WorkflowHandle

from devstack.localstack.sshd import LocalSshd
from intake.naming import NamingContract
from runtime.settings import Settings
from stores.feeds import register_feed
from tests.test_payout_workflow import PAYOUT_COLUMNS, TXN_COLUMNS, camt_statement
from wire.intake import FeedConfig, FeedSchedule, IntakeRequest, IntakeRunResult, SftpSource
from wire.payout_case import PayoutState
from wire.workflow_ids import workflow_id as _workflow_id

DAY = date(2024, 5, 2)


def report_feed(server: LocalSshd, partner: str, entity: str, part: str | None) -> FeedConfig:
    statement = part is None
    return FeedConfig(
        partner_id=partner,
        feed=entity,
        sftp=SftpSource(
            host=server.host,
            port=server.port,
            username=server.login_user,
            host_key=server.host_key.public_line,
            private_key="client",
        ),
        naming=NamingContract(
            pattern="{system}_{entity}_{date}_seq-{sequence}.{ext}",
            system=partner,
            entity=entity,
            extensions=("xml",) if statement else ("csv",),
        ),
        file_contract="bank_statement.v1" if statement else "psp_report.v1",
        handoff="bank_statement" if statement else "psp_report",
        report_part=part,
        schedule=FeedSchedule(interval_minutes=60),
        settle_seconds=0.2,
    )


def report_parts(good: str, bad: str) -> dict[str, bytes]:
    """Two payouts: ``good`` adds up (10,000 - 500 - fees), ``bad`` is 700 short of its
    transactions. The link file ties each payout's transactions to it."""
    created = "2024-05-01 10:00:00"
    txns = {
        good: [("c1", 6000, 204, "charge"), ("c2", 4000, 146, "charge"), ("r1", -500, 0, "refund")],
        bad: [("c1", 9000, 291, "charge")],
    }
    net = {p: sum(a - f for _, a, f, _ in rows) for p, rows in txns.items()}
    payouts = [PAYOUT_COLUMNS] + [
        f"{p},{net[p] - (700 if p == bad else 0)},{DAY} 00:00:00,usd,paid,PAYOUT {p[-6:]},{created}"
        for p in (good, bad)
    ]
    rows, links = [TXN_COLUMNS], ["payout_id,balance_transaction_id"]
    for p, entries in txns.items():
        for suffix, amount, fee, kind in entries:
            tid = f"txn_{suffix}_{p}"
            rows.append(
                f"{tid},{amount},{fee},{amount - fee},usd,{kind},{p},ch_x,available,{created}"
            )
            links.append(f"{p},{tid}")
    return {
        "payouts": ("\n".join(payouts) + "\n").encode(),
        "balance_transactions": ("\n".join(rows) + "\n").encode(),
        "links": ("\n".join(links) + "\n").encode(),
    }


async def intake(client: Client, settings: Settings, feed: FeedConfig) -> IntakeRunResult:
    result: IntakeRunResult = await client.execute_workflow(
        "FileIntake",
        IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
        id=f"intake-{feed.partner_id}-{feed.feed}-{uuid.uuid4().hex[:6]}",
        task_queue=settings.task_queue_general,
        result_type=IntakeRunResult,
    )
    return result


async def wait_status(handle: WorkflowHandle[object, PayoutState], *status: str) -> PayoutState:
    for _ in range(300):
        state: PayoutState | None = await handle.query("state", result_type=PayoutState)
        if state is not None and state.status in status:
            return state
        await asyncio.sleep(0.1)
    raise AssertionError(f"payout never reached {status}: {state}")


async def test_report_parts_over_sftp_reconcile_once_and_a_statement_settles_the_payout(
    sshd_server: LocalSshd,
    client: Client,
    workers: Settings,
    pool: asyncpg.Pool,
    tmp_path: Path,
) -> None:
    partner = f"psp{uuid.uuid4().hex[:8]}"
    good, bad = f"po_good{uuid.uuid4().hex[:10]}", f"po_bad{uuid.uuid4().hex[:10]}"
    parts = report_parts(good, bad)
    feeds = {
        part: report_feed(sshd_server, partner, entity, part)
        for part, entity in (
            ("payouts", "payouts"),
            ("balance_transactions", "txns"),
            ("links", "links"),
        )
    }
    for feed in feeds.values():
        await register_feed(pool, client, workers, feed)
    # A webhook event that arrived before anyone knew its payout: the report ties it.
    await pool.execute(
        """INSERT INTO webhook_inbox (provider, event_id, event_type, balance_transaction,
                                      payload, forward)
           VALUES ($1, $2, 'charge.captured', $3, '{}'::jsonb, true)""",
        partner,
        f"evt_{uuid.uuid4().hex}",
        f"txn_c1_{good}",
    )

    handoffs = []
    for n, (part, feed) in enumerate(feeds.items(), start=1):
        name = f"{partner}_{feed.feed}_{DAY}_seq-{n:05d}.csv"
        sshd_server.drop_file("inbox", name, parts[part])
        result = await intake(client, workers, feed)
        assert [d.outcome for d in result.decisions] == ["landed"], result.decisions
        handoffs.append(
            await pool.fetchrow(
                "SELECT report_id, payouts, exceptions, handed_off FROM psp_reports "
                "WHERE partner_id = $1",
                partner,
            )
        )
    # Reconciled once, and only when the third (links) part completed the day's report.
    assert handoffs[0] is None and handoffs[1] is None
    report = handoffs[2]
    assert report is not None
    assert (report["payouts"], report["exceptions"], report["handed_off"]) == (2, 1, 2)
    tied = await pool.fetchval("SELECT payout_id FROM webhook_inbox WHERE provider = $1", partner)
    assert tied == good

    bad_state = await wait_status(
        client.get_workflow_handle(_workflow_id("Payout", bad)), "awaiting_deposit"
    )
    assert bad_state.reconciliation is not None
    assert bad_state.reconciliation.status == "exception"
    kinds = {d.kind for d in bad_state.reconciliation.discrepancies}
    assert kinds == {"amount_mismatch"}, bad_state.reconciliation.discrepancies
    good_handle: WorkflowHandle[object, PayoutState] = client.get_workflow_handle(
        _workflow_id("Payout", good)
    )
    good_state = await wait_status(good_handle, "awaiting_deposit")
    assert good_state.reconciliation is not None
    assert good_state.reconciliation.status == "reconciled"
    amount = good_state.reconciliation.payout_amount
    assert amount == 10_000 - 500 - 204 - 146

    # The bank's statement arrives through its own feed and reaches both open payouts.
    bank = f"bank{uuid.uuid4().hex[:8]}"
    statement_feed = report_feed(sshd_server, bank, "statement", None)
    await register_feed(pool, client, workers, statement_feed)
    statement = Path(camt_statement(tmp_path, good, amount, DAY).path).read_bytes()
    sshd_server.drop_file("inbox", f"{bank}_statement_{DAY}_seq-00001.xml", statement)
    result = await intake(client, workers, statement_feed)
    assert [d.outcome for d in result.decisions] == ["landed"], result.decisions
    final = await wait_status(good_handle, "reconciled")
    assert final.deposit is not None and final.deposit.status == "matched"
    bad_final = await wait_status(
        client.get_workflow_handle(_workflow_id("Payout", bad)), "exception"
    )
    # Itemised: the report's amount mismatch, and the deposit the statement does not hold.
    assert bad_state.reconciliation.discrepancies[0].message in bad_final.exception_reasons
    assert bad_final.deposit is not None and bad_final.deposit.status == "not_found"
    signalled = await pool.fetchval(
        "SELECT signalled FROM bank_statement_files WHERE partner_id = $1", bank
    )
    assert signalled >= 2


async def test_a_report_delivered_again_is_not_reconciled_twice(
    sshd_server: LocalSshd,
    client: Client,
    workers: Settings,
    pool: asyncpg.Pool,
) -> None:
    """The same day's parts delivered again under new names (new sequence numbers, same bytes)
    are duplicates to intake; a changed part makes a new report id, reconciled once more."""
    partner = f"psp{uuid.uuid4().hex[:8]}"
    good, bad = f"po_good{uuid.uuid4().hex[:10]}", f"po_bad{uuid.uuid4().hex[:10]}"
    parts = report_parts(good, bad)
    feeds = {
        "payouts": report_feed(sshd_server, partner, "payouts", "payouts"),
        "balance_transactions": report_feed(sshd_server, partner, "txns", "balance_transactions"),
    }
    for feed in feeds.values():
        await register_feed(pool, client, workers, feed)
    for n in (1, 2):
        for part, feed in feeds.items():
            name = f"{partner}_{feed.feed}_{DAY}_seq-{n:05d}.csv"
            sshd_server.drop_file("inbox", name, parts[part])
            result = await intake(client, workers, feed)
            expected = "landed" if n == 1 else "duplicate"
            assert [d.outcome for d in result.decisions] == [expected], result.decisions
    reports = await pool.fetch("SELECT report_id FROM psp_reports WHERE partner_id = $1", partner)
    assert len(reports) == 1  # no links feed for this partner: two parts make the report
    stored = await pool.fetch(
        "SELECT payout_id, outcome FROM payout_reconciliations WHERE report_id = $1",
        reports[0]["report_id"],
    )
    statuses = {r["payout_id"]: json.loads(r["outcome"])["status"] for r in stored}
    assert statuses == {good: "reconciled", bad: "exception"}


def test_every_example_feed_in_the_repository_is_valid() -> None:
    """The example feeds are what a newcomer copies: each must load, and the PSP ones must
    make a complete report between them."""
    from stores.feeds import load_feed_file

    root = Path(__file__).resolve().parents[1] / "feeds"
    feeds = [load_feed_file(path) for path in sorted(root.glob("*.toml"))]
    parts = {f.report_part for f in feeds if f.handoff == "psp_report" and f.partner_id == "stripe"}
    assert parts == {"payouts", "balance_transactions", "links"}
    assert any(f.handoff == "bank_statement" for f in feeds)
