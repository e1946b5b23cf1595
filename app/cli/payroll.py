"""``integrations payroll``: start a run, see where it is, approve or reject it (mounted by
``app.cli.main``; the development tooling adds ``provider-sim``).

Exit codes: 0 done, 1 refused (a decision the run's validator refused) or Temporal unreachable,
2 bad input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli import support as cli_support

payroll_app = typer.Typer(
    help="Payroll runs: start, status, approve, reject.",
    no_args_is_help=True,
)


_fail = cli_support.fail
_run = cli_support.with_client


def _workflow_id(run: str) -> str:
    return run if run.startswith("payroll-") else f"payroll-{run}"


@payroll_app.command("start")
def start(
    input_json: Annotated[
        str, typer.Option("--input", help="PayrollStart as JSON, or @file.json.")
    ],
    wait: Annotated[bool, typer.Option(help="Wait for the run to finish.")] = False,
) -> None:
    """Start the run of a company and period; starting it again returns the same run."""
    from pydantic import ValidationError
    from temporalio.common import WorkflowIDReusePolicy
    from temporalio.exceptions import WorkflowAlreadyStartedError

    from wire.payroll import PayrollStart, PayrollState, run_workflow_id

    raw = Path(input_json[1:]).read_text() if input_json.startswith("@") else input_json
    try:
        payload = PayrollStart.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise _fail(f"invalid payroll input at {where}: {first['msg']}", 2) from None
    workflow_id = run_workflow_id(payload)

    async def work(client: Any, settings: Any) -> Any:
        try:
            handle = await client.start_workflow(
                "PayrollRun",
                payload,
                id=workflow_id,
                task_queue=settings.task_queue_general,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            )
            typer.echo(f"started {workflow_id}")
        except WorkflowAlreadyStartedError:
            handle = client.get_workflow_handle(workflow_id)
            typer.echo(f"already started: {workflow_id}")
        if wait:
            state: PayrollState = await handle.result(result_type=PayrollState)
            return state.model_dump(mode="json")
        return None

    result = _run(work)
    if result is not None:
        typer.echo(json.dumps(result, indent=2))


@payroll_app.command("status")
def status(
    run: Annotated[str, typer.Argument(help="Workflow id, or <company>-<period start>.")],
) -> None:
    """Where the run is: status, totals, exceptions, decisions (masked; no PII)."""
    from wire.payroll import PayrollState

    async def work(client: Any, _: Any) -> Any:
        handle = client.get_workflow_handle(_workflow_id(run))
        state: PayrollState = await handle.query("status", result_type=PayrollState)
        return state.model_dump(mode="json")

    typer.echo(json.dumps(_run(work, _workflow_id(run)), indent=2))


def _decide(run: str, update: str, decision: Any) -> None:
    from wire.payroll import PayrollState

    state = cli_support.update_workflow(_workflow_id(run), update, decision, PayrollState)
    typer.echo(f"{state.workflow_id}: {state.status}")


@payroll_app.command("approve")
def approve(
    run: Annotated[str, typer.Argument(help="Workflow id, or <company>-<period start>.")],
    actor: Annotated[str, typer.Option(help="Who approves (must hold the approver role).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")] = "",
    acknowledge_exceptions: Annotated[
        bool, typer.Option(help="Approve although reconciliation found differences.")
    ] = False,
) -> None:
    """Approve the run for payment (not by its submitter)."""
    from wire.payroll import Decision

    _decide(
        run,
        "approve",
        Decision(actor=actor, reason=reason, acknowledge_exceptions=acknowledge_exceptions),
    )


@payroll_app.command("reject")
def reject(
    run: Annotated[str, typer.Argument(help="Workflow id, or <company>-<period start>.")],
    actor: Annotated[str, typer.Option(help="Who rejects (must hold the approver role).")],
    reason: Annotated[str, typer.Option(help="Why (required; kept in the audit log).")],
) -> None:
    """Reject the run: it ends without paying; fix the inputs and start a correction."""
    from wire.payroll import Decision

    _decide(run, "reject", Decision(actor=actor, reason=reason))
