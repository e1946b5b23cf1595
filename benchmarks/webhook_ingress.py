"""Webhook ingress under sustained load: Stripe-signed events into the API, relayed to Temporal.

    python benchmarks/webhook_ingress.py [--seconds 60] [--rate 400] [--concurrency 32]

It starts a private stack (Temporal dev server, PostgreSQL 15, migrations), then the API as its
own process (``integrations api`` under uvicorn, the inbox relay running inside it), and drives
``POST /webhooks/stripe`` open-loop at ``--rate`` requests/s from an async httpx client, each
request signed like Stripe signs it; about 1 % are redeliveries of an event already sent. It
reports requests/s, p50/p99 latency, lost or duplicated events (inbox rows against the unique
ids sent), the relay's lag sampled each second, and the time to drain the inbox afterwards, then
checks a sample of payout workflows got each of their events exactly once.
Everything shares this machine's cores: the client, the API, PostgreSQL and Temporal.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pydantic import SecretStr
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from adapters.payload_codec import KeyRing
from adapters.temporal_client import data_converter
from devstack.localstack.ports import free_port, wait_for_port
from devstack.localstack.postgres import LocalPostgres
from devstack.localstack.temporal import LocalTemporal
from runtime.settings import Settings, to_environment
from stores.migrations import migrate
from wire.search_attributes import dev_server_flags
from wire.workflow_ids import workflow_id

SECRET = "whsec_" + secrets.token_hex(16)
LAG_SQL = """
SELECT count(*) AS backlog, extract(epoch FROM now() - min(received_at)) AS oldest
FROM webhook_inbox WHERE forwarded_at IS NULL AND forward AND payout_id IS NOT NULL
"""


def make_event(payout_id: str, index: int) -> dict[str, Any]:
    kind = ("charge.captured", "charge.refunded", "charge.dispute.created")[index % 3]
    if index % 20 == 0:
        kind = "payout.paid"
    obj: dict[str, Any]
    if kind.startswith("payout."):
        obj = {"id": payout_id, "object": "payout", "amount": 10_000, "currency": "usd"}
    else:
        obj = {
            "id": f"ch_{uuid.uuid4().hex[:14]}",
            "object": "charge",
            "amount": random.randint(100, 50_000),
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


def sign(body: bytes) -> str:
    # Exactly Stripe's scheme (the tests prove it against the stripe SDK); inlined to keep the
    # client's CPU cost per request low.
    t = int(time.time())
    mac = hmac.new(SECRET.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def drive(
    url: str, pool: asyncpg.Pool, seconds: float, rate: float, per_payout: int, concurrency: int
) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    sent_ids: set[str] = set()
    payout_events: dict[str, set[str]] = {}
    sent_bodies: list[bytes] = []
    lag_samples: list[tuple[float, int, float]] = []
    # One client with one connection per sender: httpcore's shared pool rescans every
    # connection for every request, which costs more CPU than the whole API at this rate.
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)

    async def send(http: httpx.AsyncClient, body: bytes, due: float) -> None:
        try:
            response = await http.post(
                "/webhooks/stripe",
                content=body,
                headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"},
            )
            code = response.status_code
        except httpx.HTTPError:
            code = 0
        # From when the request was due, not sent: a client that falls behind shows up as
        # latency (no coordinated omission).
        latencies.append(time.perf_counter() - due)
        statuses[code] = statuses.get(code, 0) + 1

    async def sample_lag(stop: asyncio.Event) -> None:
        begun = time.monotonic()
        while not stop.is_set():
            row = await pool.fetchrow(LAG_SQL)
            assert row is not None
            lag_samples.append(
                (time.monotonic() - begun, int(row["backlog"]), float(row["oldest"] or 0))
            )
            await asyncio.sleep(1)

    stop_sampling = asyncio.Event()
    sampler = asyncio.create_task(sample_lag(stop_sampling))
    interval = 1.0 / rate
    started = time.perf_counter()
    next_index = [0]  # mutable cells shared by the senders (one event loop: no races)
    current_payout = [""]

    def next_body() -> bytes | None:
        """The next request's body, or None when the run is over (single-threaded: safe)."""
        index = next_index[0]
        if started + index * interval - started >= seconds:
            return None
        next_index[0] = index + 1
        if index % per_payout == 0:
            current_payout[0] = f"po_{uuid.uuid4().hex[:16]}"
        payout_id = current_payout[0]
        if index % 100 == 99 and sent_bodies:
            return random.choice(sent_bodies)  # a PSP redelivery
        event = make_event(payout_id, index)
        body = json.dumps(event).encode()
        sent_ids.add(event["id"])
        payout_events.setdefault(payout_id, set()).add(event["id"])
        if len(sent_bodies) < 5000:
            sent_bodies.append(body)
        return body

    async def sender() -> None:
        async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as http:
            await sending(http)

    async def sending(http: httpx.AsyncClient) -> None:
        # Open loop: request i is due at started + i/rate, whatever the answers' pace;
        # a fixed set of senders keeps httpx's pool small (thousands of waiters are slow).
        while True:
            due = started + next_index[0] * interval
            body = next_body()
            if body is None:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await send(http, body, due)

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    index = next_index[0]
    elapsed = time.perf_counter() - started
    ingress_done = time.monotonic()
    # Drain: the relay inside the API forwards what is left.
    while True:
        row = await pool.fetchrow(LAG_SQL)
        assert row is not None
        if int(row["backlog"]) == 0:
            break
        await asyncio.sleep(0.25)
    drain_seconds = time.monotonic() - ingress_done
    stop_sampling.set()
    await sampler
    return {
        "requests": index,
        "elapsed": elapsed,
        "latencies": latencies,
        "statuses": statuses,
        "sent_ids": sent_ids,
        "payout_events": payout_events,
        "lag": lag_samples,
        "drain_seconds": drain_seconds,
    }


