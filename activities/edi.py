"""EDI activity: accept a landed X12 file.

``edi.accept`` is sync (pyx12 is blocking) and runs on the file workers' thread pool. It
validates, records the partner's control numbers, writes the acknowledgement, the validation
result and the translated JSON beside the raw file (write-once), uploads the acknowledgement to
the partner's outbox (the ``sftp.deliver`` activity's code: temp name, then rename), and
signals the ``EdiAckWait`` workflows that the partner's own acknowledgements answer. Safe to
repeat: control numbers are recorded by file digest and our ack numbers allocated by purpose, so
a retry rebuilds the very same acknowledgement.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

import edi
from activities.intake_files import FileActivities
from adapters.landing_zone import (
    LandedFileChanged,
    LandedFileMissing,
    LandingZone,
    digest_bytes,
)
from edi.datatypes import is_digits
from edi.limits import Limits
from edi.results import ReceivedAck, ValidationResult
from runtime.settings import Settings
from stores.edi import allocate_outbound, record_inbound
from wire.edi import AcceptRequest, AcceptSummary, Outcome
from wire.intake import DeliverRequest
from wire.workflow_ids import workflow_id

T = TypeVar("T")
DB_TIMEOUT = 60.0


def ack_wait_id(partner_id: str, control_number: str) -> str:
    """``edi-ack-<partner>-<isa13>``; our GS06 is our ISA13, so a 997's AK102 names it too."""
    return workflow_id("EdiAckWait", f"{partner_id}-{int(control_number):09d}")


def edi_limits(settings: Settings) -> Limits:
    """The EDI limits, with the settings that override edi.limits' defaults."""
    overrides: dict[str, Any] = {
        "max_file_bytes": settings.edi_max_file_bytes,
        "max_segment_chars": settings.edi_max_segment_chars,
        "seconds_per_mb": settings.edi_seconds_per_mb,
    }
    return Limits(**{k: v for k, v in overrides.items() if v is not None})


def _read_landed(landing: LandingZone, raw: Path, sha256: str, limits: Limits) -> bytes:
    """The landed file's bytes, checked against its digest (a missing or changed file is a
    permanent failure: nothing a retry could fix)."""
    try:
        return landing.read_verified(raw, sha256, limit=limits.max_file_bytes)
    except LandedFileMissing:
        raise ApplicationError(
            f"landed file {raw.name} is missing", type="LandedFileMissing", non_retryable=True
        ) from None
    except LandedFileChanged:
        raise ApplicationError(
            f"{raw.name} does not match its digest", type="DigestMismatch", non_retryable=True
        ) from None


def _write_translation(
    landing: LandingZone, raw: Path, sha256: str, validation: edi.Validation, duplicate: bool
) -> Path | None:
    """The translated documents as JSON beside the raw file, when there are any."""
    documents = validation.translations()
    if not documents or duplicate:  # a repeated interchange is not processed twice
        return None
    path = landing.derived(raw, sha256, ".translated.json")
    landing.write_text(path, json.dumps({"documents": documents}, indent=2, sort_keys=True) + "\n")
    return path


def _outcome(result: ValidationResult, accepted: list[str], rejected: list[str]) -> Outcome:
    if result.refusal is not None:
        return "refused"
    if result.acknowledgements_received and not accepted and not rejected:
        return "acknowledgement"
    if result.accepted:
        return "accepted"
    if accepted:
        return "partially_accepted"
    return "rejected"


