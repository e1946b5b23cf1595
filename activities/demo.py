"""The demo workflow's activity: a unit of 'work' that heartbeats and survives a worker crash."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import asyncpg
from temporalio import activity

from activities.audit import write_audit
from wire.audit import AuditEntry
from wire.demo import GreetingRequest, GreetingResult

HEARTBEAT_EVERY = 0.5


@dataclass
class DemoActivities:
    pool: asyncpg.Pool

    @activity.defn(name="demo.greet")
    async def greet(self, request: GreetingRequest) -> GreetingResult:
        info = activity.info()
        # Resume where the last attempt heartbeated, as long activities must.
        done = float(info.heartbeat_details[0]) if info.heartbeat_details else 0.0
        resumed_from = done
        while done < request.work_seconds:
            step = min(HEARTBEAT_EVERY, request.work_seconds - done)
            await asyncio.sleep(step)
            done += step
            activity.heartbeat(done)
        await write_audit(
            self.pool,
            AuditEntry(
                event_id=f"{request.workflow_id}/greeted",
                actor="system:demo",
                action="demo.greeted",
                subject=request.workflow_id,
                details={"amount": str(request.amount)},
            ),
        )
        activity.logger.info("greeted customer for workflow %s", request.workflow_id)
        return GreetingResult(
            greeting=f"Hello, {request.customer_name}: {request.amount} is on its way.",
            attempt=info.attempt,
            resumed_from_second=resumed_from,
        )
