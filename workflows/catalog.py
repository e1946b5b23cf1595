"""Every workflow this service runs: its type name, input contract, task queue and id scheme.

The HTTP API, the CLI and the workers read this one table, and the README documents the same
names for ``temporal workflow start``. Ids come from the one id scheme it re-exports
(:func:`workflow_id`, :func:`schedule_id`, defined in ``wire/workflow_ids.py`` so that the
activities and stores below the workflows can use it too).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Literal

from temporalio import workflow

from foundation.wire_model import WireModel
from wire.ach import AchReturnStart
from wire.demo import DemoInput
from wire.edi import AckWaitStart
from wire.intake import IntakeRequest
from wire.partners import OnboardingStart
from wire.payouts import PayoutStart
from wire.payroll import PayrollStart
from wire.workflow_ids import ID_PREFIXES, WorkflowType, schedule_id, workflow_id
from workflows.ach_return import AchReturnWorkflow
from workflows.demo import DemoWorkflow
from workflows.edi_ack_wait import EdiAckWaitWorkflow
from workflows.file_intake import FileIntakeWorkflow
from workflows.partner_onboarding import PartnerOnboardingWorkflow
from workflows.payout import PayoutWorkflow
from workflows.payroll_run import PayrollRunWorkflow

__all__ = [
    "ALL_WORKFLOWS",
    "CATALOG",
    "Queue",
    "WorkflowSpec",
    "schedule_id",
    "workflow_id",
    "workflows_for",
]

Queue = Literal["general", "sftp"]


@dataclass(frozen=True)
class WorkflowSpec:
    name: WorkflowType  # the Temporal workflow type
    workflow: type
    input: type[WireModel]
    queue: Queue
    summary: str

    @property
    def id_prefix(self) -> str:
        return ID_PREFIXES[self.name]

    def workflow_id(self, key: str) -> str:
        """Workflow ids are business keys: ``<prefix>-<key>`` (wire/workflow_ids.py)."""
        return workflow_id(self.name, key)


CATALOG: dict[str, WorkflowSpec] = {
    spec.name: spec
    for spec in (
        WorkflowSpec(
            name="Demo",
            workflow=DemoWorkflow,
            input=DemoInput,
            queue="general",
            summary="Greets a customer through a heartbeating activity (carries planted PII).",
        ),
        WorkflowSpec(
            name="FileIntake",
            workflow=FileIntakeWorkflow,
            input=IntakeRequest,
            queue="general",
            summary="Lands, de-duplicates or quarantines every file in a partner feed's SFTP inbox "
            "(normally started by the feed's Schedule).",
        ),
        WorkflowSpec(
            name="AchReturn",
            workflow=AchReturnWorkflow,
            input=AchReturnStart,
            queue="general",
            summary="The return/NOC case of one original ACH entry (normally signal-with-started "
            "by `integrations ach ingest` or file intake).",
        ),
        WorkflowSpec(
            name="Payout",
            workflow=PayoutWorkflow,
            input=PayoutStart,
            queue="general",
            summary="Reconciles one PSP payout: webhooks, the PSP report, the bank deposit "
            "(normally signal-with-started by the webhook relay).",
        ),
        WorkflowSpec(
            name="PayrollRun",
            workflow=PayrollRunWorkflow,
            input=PayrollStart,
            queue="general",
            summary="One payroll run per company and pay period (key <company>-<period start>): "
            "provider run, reconciliation, approval, direct-deposit ACH, GL export.",
        ),
        WorkflowSpec(
            name="EdiAckWait",
            workflow=EdiAckWaitWorkflow,
            input=AckWaitStart,
            queue="general",
            summary="Expects the partner's 997/999 for one interchange we sent (key "
            "`<partner>-<isa13>`); an error or missing acknowledgement is an exception for ops.",
        ),
        WorkflowSpec(
            name="PartnerOnboarding",
            workflow=PartnerOnboardingWorkflow,
            input=OnboardingStart,
            queue="general",
            summary="One partner from registration through credentials, test exchange and two "
            "approvals to live feeds, key rotations and offboarding (normally started by "
            "`integrations partners onboard`).",
        ),
    )
}


def workflows_for(queue: Queue) -> list[type]:
    return [spec.workflow for spec in CATALOG.values() if spec.queue == queue]


ALL_WORKFLOWS: list[type] = [spec.workflow for spec in CATALOG.values()]


# An idempotency key as the HTTP API and the CLI accept it: it becomes part of a workflow id.
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
IDEMPOTENCY_KEY_RULE = "1-100 characters of A-Z a-z 0-9 . _ : - starting with a letter or digit"
# Memo holding the SHA-256 of the start request's body: the same key with another body is a
# conflict (the API's 409, the CLI's exit 1), the same body again is the same run.
REQUEST_DIGEST_MEMO = "request_sha256"


def request_digest(body: WireModel) -> str:
    """The SHA-256 of a start request's canonical JSON, kept in REQUEST_DIGEST_MEMO: a run
    started through the API and retried through the CLI (or the other way round) matches."""
    return hashlib.sha256(body.model_dump_json().encode()).hexdigest()


def signal_model(workflow_type: str, signal: str) -> type[WireModel] | None:
    """The wire model a workflow's signal handler reads, from the handler's own signature, so
    an edge (CLI, API, relay) validates a signal before Temporal accepts it: a signal the
    worker cannot decode is otherwise accepted and dropped with only an ERROR in its log."""
    spec = CATALOG.get(workflow_type)
    if spec is None:
        return None
    definition = workflow._Definition.must_from_class(spec.workflow)
    handler = definition.signals.get(signal)
    if handler is None or not handler.arg_types:
        return None
    model = handler.arg_types[0]
    return model if isinstance(model, type) and issubclass(model, WireModel) else None
