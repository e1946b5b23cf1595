"""One run of the domain demos: what its steps share (the stack's folder, its settings, the
demo sshd, a tag that makes this run's ids new) and how a step lands a file through intake."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypeVar

import asyncpg
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.service import RPCError

from devstack.demo.feeds import drop, next_sequence, partner_folder
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from stores.feeds import register_feed
from wire.intake import FeedConfig, FileDecision, IntakeRequest, IntakeRunResult
from wire.workflow_ids import schedule_id

T = TypeVar("T")


@dataclass
class DemoSession:
    """What the domain demos share; a step may leave something for a later one."""

    root: Path
    say: Callable[[str], None]
    env: dict[str, str]
    server: LocalSshd
    tag: str = field(default_factory=lambda: time.strftime("%Y%m%d%H%M%S"))
    payroll_file: Path | None = None  # the encrypted PPD file the payroll demo delivered

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    async def intake(
        self, client: Client, settings: Settings, feed: FeedConfig, name: str
    ) -> FileDecision:
        """Run the feed's intake now (its Schedule would at the next tick); ``name`` must land."""
        result: IntakeRunResult = await client.execute_workflow(
            "FileIntake",
            IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
            id=f"{schedule_id(feed.partner_id, feed.feed)}-demo-{self.tag}",
            task_queue=settings.task_queue_general,
            result_type=IntakeRunResult,
        )
        decision = next((d for d in result.decisions if d.remote_name == name), None)
        if decision is None:
            raise RuntimeError(f"{name} was not seen in {feed.sftp.inbox}")
        if decision.outcome != "landed":
            raise RuntimeError(f"{name} {decision.outcome}: {decision.reason}")
        return decision

    async def register(
        self, pool: asyncpg.Pool, client: Client, settings: Settings, feed: FeedConfig
    ) -> None:
        """Store the feed and its Schedule; its folders exist on the partner's side."""
        sftp = feed.sftp
        for folder in (sftp.inbox, sftp.archive, sftp.quarantine, sftp.outbox):
            partner_folder(self.server, folder)
        await register_feed(pool, client, settings, feed)

    def drop_for(self, feed: FeedConfig, day: date, ext: str, data: bytes) -> str:
        area = feed.sftp.archive.split("/", 1)[1]
        prefix = f"{feed.partner_id}_{feed.feed}_"
        name = f"{prefix}{day}_seq-{next_sequence(self.server, area, prefix):05d}.{ext}"
        drop(self.server, feed.sftp.inbox, name, data)
        return name


async def poll(
    probe: Callable[[], Awaitable[T | None]], done: Callable[[T], bool], within: float
) -> T | None:
    """Call ``probe`` until ``done`` holds for its answer or ``within`` seconds pass; the
    last answer (or None) is returned either way. A probe that raises counts as no answer."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        try:
            last = await probe()
        except (RPCError, WorkflowQueryFailedError):
            last = None  # not started yet (the relay starts it)
        if (last is not None and done(last)) or time.monotonic() > deadline:
            return last
        await asyncio.sleep(0.3)


def failure(exc: BaseException) -> str:
    """An exception and its causes on one line (a workflow's failure is in its cause)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 4:
        parts.append(f"{type(current).__name__}: {current}")
        current = getattr(current, "cause", None) or current.__cause__
    return " <- ".join(parts)
