"""EdiAckWait branches on the time-skipping server (it calls no activity): a deadline already
past at start, a rejecting TA1, acceptance with errors, and a resolve
refused while the wait is not an exception (the full stack is in tests/test_edi_ack_wait.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from edi.results import ReceivedAck
from tests.workflow_stubs import Stubs, stub_worker, until
from wire.edi import AckResolve, AckWaitStart, AckWaitState
from wire.workflow_ids import workflow_id
from workflows.edi_ack_wait import EdiAckWaitWorkflow

ISA13 = "000000042"


async def start(
    env: WorkflowEnvironment, queue: str, *, sent_hours_ago: float = 0, hours: float = 24
) -> WorkflowHandle[Any, AckWaitState]:
    now = await env.get_current_time()
    return await env.client.start_workflow(
        EdiAckWaitWorkflow.run,
        AckWaitStart(
            partner_id="acme",
            isa13=ISA13,
            sent_at=now - timedelta(hours=sent_hours_ago),
            deadline_hours=hours,
        ),
        id=workflow_id("EdiAckWait", f"acme-{ISA13}"),
        task_queue=queue,
    )


async def state(handle: WorkflowHandle[Any, AckWaitState]) -> AckWaitState:
    seen: AckWaitState = await handle.query("state", result_type=AckWaitState)
    return seen


def ta1(code: str) -> ReceivedAck:
    return ReceivedAck(
        kind="TA1", partner_sender="ACME", acknowledged_interchange=ISA13, ack_code=code
    )


def ack997(code: str) -> ReceivedAck:
    return ReceivedAck(kind="997", partner_sender="ACME", acknowledged_group=ISA13, ack_code=code)


async def test_a_deadline_already_past_at_start_is_a_missing_ack_at_once(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    async with stub_worker(env, [EdiAckWaitWorkflow], Stubs()) as queue:
        handle = await start(env, queue, sent_hours_ago=30, hours=24)
        seen = await until(lambda: state(handle), lambda s: s.status != "waiting")
        assert (seen.status, seen.exception) == ("exception", "missing")
        assert seen.deadline is not None and seen.deadline < await env.get_current_time()
        await handle.execute_update(
            "resolve", AckResolve(actor="ops:ann", note="partner confirmed by phone")
        )
        result = await handle.result()
    assert (result.status, result.resolved_by) == ("resolved", "ops:ann")


async def test_a_rejecting_ta1_is_an_exception_that_ops_resolve(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    async with stub_worker(env, [EdiAckWaitWorkflow], Stubs()) as queue:
        handle = await start(env, queue)
        await handle.signal(EdiAckWaitWorkflow.acknowledgement, ta1("R"))
        seen = await until(lambda: state(handle), lambda s: s.status != "waiting")
        assert (seen.status, seen.exception, seen.ack_code) == ("exception", "rejected", "R")
        await handle.execute_update("resolve", AckResolve(actor="ops:bo", note="resent"))
        result = await handle.result()
    assert (result.status, result.ack_code, result.resolved_by) == ("resolved", "R", "ops:bo")


async def test_accepted_with_errors_completes_and_resolve_is_refused_while_waiting(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env = time_skipping_env
    async with stub_worker(env, [EdiAckWaitWorkflow], Stubs()) as queue:
        handle = await start(env, queue)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update("resolve", AckResolve(actor="ops", note="too early"))
        assert isinstance(refused.value.cause, ApplicationError)
        assert refused.value.cause.type == "NotAnException"
        await handle.signal(EdiAckWaitWorkflow.acknowledgement, ack997("E"))
        result = await handle.result()
    assert (result.status, result.exception, result.ack_code) == ("accepted", None, "E")
    assert result.resolved_by is None
