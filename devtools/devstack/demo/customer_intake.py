"""The customer intake demo: the demo partner's customer feed, created and triggered through the
CLI, with a good file, a duplicate of it and a broken one in its inbox."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import time
import zlib
from collections.abc import Callable
from datetime import date
from pathlib import Path

import asyncpg

from devstack.localstack.sshd import LocalSshd
from devstack.services import DEMO_FEED, DEMO_PARTNER, cli


def run_intake_demo(
    root: Path, env: dict[str, str], server: LocalSshd, say: Callable[[str], None]
) -> None:
    """Register the demo feed, drop a good file, a duplicate and a broken one, run intake."""
    feed_file = root / "feeds" / f"{DEMO_PARTNER}_{DEMO_FEED}.toml"
    feed_file.parent.mkdir(exist_ok=True)
    feed_file.write_text(demo_feed_toml(server))
    subprocess.run(
        cli("feeds", "create", str(feed_file)),
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    good, broken = demo_files()
    names = [
        demo_name(good, 1),
        demo_name(good, 2),  # the same bytes under another name: a duplicate
        demo_name(broken, 3),
    ]
    for name, content in zip(names, (good, good, broken), strict=True):
        server.drop_file("inbox", name, content)
    subprocess.run(
        cli("feeds", "trigger", f"{DEMO_PARTNER}/{DEMO_FEED}"),
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    outcomes = asyncio.run(wait_for_decisions(env["INTEGRATIONS_DATABASE_URL"], names))
    for name in names:
        say(f"intake: {name} -> {outcomes.get(name, 'not decided in time')}")


def demo_feed_toml(server: LocalSshd) -> str:
    return f"""# The demo partner's customer feed (written by `integrations dev up`).
partner_id = "{DEMO_PARTNER}"
feed = "{DEMO_FEED}"
display_name = "Acme Corp (demo)"
file_contract = "acme_customers.v1"
settle_seconds = 1.0

[sftp]
host = "{server.host}"
port = {server.port}
username = "{server.login_user}"
host_key = "{server.host_key.public_line}"
private_key = "{DEMO_PARTNER}"

[naming]
system = "{DEMO_PARTNER}"
entity = "{DEMO_FEED}"
extensions = ["csv"]

[schedule]
interval_minutes = 15
timezone = "America/New_York"
sla_deadline = "09:00:00"
"""


def demo_files() -> tuple[bytes, bytes]:
    """A good customer file (fresh ids each time) and a broken one."""
    start = secrets.randbelow(10**8)
    header = (
        "customer_id,full_name,email,created_date,updated_at,country,credit_limit,active,"
        "postal_code"
    )
    rows = [
        f"{i},Customer {i},customer{i}@example.com,2025-01-{1 + i % 28:02d},"
        f"2025-02-01T09:30:00+0000,US,{i % 5000}.00,true,{10000 + i % 89999:05d}"
        for i in range(start, start + 25)
    ]
    good = ("\r\n".join([header, *rows]) + "\r\n").encode()
    broken_rows = [f"{start + i},,not-an-email,2025-13-40,,XX,12.3.4,perhaps,?" for i in range(5)]
    broken = ("\r\n".join([header, *broken_rows]) + "\r\n").encode()
    return good, broken


def demo_name(content: bytes, sequence: int) -> str:
    crc = zlib.crc32(content)
    day = date.today().isoformat()
    return f"{DEMO_PARTNER}_{DEMO_FEED}_{day}_seq-{sequence:05d}_crc32-{crc:08X}.csv"


async def wait_for_decisions(dsn: str, names: list[str], within: float = 90) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within
        while True:
            rows = await conn.fetch(
                "SELECT remote_name, outcome, reason FROM intake_events "
                "WHERE remote_name = ANY($1)",
                names,
            )
            found = {r["remote_name"]: f"{r['outcome']} {r['reason']}".strip() for r in rows}
            if len(found) == len(names) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
