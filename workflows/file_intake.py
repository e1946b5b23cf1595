"""SFTP file intake: one run per feed per schedule tick, every inbox file decided exactly once."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from wire.intake import (
        Deduped,
        DedupeRequest,
        DigestLookup,
        FeedConfig,
        FetchedFile,
        FetchRequest,
        FileDecision,
        Finished,
        FinishRequest,
        InboxFile,
        InboxListing,
        IntakeAlert,
        IntakeRequest,
        IntakeRunResult,
        KnownDigest,
        LoadedFeed,
        ProcessedFile,
        ProcessRequest,
        Recorded,
        RecordRequest,
        SlaCheck,
        SlaResult,
    )

from workflows.intake_handoffs import HANDOFFS, HandoffRoute, LandedFile

# File movement can meet a partner's slow or restarting server: retry with backoff for a while,
# then give up and alert (systemic). Permanent errors are raised non-retryable by the activities.
FILE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=12,
)
DB_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=500), maximum_interval=timedelta(seconds=30)
)
ResultT = TypeVar("ResultT")
# Kinds of failure that mean the feed cannot work until a person acts.
ALERTING_ERRORS = {"HostKeyMismatch", "AuthenticationRefused", "PathOutsideJail"}


@workflow.defn(name="FileIntake")
class FileIntakeWorkflow:
    """Lists a partner's SFTP inbox and lands, de-duplicates or quarantines every stable file.

    Started by the feed's Schedule (``intake-<partner>-<feed>``) or ``integrations feeds
    trigger``. Signals: none. Updates: none. Queries: ``progress`` (IntakeRunResult so far).
    """

    def __init__(self) -> None:
        self._result: IntakeRunResult | None = None

    @workflow.run
    async def run(self, request: IntakeRequest) -> IntakeRunResult:
        self._result = IntakeRunResult(partner_id=request.partner_id, feed=request.feed)
        loaded: LoadedFeed = await workflow.execute_activity(
            "intake.load_feed",
            request,
            result_type=LoadedFeed,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
        )
        feed, files_queue = loaded.feed, loaded.file_task_queue

        listing = await self._file_activity(
            "intake.list_inbox",
            feed,
            files_queue,
            InboxListing,
            timeout=timedelta(seconds=feed.settle_seconds + 120),
        )
        for refused in listing.refused:
            await self._finish(feed, files_queue, refused, None, request)
        for inbox_file in listing.files:
            decision = await self._one_file(feed, files_queue, inbox_file)
            if decision is not None:
                self._result.decisions.append(decision)
            if workflow.info().is_continue_as_new_suggested():
                # Files not reached are still in the inbox; the next run picks them up.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(request)

        sla: SlaResult = await workflow.execute_activity(
            "intake.check_sla",
            SlaCheck(feed=feed, now=workflow.now()),
            result_type=SlaResult,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
        )
        self._result.sla_breached = sla.breached
        return self._result

    @workflow.query
    def progress(self) -> IntakeRunResult | None:
        return self._result

    async def _one_file(
        self, feed: FeedConfig, files_queue: str, inbox_file: InboxFile
    ) -> FileDecision | None:
        info = workflow.info()
        fetched = await self._file_activity(
            "intake.fetch",
            FetchRequest(
                feed=feed,
                file=inbox_file,
                staging_key=f"{info.workflow_id}/{inbox_file.name}/{inbox_file.mtime}",
            ),
            files_queue,
            FetchedFile,
            # Heartbeats carry the offset; a retry resumes from what reached the disk.
            timeout=timedelta(hours=2),
            heartbeat=timedelta(seconds=30),
        )
        received_at = workflow.now()
        known: KnownDigest = await workflow.execute_activity(
            "intake.lookup_digest",
            DigestLookup(
                partner_id=feed.partner_id,
                feed=feed.feed,
                remote_name=inbox_file.name,
                sha256=fetched.sha256,
            ),
            result_type=KnownDigest,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=DB_RETRY,
        )
        processed: ProcessedFile | None = None
        if known.decided_outcome is not None or known.known:
            decision = _decided_before(inbox_file, fetched, known)
        else:
            processed = await self._process(feed, files_queue, inbox_file, fetched, received_at)
            decision = await self._decide_new(feed, files_queue, inbox_file, processed, received_at)
        recorded: Recorded = await workflow.execute_activity(
            "intake.record",
            RecordRequest(
                feed=feed,
                decision=decision,
                processed=processed,
                received_at=received_at,
                workflow_id=info.workflow_id,
            ),
            result_type=Recorded,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=DB_RETRY,
        )
        assert self._result is not None
        self._result.sequence_warnings.extend(recorded.sequence_warnings)
        await self._finish(feed, files_queue, decision, fetched.staged_path, None)
        route = HANDOFFS.get(feed.handoff) if feed.handoff is not None else None
        if route is not None and processed is not None and decision.landing_path:
            # Hand the landed file, by reference, to the domain its feed feeds.
            landed = LandedFile(feed, processed, decision.landing_path, received_at)
            await self._hand_off(route, landed, files_queue)
        return decision

    async def _process(
        self,
        feed: FeedConfig,
        files_queue: str,
        inbox_file: InboxFile,
        fetched: FetchedFile,
        received_at: datetime,
    ) -> ProcessedFile:
        """Check, validate and land (or quarantine) a file whose content is new to the feed."""
        processed: ProcessedFile = await self._file_activity(
            "intake.process",
            ProcessRequest(feed=feed, file=inbox_file, fetched=fetched, received_at=received_at),
            files_queue,
            ProcessedFile,
            timeout=timedelta(hours=1),
            heartbeat=timedelta(seconds=60),
        )
        return processed

    async def _decide_new(
        self,
        feed: FeedConfig,
        files_queue: str,
        inbox_file: InboxFile,
        processed: ProcessedFile,
        received_at: datetime,
    ) -> FileDecision:
        """The decision on a processed file, its rows de-duplicated first when the feed asks."""
        rows_duplicate = None
        if feed.dedupe_window_days and processed.parquet_path:
            deduped = await self._file_activity(
                "intake.dedupe_rows",
                DedupeRequest(
                    feed=feed,
                    sha256=processed.sha256,
                    parquet_path=processed.parquet_path,
                    received_at=received_at,
                ),
                files_queue,
                Deduped,
                timeout=timedelta(minutes=30),
            )
            rows_duplicate = deduped.rows_duplicate
        return FileDecision(
            remote_name=inbox_file.name,
            outcome=processed.outcome,
            rows_duplicate=rows_duplicate,
            reason=processed.reason,
            sha256=processed.sha256,
            size=processed.size,
            rows_total=processed.rows_total,
            rows_invalid=processed.rows_invalid,
            landing_path=processed.landing_path,
            report_path=processed.report_path,
            sequence=processed.sequence,
            schema_drift=processed.schema_drift,
        )

    async def _hand_off(self, route: HandoffRoute, landed: LandedFile, files_queue: str) -> None:
        request = route.request(landed)
        if route.queue == "files":
            await self._file_activity(
                route.activity,
                request,
                files_queue,
                route.result_type,
                timeout=route.start_to_close,
                heartbeat=route.heartbeat,
            )
            return
        await workflow.execute_activity(
            route.activity,
            request,
            result_type=route.result_type,
            start_to_close_timeout=route.start_to_close,
            heartbeat_timeout=route.heartbeat,
            retry_policy=DB_RETRY,
        )

    async def _finish(
        self,
        feed: FeedConfig,
        files_queue: str,
        decision: FileDecision,
        staged_path: str | None,
        request: IntakeRequest | None,
    ) -> None:
        if request is not None:
            # Refused at listing (unsafe name, too large): record it, then move it aside.
            assert self._result is not None
            self._result.decisions.append(decision)
            await workflow.execute_activity(
                "intake.record",
                RecordRequest(
                    feed=feed,
                    decision=decision,
                    received_at=workflow.now(),
                    workflow_id=workflow.info().workflow_id,
                ),
                result_type=Recorded,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=DB_RETRY,
            )
        await self._file_activity(
            "intake.finish",
            FinishRequest(feed=feed, decision=decision, staged_path=staged_path),
            files_queue,
            Finished,
            timeout=timedelta(minutes=2),  # renames and a small report upload
        )

    async def _file_activity(
        self,
        name: str,
        arg: object,
        queue: str,
        result_type: type[ResultT],
        *,
        timeout: timedelta,  # noqa: ASYNC109 - Temporal's start-to-close, not an asyncio timeout
        heartbeat: timedelta | None = None,
    ) -> ResultT:
        try:
            result: ResultT = await workflow.execute_activity(
                name,
                arg,
                result_type=result_type,
                task_queue=queue,
                start_to_close_timeout=timeout,
                heartbeat_timeout=heartbeat,
                retry_policy=FILE_RETRY,
            )
            return result
        except ActivityError as err:
            cause = err.cause
            kind = cause.type if isinstance(cause, ApplicationError) else None
            feed = arg if isinstance(arg, FeedConfig) else getattr(arg, "feed", None)
            if isinstance(feed, FeedConfig):
                await workflow.execute_activity(
                    "intake.raise_alert",
                    IntakeAlert(
                        partner_id=feed.partner_id,
                        feed=feed.feed,
                        kind=kind if kind in ALERTING_ERRORS else "systemic",
                        message=str(cause or err),
                        workflow_id=workflow.info().workflow_id,
                    ),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=DB_RETRY,
                )
            raise


def _decided_before(
    inbox_file: InboxFile, fetched: FetchedFile, known: KnownDigest
) -> FileDecision:
    """The decision on a file whose content the feed has met before."""
    if known.decided_outcome is not None:
        # An interrupted run already decided this very file: finish what it started.
        return FileDecision(
            remote_name=inbox_file.name,
            outcome=known.decided_outcome,
            reason=known.decided_reason or "",
            sha256=fetched.sha256,
            size=fetched.size,
        )
    earlier = f"{known.source_name} ({known.partner_id}/{known.feed})"
    return FileDecision(
        remote_name=inbox_file.name,
        outcome="duplicate" if known.status == "landed" else "quarantined",
        reason=f"same content as {earlier}, already {known.status}",
        sha256=fetched.sha256,
        size=fetched.size,
    )
