"""Expect a partner's functional acknowledgement for one interchange we sent."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from edi.results import ReceivedAck
    from wire.edi import AckResolve, AckWaitStart, AckWaitState
    from wire.search_attributes import PARTNER


@workflow.defn(name="EdiAckWait")
class EdiAckWaitWorkflow:
    """Waits for the 997/999/TA1 to our interchange ``isa13`` (id ``edi-ack-<partner>-<isa13>``).

    A durable timer carries the deadline. An accepting acknowledgement (A or E) completes the
    run; a rejecting one (R, P, a TA1 with R) or none by the deadline puts it in ``exception``
    for ops, who ``resolve`` it (an accepting acknowledgement arriving late resolves it too).

    Signals: ``acknowledgement`` (ReceivedAck, sent by the ``edi.accept`` activity).
    Updates: ``resolve`` (AckResolve; refused unless in exception). Queries: ``state``.
    """

    def __init__(self) -> None:
        self._state: AckWaitState | None = None
        self._resolution: AckResolve | None = None

    @workflow.run
    async def run(self, start: AckWaitStart) -> AckWaitState:
        workflow.upsert_search_attributes([PARTNER.value_set(start.partner_id)])
        deadline = start.sent_at + timedelta(hours=start.deadline_hours)
        state = self._state = AckWaitState(
            partner_id=start.partner_id, isa13=start.isa13, status="waiting", deadline=deadline
        )
        remaining = max((deadline - workflow.now()).total_seconds(), 0.0)
        try:
            await workflow.wait_condition(
                lambda: state.ack is not None, timeout=timedelta(seconds=remaining)
            )
        except TimeoutError:
            state.status, state.exception = "exception", "missing"
            workflow.logger.warning("no acknowledgement by the deadline: exception for ops")
        if state.status != "accepted":
            await workflow.wait_condition(
                lambda: self._resolution is not None or state.status == "accepted"
            )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return state

    @workflow.signal(name="acknowledgement")
    def acknowledgement(self, ack: ReceivedAck) -> None:
        state = self._state
        if state is None or state.status in ("accepted", "resolved"):
            return  # a repeat of an acknowledgement already taken
        state.ack, state.ack_code = ack, ack.ack_code
        if ack.ack_code in ("A", "E"):
            state.status, state.exception = "accepted", None
        else:
            state.status, state.exception = "exception", "rejected"
            workflow.logger.warning("partner rejected the interchange: exception for ops")

    @workflow.update(name="resolve")
    def resolve(self, resolution: AckResolve) -> AckWaitState:
        assert self._state is not None
        self._resolution = resolution
        self._state.status = "resolved"
        self._state.resolved_by, self._state.note = resolution.actor, resolution.note
        return self._state

    @resolve.validator
    def _resolve_allowed(self, resolution: AckResolve) -> None:
        if self._state is None or self._state.status != "exception":
            raise ApplicationError("only an exception can be resolved", type="NotAnException")

    @workflow.query(name="state")
    def state(self) -> AckWaitState:
        assert self._state is not None
        return self._state
