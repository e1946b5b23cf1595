"""FileIntake branches with stub activities on the time-skipping server: the hand-off table
after landing, duplicates and quarantines that hand nothing off, files refused at listing, a
file an interrupted run already decided, an alerting SFTP failure, and an SLA breach (the full
stack, with real sshd, gpg and PostgreSQL, is in tests/test_file_intake.py and friends)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from intake.naming import NamingContract
from tests.workflow_stubs import Stubs, new_queue, stub_worker
from wire.ach import IngestSummary
from wire.intake import (
    FeedConfig,
    FeedSchedule,
    FetchedFile,
    FileDecision,
    Finished,
    InboxFile,
    InboxListing,
    IntakeRequest,
    IntakeRunResult,
    KnownDigest,
    LoadedFeed,
    ProcessedFile,
    Recorded,
    SftpSource,
    SlaResult,
)
from wire.workflow_ids import schedule_id
from workflows.file_intake import FileIntakeWorkflow

SHA = "a" * 64
FILE = InboxFile(name="firstbank_returns_20261201_seq-1.ach", size=940, mtime=1764547200)
FEED = FeedConfig(
    partner_id="firstbank",
    feed="returns",
    sftp=SftpSource(
        host="127.0.0.1",
        port=2222,
        username="intake",
        host_key="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0LWhvc3Qta2V5LWZvci1zdHViLXRlc3Rz",
        private_key="client",
    ),
    naming=NamingContract(
        pattern="{system}_{entity}_{date}_seq-{sequence}.{ext}",
        system="firstbank",
        entity="returns",
        extensions=("ach",),
    ),
    file_contract="nacha.v1",
    handoff="ach_returns",
    schedule=FeedSchedule(interval_minutes=60),
)
LANDED = ProcessedFile(
    outcome="landed",
    sha256=SHA,
    size=940,
    landing_path=f"/landing/firstbank/returns/2026-12-01/{SHA}.ach",
    rows_total=3,
    rows_valid=3,
    rows_invalid=0,
    file_contract="nacha.v1",
    schema_version=1,
)


def stubs(
    queue: str,
    *,
    files: list[InboxFile] | None = None,
    refused: list[FileDecision] | None = None,
    known: KnownDigest | None = None,
    processed: ProcessedFile = LANDED,
    fetch: Any = None,
    breached: bool = False,
) -> Stubs:
    listed = [FILE] if files is None else files
    return (
        Stubs()
        .on("intake.load_feed", LoadedFeed(feed=FEED, file_task_queue=queue))
        .on("intake.list_inbox", InboxListing(files=listed, refused=refused or []))
        .on("intake.fetch", fetch or FetchedFile(staged_path="/staging/x", sha256=SHA, size=940))
        .on("intake.lookup_digest", known or KnownDigest(sha256=SHA, known=False))
        .on("intake.process", processed)
        .on("intake.record", Recorded(first_time=True))
        .on("intake.finish", Finished(moved_to="archive/x"))
        .on("intake.check_sla", SlaResult(breached=breached))
        .on("intake.raise_alert")
        .on("ach.ingest", IngestSummary(entries=3, returns=3, signalled=3))
    )


async def run(env: WorkflowEnvironment, calls: Stubs, queue: str) -> IntakeRunResult:
    async with stub_worker(env, [FileIntakeWorkflow], calls, queue):
        return await env.client.execute_workflow(
            FileIntakeWorkflow.run,
            IntakeRequest(partner_id=FEED.partner_id, feed=FEED.feed),
            id=f"{schedule_id(FEED.partner_id, FEED.feed)}-branch",
            task_queue=queue,
        )


async def test_a_landed_file_is_handed_off_through_the_table_by_reference(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    queue = new_queue()
    calls = stubs(queue)
    result = await run(time_skipping_env, calls, queue)
    [decision] = result.decisions
    assert (decision.outcome, decision.landing_path) == ("landed", LANDED.landing_path)
    assert calls.names() == [
        "intake.load_feed",
        "intake.list_inbox",
        "intake.fetch",
        "intake.lookup_digest",
        "intake.process",
        "intake.record",
        "intake.finish",
        "ach.ingest",
        "intake.check_sla",
    ]
    [ingest] = calls.requests("ach.ingest")
    assert ingest["path"] == LANDED.landing_path
    assert (ingest["partner_id"], ingest["bank_feed"]) == ("firstbank", "returns")
    assert not result.sla_breached


async def test_a_duplicate_or_a_quarantined_file_is_handed_to_nobody(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    queue = new_queue()
    earlier = KnownDigest(
        sha256=SHA,
        known=True,
        status="landed",
        source_name="firstbank_returns_20261130_seq-9.ach",
        partner_id="firstbank",
        feed="returns",
    )
    calls = stubs(queue, known=earlier)
    result = await run(time_skipping_env, calls, queue)
    [decision] = result.decisions
    assert decision.outcome == "duplicate"
    assert "firstbank_returns_20261130_seq-9.ach" in decision.reason
    assert "intake.process" not in calls.names() and "ach.ingest" not in calls.names()

    queue = new_queue()
    bad = LANDED.model_copy(
        update={"outcome": "quarantined", "reason": "bad control record", "landing_path": None}
    )
    calls = stubs(queue, processed=bad)
    result = await run(time_skipping_env, calls, queue)
    assert [d.outcome for d in result.decisions] == ["quarantined"]
    assert "ach.ingest" not in calls.names()


async def test_a_file_refused_at_listing_is_recorded_and_moved_aside_without_download(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    queue = new_queue()
    too_big = FileDecision(remote_name="huge.ach", outcome="quarantined", reason="too large")
    calls = stubs(queue, files=[], refused=[too_big])
    result = await run(time_skipping_env, calls, queue)
    assert result.decisions == [too_big]
    assert calls.names() == [
        "intake.load_feed",
        "intake.list_inbox",
        "intake.record",
        "intake.finish",
        "intake.check_sla",
    ]


async def test_a_file_an_interrupted_run_decided_is_finished_not_processed_again(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    queue = new_queue()
    decided = KnownDigest(
        sha256=SHA, known=True, status="landed", decided_outcome="landed", decided_reason="ok"
    )
    calls = stubs(queue, known=decided)
    result = await run(time_skipping_env, calls, queue)
    assert [(d.outcome, d.reason) for d in result.decisions] == [("landed", "ok")]
    assert "intake.process" not in calls.names() and "ach.ingest" not in calls.names()
    assert calls.names().count("intake.finish") == 1


async def test_a_changed_host_key_raises_an_alert_of_its_kind_and_fails_the_run(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    queue = new_queue()
    mismatch = ApplicationError(
        "host key does not match the pinned key", type="HostKeyMismatch", non_retryable=True
    )
    calls = stubs(queue, fetch=mismatch)
    with pytest.raises(WorkflowFailureError):
        await run(time_skipping_env, calls, queue)
    [alert] = calls.requests("intake.raise_alert")
    assert (alert["kind"], alert["partner_id"], alert["feed"]) == (
        "HostKeyMismatch",
        "firstbank",
        "returns",
    )
    assert "intake.record" not in calls.names()


async def test_an_empty_inbox_past_its_deadline_is_an_sla_breach(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    queue = new_queue()
    calls = stubs(queue, files=[], breached=True)
    result = await run(time_skipping_env, calls, queue)
    assert result.decisions == [] and result.sla_breached
    [check] = calls.requests("intake.check_sla")
    assert datetime.fromisoformat(check["now"]).tzinfo is not None
    assert datetime.fromisoformat(check["now"]) <= datetime.now(UTC)