def start_api(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    """``integrations api`` (uvicorn, one process) with these settings."""
    return subprocess.Popen(
        [sys.executable, "-m", "app.cli.main", "api"],
        env=to_environment(settings),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


async def signalled(client: Client, payout_id: str) -> int:
    history = await client.get_workflow_handle(workflow_id("Payout", payout_id)).fetch_history()
    return sum(
        1
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    )


async def bench(seconds: float, rate: float, per_payout: int, concurrency: int, root: Path) -> None:
    ring = KeyRing.generate("bench")
    temporal = LocalTemporal(
        db_file=root / "temporal.db",
        log_file=root / "temporal.log",
        port=free_port(),
        ui_port=free_port(),
        search_attributes=dev_server_flags(),
    )
    pg = LocalPostgres(root=root / "pg", port=free_port())
    api: subprocess.Popen[bytes] | None = None
    temporal.start()
    pg.init()
    pg.start()
    pg.bootstrap()
    try:
        await migrate(pg.owner_dsn)
        port = free_port()
        settings = Settings(
            temporal_address=temporal.address,
            codec_keys=SecretStr(ring.to_json()),
            database_url=SecretStr(pg.app_dsn),
            api_token=SecretStr(secrets.token_urlsafe(16)),
            api_port=port,
            webhook_secrets_stripe=SecretStr(SECRET),
            webhook_relay_in_api=True,
            log_level="WARNING",
            task_queue_general="payouts-bench",
        )
        api = start_api(settings, root / "api.log")
        wait_for_port(port, 60)
        client = await Client.connect(temporal.address, data_converter=data_converter(ring))
        async with asyncpg.create_pool(pg.app_dsn, min_size=1, max_size=2) as pool:
            result = await drive(
                f"http://127.0.0.1:{port}", pool, seconds, rate, per_payout, concurrency
            )
            rows = await pool.fetchval("SELECT count(*) FROM webhook_inbox")
            distinct = await pool.fetchval("SELECT count(DISTINCT event_id) FROM webhook_inbox")
            unforwarded = await pool.fetchval(
                "SELECT count(*) FROM webhook_inbox WHERE forwarded_at IS NULL"
            )
            multi = await pool.fetchval("SELECT count(*) FROM webhook_inbox WHERE attempts > 1")
            sample = random.sample(sorted(result["payout_events"]), 20)
            stored = {
                p: await pool.fetchval("SELECT count(*) FROM webhook_inbox WHERE payout_id = $1", p)
                for p in sample
            }
        sample_ok = True
        for p in sample:
            expected = len(result["payout_events"][p])
            sample_ok &= await signalled(client, p) == stored[p] == expected

        lat = result["latencies"]
        ok = result["statuses"].get(200, 0)
        sent = len(result["sent_ids"])
        lag = result["lag"]
        during = [s for s in lag if s[0] <= result["elapsed"]] or lag
        print(f"duration:            {result['elapsed']:.1f} s at a target of {rate:g} req/s")
        print(
            f"requests:            {result['requests']:,} ({ok:,} answered 200; "
            f"statuses {dict(sorted(result['statuses'].items()))})"
        )
        print(f"throughput:          {ok / result['elapsed']:.0f} verified events/s")
        print(
            f"latency:             p50 {statistics.median(lat) * 1000:.1f} ms, "
            f"p99 {pct(lat, 0.99) * 1000:.1f} ms, max {max(lat) * 1000:.1f} ms"
        )
        print(
            f"events:              {sent:,} unique sent, {rows:,} inbox rows "
            f"({distinct:,} distinct ids): lost {sent - rows}, duplicated {rows - distinct}"
        )
        print(
            f"relay lag during run: backlog max {max(s[1] for s in during):,}, "
            f"oldest unforwarded max {max(s[2] for s in during):.1f} s, "
            f"at end {during[-1][1]:,} / {during[-1][2]:.1f} s"
        )
        print(
            f"drain after run:     {result['drain_seconds']:.1f} s "
            f"(forwarded overall {rows / (result['elapsed'] + result['drain_seconds']):.0f}/s); "
            f"unforwarded now {unforwarded}, rows retried {multi}"
        )
        print(f"signals checked:     20 payouts, each event signalled exactly once: {sample_ok}")
    finally:
        if api is not None:
            api.terminate()
            api.wait(timeout=30)
        temporal.stop()
        pg.stop("immediate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=400, help="Requests per second to send.")
    parser.add_argument("--events-per-payout", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=32, help="Requests in flight, at most.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix=f"webhook-bench-{uuid.uuid4().hex[:6]}-"))
    root.chmod(0o755)
    try:
        asyncio.run(bench(args.seconds, args.rate, args.events_per_payout, args.concurrency, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
