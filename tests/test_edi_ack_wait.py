"""EdiAckWait on Temporal's time-skipping server: accepted, rejected and missing
acknowledgements, the deadline as a durable timer, and a partner's 997 file signalling it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from activities.edi import EdiActivities, ack_wait_id
from devstack.localstack.sshd import LocalSshd
from edi.results import ReceivedAck
from runtime.settings import Settings
from tests.intake_support import feed_for
from tests.replay import record_history
from tests.test_edi_store import _land
from wire.edi import AcceptRequest, AckResolve, AckWaitStart, AckWaitState
from workers.runner import run_workers


@pytest.fixture
async def skipping(
    time_skipping_env: WorkflowEnvironment, settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[tuple[WorkflowEnvironment, Settings]]:
    own = settings.model_copy(
        update={
            "task_queue_general": f"ts-general-{uuid.uuid4().hex[:8]}",
            "task_queue_sftp": f"ts-sftp-{uuid.uuid4().hex[:8]}",
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_workers(
            time_skipping_env.client, own, ("general",), pool, stop=stop, install_signals=False
        )
    )
    yield time_skipping_env, own
    stop.set()
    await task


async def _start(
    env: WorkflowEnvironment, settings: Settings, partner: str, isa13: int
) -> WorkflowHandle[object, AckWaitState]:
    start = AckWaitStart(
        partner_id=partner,
        isa13=f"{isa13:09d}",
        sent_at=await env.get_current_time(),
        deadline_hours=24,
    )
    return await env.client.start_workflow(
        "EdiAckWait",
        start,
        id=ack_wait_id(partner, start.isa13),
        task_queue=settings.task_queue_general,
        result_type=AckWaitState,
    )


def _ack(code: str, group: str) -> ReceivedAck:
    return ReceivedAck(
        kind="997",
        partner_sender="ACME",
        acknowledged_group=group,
        functional_id="PO",
        ack_code=code,
    )


async def _state(handle: WorkflowHandle[object, AckWaitState]) -> AckWaitState:
    state: AckWaitState = await handle.query("state", result_type=AckWaitState)
    return state


async def test_an_accepting_997_completes_the_wait(
    skipping: tuple[WorkflowEnvironment, Settings],
) -> None:
    env, settings = skipping
    handle = await _start(env, settings, "acme", 41)
    await env.sleep(timedelta(hours=3))
    assert (await _state(handle)).status == "waiting"
    await handle.signal("acknowledgement", _ack("A", "41"))
    result = await handle.result()
    assert result.status == "accepted" and result.ack_code == "A"
    await record_history(handle, "EdiAckWait")


async def test_a_missing_ack_is_an_exception_at_the_deadline_until_ops_resolve_it(
    skipping: tuple[WorkflowEnvironment, Settings],
) -> None:
    env, settings = skipping
    handle = await _start(env, settings, "acme", 42)
    with pytest.raises(WorkflowUpdateFailedError):  # nothing to resolve yet
        await handle.execute_update("resolve", AckResolve(actor="ops:ann", note="early"))
    await env.sleep(timedelta(hours=23))
    assert (await _state(handle)).status == "waiting"
    await env.sleep(timedelta(hours=2))
    state = await _state(handle)
    assert (state.status, state.exception) == ("exception", "missing")
    resolved = await handle.execute_update(
        "resolve",
        AckResolve(actor="ops:ann", note="partner resent by mail"),
        result_type=AckWaitState,
    )
    assert resolved.status == "resolved"
    result = await handle.result()
    assert (result.status, result.resolved_by) == ("resolved", "ops:ann")
    await record_history(handle, "EdiAckWait-missing")


async def test_a_rejecting_997_is_an_exception_and_a_later_acceptance_clears_it(
    skipping: tuple[WorkflowEnvironment, Settings],
) -> None:
    env, settings = skipping
    handle = await _start(env, settings, "acme", 43)
    await handle.signal("acknowledgement", _ack("R", "43"))
    # A query can be answered before the signal's workflow task has run: wait for it.
    # Generous: on a loaded machine the workflow task can take seconds to run.
    for _ in range(600):
        state = await _state(handle)
        if state.status != "waiting":
            break
        await asyncio.sleep(0.05)
    assert (state.status, state.exception, state.ack_code) == ("exception", "rejected", "R")
    await handle.signal("acknowledgement", _ack("A", "43"))  # the partner fixed it and re-acked
    assert (await handle.result()).status == "accepted"


async def test_a_partner_997_file_signals_the_wait_it_answers(
    skipping: tuple[WorkflowEnvironment, Settings], pool: asyncpg.Pool, sshd_server: LocalSshd
) -> None:
    env, settings = skipping
    number = 900_000 + uuid.uuid4().int % 90_000
    handle = await _start(env, settings, "acme", number)
    isa13 = f"{uuid.uuid4().int % 10**9:09d}"
    ack_file = (
        f"ISA*00*          *00*          *ZZ*ACME           *ZZ*US             *260402*0900*U*"
        f"00401*{isa13}*0*P*:~GS*FA*ACME*US*20260402*0900*7*X*004010~ST*997*0001~"
        f"AK1*PO*{number}~AK2*850*0001~AK5*A~AK9*A*1*1*1~SE*6*0001~GE*1*7~IEA*1*{isa13}~"
    ).encode()
    path, digest = _land(settings, ack_file)
    activities = EdiActivities(pool, settings, env.client)
    request = AcceptRequest(
        feed=feed_for(sshd_server),
        landing_path=str(path),
        sha256=digest,
        received_at=await env.get_current_time(),
    )
    summary = await asyncio.to_thread(ActivityEnvironment().run, activities.accept, request)
    assert summary.outcome == "acknowledgement" and summary.ack_kind is None
    assert summary.signalled == [handle.id]
    assert (await handle.result()).status == "accepted"
