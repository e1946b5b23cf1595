"""One durable reconciliation per PSP payout: webhooks, the PSP's report, the bank's deposit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from payouts.reconciliation import DepositMatch, PayoutReconciliation
    from wire.ach import OutboxEvent
    from wire.audit import AuditEntry
    from wire.payout_case import (
        DepositRequest,
        PayoutState,
        ReconcileRequest,
        ReportRef,
        Resolve,
        StatementRef,
    )
    from wire.payouts import PayoutStart, PspEvent
    from wire.search_attributes import AMOUNT_MINOR, CURRENCY, PAYOUT_ID, PAYOUT_STATUS

# How long after we first hear of a payout its report may take before an SLA breach is raised,
# and how long after the report the bank deposit may take before the payout is an exception.
REPORT_DUE = timedelta(days=2)
DEPOSIT_DUE = timedelta(days=5)
RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))


@workflow.defn(name="Payout")
class PayoutWorkflow:
    """Reconciles one payout (id ``payout-<payout id>``).

    Signals: ``psp_event`` (PspEvent, from the webhook relay; deduplicated by event id),
    ``report_landed`` (ReportRef, the PSP's report from file intake), ``statement_landed``
    (StatementRef, a BAI2/camt statement). Updates: ``resolve`` (actor, reason; only while the
    payout is an exception). Queries: ``state`` (PayoutState).
    """

    @workflow.init
    def __init__(self, start: PayoutStart) -> None:
        # Built from the input before any handler runs: with signal-with-start, the first
        # psp_event is delivered before the run method begins.
        self._state: PayoutState | None = PayoutState(
            payout_id=start.payout_id, provider=start.provider
        )
        self._report: ReportRef | None = None
        self._statements: list[StatementRef] = []
        self._resolution: Resolve | None = None

    @workflow.run
    async def run(self, start: PayoutStart) -> PayoutState:
        assert self._state is not None
        self._publish()
        if not await self._wait(lambda: self._report is not None, REPORT_DUE):
            # SLA breach: the report is late. Say so once, then keep waiting for it.
            self._state.report_late = True
            await self._event("payout.report_late", "the PSP report is late")
            await workflow.wait_condition(lambda: self._report is not None)
        assert self._report is not None
        reconciliation: PayoutReconciliation = await workflow.execute_activity(
            "payouts.reconcile",
            ReconcileRequest(payout_id=start.payout_id, report=self._report),
            result_type=PayoutReconciliation,
            start_to_close_timeout=timedelta(minutes=10),
            heartbeat_timeout=timedelta(seconds=20),
            retry_policy=RETRY,
        )
        self._state.reconciliation = reconciliation
        self._state.status = "awaiting_deposit"
        self._publish()

        deposit: DepositMatch | None = None
        if await self._wait(lambda: bool(self._statements), DEPOSIT_DUE):
            deposit = await workflow.execute_activity(
                "payouts.match_deposit",
                DepositRequest(
                    payout_id=start.payout_id, report=self._report, statements=self._statements
                ),
                result_type=DepositMatch,
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(seconds=20),
                retry_policy=RETRY,
            )
            self._state.deposit = deposit
        else:
            self._state.deposit_late = True

        reasons = [d.message for d in reconciliation.discrepancies]
        if deposit is None:
            reasons.append("no bank deposit arrived within the window")
        else:
            reasons += [d.message for d in deposit.discrepancies]
            if deposit.is_exception and not deposit.discrepancies:
                reasons.append(f"deposit {deposit.status}")
        if reconciliation.status != "reconciled" and not reconciliation.discrepancies:
            reasons.append(f"report {reconciliation.status}")
        if not reasons:
            self._state.status = "reconciled"
            self._publish()
            await self._event("payout.reconciled", "reconciled")
        else:
            self._state.status = "exception"
            self._state.exception_reasons = reasons[:50]
            self._publish()
            await self._event("payout.exception", "; ".join(reasons)[:500])
            await workflow.wait_condition(lambda: self._resolution is not None)
            assert self._resolution is not None
            await workflow.execute_activity(
                "audit.write",
                AuditEntry(
                    event_id=f"{workflow.info().workflow_id}/resolve",
                    actor=self._resolution.actor,
                    action=f"payout.resolve.{self._resolution.resolution}",
                    subject=start.payout_id,
                    reason=self._resolution.reason,
                    details={"reasons": reasons[:20]},
                ),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RETRY,
            )
            self._state.status = "resolved"
            self._state.resolved_by = self._resolution.actor
            self._publish()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    # --- handlers ----------------------------------------------------------------------------

    @workflow.signal(name="psp_event")
    def psp_event(self, event: PspEvent) -> None:
        state = self._state
        if state is None or event.event_id in state.event_ids:
            return  # a redelivered webhook, or a relay that signalled twice
        state.event_ids.append(event.event_id)
        state.event_types[event.type] = state.event_types.get(event.type, 0) + 1
        if event.type == "payout.paid":
            state.paid = True

    @workflow.signal(name="report_landed")
    def report_landed(self, report: ReportRef) -> None:
        if self._report is None:
            self._report = report

    @workflow.signal(name="statement_landed")
    def statement_landed(self, statement: StatementRef) -> None:
        if statement not in self._statements:
            self._statements.append(statement)

    @workflow.update(name="resolve")
    async def resolve(self, decision: Resolve) -> PayoutState:
        self._resolution = decision
        await workflow.wait_condition(
            lambda: self._state is not None and self._state.status == "resolved"
        )
        assert self._state is not None
        return self._state

    @resolve.validator
    def _check_resolve(self, decision: Resolve) -> None:
        if self._state is None or self._state.status != "exception":
            status = self._state.status if self._state else "starting"
            raise ApplicationError(
                f"nothing to resolve: the payout is {status}", type="DecisionRefused"
            )

    @workflow.query(name="state")
    def state(self) -> PayoutState | None:
        return self._state

    # --- internals ---------------------------------------------------------------------------

    async def _wait(self, ready: object, within: timedelta) -> bool:
        assert callable(ready)
        try:
            await workflow.wait_condition(ready, timeout=within)
        except TimeoutError:
            return False
        return True

    async def _event(self, event_type: str, detail: str) -> None:
        assert self._state is not None
        await workflow.execute_activity(
            "outbox.record",
            OutboxEvent(
                message_id=f"{workflow.info().workflow_id}/{event_type}",
                event_type=event_type,
                subject=self._state.payout_id,
                payload={"status": self._state.status, "detail": detail},
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )

    def _publish(self) -> None:
        assert self._state is not None
        updates: list[SearchAttributeUpdate[Any]] = [
            PAYOUT_ID.value_set(self._state.payout_id),
            PAYOUT_STATUS.value_set(self._state.status),
        ]
        recon = self._state.reconciliation
        if recon is not None and recon.currency:
            updates.append(CURRENCY.value_set(recon.currency))
        if recon is not None and recon.payout_amount is not None:
            updates.append(AMOUNT_MINOR.value_set(recon.payout_amount))
        workflow.upsert_search_attributes(updates)
