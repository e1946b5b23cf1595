"""Run one workflow on Temporal's time-skipping test server against stub activities.

Each stub is registered under a real activity name (the one the workflow calls and a worker
registers: tests/test_activity_registry.py keeps them in step) and answers with a canned result,
a function of the request, or an exception; every call is kept so a test can assert what the
workflow asked for. The branch tests use these to reach paths that the full-stack tests (real
PostgreSQL, sshd, gpg behind the real activities) reach only slowly or not at all.
"""

from __future__ import annotations

import asyncio
import inspect
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from temporalio import activity
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

T = TypeVar("T")


@dataclass
class Stubs:
    """Stub activities and the calls they received, in order: ``(name, request)``."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    _activities: list[Callable[..., Any]] = field(default_factory=list)

    def on(self, name: str, answer: Any = None) -> Stubs:
        """Answer activity ``name`` with ``answer``: a value, ``f(request)`` (sync or async),
        or an exception."""

        @activity.defn(name=name)
        async def stub(request: Any) -> Any:
            self.calls.append((name, request))
            result = answer(request) if callable(answer) else answer
            if inspect.isawaitable(result):
                result = await result
            if isinstance(result, BaseException):
                raise result
            return result

        self._activities.append(stub)
        return self

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def requests(self, name: str) -> list[Any]:
        return [request for called, request in self.calls if called == name]

    async def called(self, name: str, times: int = 1) -> list[Any]:
        """Wait until ``name`` was called ``times`` times (a query can see a state the
        workflow set just before it schedules the activity); returns its requests."""
        return await until(lambda: asyncio.sleep(0, self.requests(name)), lambda r: len(r) >= times)


def new_queue() -> str:
    return f"stubs-{uuid.uuid4().hex[:8]}"


@asynccontextmanager
async def stub_worker(
    env: WorkflowEnvironment, workflows: Sequence[type], stubs: Stubs, queue: str | None = None
) -> AsyncIterator[str]:
    """A worker for ``workflows`` and the stubs on ``queue`` (or a fresh one), which it yields:
    one worker serves the workflow's queue and the file-moving queue alike."""
    queue = queue or new_queue()
    async with Worker(
        env.client, task_queue=queue, workflows=list(workflows), activities=stubs._activities
    ):
        yield queue


async def until(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool]) -> T:
    """Query until ``done``: the test server skips time only while a result is awaited, so
    polling a query never lets a workflow timer fire behind the test's back."""
    for _ in range(200):
        seen = await probe()
        if done(seen):
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"never reached the expected state; last seen: {seen!r}")
