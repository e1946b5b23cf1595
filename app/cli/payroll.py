"""``integrations payroll``: start a run, see where it is, approve or reject it (mounted by
``app.cli.main``; the development tooling adds ``provider-sim``).

Exit codes: 0 done, 1 refused (a decision the run's validator refused) or Temporal unreachable,
2 bad input.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from app.cli import support as cli_support
from wire import workflow_ids as ids

payroll_app = typer.Typer(
    help="Payroll runs: start, status, approve, reject.",
    no_args_is_help=True,
)


_fail = cli_support.fail
_run = cli_support.with_client


def _workflow_id(run: str) -> str:
    return run if ids.key_of("PayrollRun", run) is not None else ids.workflow_id("PayrollRun", run)


@payroll_app.command("start")
def start(
    input_json: Annotated[
        str, typer.Option("--input", help="PayrollStart as JSON, or @file.json.")
    ],
    wait: Annotated[bool, typer.Option(help="Wait for the run to finish.")] = False,
) -> None:
    """Start the run of a company and period; starting it again with the same input returns
    the same run (another input for the same company and period is refused, exit 1)."""
    from app.cli.workflow import read_input, result_of, start_once
    from wire.payroll import PayrollStart, run_workflow_id

    payload = read_input("PayrollRun", PayrollStart, input_json)
    workflow_id = run_workflow_id(payload)

    async def work(client: Any, settings: Any) -> Any:
        queue = settings.task_queue_general
        handle = await start_once(client, "PayrollRun", workflow_id, payload, queue)
        return await result_of(handle) if wait else None

    result = _run(work, workflow_id)
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
