"""The chaos loop: at random moments, one of a worker (SIGKILL, then a new one), an sshd
(SIGKILL, then started again), PostgreSQL (immediate stop, then start) or the Temporal dev
server (SIGKILL, then started on the same port and SQLite file). Every kind comes once before
any comes twice (shuffled rounds), so even a short run hurts each part at least once."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass

from .stack import SoakStack

KINDS = ("worker", "sshd", "postgres", "temporal")


@dataclass
class Fault:
    kind: str
    target: str
    down_at: float  # unix time the component went down
    up_at: float  # unix time it was started again (ready to serve)
    recovered_at: float | None = None  # first successful operation after up_at (see verify)


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def inflict(stack: SoakStack, kind: str, down: float, rng: random.Random) -> Fault:
    down_at = time.time()
    if kind == "worker":
        index = rng.randrange(len(stack.workers))
        target = f"worker pid {stack.workers[index].pid}"
        stack.kill_worker(index)
        await asyncio.sleep(down)
        stack.spawn_worker()
    elif kind == "sshd":
        server = rng.choice(stack.sshds)
        target = f"sshd of {server.partner}"
        await asyncio.to_thread(server.kill)
        await asyncio.sleep(down)
        await asyncio.to_thread(server.start)
    elif kind == "postgres":
        target = "postgres (immediate)"
        await asyncio.to_thread(stack.stop_postgres)
        await asyncio.sleep(down)
        await asyncio.to_thread(stack.start_postgres)
    else:
        target = "temporal dev server"
        await asyncio.to_thread(stack.kill_temporal)
        await asyncio.sleep(down)
        await asyncio.to_thread(stack.start_temporal)
    return Fault(kind=kind, target=target, down_at=down_at, up_at=time.time())


async def chaos(
    stack: SoakStack,
    faults: list[Fault],
    *,
    warmup: float,
    gap: tuple[float, float],
    down: tuple[float, float],
    stop: asyncio.Event,
    rng: random.Random,
) -> None:
    await _pause(stop, warmup)
    order: list[str] = []
    # Past the stop, the first round is finished: even the shortest run hurts every part once.
    while not stop.is_set() or set(KINDS) - {f.kind for f in faults}:
        if not order:
            order = list(KINDS)
            rng.shuffle(order)
        fault = await inflict(stack, order.pop(), rng.uniform(*down), rng)
        faults.append(fault)
        print(f"  chaos: {fault.kind:8s} {fault.target}: down {fault.up_at - fault.down_at:.1f} s",
              flush=True)  # fmt: skip
        await _pause(stop, rng.uniform(*gap))
