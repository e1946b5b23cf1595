"""``integrations partners``: onboard a partner from its definition file, follow and steer it.

``onboard`` validates the definition (and every feed's file contract) before anything starts:
an invalid one prints every field at fault and exits 2, and no workflow is started. The other
commands act on the partner's ``PartnerOnboarding`` workflow (id ``partner-<partner>``); a
refused update (same person twice, a breaking contract change without a new major version)
prints why and exits 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli import support as cli_support
from runtime.settings import Settings

partners_app = typer.Typer(
    help="Partner onboarding: onboard, status, approve, test-file, contract-change, offboard.",
    no_args_is_help=True,
)


@partners_app.callback()
def _group() -> None:
    """Partner onboarding: onboard, status, approve, test-file, contract-change, offboard."""


_fail = cli_support.fail
_settings = cli_support.settings
_run = cli_support.with_client


def _update(partner: str, name: str, arg: Any) -> None:
    from stores.partners import workflow_id
    from wire.partners import Checklist

    checklist = cli_support.update_workflow(workflow_id(partner), name, arg, Checklist)
    typer.echo(f"{workflow_id(partner)}: {checklist.stage}")


@partners_app.command("onboard")
def onboard(
    definition_file: Annotated[Path, typer.Argument(help="Partner definition (TOML or JSON).")],
) -> None:
    """Validate a partner definition and start its onboarding (once per partner)."""
    from temporalio.common import SearchAttributePair, TypedSearchAttributes
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from stores.partners import (
        PartnerDefinitionError,
        contract_texts,
        load_definition_file,
        workflow_id,
    )
    from wire.partners import OnboardingStart
    from wire.search_attributes import ONBOARDING_STAGE, PARTNER

    settings = _settings()
    try:
        definition = load_definition_file(definition_file)
        contract_texts(definition, settings.file_contracts_dir)
    except PartnerDefinitionError as exc:
        raise _fail(str(exc), 2) from None

    async def work(client: Any, settings: Settings) -> str:
        handle = await client.start_workflow(
            "PartnerOnboarding",
            OnboardingStart(definition=definition, file_task_queue=settings.task_queue_sftp),
            id=workflow_id(definition.partner_id),
            task_queue=settings.task_queue_general,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(PARTNER, definition.partner_id),
                    SearchAttributePair(ONBOARDING_STAGE, "registered"),
                ]
            ),
        )
        return str(handle.id)

    try:
        started = _run(work)
    except WorkflowAlreadyStartedError:
        raise _fail(f"{definition.partner_id} is already being onboarded", 1) from None
    typer.echo(f"started {started}")


@partners_app.command("status")
def status(partner: Annotated[str, typer.Argument(help="Partner id.")]) -> None:
    """The onboarding checklist: stage, each step, keys to hand over, last test, rotations."""
    from stores.partners import workflow_id
    from wire.partners import Checklist

    async def work(client: Any, _settings: Settings) -> Checklist:
        handle = client.get_workflow_handle(workflow_id(partner))
        result: Checklist = await handle.query("checklist", result_type=Checklist)
        return result

    checklist = _run(work, workflow_id(partner))
    typer.echo(json.dumps(checklist.model_dump(mode="json"), indent=2))


@partners_app.command("approve")
def approve(
    partner: Annotated[str, typer.Argument(help="Partner id.")],
    kind: Annotated[str, typer.Option(help="security_review or ops_signoff.")],
    actor: Annotated[str, typer.Option(help="Who approves (kept in the audit log).")],
    note: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
) -> None:
    """Give the security review or the ops sign-off (two different people)."""
    from pydantic import ValidationError

    from wire.partners import ApprovalRequest

    try:
        request = ApprovalRequest.model_validate({"kind": kind, "actor": actor, "note": note})
    except ValidationError as exc:
        raise _fail(str(exc.errors()[0]["msg"]), 2) from None
    _update(partner, "approve", request)


@partners_app.command("test-file")
def test_file(partner: Annotated[str, typer.Argument(help="Partner id.")]) -> None:
    """Look into the partner's test folder now rather than at the next poll."""
    from stores.partners import workflow_id
    from wire.partners import TestFileNotice

    notice = TestFileNotice(note="cli")
    cli_support.signal_workflow(
        workflow_id(partner), "PartnerOnboarding", "test_file_uploaded", notice
    )
    typer.echo(f"{workflow_id(partner)}: checking the test folder")


@partners_app.command("contract-change")
def contract_change(
    partner: Annotated[str, typer.Argument(help="Partner id.")],
    feed: Annotated[str, typer.Argument(help="The feed.")],
    contract_file: Annotated[Path, typer.Argument(help="The new file contract (TOML).")],
    actor: Annotated[str, typer.Option(help="Who changes it (audit log).")],
    reason: Annotated[str, typer.Option(help="Why (audit log).")] = "",
) -> None:
    """Move a live feed to another contract version (breaking needs a new major version)."""
    from wire.partners import ContractChangeRequest

    try:
        text = contract_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise _fail(f"{contract_file}: {exc}", 2) from None
    request = ContractChangeRequest(feed=feed, contract_text=text, actor=actor, reason=reason)
    _update(partner, "change_contract", request)


@partners_app.command("offboard")
def offboard(
    partner: Annotated[str, typer.Argument(help="Partner id.")],
    actor: Annotated[str, typer.Option(help="Who offboards (audit log).")],
    reason: Annotated[str, typer.Option(help="Why (audit log).")],
) -> None:
    """Pause and delete the partner's Schedules and revoke its keys; landed data stays."""
    from wire.partners import StopRequest

    _update(partner, "offboard", StopRequest(actor=actor, reason=reason))
