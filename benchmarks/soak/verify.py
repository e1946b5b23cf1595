"""After the load: let everything drain, then prove the invariants from PostgreSQL, the
partners' SFTP folders, Temporal and the log files, and compute the figures of the report."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowExecutionStatus

from ach_returns.state_machine import CaseState, ReturnCase
from stores.ach import workflow_id as ach_workflow_id
from wire import workflow_ids as ids
from wire.payout_case import PayoutState

from .chaos import Fault
from .load import EXPECTED_OUTCOME, SETTLED_FOLDERS, Ledger
from .stack import SoakStack

# Where each workflow type may legitimately still be running when the soak ends.
MAY_WAIT = {
    "Payout": "waiting for the PSP's payout report",
    "AchReturn": "representment_pending: waiting for an operator's decision",
}


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Outcome:
    checks: list[Check] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    @property
    def passed(self) -> bool:
        return all(c.ok for c in self.checks)


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


async def _fetch(pool: asyncpg.Pool, sql: str, *args: Any) -> list[asyncpg.Record]:
    # The pool's connections may have died with PostgreSQL: retry on fresh ones.
    for attempt in range(20):
        try:
            rows: list[asyncpg.Record] = await pool.fetch(sql, *args)
            return rows
        except (asyncpg.PostgresConnectionError, OSError, asyncpg.InterfaceError):
            if attempt == 19:
                raise
            await asyncio.sleep(0.5)
    raise AssertionError("unreachable")


async def drain(stack: SoakStack, ledger: Ledger, within: float) -> float:
    """Wait until every file settled, every event was forwarded and the payroll run ended.
    Returns the seconds it took (the caller reports a timeout through the invariants)."""
    began = time.monotonic()
    while time.monotonic() - began < within:
        files_done = all(f.settled_at is not None for f in ledger.files)
        row = (
            await _fetch(
                stack.pool,
                "SELECT count(*) FILTER (WHERE forwarded_at IS NULL AND forward) AS waiting, "
                "count(*) AS total FROM webhook_inbox",
            )
        )[0]
        events_done = row["waiting"] == 0 and row["total"] >= len(ledger.events)
        if files_done and events_done and ledger.payroll.finished_at is not None:
            break
        await asyncio.sleep(1)
    return time.monotonic() - began


async def check_files(stack: SoakStack, ledger: Ledger, out: Outcome) -> None:
    servers = {s.partner: s for s in stack.sshds}
    misplaced: list[str] = []
    for f in ledger.files:
        server = servers[f.partner]
        places = [
            folder
            for folder in ("inbox", *SETTLED_FOLDERS)
            for p in server.folder(folder).iterdir()
            if p.name == f.name or p.name.startswith(f"{f.name}.")
        ]
        want = "quarantine" if f.kind == "broken" else "archive"
        if places != [want]:
            misplaced.append(f"{f.partner}/{f.name} ({f.kind}) in {places}")
    leftovers = [f"{s.partner}/{p.name}" for s in stack.sshds for p in s.folder("inbox").iterdir()]
    out.add(
        "files archived or quarantined exactly once",
        not misplaced and not leftovers,
        f"{len(ledger.files)} files; misplaced {misplaced[:5]}; left in inboxes {leftovers[:5]}",
    )
    rows = await _fetch(
        stack.pool,
        "SELECT partner_id, feed, remote_name, outcome FROM intake_events "
        "WHERE partner_id = ANY($1)",
        sorted(servers),
    )
    decided = Counter((r["partner_id"], r["feed"], r["remote_name"]) for r in rows)
    outcome = {(r["partner_id"], r["feed"], r["remote_name"]): r["outcome"] for r in rows}
    keys = {f.name: (f.partner, f.feed, f.name) for f in ledger.files}
    wrong = [
        f"{f.name}: {decided[keys[f.name]]}x {outcome.get(keys[f.name])}"
        for f in ledger.files
        if decided[keys[f.name]] != 1 or outcome[keys[f.name]] != EXPECTED_OUTCOME[f.kind]
    ]
    out.add(
        "each file decided once, as expected (intake_events)",
        not wrong and len(rows) == len(ledger.files),
        f"{len(rows)} decisions for {len(ledger.files)} files; wrong {wrong[:5]}",
    )
    landed = {f.sha256 for f in ledger.files if f.kind in ("good", "returns")}
    manifest = await _fetch(
        stack.pool,
        "SELECT sha256, status FROM file_manifest WHERE partner_id = ANY($1)",
        sorted(servers),
    )
    landed_rows = Counter(r["sha256"] for r in manifest if r["status"] == "landed")
    out.add(
        "each distinct good file landed once (file_manifest)",
        set(landed_rows) == landed and all(n == 1 for n in landed_rows.values()),
        f"{len(landed)} distinct good contents, {sum(landed_rows.values())} landed rows",
    )
    reports = Counter(
        p.name
        for s in stack.sshds
        for p in s.folder("outbox").iterdir()
        if p.name.endswith(".errors.csv")
    )
    broken = {f"{f.name}.errors.csv" for f in ledger.files if f.kind == "broken"}
    out.add(
        "one error report per quarantined file (partner outbox)",
        broken <= set(reports) and all(reports[n] == 1 for n in broken),
        f"{len(broken)} quarantined, {len(reports)} reports",
    )
    settle = [f.settled_at - f.dropped_at for f in ledger.files if f.settled_at is not None]
    out.figures["file_settle_p50_s"] = pct(settle, 0.5)
    out.figures["file_settle_p95_s"] = pct(settle, 0.95)
    out.figures["files"] = dict(Counter(f.kind for f in ledger.files))


async def check_webhooks(stack: SoakStack, ledger: Ledger, out: Outcome) -> None:
    rows = await _fetch(
        stack.pool,
        "SELECT event_id, payout_id, forward, extract(epoch FROM forwarded_at) AS forwarded "
        "FROM webhook_inbox WHERE provider = 'stripe'",
    )
    stored = Counter(r["event_id"] for r in rows)
    sent = set(ledger.events)
    missing = sent - set(stored)
    extra = set(stored) - sent
    twice = [e for e, n in stored.items() if n > 1]
    unaccepted = [e for e, s in ledger.events.items() if s.accepted_at is None]
    out.add(
        "every webhook event stored once (webhook_inbox)",
        not missing and not extra and not twice and not unaccepted,
        f"{len(sent)} sent, {len(rows)} rows; missing {len(missing)}, unknown {len(extra)}, "
        f"twice {len(twice)}, never accepted {len(unaccepted)}; "
        f"{ledger.redeliveries} redeliveries absorbed",
    )
    unforwarded = [r["event_id"] for r in rows if r["forwarded"] is None]
    out.add(
        "every webhook event forwarded",
        not unforwarded,
        f"{len(rows) - len(unforwarded)} forwarded, {len(unforwarded)} not",
    )
    forwarded_at = {r["event_id"]: float(r["forwarded"]) for r in rows if r["forwarded"]}
    latency = [
        forwarded_at[e] - s.first_sent_at for e, s in ledger.events.items() if e in forwarded_at
    ]
    out.figures["webhook_forward_p50_s"] = pct(latency, 0.5)
    out.figures["webhook_forward_p95_s"] = pct(latency, 0.95)
    out.figures["forwarded_times"] = sorted(forwarded_at.values())

    wrong: list[str] = []
    signals = redundant = 0
    for payout_id, event_ids in ledger.payouts.items():
        handle = stack.client.get_workflow_handle(ids.workflow_id("Payout", payout_id))
        state = await handle.query("state", result_type=PayoutState)
        seen = list(state.event_ids) if state is not None else []
        if sorted(seen) != sorted(event_ids):
            wrong.append(
                f"{payout_id}: saw {len(seen)} ({len(set(seen))} distinct) of {len(event_ids)}"
            )
        history = await handle.fetch_history()
        n = sum(
            1
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        )
        signals += n
        redundant += max(0, n - len(event_ids))
    out.add(
        "each payout workflow saw each of its events exactly once (query state)",
        not wrong,
        f"{len(ledger.payouts)} payouts; wrong {wrong[:5]}; {signals} signals delivered, "
        f"{redundant} redundant (absorbed by the workflow)",
    )


async def check_workflows(stack: SoakStack, ledger: Ledger, out: Outcome) -> None:
    tally: Counter[tuple[str, str]] = Counter()
    bad: list[str] = []
    running: list[str] = []
    async for wf in stack.client.list_workflows(""):
        status = wf.status.name if wf.status is not None else "UNKNOWN"
        tally[(wf.workflow_type, status)] += 1
        if wf.status == WorkflowExecutionStatus.COMPLETED:
            continue
        if wf.status == WorkflowExecutionStatus.RUNNING and wf.workflow_type in MAY_WAIT:
            running.append(wf.id)
            continue
        bad.append(f"{wf.id} {wf.workflow_type} {status}")
    out.figures["workflows"] = {f"{t} {s}": n for (t, s), n in sorted(tally.items())}
    failed_tasks, stuck_ids = await _workflow_task_failures(stack, running)
    out.figures["workflow_task_failures"] = failed_tasks
    bad += [f"{wid} stuck on a failing workflow task" for wid in stuck_ids]
    # Each intake run by id as well: the list is the visibility store, which may lag.
    listed = sum(n for (t, _), n in tally.items() if t == "FileIntake")
    for workflow_id in ledger.intake_ids:
        described = await stack.client.get_workflow_handle(workflow_id).describe()
        if described.status != WorkflowExecutionStatus.COMPLETED:
            name = described.status.name if described.status else "UNKNOWN"
            why = await _failure(stack, workflow_id)
            bad.append(f"{workflow_id} FileIntake {name}: {why}")
    out.figures["intake_runs_listed_vs_started"] = (listed, len(ledger.intake_ids))
    out.add(
        "every workflow completed or waiting where it should",
        not bad,
        f"{sum(tally.values())} workflows; unexpected {bad[:5]}",
    )
    stuck: list[str] = []
    for trace in ledger.returned_traces:
        handle = stack.client.get_workflow_handle(ach_workflow_id(trace))
        try:
            case = await handle.query("case", result_type=ReturnCase)
        except Exception as exc:
            stuck.append(f"{trace}: {type(exc).__name__}")
            continue
        if case is None or case.state != CaseState.REPRESENTMENT_PENDING:
            stuck.append(f"{trace}: {case.state if case else None}")
    out.add(
        "every returned debit has one AchReturn case, awaiting a representment decision",
        not stuck,
        f"{len(ledger.returned_traces)} returns; wrong {stuck[:5]}",
    )
    run = ledger.payroll
    out.add(
        "the payroll run completed",
        run.status == "completed",
        f"{run.workflow_id} {run.status}",
    )


async def _failure(stack: SoakStack, workflow_id: str) -> str:
    """The failure of a closed run, with its causes (what a person reads first)."""
    history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
    last = history.events[-1]
    if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
        return EventType.Name(last.event_type)
    failure = last.workflow_execution_failed_event_attributes.failure
    messages = []
    while failure.message:
        messages.append(failure.message[:200])
        failure = failure.cause
    return " <- ".join(messages)


async def _workflow_task_failures(stack: SoakStack, ids: list[str]) -> tuple[int, list[str]]:
    """Workflow tasks that failed (a bug, not a fault: a killed worker's task times out), and
    the running workflows whose latest workflow task failed: stuck until a fix is deployed."""
    total, stuck = 0, []
    outcomes = {
        EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
    }
    for workflow_id in ids:
        history = await stack.client.get_workflow_handle(workflow_id).fetch_history()
        tasks = [e.event_type for e in history.events if e.event_type in outcomes]
        total += tasks.count(EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
        if tasks and tasks[-1] == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            stuck.append(workflow_id)
    return total, stuck


async def check_outbound(stack: SoakStack, ledger: Ledger, out: Outcome) -> None:
    rows = await _fetch(
        stack.pool,
        "SELECT nacha_file FROM payroll_runs WHERE run_id = $1",
        ledger.payroll.workflow_id,
    )
    nacha = rows[0]["nacha_file"] if rows else None
    names = [p.name for p in stack.bank.folder("outbox").iterdir()]
    copies = [n for n in names if nacha and (n == nacha or n.startswith(f"{nacha}."))]
    stats = await asyncio.to_thread(_sim_stats, stack.sim_url)
    out.add(
        "no duplicate outbound file (payroll NACHA uploaded once)",
        nacha is not None and copies == [nacha] and stats.get("runs_created") == 1,
        f"bank outbox {sorted(names)}; provider runs submitted {stats.get('runs_created', stats)}",
    )


def _sim_stats(url: str) -> dict[str, Any]:
    import httpx

    try:
        answer: dict[str, Any] = httpx.get(f"{url}/_sim/stats", timeout=5).json()
        return answer
    except httpx.HTTPError:
        return {}


async def check_alerts(stack: SoakStack, out: Outcome) -> None:
    """A fault that heals by itself must not alert or pause a feed: every part came back."""
    rows = await _fetch(
        stack.pool,
        "SELECT action, subject, reason FROM audit_log WHERE action LIKE 'intake.alert.%' "
        "ORDER BY subject",
    )
    alerts = [f"{r['subject']} {r['action']}: {r['reason'][:160]}" for r in rows]
    paused = []
    for feed in [p.feed for p in stack.partners] + [stack.returns_feed]:
        handle = stack.client.get_schedule_handle(ids.schedule_id(feed.partner_id, feed.feed))
        if (await handle.describe()).schedule.state.paused:
            paused.append(f"{feed.partner_id}/{feed.feed}")
    out.add(
        "no alert raised and no feed paused by a fault that healed",
        not alerts and not paused,
        f"{len(alerts)} alerts {alerts[:3]}; paused Schedules {paused}",
    )


def check_logs(stack: SoakStack, ledger: Ledger, out: Outcome) -> None:
    # Whole values only: an account number may be the prefix of a (non-PII) trace number.
    planted = re.compile(
        r"(?<![0-9])(" + "|".join(map(re.escape, sorted(ledger.planted_pii))) + r")(?![0-9])"
    )
    hits: list[str] = []
    scanned = 0
    logs = sorted(stack.logs.glob("*.log"))
    for log in logs:
        text = log.read_text(errors="replace")
        scanned += text.count("\n")
        hits += sorted({f"{log.name}: {m.group(1)}" for m in planted.finditer(text)})
    out.add(
        "no PII in any log line (planted SSNs and account numbers)",
        not hits,
        f"{scanned} lines in {len(logs)} logs, {len(ledger.planted_pii)} planted values; "
        f"found {hits[:5]}",
    )


def recovery(faults: list[Fault], ledger: Ledger, forwarded: list[float]) -> None:
    """Recovery = from the restart to the first successful operation of what the part serves:
    a file settled (worker, sshd: on that partner's server), a webhook accepted (PostgreSQL),
    an event forwarded to Temporal (Temporal)."""
    for fault in faults:
        if fault.kind == "worker":
            times = [f.settled_at for f in ledger.files if f.settled_at]
        elif fault.kind == "sshd":
            partner = fault.target.removeprefix("sshd of ")
            times = [f.settled_at for f in ledger.files if f.settled_at and f.partner == partner]
        elif fault.kind == "postgres":
            times = ledger.webhook_accepts
        else:
            times = forwarded
        after = [t for t in times if t >= fault.up_at]
        fault.recovered_at = min(after) if after else None


async def verify(stack: SoakStack, ledger: Ledger, faults: list[Fault]) -> Outcome:
    out = Outcome()
    await check_files(stack, ledger, out)
    await check_webhooks(stack, ledger, out)
    await check_workflows(stack, ledger, out)
    await check_outbound(stack, ledger, out)
    await check_alerts(stack, out)
    check_logs(stack, ledger, out)
    recovery(faults, ledger, out.figures.pop("forwarded_times"))
    return out
