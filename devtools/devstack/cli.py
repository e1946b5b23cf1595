"""The development tooling's commands on the ``integrations`` CLI: ``dev up|down`` and
``payroll provider-sim``. Registered through the ``integrations.cli`` entry point group, so the
service's wheel, which ships without ``devtools/``, has no such commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from app.cli.exit_codes import ExitCode
from app.cli.payroll import payroll_app
from app.cli.support import fail
from provider_sim.cli import serve

dev_app = typer.Typer(help="The local stack: Temporal, PostgreSQL, workers, API, demo.")
DEV_DIR = Path(".dev")


def register(app: typer.Typer) -> None:
    app.add_typer(dev_app, name="dev")
    payroll_app.command("provider-sim")(serve)


@dev_app.command("up")
def dev_up(
    demo: Annotated[bool, typer.Option(help="Drive demo workflows once the stack is up.")] = True,
    detach: Annotated[bool, typer.Option(help="Return once up; stop with `dev down`.")] = False,
) -> None:
    """Start the local stack and the demo; Ctrl-C stops everything."""
    from devstack.stack import DevStack, up_detached

    if detach:  # a background supervisor keeps the stack (and restarts its children)
        if not up_detached(DEV_DIR, demo, typer.echo):
            raise typer.Exit(1)
        return
    stack = DevStack(DEV_DIR)
    try:
        stack.up(demo=demo)
    except Exception as exc:
        typer.echo(f"error: {exc}", err=True)
        stack.down()
        raise typer.Exit(1) from None
    stack.wait()
    stack.down()


@dev_app.command("down")
def dev_down() -> None:
    """Stop a stack started by `dev up --detach` (or from another shell)."""
    from devstack.stack import DevStack
    from devstack.supervisor import stop_recorded

    stop_recorded(DEV_DIR, typer.echo)
    stack = DevStack(DEV_DIR, say=typer.echo)
    stack.down()


@dev_app.command("status")
def dev_status() -> None:
    """Each service of the local stack: pid, port, restarts and state."""
    from devstack.supervisor import status_lines

    try:
        typer.echo("\n".join(status_lines(DEV_DIR)))
    except FileNotFoundError as exc:
        raise fail(str(exc), ExitCode.REFUSED) from None
