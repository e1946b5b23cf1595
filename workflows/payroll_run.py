"""One durable payroll run per company and pay period: inputs, provider, reconciliation,
approval, direct deposit, GL journal, ``payroll.completed``."""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from wire.ach import OutboxEvent
    from wire.audit import AuditEntry
    from wire.intake import Delivered
    from wire.payroll import (
        PROVIDER_FINAL,
        Decision,
        DepositFile,
        GlExport,
        GlRequest,
        PayRequest,
        PayrollStart,
        PayrollState,
        Prepared,
        PrepareRequest,
        ProviderCall,
        ProviderStatus,
        Reconciled,
        ReconcileRequest,
        RunRecord,
        RunStatus,
    )
    from wire.search_attributes import PAYROLL_COMPANY, PAYROLL_STATUS

RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# Provider calls: tenacity retries inside the activity; this policy waits between activity
# attempts (or as long as the circuit breaker asks, through next_retry_delay).
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=5)
)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


@workflow.defn(name="PayrollRun")
class PayrollRunWorkflow:
    """A payroll run, id ``payroll-<company>-<period start>`` (corrections: ``…-c<n>``).

    Signals: ``provider_status`` (ProviderStatus; sent by the provider's webhook through the
    API, and found by polling when a webhook is lost).
    Updates (validated, audited): ``approve`` and ``reject`` (Decision) — only while the run
    waits for approval, only by one of the run's ``approvers``, never by ``submitted_by``.
    Queries: ``status`` (PayrollState).
    """

    @workflow.init
    def __init__(self, start: PayrollStart) -> None:
        self._start = start
        self._state = PayrollState(
            workflow_id=workflow.info().workflow_id,
            company_id=start.company_id,
            period_start=start.period_start,
            kind=start.kind,
            correction_of=start.correction_of,
        )
        self._provider: ProviderStatus | None = None
        self._decision: tuple[str, Decision] | None = None
        self._decided = False

    @workflow.run
    async def run(self, start: PayrollStart) -> PayrollState:
        if start.submit_on is not None and workflow.now() < _midnight(start.submit_on):
            await self._set("waiting_for_period_end")
            await workflow.sleep(_midnight(start.submit_on) - workflow.now())
        prepared = await self._prepare(start)
        if prepared is None:
            return await self._finish()
        run_id = await self._submit(start, prepared)
        if run_id is None:
            return await self._finish()
        reconciled = await self._reconcile(run_id, prepared)
        if not await self._approved():
            return await self._finish()
        deposit = await self._pay(start, reconciled)
        await self._set("posting")
        gl: GlExport = await workflow.execute_activity(
            "payroll.gl_export",
            GlRequest(
                workflow_id=self._id,
                start=start,
                report_ref=reconciled.report_ref,
                posting_date=start.pay_date,
            ),
            result_type=GlExport,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=RETRY,
        )
        self._state.gl_file = gl.file.path
        await self._set("completed")
        await self._event(
            "payroll.completed",
            {
                "employees": self._state.employees,
                "entries": deposit.entries,
                "net_cents": deposit.total_cents,
                "nacha_file": deposit.delivery.remote_name,
                "gl_file": gl.file.path,
                "gl_debit_cents": gl.debit_cents,
                "gl_credit_cents": gl.credit_cents,
                "correction_of": start.correction_of,
                "kind": start.kind,
            },
        )
        return await self._finish()

    # --- stages of the run (each returns None, or False, when the run ends there) -------------

    async def _prepare(self, start: PayrollStart) -> Prepared | None:
        """Validate the run's inputs; None once invalid input has been reported."""
        await self._set("validating")
        prepared: Prepared = await workflow.execute_activity(
            "payroll.prepare",
            PrepareRequest(workflow_id=self._id, start=start),
            result_type=Prepared,
            start_to_close_timeout=timedelta(minutes=15),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RETRY,
        )
        self._state.employees = prepared.employees
        if prepared.error_count:
            self._state.input_errors = prepared.errors
            self._state.input_error_count = prepared.error_count
            await self._set("invalid_input")
            await self._event(
                "payroll.input_rejected",
                {"errors": prepared.error_count, "report": prepared.error_report},
            )
            return None
        assert prepared.expected_ref is not None
        self._state.expected = prepared.expected
        return prepared

    async def _submit(self, start: PayrollStart, prepared: Prepared) -> str | None:
        """Open the provider's run, submit it batch by batch and wait until it is final; the
        provider's run id, or None once its failure has been reported."""
        await self._set("submitting")
        call = ProviderCall(workflow_id=self._id, start=start)
        run_id: str = await self._provider_activity("payroll.open_run", call, str)
        self._state.provider_run_id = run_id
        call = call.model_copy(update={"provider_run_id": run_id})
        for batch in range(prepared.batches):
            await self._provider_activity(
                "payroll.submit_batch", call.model_copy(update={"batch": batch}), int
            )
        submitted: ProviderStatus = await self._provider_activity(
            "payroll.submit", call, ProviderStatus
        )
        self._note_provider(submitted)
        await self._set("awaiting_provider")
        await self._wait_for_provider(call)
        assert self._provider is not None
        if self._provider.status != "completed":
            await self._set("provider_failed")
            await self._event("payroll.provider_failed", {"status": self._provider.status})
            return None
        return run_id

    async def _reconcile(self, run_id: str, prepared: Prepared) -> Reconciled:
        """Compare what the provider reports with what was expected; the run then awaits approval
        (its status says whether exceptions were found)."""
        assert prepared.expected_ref is not None
        await self._set("reconciling")
        reconciled: Reconciled = await workflow.execute_activity(
            "payroll.reconcile",
            ReconcileRequest(
                workflow_id=self._id, provider_run_id=run_id, expected_ref=prepared.expected_ref
            ),
            result_type=Reconciled,
            start_to_close_timeout=timedelta(minutes=15),
            heartbeat_timeout=timedelta(minutes=2),
            retry_policy=PROVIDER_RETRY,
        )
        self._state.reported = reconciled.reported
        self._state.exceptions = reconciled.exceptions
        self._state.exception_count = reconciled.exception_count
        if reconciled.exception_count:
            await self._set("exception")
            await self._event(
                "payroll.exception",
                {"exceptions": reconciled.exception_count},
            )
        else:
            await self._set("awaiting_approval")
        return reconciled

    async def _approved(self) -> bool:
        """Wait for the decision and audit it; False once a rejection has been reported."""
        await self._wait_for_decision()
        assert self._decision is not None
        verdict, decision = self._decision
        await self._audit(verdict, decision)
        self._state.decided_by = decision.actor
        self._state.decision_reason = decision.reason
        if verdict == "reject":
            await self._set("rejected")
            self._decided = True
            await self._event("payroll.rejected", {"reason": decision.reason[:200]})
            return False
        await self._set("paying")
        self._decided = True
        return True

    async def _pay(self, start: PayrollStart, reconciled: Reconciled) -> DepositFile:
        """Build the direct-deposit file and deliver it to the bank."""
        deposit: DepositFile = await workflow.execute_activity(
            "payroll.build_deposit_file",
            PayRequest(
                workflow_id=self._id,
                start=start,
                report_ref=reconciled.report_ref,
                approved_at=workflow.now().replace(second=0, microsecond=0),
            ),
            result_type=DepositFile,
            # Heartbeats: a worker that dies mid-way is noticed (and the step retried) quickly.
            start_to_close_timeout=timedelta(minutes=15),
            heartbeat_timeout=timedelta(seconds=10),
            retry_policy=RETRY,
        )
        self._state.nacha_file = deposit.delivery.remote_name
        self._state.entries = deposit.entries
        await workflow.execute_activity(
            "sftp.deliver",
            deposit.delivery,
            result_type=Delivered,
            task_queue=start.file_task_queue,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )
        return deposit

    # --- handlers ----------------------------------------------------------------------------

    @workflow.signal(name="provider_status")
    def provider_status(self, status: ProviderStatus) -> None:
        if self._state.provider_run_id not in (None, status.provider_run_id):
            return  # a webhook about another run of ours (e.g. a replayed older event)
        self._note_provider(status)

    @workflow.update(name="approve")
    async def approve(self, decision: Decision) -> PayrollState:
        return await self._decide("approve", decision)

    @approve.validator
    def _check_approve(self, decision: Decision) -> None:
        self._refuse_if_invalid("approve", decision)

    @workflow.update(name="reject")
    async def reject(self, decision: Decision) -> PayrollState:
        return await self._decide("reject", decision)

    @reject.validator
    def _check_reject(self, decision: Decision) -> None:
        self._refuse_if_invalid("reject", decision)

    @workflow.query(name="status")
    def status(self) -> PayrollState:
        return self._state

    # --- internals ---------------------------------------------------------------------------

    @property
    def _id(self) -> str:
        return workflow.info().workflow_id

    def _refuse_if_invalid(self, verdict: str, decision: Decision) -> None:
        # Runs before the update is accepted: a refused decision leaves nothing in history.
        if self._decision is not None or self._state.status not in (
            "awaiting_approval",
            "exception",
        ):
            raise ApplicationError(
                f"nothing to {verdict}: the run is {self._state.status}",
                type="DecisionRefused",
                non_retryable=True,
            )
        if decision.actor not in self._start.approvers:
            raise ApplicationError(
                f"{decision.actor} does not hold the payroll approver role",
                type="DecisionRefused",
                non_retryable=True,
            )
        if decision.actor == self._start.submitted_by:
            raise ApplicationError(
                "separation of duties: the submitter cannot decide on their own run",
                type="DecisionRefused",
                non_retryable=True,
            )
        if verdict == "reject" and not decision.reason.strip():
            raise ApplicationError(
                "a rejection needs a reason", type="DecisionRefused", non_retryable=True
            )
        if (
            verdict == "approve"
            and self._state.status == "exception"
            and not decision.acknowledge_exceptions
        ):
            raise ApplicationError(
                f"{self._state.exception_count} reconciliation exception(s): approve with "
                "acknowledge_exceptions to pay anyway",
                type="DecisionRefused",
                non_retryable=True,
            )

    async def _decide(self, verdict: str, decision: Decision) -> PayrollState:
        if self._decision is not None:  # two decisions raced past the validator
            raise ApplicationError("the run was already decided", type="DecisionRefused")
        self._decision = (verdict, decision)
        await workflow.wait_condition(lambda: self._decided)
        return self._state

    def _note_provider(self, status: ProviderStatus) -> None:
        if self._provider is not None:
            return  # final already (a webhook can overtake the submit call's answer)
        self._state.provider_status = status.status
        if status.status in PROVIDER_FINAL:
            self._provider = status

    async def _provider_activity(self, name: str, call: ProviderCall, result: type) -> Any:
        return await workflow.execute_activity(
            name,
            call,
            result_type=result,
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=PROVIDER_RETRY,
        )

    def _cutoff(self) -> datetime:
        """The bank needs the file ``cutoff_lead_days`` before the pay date."""
        return _midnight(self._start.pay_date) - timedelta(days=self._start.cutoff_lead_days)

    async def _escalate_if_late(self, stage: str) -> bool:
        """Raise ``payroll.late`` once per stage when the cut-off is near."""
        escalate_at = self._cutoff() - timedelta(hours=self._start.escalate_before_hours)
        if stage in self._state.escalations or workflow.now() < escalate_at:
            return False
        self._state.escalations.append(stage)
        await self._event(
            "payroll.late",
            {"stage": stage, "cutoff": self._cutoff().isoformat()},
            suffix=stage,
        )
        return True

    def _until_escalation(self, stage: str) -> float | None:
        if stage in self._state.escalations:
            return None
        escalate_at = self._cutoff() - timedelta(hours=self._start.escalate_before_hours)
        return max((escalate_at - workflow.now()).total_seconds(), 1.0)

    async def _wait_for_provider(self, call: ProviderCall) -> None:
        """The webhook's signal, or polling with backoff when it never comes; escalate when
        the provider is still busy close to the cut-off."""
        delay = float(self._start.poll_initial_seconds)
        while self._provider is None:
            await self._escalate_if_late("provider")
            until = self._until_escalation("provider")
            for_escalation = until is not None and until < delay
            try:
                await workflow.wait_condition(
                    lambda: self._provider is not None,
                    timeout=until if for_escalation else delay,
                )
                return
            except TimeoutError:
                pass
            if for_escalation:
                continue  # the escalation is due: raise it, then keep waiting
            polled: ProviderStatus = await self._provider_activity(
                "payroll.poll_status", call, ProviderStatus
            )
            self._state.polls += 1
            if self._provider is None:
                self._note_provider(polled)
            delay = min(delay * 2, float(self._start.poll_max_seconds))

    async def _wait_for_decision(self) -> None:
        while self._decision is None:
            await self._escalate_if_late("approval")
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._decision is not None,
                    timeout=self._until_escalation("approval"),
                )

    async def _set(self, status: RunStatus) -> None:
        self._state.status = status
        workflow.upsert_search_attributes(self._search_attributes())
        figures = self._state.reported or self._state.expected
        await workflow.execute_activity(
            "payroll.record",
            RunRecord(
                workflow_id=self._id,
                start=self._start,
                status=status,
                provider_run_id=self._state.provider_run_id,
                decided_by=self._state.decided_by,
                decision_reason=self._state.decision_reason,
                employees=self._state.employees or None,
                net_cents=figures.figures.get("net") if figures else None,
                exceptions=self._state.exception_count,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )

    def _search_attributes(self) -> list[SearchAttributeUpdate[Any]]:
        return [
            PAYROLL_COMPANY.value_set(self._start.company_id),
            PAYROLL_STATUS.value_set(self._state.status),
        ]

    async def _event(self, event_type: str, payload: dict[str, Any], suffix: str = "") -> None:
        await workflow.execute_activity(
            "outbox.record",
            OutboxEvent(
                message_id=f"{self._id}/{event_type}{'/' + suffix if suffix else ''}",
                event_type=event_type,
                subject=self._id,
                payload={"status": self._state.status, **payload},
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )

    async def _audit(self, verdict: str, decision: Decision) -> None:
        await workflow.execute_activity(
            "audit.write",
            AuditEntry(
                event_id=f"{self._id}/{verdict}",
                actor=decision.actor,
                action=f"payroll.{verdict}",
                subject=self._id,
                reason=decision.reason,
                details={
                    "submitted_by": self._start.submitted_by,
                    "exceptions": self._state.exception_count,
                    "acknowledged_exceptions": decision.acknowledge_exceptions,
                },
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )

    async def _finish(self) -> PayrollState:
        self._decided = True
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state
