"""The id scheme: every workflow id and every intake schedule id is built here, and only here.

Workflow ids are business keys (``<prefix>-<key>``), so a second start of the same work meets the
running workflow instead of doing it twice. ``workflows/catalog.py`` lists each workflow type with
its prefix from :data:`ID_PREFIXES`; the scheme sits on this low floor (pure, no I/O) because
activities, stores and entry points that signal or start a workflow must all spell its id the
same way, and none of them may import the workflows above them.
"""

from __future__ import annotations

from typing import Literal, get_args

WorkflowType = Literal[
    "Demo", "FileIntake", "AchReturn", "Payout", "PayrollRun", "EdiAckWait", "PartnerOnboarding"
]

ID_PREFIXES: dict[WorkflowType, str] = {
    "Demo": "demo",
    "FileIntake": "intake",
    "AchReturn": "ach-return",
    "Payout": "payout",
    "PayrollRun": "payroll",
    "EdiAckWait": "edi-ack",
    "PartnerOnboarding": "partner",
}
assert set(ID_PREFIXES) == set(get_args(WorkflowType))


def workflow_id(workflow_type: WorkflowType, key: str) -> str:
    """``<prefix>-<key>``: the id of the one workflow of ``workflow_type`` for business ``key``."""
    return f"{ID_PREFIXES[workflow_type]}-{key}"


def key_of(workflow_type: WorkflowType, workflow_id_: str) -> str | None:
    """The business key of an id of ``workflow_type``, or None when the id is not one."""
    prefix = f"{ID_PREFIXES[workflow_type]}-"
    return workflow_id_[len(prefix) :] if workflow_id_.startswith(prefix) else None


def schedule_id(partner_id: str, feed: str) -> str:
    """``intake-<partner>-<feed>``: a feed's Schedule, which names the runs it starts too."""
    return workflow_id("FileIntake", f"{partner_id}-{feed}")
