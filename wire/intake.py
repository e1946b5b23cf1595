"""Contracts of SFTP file intake: a feed's configuration, the workflow's input and result, and
the inputs and outputs of its activities. File contents never appear here (claim check): only
landing-zone paths, digests and small summaries."""

from __future__ import annotations

import re
from datetime import datetime, time
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from foundation.wire_model import WireModel, wire_model
from intake.naming import NamingContract
from wire import workflow_ids

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
NACHA_CONTRACT = "nacha.v1"  # built in: NACHA files are checked by the NACHA reader
# Built in: PSP report parts are checked by payouts.psp_report's readers, bank statements (BAI2,
# camt.052/053/054) by payouts.bank_statements.
PSP_REPORT_CONTRACT = "psp_report.v1"
BANK_STATEMENT_CONTRACT = "bank_statement.v1"
# Built in: X12 interchanges land as they are; edi.accept validates them and answers with a
# 997/999/TA1 (a broken envelope is answered with a TA1, not quarantined by intake).
X12_CONTRACT = "x12.v1"
BUILT_IN_CONTRACTS = (NACHA_CONTRACT, PSP_REPORT_CONTRACT, BANK_STATEMENT_CONTRACT, X12_CONTRACT)
Handoff = Literal["ach_returns", "psp_report", "bank_statement", "edi"]
ReportPart = Literal["payouts", "balance_transactions", "links"]
Outcome = Literal["landed", "duplicate", "quarantined"]


class _Strict(BaseModel):
    # Feed configs are written by people: a misspelt key must fail, not be ignored.
    model_config = ConfigDict(extra="forbid", frozen=True)


class SftpSource(_Strict):
    """Where a partner's files wait, and how we prove the server is theirs."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1, max_length=64)
    host_key: str = Field(
        min_length=20,
        description='Pinned server key: an OpenSSH public key line ("ssh-ed25519 AAAA...") or '
        'a "SHA256:..." fingerprint. A different key is refused and alerted, never accepted.',
    )
    private_key: str = Field(
        pattern=r"^[A-Za-z0-9._-]{1,100}$",
        description="Name of our private key file in INTEGRATIONS_SFTP_KEYS_DIR (a secret).",
    )
    inbox: str = "inbox"
    archive: str = "archive"
    quarantine: str = "quarantine"
    outbox: str = "outbox"

    @field_validator("inbox", "archive", "quarantine", "outbox")
    @classmethod
    def _folder(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9._/-]{1,200}", value) or ".." in value.split("/"):
            raise ValueError("must be a plain relative folder name")
        return value


class PgpPolicy(_Strict):
    """Files are encrypted to us and signed by the partner's pinned key."""

    signer_fingerprint: str = Field(pattern=r"^[0-9A-Fa-f]{40}$")


