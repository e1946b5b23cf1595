"""``python -m benchmarks.soak``: run the soak, print the report, exit 1 on a violation."""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from .chaos import Fault, chaos
from .load import Ledger, intake_runs, partner_drops, payroll, returns, watch_folders, webhooks
from .report import as_json, print_report
from .stack import running_stack
from .verify import Outcome, drain, verify

PARTNERS = ("acme", "globex", "initech")


@dataclass(frozen=True)
class Plan:
    minutes: float
    file_every: float  # seconds between drops, per partner
    webhook_rate: float  # events per second
    events_per_payout: int
    returns_every: float
    returns_per_file: int
    payroll_employees: int
    payroll_after: float
    chaos_warmup: float
    chaos_gap: tuple[float, float]
    chaos_down: tuple[float, float]
    drain_seconds: float


FULL = Plan(10, 6, 4, 20, 45, 5, 50, 60, 30, (25, 50), (1, 5), 300)
QUICK = Plan(1.25, 4, 3, 10, 15, 4, 20, 5, 10, (6, 12), (1, 3), 150)


def shortened(plan: Plan, minutes: float) -> Plan:
    """The plan over ``minutes``; a shorter run also hurts sooner and more often, so every
    kind of fault still comes at least once."""
    f = min(1.0, minutes / plan.minutes)
    return replace(
        plan,
        minutes=minutes,
        returns_every=plan.returns_every * f,
        payroll_after=plan.payroll_after * f,
        chaos_warmup=plan.chaos_warmup * f,
        chaos_gap=(plan.chaos_gap[0] * f, plan.chaos_gap[1] * f),
    )


async def soak(
    plan: Plan, root: Path, seed: int
) -> tuple[Outcome, Ledger, list[Fault], dict[str, float]]:
    rng = random.Random(seed)
    ledger: Ledger = Ledger()
    faults: list[Fault] = []
    stop, halt = asyncio.Event(), asyncio.Event()
    began = time.monotonic()
    async with running_stack(root, PARTNERS) as stack:
        up = time.monotonic() - began
        print(f"  stack up in {up:.1f} s ({root}); load for {plan.minutes:g} min", flush=True)
        queue = stack.settings.task_queue_general
        feeds = [(p.feed, p.sshd.folder("inbox")) for p in stack.partners]
        feeds.append((stack.returns_feed, stack.bank.folder("inbox")))
        background = [
            asyncio.create_task(intake_runs(stack.client, queue, f, inbox, ledger, halt))
            for f, inbox in feeds
        ]
        background += [
            asyncio.create_task(watch_folders(stack, ledger, halt)),
            asyncio.create_task(stack.supervise(halt)),
        ]
        load = [
            asyncio.create_task(partner_drops(stack, ledger, plan.file_every, stop, rng)),
            asyncio.create_task(
                webhooks(stack.api_url, ledger, plan.webhook_rate, plan.events_per_payout, stop)
            ),
            asyncio.create_task(
                returns(stack, ledger, plan.returns_every, plan.returns_per_file, stop)
            ),
            asyncio.create_task(
                chaos(
                    stack,
                    faults,
                    warmup=plan.chaos_warmup,
                    gap=plan.chaos_gap,
                    down=plan.chaos_down,
                    stop=stop,
                    rng=rng,
                )
            ),
        ]
        run = asyncio.create_task(
            payroll(stack, ledger, plan.payroll_employees, plan.payroll_after)
        )
        load_began = time.monotonic()
        await asyncio.sleep(plan.minutes * 60)
        stop.set()
        await asyncio.gather(*load)  # the chaos loop ends with everything started again
        load_seconds = time.monotonic() - load_began
        print(f"  load stopped after {load_seconds:.0f} s; draining", flush=True)
        drained = await drain(stack, ledger, plan.drain_seconds)
        if not run.done():
            run.cancel()
        halt.set()
        await asyncio.gather(*background, return_exceptions=True)
        outcome = await verify(stack, ledger, faults)
        outcome.figures["unplanned_worker_exits"] = len(stack.worker_exits)
    timings = {"stack_up": up, "load": load_seconds, "drain": drained}
    return outcome, ledger, faults, timings


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__package__ or "soak") + ": " + __doc__.splitlines()[0]
    )
    parser.add_argument("--minutes", type=float, help="load duration (default 10, quick 1.25)")
    parser.add_argument("--quick", action="store_true", help="~2 minutes in all, faster faults")
    parser.add_argument("--seed", type=int, default=None, help="chaos and load choices")
    parser.add_argument("--json", action="store_true", help="also print the report as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the stack's folder (logs)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    if args.minutes is not None:
        plan = shortened(plan, args.minutes)
    seed = args.seed if args.seed is not None else random.randrange(10**6)
    root = Path(tempfile.mkdtemp(prefix=f"soak-{uuid.uuid4().hex[:6]}-"))
    root.chmod(0o755)
    print(f"soak: seed {seed}, {'quick' if args.quick else 'full'} plan", flush=True)
    try:
        outcome, ledger, faults, timings = asyncio.run(soak(plan, root, seed))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_report(outcome, ledger, faults, timings, seed)
    if args.json:
        print(json.dumps(as_json(outcome, ledger, faults, timings, seed)))
    return 0 if outcome.passed else 1


if __name__ == "__main__":
    sys.exit(main())