@dataclass
class EdiActivities:
    pool: asyncpg.Pool
    settings: Settings
    client: Client | None = None
    # The worker's event loop, where the pool and client live: this sync activity runs on a
    # thread and hands its database and Temporal calls to that loop.
    loop: asyncio.AbstractEventLoop | None = field(default=None)

    def __post_init__(self) -> None:
        if self.loop is None:
            self.loop = asyncio.get_running_loop()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(DB_TIMEOUT)

    @activity.defn(name="edi.accept")
    def accept(self, request: AcceptRequest) -> AcceptSummary:
        partner = request.feed.partner_id
        raw = Path(request.landing_path)
        landing = LandingZone(self.settings.landing_zone_dir)
        limits = edi_limits(self.settings)
        data = _read_landed(landing, raw, request.sha256, limits)
        # A refusal (beyond a limit, not X12) is a result like any other: written beside the
        # file and returned, never an exception that Temporal would retry.
        validation = edi.validate(data, limits, tick=lambda: activity.heartbeat("validating"))
        del data
        result = validation.result
        activity.heartbeat("validated")
        records = self._run(
            record_inbound(
                self.pool, partner, result, file_sha256=request.sha256, landing_path=str(raw)
            )
        )
        duplicate = any(r.duplicate for r in records)
        gaps = sorted({gap for r in records for gap in r.gaps})
        result_path = landing.derived(raw, request.sha256, ".edi.json")
        landing.write_text(result_path, result.model_dump_json(indent=2) + "\n")
        translation_path = _write_translation(landing, raw, request.sha256, validation, duplicate)
        ack_path, remote, numbers = self._acknowledge(request, landing, validation)
        signalled, unmatched = self._signal(partner, result.acknowledgements_received)
        rejected = [f"{g}/{s}:{t}" for g, t, s in result.rejected_sets()]
        accepted = [f"{g}/{s}:{t}" for g, t, s in result.accepted_sets()]
        outcome = _outcome(result, accepted, rejected)
        activity.logger.info(
            "EDI file from %s: %s, %d set(s) accepted, %d rejected, duplicate=%s",
            partner,
            outcome,
            len(accepted),
            len(rejected),
            duplicate,
        )
        return AcceptSummary(
            outcome=outcome,
            accepted_sets=accepted,
            rejected_sets=rejected,
            ack_kind=result.ack_kind,
            ack_path=str(ack_path) if ack_path else None,
            ack_remote_path=remote,
            ack_control_numbers=numbers,
            result_path=str(result_path),
            translation_path=str(translation_path) if translation_path else None,
            duplicate=duplicate,
            gaps=gaps,
            issues=len(result.issues) + result.issues_truncated,
            acknowledgements_received=result.acknowledgements_received,
            signalled=signalled,
            unmatched_acks=unmatched,
        )

    def _acknowledge(
        self, request: AcceptRequest, landing: LandingZone, validation: edi.Validation
    ) -> tuple[Path | None, str | None, list[int]]:
        """Write our acknowledgement beside the raw file (numbers allocated once per file and
        purpose) and deliver it to the partner's outbox when asked: (ack path, remote path,
        control numbers), or nothing when the file calls for no acknowledgement."""
        if not validation.ack_count:
            return None, None, []
        partner, raw = request.feed.partner_id, Path(request.landing_path)
        numbers = [
            self._run(allocate_outbound(self.pool, partner, f"ack:{request.sha256}:{i}"))
            for i in range(validation.ack_count)
        ]
        when = request.received_at.astimezone(UTC)
        text = validation.acknowledgement([edi.AckControl(n, when) for n in numbers])
        ack_path = landing.derived(raw, request.sha256, ".ack.x12")
        landing.write_text(ack_path, text)
        if not request.deliver:
            return ack_path, None, numbers
        # The file on disk wins (write-once): a retry delivers exactly those bytes.
        content = ack_path.read_bytes()
        name = f"{validation.result.ack_kind}_{partner}_{numbers[0]:09d}.x12"
        delivered = FileActivities(self.settings).deliver(
            DeliverRequest(
                feed=request.feed,
                local_path=str(ack_path),
                remote_name=name,
                sha256=digest_bytes(content),
                size=len(content),
            )
        )
        return ack_path, delivered.remote_path, numbers

    def _signal(self, partner: str, acks: list[ReceivedAck]) -> tuple[list[str], int]:
        """Hand each acknowledgement to the EdiAckWait of the interchange it answers."""
        if self.client is None or not acks:
            return [], len(acks)
        signalled, unmatched = [], 0
        for ack in acks:
            number = ack.acknowledged_interchange or ack.acknowledged_group or ""
            if not is_digits(number) or len(number) > 9:
                unmatched += 1
                continue
            workflow_id = ack_wait_id(partner, number)
            try:
                self._run(
                    self.client.get_workflow_handle(workflow_id).signal("acknowledgement", ack)
                )
                signalled.append(workflow_id)
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                unmatched += 1  # nothing of ours expects it (or it already completed)
        return signalled, unmatched
