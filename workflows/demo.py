"""The demo workflow: one activity, planted PII, visible in the Web UI."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from wire.demo import DemoInput, DemoResult, GreetingRequest, GreetingResult


@workflow.defn(name="Demo")
class DemoWorkflow:
    """Greets a customer through an activity that heartbeats.

    Signals: none. Updates: none. Queries: ``status`` (str).
    """

    def __init__(self) -> None:
        self._status = "started"

    @workflow.run
    async def run(self, request: DemoInput) -> DemoResult:
        self._status = "greeting"
        greeting: GreetingResult = await workflow.execute_activity(
            "demo.greet",
            GreetingRequest(
                workflow_id=workflow.info().workflow_id,
                customer_name=request.customer_name,
                ssn=request.ssn,
                amount=request.amount,
                work_seconds=request.work_seconds,
            ),
            result_type=GreetingResult,
            start_to_close_timeout=timedelta(seconds=request.work_seconds + 60),
            heartbeat_timeout=timedelta(seconds=3),
            retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200)),
        )
        self._status = "done"
        return DemoResult(
            greeting=greeting.greeting,
            ssn=request.ssn,
            amount=request.amount,
            activity_attempt=greeting.attempt,
            activity_resumed_from_second=greeting.resumed_from_second,
        )

    @workflow.query
    def status(self) -> str:
        return self._status
