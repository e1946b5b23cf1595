"""The domain demos in order: Payout, EDI, PayrollRun, then an AchReturn of the payroll file;
one line each, and one failed demo does not hide the others."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
from temporalio.client import Client

from adapters.temporal_client import connect
from devstack.demo.ach_returns import ach_return
from devstack.demo.edi import edi
from devstack.demo.payouts import payouts
from devstack.demo.payroll import payroll
from devstack.demo.session import DemoSession, failure
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings, load_settings
from stores.db import create_pool

Step = Callable[[DemoSession, Client, asyncpg.Pool, Settings], Awaitable[str]]
STEPS: tuple[tuple[str, Step], ...] = (
    ("payouts", payouts),
    ("edi", edi),
    ("payroll", payroll),  # leaves the file the ACH demo returns an entry of
    ("ach", ach_return),
)


async def run_domain_demos(
    root: Path, say: Callable[[str], None], env: dict[str, str], server: LocalSshd
) -> None:
    """Drive Payout, EDI, PayrollRun and AchReturn workflows with real files and webhooks."""
    demo = DemoSession(root=root, say=say, env=env, server=server)
    settings = load_settings()
    client = await connect(settings)
    pool = await create_pool(settings)
    try:
        for name, step in STEPS:
            try:
                line = await asyncio.wait_for(step(demo, client, pool, settings), 120)
            except Exception as exc:  # one failed demo must not hide the others
                line = f"FAILED ({failure(exc)}); see {demo.logs}/worker.log"
            say(f"{name}: {line}")
    finally:
        await pool.close()
