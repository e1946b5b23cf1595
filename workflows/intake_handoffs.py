"""Where a landed file goes next: one row per feed ``handoff``, read by the FileIntake workflow.

A new domain that takes files from intake adds a ``Handoff`` value (wire/intake.py), an
activity registered by a worker (workers/runner.py), and one row here. The file travels by
reference (its landing path and digest), never by content: the claim check of DESIGN.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from foundation.wire_model import WireModel
    from wire.ach import IngestRequest, IngestSummary
    from wire.edi import AcceptRequest, AcceptSummary
    from wire.intake import FeedConfig, Handoff, ProcessedFile
    from wire.payout_case import (
        ReportHandoff,
        ReportPartLanded,
        StatementHandoff,
        StatementLanded,
    )


@dataclass(frozen=True)
class LandedFile:
    """What a hand-off request is built from: the feed, and the file as it landed."""

    feed: FeedConfig
    processed: ProcessedFile
    landing_path: str
    received_at: datetime


@dataclass(frozen=True)
class HandoffRoute:
    activity: str  # the registered activity name
    request: Callable[[LandedFile], WireModel]
    result_type: type[WireModel]
    # "general": the workflow's own task queue, database retries; "files": the feed's
    # file-moving worker pool (blocking libraries), file retries and an alert on failure.
    queue: Literal["general", "files"]
    start_to_close: timedelta
    heartbeat: timedelta


def _ach_ingest(landed: LandedFile) -> IngestRequest:
    return IngestRequest(
        path=landed.landing_path,
        partner_id=landed.feed.partner_id,
        bank_feed=landed.feed.feed,
        received_on=landed.received_at.date(),
    )


def _report_part(landed: LandedFile) -> ReportPartLanded:
    feed, processed = landed.feed, landed.processed
    # FeedConfig pairs handoff psp_report with a report_part; the PSP contract dates each file.
    assert feed.report_part is not None and processed.file_date is not None
    return ReportPartLanded(
        partner_id=feed.partner_id,
        feed=feed.feed,
        part=feed.report_part,
        report_date=date.fromisoformat(processed.file_date),
        path=landed.landing_path,
        sha256=processed.sha256,
    )


def _edi_accept(landed: LandedFile) -> AcceptRequest:
    return AcceptRequest(
        feed=landed.feed,
        landing_path=landed.landing_path,
        sha256=landed.processed.sha256,
        received_at=landed.received_at,
    )


def _statement(landed: LandedFile) -> StatementLanded:
    return StatementLanded(
        partner_id=landed.feed.partner_id, path=landed.landing_path, sha256=landed.processed.sha256
    )


HANDOFFS: dict[Handoff, HandoffRoute] = {
    # The ACH return cases: one AchReturn workflow per original entry, signal-with-started.
    "ach_returns": HandoffRoute(
        activity="ach.ingest",
        request=_ach_ingest,
        result_type=IngestSummary,
        queue="general",
        start_to_close=timedelta(hours=1),
        heartbeat=timedelta(minutes=2),
    ),
    # The payouts: the last part of a day's report reconciles it once and signals every payout
    # it names.
    "psp_report": HandoffRoute(
        activity="payouts.report_part_landed",
        request=_report_part,
        result_type=ReportHandoff,
        queue="general",
        start_to_close=timedelta(hours=1),
        heartbeat=timedelta(minutes=2),
    ),
    # Validate, record control numbers, answer with a 997/999/TA1 in the partner's outbox and
    # translate accepted sets beside the raw file (pyx12 blocks: the files queue).
    "edi": HandoffRoute(
        activity="edi.accept",
        request=_edi_accept,
        result_type=AcceptSummary,
        queue="files",
        start_to_close=timedelta(minutes=30),
        heartbeat=timedelta(minutes=5),
    ),
    # The bank's deposits, matched against the payouts waiting for them.
    "bank_statement": HandoffRoute(
        activity="payouts.statement_landed",
        request=_statement,
        result_type=StatementHandoff,
        queue="general",
        start_to_close=timedelta(hours=1),
        heartbeat=timedelta(minutes=2),
    ),
}
