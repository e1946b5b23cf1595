"""The soak's load, and the ledger of everything it sent (what the invariants are checked
against): partners' customer files (good, broken, duplicates under a new name), Stripe-signed
PSP webhooks at a steady rate, the bank's NACHA return files, and one payroll run."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import random
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

import httpx
from temporalio.client import Client, WorkflowHandle
from temporalio.exceptions import WorkflowAlreadyStartedError

from devstack.localstack.sshd import LocalSshd
from stores.ach import import_originations, lookup_key
from tests.ach_support import bank_file, fresh_odfi, outbound_debits
from tests.intake_support import HEADER, customer_rows, customers_csv
from tests.payroll_support import (
    PLANTED_ACCOUNT,
    PLANTED_SSN,
    inputs_csv,
    land,
    roster_csv,
    start_input,
)
from wire.intake import FeedConfig, IntakeRequest
from wire.payroll import Decision, PayrollState, run_workflow_id
from wire.workflow_ids import schedule_id

from .stack import BANK, STRIPE_SECRET, SoakStack

FileKind = Literal["good", "broken", "duplicate", "returns"]
EXPECTED_OUTCOME: dict[FileKind, str] = {
    "good": "landed",
    "broken": "quarantined",
    "duplicate": "duplicate",
    "returns": "landed",
}
SETTLED_FOLDERS = ("archive", "quarantine")


@dataclass
class DroppedFile:
    partner: str
    feed: str
    name: str
    kind: FileKind
    sha256: str
    dropped_at: float
    settled_at: float | None = None


@dataclass
class SentEvent:
    event_id: str
    payout_id: str
    first_sent_at: float
    accepted_at: float | None = None
    attempts: int = 0


@dataclass
class PayrollRecord:
    workflow_id: str = ""
    employees: int = 0
    started_at: float | None = None
    approved_at: float | None = None
    finished_at: float | None = None
    status: str = "not started"
    last_error: str = ""


@dataclass
class Ledger:
    files: list[DroppedFile] = field(default_factory=list)
    events: dict[str, SentEvent] = field(default_factory=dict)
    payouts: dict[str, list[str]] = field(default_factory=dict)
    redeliveries: int = 0
    returned_traces: list[str] = field(default_factory=list)
    # Values that must never appear in a log line (account numbers, SSNs).
    planted_pii: set[str] = field(default_factory=lambda: {PLANTED_SSN, PLANTED_ACCOUNT})
    payroll: PayrollRecord = field(default_factory=PayrollRecord)
    webhook_accepts: list[float] = field(default_factory=list)
    intake_starts: int = 0
    intake_ids: list[str] = field(default_factory=list)
    intake_start_failures: int = 0


# --- partners' files ------------------------------------------------------------------------


def broken_csv(n: int) -> bytes:
    start = random.randint(1, 10**9)
    rows = [f"{start + i},,not-an-email,2025-13-40,,XX,12.3.4,perhaps,?" for i in range(n)]
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode()


def drop(
    server: LocalSshd, ledger: Ledger, feed: str, name: str, kind: FileKind, data: bytes
) -> None:
    server.drop_file("inbox", name, data)
    ledger.files.append(
        DroppedFile(
            partner=server.partner,
            feed=feed,
            name=name,
            kind=kind,
            sha256=hashlib.sha256(data).hexdigest(),
            dropped_at=time.time(),
        )
    )


async def partner_drops(
    stack: SoakStack, ledger: Ledger, every: float, stop: asyncio.Event, rng: random.Random
) -> None:
    """Each partner drops a file every ``every`` seconds: mostly good, some broken, some the
    bytes of an earlier good file under a new name (a duplicate)."""
    sequence = dict.fromkeys((p.name for p in stack.partners), 0)
    goods: dict[str, list[bytes]] = {p.name: [] for p in stack.partners}
    while not stop.is_set():
        for partner in stack.partners:
            roll = rng.random()
            kind: FileKind
            if roll < 0.15:
                kind, data = "broken", broken_csv(5)
            elif roll < 0.3 and goods[partner.name]:
                kind, data = "duplicate", rng.choice(goods[partner.name])
            else:
                kind, data = "good", customers_csv(customer_rows(25))
                goods[partner.name].append(data)
            sequence[partner.name] += 1
            name = partner.feed.naming.format_name(
                file_date=date.today(),
                sequence=sequence[partner.name],
                crc32=zlib.crc32(data),
                extension="csv",
            )
            drop(partner.sshd, ledger, "customers", name, kind, data)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def intake_runs(
    client: Client,
    task_queue: str,
    feed: FeedConfig,
    inbox: Path,
    ledger: Ledger,
    halt: asyncio.Event,
) -> None:
    """Start a FileIntake run whenever files wait and none runs (like the feed's Schedule,
    overlap skipped). A start that failed is retried under the same id: if it did start after
    all, the retry attaches to it instead of starting a second run."""
    n = 1
    running: asyncio.Task[Any] | None = None
    while not halt.is_set():
        waiting = await asyncio.to_thread(_files_waiting, inbox)
        if waiting and (running is None or running.done()):
            workflow_id = f"{schedule_id(feed.partner_id, feed.feed)}-soak-{n:05d}"
            handle: WorkflowHandle[Any, Any]
            try:
                handle = await client.start_workflow(
                    "FileIntake",
                    IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
                    id=workflow_id,
                    task_queue=task_queue,
                )
                ledger.intake_starts += 1
            except WorkflowAlreadyStartedError:
                handle = client.get_workflow_handle(workflow_id)
            except Exception:
                ledger.intake_start_failures += 1
                await asyncio.sleep(1)
                continue
            n += 1
            ledger.intake_ids.append(workflow_id)
            running = asyncio.create_task(_quietly(handle.result()))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(halt.wait(), 1.0)
    if running is not None:  # the last run finishes (drained), so the checks see it closed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(running, 120)


def _files_waiting(inbox: Path) -> bool:
    return any(not p.name.startswith(".") for p in inbox.iterdir())


async def _quietly(awaitable: Any) -> None:
    with contextlib.suppress(Exception):
        await awaitable


async def watch_folders(stack: SoakStack, ledger: Ledger, halt: asyncio.Event) -> None:
    """Note when each dropped file shows up archived or quarantined, as the partner sees it."""
    servers = {s.partner: s for s in stack.sshds}
    while not halt.is_set():
        pending = [f for f in ledger.files if f.settled_at is None]
        seen: dict[str, set[str]] = {}
        for partner in {f.partner for f in pending}:
            server = servers[partner]
            seen[partner] = {
                p.name for folder in SETTLED_FOLDERS for p in server.folder(folder).iterdir()
            }
        now = time.time()
        for f in pending:
            if f.name in seen[f.partner]:
                f.settled_at = now
        await asyncio.sleep(0.25)


# --- PSP webhooks ---------------------------------------------------------------------------


def stripe_event(payout_id: str, index: int, last: bool) -> dict[str, Any]:
    obj: dict[str, Any]
    if last:
        kind = "payout.paid"
        obj = {"id": payout_id, "object": "payout", "amount": 10_000, "currency": "usd"}
    else:
        kind = ("charge.captured", "charge.refunded")[index % 2]
        obj = {
            "id": f"ch_{uuid.uuid4().hex[:14]}",
            "object": "charge",
            "amount": 100 + index,
            "currency": "usd",
            "balance_transaction": f"txn_{uuid.uuid4().hex[:14]}",
            "payout": payout_id,
        }
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "created": int(time.time()),
        "livemode": False,
        "type": kind,
        "data": {"object": obj},
    }


def stripe_signature(body: bytes) -> str:
    t = int(time.time())
    mac = hmac.new(STRIPE_SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


async def post_until_accepted(http: httpx.AsyncClient, body: bytes, give_up: float) -> int:
    """POST as a PSP does: retried with backoff until a 2xx. Returns the attempts made."""
    attempts, delay = 0, 0.25
    while True:
        attempts += 1
        try:
            answer = await http.post(
                "/webhooks/stripe",
                content=body,
                headers={
                    "Stripe-Signature": stripe_signature(body),
                    "Content-Type": "application/json",
                },
            )
            if answer.status_code < 300:
                return attempts
        except httpx.HTTPError:
            pass
        if time.monotonic() > give_up:
            raise TimeoutError("webhook never accepted")
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


async def webhooks(
    url: str, ledger: Ledger, rate: float, per_payout: int, stop: asyncio.Event
) -> None:
    """Open loop at ``rate`` events/s; every 50th request redelivers an accepted event."""
    tasks: set[asyncio.Task[None]] = set()
    accepted_bodies: list[bytes] = []
    gate = asyncio.Semaphore(32)

    async def deliver(http: httpx.AsyncClient, event: SentEvent | None, body: bytes) -> None:
        async with gate:
            with contextlib.suppress(TimeoutError):
                attempts = await post_until_accepted(http, body, time.monotonic() + 600)
                now = time.time()
                ledger.webhook_accepts.append(now)
                if event is not None:
                    event.accepted_at, event.attempts = now, attempts
                    accepted_bodies.append(body)

    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        began, i = time.monotonic(), 0
        payout_id = ""
        while not stop.is_set():
            delay = began + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if i % 50 == 49 and accepted_bodies:
                ledger.redeliveries += 1
                task = asyncio.create_task(deliver(http, None, random.choice(accepted_bodies)))
            else:
                position = len(ledger.events) % per_payout
                if position == 0:
                    payout_id = f"po_{uuid.uuid4().hex[:16]}"
                doc = stripe_event(payout_id, i, last=position == per_payout - 1)
                sent = SentEvent(doc["id"], payout_id, time.time())
                ledger.events[sent.event_id] = sent
                ledger.payouts.setdefault(payout_id, []).append(sent.event_id)
                task = asyncio.create_task(deliver(http, sent, json.dumps(doc).encode()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if tasks:
            await asyncio.gather(*tasks)


# --- the bank's return files ----------------------------------------------------------------


async def returns(
    stack: SoakStack, ledger: Ledger, every: float, per_file: int, stop: asyncio.Event
) -> None:
    """Debits we sent (imported as originations), then a return file of R01s every ``every``
    seconds for the next ``per_file`` of them."""
    capacity = 400
    odfi = fresh_odfi()
    outbound = outbound_debits(odfi, [1000 + i for i in range(capacity)], date.today())
    sent = stack.root / "sent.ach"
    sent.write_bytes(outbound)
    await import_originations(
        stack.pool,
        stack.ring,
        lookup_key(stack.settings),
        sent,
        partner_id=BANK,
        bank_feed=stack.returns_feed.feed,
        source="soak",
    )
    ledger.planted_pii |= {f"{odfi}{i:04d}" for i in range(capacity)}
    rdfi_base, index, sequence = fresh_odfi(), 0, 0
    while index + per_file <= capacity:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return
        answers = dict.fromkeys(range(index, index + per_file), "R01")
        sequence += 1
        name = f"{BANK}_returns_{date.today():%Y-%m-%d}_seq-{sequence:05d}.ach"
        drop(stack.bank, ledger, stack.returns_feed.feed, name, "returns",
             bank_file(outbound, answers, rdfi_trace_base=rdfi_base))  # fmt: skip
        ledger.returned_traces += [f"{odfi}{i + 1:07d}" for i in answers]
        index += per_file


# --- one payroll run ------------------------------------------------------------------------


async def payroll(stack: SoakStack, ledger: Ledger, employees: int, after: float) -> None:
    """Start a run, approve it when it waits for approval, follow it to the end; every call
    retried through the faults (the start and the update are idempotent by workflow id)."""
    await asyncio.sleep(after)
    folder = stack.settings.landing_zone_dir / "hris" / "soak"
    start = start_input(
        stack.payroll_feed,
        stack.settings,
        land(folder, "roster.csv", roster_csv(employees)),
        land(folder, "inputs.csv", inputs_csv(employees)),
        poll_initial_seconds=2,
    )
    record = ledger.payroll
    record.workflow_id, record.employees = run_workflow_id(start), employees
    record.started_at = time.time()
    while True:
        try:
            await stack.client.start_workflow(
                "PayrollRun",
                start,
                id=record.workflow_id,
                task_queue=stack.settings.task_queue_general,
            )
            break
        except WorkflowAlreadyStartedError:
            break
        except Exception:
            await asyncio.sleep(1)
    handle = stack.client.get_workflow_handle(record.workflow_id)
    while True:
        try:
            state = await handle.query("status", result_type=PayrollState)
            record.status = state.status
            if state.status == "awaiting_approval":
                await handle.execute_update(
                    "approve", Decision(actor="fin:ada", reason="soak"), result_type=PayrollState
                )
                record.approved_at = time.time()
            elif state.status in ("completed", "invalid_input", "provider_failed", "exception"):
                record.finished_at = time.time()
                return
        except Exception as exc:  # Temporal or a worker is down: ask again
            record.last_error = type(exc).__name__
        await asyncio.sleep(0.5)