class FeedSchedule(_Strict):
    interval_minutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60)
    cron: str | None = None
    timezone: str = "UTC"
    sla_deadline: time | None = Field(
        default=None, description="Local time (in `timezone`) by which the day's file is due."
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _one(self) -> FeedSchedule:
        if (self.interval_minutes is None) == (self.cron is None):
            raise ValueError("give exactly one of interval_minutes or cron")
        return self


@wire_model("intake.feed_config", "1.3")
class FeedConfig(WireModel):
    """One partner feed: where its files come from, what they must look like, when they are due."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partner_id: str = Field(pattern=SLUG)
    feed: str = Field(pattern=SLUG)
    display_name: str = Field(default="", max_length=200)
    sftp: SftpSource
    naming: NamingContract
    file_contract: str = Field(
        pattern=r"^[a-z0-9_]+\.v\d+$",
        description="A file in file_contracts/ without .toml, e.g. acme_customers.v1; "
        f"{NACHA_CONTRACT!r} checks NACHA files with the NACHA reader (lenient, as inbound), "
        f"{PSP_REPORT_CONTRACT!r} a PSP report part, {BANK_STATEMENT_CONTRACT!r} a BAI2 or camt "
        f"bank statement, {X12_CONTRACT!r} an X12 interchange.",
    )
    handoff: Handoff | None = Field(
        default=None,
        description="The domain flow a landed file is handed to, by reference: ach_returns "
        "(return/NOC cases), psp_report (the Payout workflows, once every part of the day's "
        "report has landed), bank_statement (the open Payout workflows' deposit matching).",
    )
    report_part: ReportPart | None = Field(
        default=None,
        description="With handoff psp_report: which part of the PSP's report this feed carries. "
        "A day's report is complete when its payouts and balance_transactions parts have landed "
        "(and links, if the partner has a links feed).",
    )
    pgp: PgpPolicy | None = None
    schedule: FeedSchedule
    max_file_bytes: int | None = Field(default=None, ge=1)
    settle_seconds: float = Field(default=2.0, ge=0, le=300)
    dedupe_window_days: int | None = Field(default=None, ge=1, le=366)

    @model_validator(mode="after")
    def _handoff(self) -> FeedConfig:
        if self.handoff == "ach_returns" and self.file_contract != NACHA_CONTRACT:
            raise ValueError(f"handoff ach_returns needs file_contract = {NACHA_CONTRACT!r}")
        if self.handoff == "bank_statement" and self.file_contract != BANK_STATEMENT_CONTRACT:
            raise ValueError(
                f"handoff bank_statement needs file_contract = {BANK_STATEMENT_CONTRACT!r}"
            )
        if (self.handoff == "psp_report") != (self.report_part is not None):
            raise ValueError("report_part goes with handoff psp_report, and only with it")
        if (self.handoff == "edi") != (self.file_contract == X12_CONTRACT):
            raise ValueError(f"handoff edi goes with file_contract = {X12_CONTRACT!r}")
        if self.file_contract == PSP_REPORT_CONTRACT and self.handoff != "psp_report":
            raise ValueError(f"file_contract {PSP_REPORT_CONTRACT!r} needs handoff psp_report")
        return self

    @property
    def schedule_id(self) -> str:
        return workflow_ids.schedule_id(self.partner_id, self.feed)


@wire_model("intake.loaded_feed", "1.3")
class LoadedFeed(WireModel):
    feed: FeedConfig
    file_task_queue: str = Field(description="Task queue of the worker pool that moves files.")


@wire_model("intake.request", "1.0")
class IntakeRequest(WireModel):
    """Input of a FileIntake run (what the feed's Schedule starts)."""

    partner_id: str = Field(pattern=SLUG)
    feed: str = Field(pattern=SLUG)


@wire_model("intake.inbox_file", "1.0")
class InboxFile(WireModel):
    name: str
    size: int
    mtime: int


@wire_model("intake.listing", "1.0")
class InboxListing(WireModel):
    files: list[InboxFile] = Field(default_factory=list)
    refused: list[FileDecision] = Field(
        default_factory=list, description="Files quarantined without download (name, size)."
    )


@wire_model("intake.fetch_request", "1.3")
class FetchRequest(WireModel):
    feed: FeedConfig
    file: InboxFile
    staging_key: str = Field(description="Stable per workflow and file, so a retry resumes.")


@wire_model("intake.fetched", "1.0")
class FetchedFile(WireModel):
    staged_path: str
    sha256: str
    size: int
    resumed_from: int = 0


@wire_model("intake.digest_lookup", "1.0")
class DigestLookup(WireModel):
    partner_id: str
    feed: str
    remote_name: str
    sha256: str


@wire_model("intake.known_digest", "1.0")
class KnownDigest(WireModel):
    """Whether these bytes were processed before, and how."""

    sha256: str
    known: bool
    status: Literal["landed", "quarantined"] | None = None
    source_name: str | None = None
    partner_id: str | None = None
    feed: str | None = None
    # Set when this very file (same feed, name and bytes) was decided by an interrupted run.
    decided_outcome: Outcome | None = None
    decided_reason: str | None = None


@wire_model("intake.process_request", "1.3")
class ProcessRequest(WireModel):
    feed: FeedConfig
    file: InboxFile
    fetched: FetchedFile
    received_at: datetime


@wire_model("intake.processed", "1.0")
class ProcessedFile(WireModel):
    """What validation decided and where the landed copies are (paths, never contents)."""

    outcome: Literal["landed", "quarantined"]
    reason: str = ""
    sha256: str
    size: int
    landing_path: str | None = None
    parquet_path: str | None = None
    metadata_path: str | None = None
    report_path: str | None = None
    rows_total: int | None = None
    rows_valid: int | None = None
    rows_invalid: int | None = None
    sequence: int | None = None
    file_date: str | None = None
    pgp_fingerprint: str | None = None
    file_contract: str
    schema_version: int
    schema_drift: bool = False


@wire_model("intake.file_decision", "1.0")
class FileDecision(WireModel):
    """The end of one file's road: landed, a duplicate, or quarantined, with why."""

    remote_name: str
    outcome: Outcome
    reason: str = ""
    sha256: str | None = None
    size: int = 0
    rows_total: int | None = None
    rows_invalid: int | None = None
    rows_duplicate: int | None = None
    landing_path: str | None = None
    report_path: str | None = None
    sequence: int | None = None
    schema_drift: bool = False


@wire_model("intake.record_request", "1.3")
class RecordRequest(WireModel):
    feed: FeedConfig
    decision: FileDecision
    processed: ProcessedFile | None = None
    received_at: datetime
    workflow_id: str


@wire_model("intake.recorded", "1.0")
class Recorded(WireModel):
    first_time: bool
    sequence_warnings: list[str] = Field(default_factory=list)


@wire_model("intake.finish_request", "1.3")
class FinishRequest(WireModel):
    feed: FeedConfig
    decision: FileDecision
    staged_path: str | None = None


@wire_model("intake.finished", "1.0")
class Finished(WireModel):
    moved_to: str
    report_uploaded: str | None = None


@wire_model("intake.dedupe_request", "1.3")
class DedupeRequest(WireModel):
    feed: FeedConfig
    sha256: str
    parquet_path: str
    received_at: datetime


@wire_model("intake.deduped", "1.0")
class Deduped(WireModel):
    rows_checked: int
    rows_duplicate: int
    unique_parquet_path: str | None = Field(
        default=None, description="Valid rows minus duplicates, written when there were any."
    )


@wire_model("sftp.deliver_request", "1.2")
class DeliverRequest(WireModel):
    """Put a local file into a partner's outbox exactly once (temp name, then rename)."""

    feed: FeedConfig
    local_path: str
    remote_name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,180}$")
    sha256: str
    size: int


@wire_model("sftp.delivered", "1.0")
class Delivered(WireModel):
    remote_path: str
    already_there: bool


@wire_model("intake.sla_check", "1.3")
class SlaCheck(WireModel):
    feed: FeedConfig
    now: datetime


@wire_model("intake.sla_result", "1.0")
class SlaResult(WireModel):
    breached: bool
    raised_now: bool = False
    deadline: datetime | None = None


@wire_model("intake.alert", "1.0")
class IntakeAlert(WireModel):
    partner_id: str
    feed: str
    kind: str
    message: str
    workflow_id: str


@wire_model("intake.result", "1.0")
class IntakeRunResult(WireModel):
    partner_id: str
    feed: str
    decisions: list[FileDecision] = Field(default_factory=list)
    sequence_warnings: list[str] = Field(default_factory=list)
    sla_breached: bool = False
    continued_as_new: bool = False


InboxListing.model_rebuild()
