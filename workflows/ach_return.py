"""One durable case per returned or corrected ACH entry, for as long as NACHA's windows last."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from ach_returns.state_machine import (
        ApplyCorrection,
        ApproveRepresentment,
        BlockAccount,
        Command,
        DeadlineReached,
        Escalate,
        Event,
        NocNotice,
        Notify,
        ProvideCorrection,
        Represent,
        RepresentmentSent,
        ReturnCase,
        ReturnNotice,
        TimelineEntry,
        WriteOff,
        decide,
        refusal,
    )
    from wire.ach import (
        AchReturnStart,
        BlockRequest,
        CorrectionRequest,
        OutboundFile,
        OutboxEvent,
        RepresentRequest,
    )
    from wire.audit import AuditEntry
    from wire.intake import Delivered
    from wire.search_attributes import ACH_STATE, PARTNER, RETURN_CODE, TRACE_NUMBER

# After a case closes it stays open this long to absorb a duplicate or late notice (the longest
# return time limit is 60 calendar days) before the workflow completes.
LINGER = timedelta(days=60)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
Decision = ApproveRepresentment | ProvideCorrection | WriteOff


def _deadline_at(day: date) -> datetime:
    # A deadline date expires at the end of that day (UTC).
    return datetime.combine(day, time.min, tzinfo=UTC) + timedelta(days=1)


@workflow.defn(name="AchReturn")
class AchReturnWorkflow:
    """The return/NOC case of one original entry, keyed ``ach-return-<original trace number>``.

    Signals: ``return_received`` (ReturnNotice), ``noc_received`` (NocNotice) — sent with
    signal-with-start by ``integrations ach ingest`` and by file intake.
    Updates (validated, audited): ``approve_representment``, ``provide_correction``,
    ``write_off``, each with ``actor`` and ``reason``; they return the case.
    Queries: ``case`` (ReturnCase), ``timeline``.
    """

    def __init__(self) -> None:
        self._case: ReturnCase | None = None
        self._start: AchReturnStart | None = None
        self._inbox: list[tuple[int, Event, str | None]] = []
        self._submitted = 0
        self._done = 0

    @workflow.run
    async def run(self, start: AchReturnStart) -> ReturnCase:
        self._start = start
        # v2: cases set their own business search attributes, so a case started by hand (or by
        # an old client) is as filterable in the Web UI as one started by ingest. Histories of
        # cases that began before this change replay without it (tests/histories/*-v1-*).
        if workflow.patched("case-search-attributes"):
            workflow.upsert_search_attributes(
                [
                    TRACE_NUMBER.value_set(start.trace_number),
                    PARTNER.value_set(start.partner_id),
                ]
            )
        self._case = start.case or ReturnCase(
            trace_number=start.trace_number, partner_id=start.partner_id, original=start.original
        )
        closed_at: datetime | None = None
        while True:
            case = self._case
            if case.terminal and closed_at is None:
                closed_at = workflow.now()
            wake = (
                closed_at + LINGER
                if closed_at is not None
                else (_deadline_at(case.deadline) if case.deadline else None)
            )
            timeout = None if wake is None else max((wake - workflow.now()).total_seconds(), 0)
            try:
                await workflow.wait_condition(lambda: bool(self._inbox), timeout=timeout)
            except TimeoutError:
                if closed_at is not None:
                    break
                assert case.deadline is not None and case.deadline_kind is not None
                self._enqueue(DeadlineReached(deadline_kind=case.deadline_kind, on=case.deadline))
            while self._inbox:
                number, event, decision_id = self._inbox.pop(0)
                await self._apply(event, decision_id)
                self._done = number
            if self._case.terminal is False:
                closed_at = None
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(start.model_copy(update={"case": self._case}))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._case

    # --- signals, updates, queries ------------------------------------------------------------

    @workflow.signal(name="return_received")
    def return_received(self, notice: ReturnNotice) -> None:
        self._enqueue(notice)

    @workflow.signal(name="noc_received")
    def noc_received(self, notice: NocNotice) -> None:
        self._enqueue(notice)

    @workflow.update(name="approve_representment")
    async def approve_representment(self, decision: ApproveRepresentment) -> ReturnCase:
        return await self._submit(decision)

    @approve_representment.validator
    def _check_approve(self, decision: ApproveRepresentment) -> None:
        self._refuse_if_invalid(decision)

    @workflow.update(name="provide_correction")
    async def provide_correction(self, decision: ProvideCorrection) -> ReturnCase:
        return await self._submit(decision)

    @provide_correction.validator
    def _check_correction(self, decision: ProvideCorrection) -> None:
        self._refuse_if_invalid(decision)

    @workflow.update(name="write_off")
    async def write_off(self, decision: WriteOff) -> ReturnCase:
        return await self._submit(decision)

    @write_off.validator
    def _check_write_off(self, decision: WriteOff) -> None:
        self._refuse_if_invalid(decision)

    @workflow.query(name="case")
    def case(self) -> ReturnCase | None:
        return self._case

    @workflow.query(name="timeline")
    def timeline(self) -> list[TimelineEntry]:
        return list(self._case.timeline) if self._case else []

    # --- internals ----------------------------------------------------------------------------

    def _refuse_if_invalid(self, decision: Decision) -> None:
        # Runs before the update is accepted: a refused decision leaves nothing in history.
        if self._case is None:
            raise ApplicationError("the case is still starting", type="NotReady")
        reason = refusal(self._case, decision, workflow.now().date())
        if reason is not None:
            raise ApplicationError(reason, type="DecisionRefused", non_retryable=True)

    def _enqueue(self, event: Event, decision_id: str | None = None) -> int:
        self._submitted += 1
        self._inbox.append((self._submitted, event, decision_id))
        return self._submitted

    async def _submit(self, decision: Decision) -> ReturnCase:
        info = workflow.current_update_info()
        number = self._enqueue(decision, info.id if info else None)
        await workflow.wait_condition(lambda: self._done >= number)
        assert self._case is not None
        return self._case

    async def _apply(self, event: Event, decision_id: str | None) -> None:
        assert self._case is not None and self._start is not None
        before = self._case
        self._case, commands = decide(before, event, workflow.now().date())
        if decision_id is not None and isinstance(event, Decision):
            await self._audit(event, decision_id, before)
        for command in commands:
            await self._execute(command)
        self._upsert_search_attributes()

    async def _execute(self, command: Command) -> None:
        assert self._case is not None and self._start is not None
        start, case = self._start, self._case
        if isinstance(command, Represent):
            prepared: OutboundFile = await workflow.execute_activity(
                "ach.prepare_representment",
                RepresentRequest(
                    original_trace=case.trace_number,
                    number=command.number,
                    effective_date=command.effective_date,
                    partner_id=start.partner_id,
                    bank_feed=start.bank_feed,
                ),
                result_type=OutboundFile,
                # Short: a worker that dies mid-way is noticed (and the step retried) quickly.
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
            await workflow.execute_activity(
                "sftp.deliver",
                prepared.delivery,
                result_type=Delivered,
                task_queue=start.file_task_queue,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=20),
                retry_policy=RETRY,
            )
            sent = RepresentmentSent(
                number=command.number,
                effective_date=command.effective_date,
                trace_number=prepared.trace_number,
            )
            self._case, more = decide(self._case, sent, workflow.now().date())
            for follow_up in more:
                await self._execute(follow_up)
        elif isinstance(command, BlockAccount):
            await workflow.execute_activity(
                "ach.block_account",
                BlockRequest(trace_number=case.trace_number, reason=command.reason),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
        elif isinstance(command, ApplyCorrection):
            await workflow.execute_activity(
                "ach.apply_correction",
                CorrectionRequest(
                    notice_id=f"{case.trace_number}/{command.source}/{len(case.timeline)}",
                    trace_number=case.trace_number,
                    source=command.source,
                    fields=command.fields,
                    due=command.due,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
        elif isinstance(command, Notify | Escalate):
            event_type = (
                command.event_type if isinstance(command, Notify) else "ach.return.escalated"
            )
            detail = command.detail if isinstance(command, Notify) else command.reason
            payload: dict[str, object] = {
                "state": str(case.state),
                "code": case.last_code,
                "detail": detail,
            }
            if isinstance(command, Notify) and command.trace_number:
                payload["trace_number"] = command.trace_number
            await workflow.execute_activity(
                "ach.record_event",
                OutboxEvent(
                    message_id=f"{workflow.info().workflow_id}/{len(case.timeline)}/{event_type}",
                    event_type=event_type,
                    subject=case.trace_number,
                    payload=payload,
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )

    async def _audit(self, decision: Decision, decision_id: str, before: ReturnCase) -> None:
        assert self._case is not None
        await workflow.execute_activity(
            "audit.write",
            AuditEntry(
                event_id=f"{workflow.info().workflow_id}/{decision_id}",
                actor=decision.actor,
                action=f"ach.{decision.kind}",
                subject=self._case.trace_number,
                reason=decision.reason,
                details={"from": str(before.state), "to": str(self._case.state)},
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )

    def _upsert_search_attributes(self) -> None:
        assert self._case is not None
        updates = [ACH_STATE.value_set(str(self._case.state))]
        if self._case.last_code:
            updates.append(RETURN_CODE.value_set(self._case.last_code))
        workflow.upsert_search_attributes(updates)
