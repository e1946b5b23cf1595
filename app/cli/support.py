"""What every ``integrations`` sub-command shares: one-line errors with the project's exit codes
(the table is ``app.cli.exit_codes``), settings loading, a Temporal client for one piece of
work, and sending an update to a workflow.

``classify(exc, subject)`` is the one place an exception becomes a line on stderr and an exit
code: a user's mistake or an unreadable file is ``error: <what>; hint: <what to do>``, a crash is
one ``error: internal error ...`` line naming the exception type and where it was raised (never
its message, which may quote partner data) and exits 70. No traceback reaches the user.

The errors Temporal and PostgreSQL answer with are mapped here, once:

    RPCError NOT_FOUND ("already completed")  -> 1  the workflow has already completed
    RPCError NOT_FOUND (anything else)        -> 1  no such workflow / schedule
    RPCError ALREADY_EXISTS, FAILED_PRECONDITION, WorkflowAlreadyStartedError,
    ScheduleAlreadyRunningError               -> 1  refused
    WorkflowUpdateFailedError                 -> 1  refused by the update's validator or handler
    WorkflowQueryFailedError / Rejected       -> 1  the workflow refused the query
    WorkflowFailureError                      -> 1  the workflow ended failed (``--wait``)
    RPCError UNAVAILABLE, DEADLINE_EXCEEDED, RPCTimeoutOrCancelledError, TemporalUnavailable,
    asyncpg connection errors, ConnectionError, DatabaseUnavailable  -> 69
    pydantic ValidationError                  -> 2  names the field, never the value (PII)
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import typer

from app.cli.exit_codes import ExitCode
from readers.sandbox import crash_site
from runtime.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def fail(message: str, code: int = ExitCode.USAGE, hint: str | None = None) -> typer.Exit:
    """Print ``error: message`` (and ``; hint: ...``) on stderr; return the exit to raise."""
    typer.echo(f"error: {message}" + (f"; hint: {hint}" if hint else ""), err=True)
    return typer.Exit(int(code))


def classify(exc: BaseException, subject: str | None = None) -> tuple[ExitCode, str, str | None]:
    """The exit code, the one-line message and the hint for ``exc``; ``subject`` names what the
    command was acting on (a workflow or schedule id) for "not found" and "already completed"."""
    from adapters.payroll_provider import ProviderUnavailable
    from adapters.temporal_client import TemporalUnavailable
    from stores.db import DatabaseUnavailable

    up_hint = "is the service up? (`integrations dev status`)"
    if isinstance(exc, SettingsError):
        return ExitCode.USAGE, str(exc), "see the settings table in README.md"
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return ExitCode.NO_INPUT, f"no such file: {exc.filename}", "check the path"
    if isinstance(exc, IsADirectoryError | PermissionError):
        reason = exc.strerror or type(exc).__name__
        return ExitCode.NO_INPUT, f"cannot open {exc.filename}: {reason}", "check the path"
    if isinstance(exc, TemporalUnavailable | DatabaseUnavailable | ProviderUnavailable):
        return ExitCode.UNAVAILABLE, str(exc), up_hint
    if temporal := _temporal(exc, subject):
        return temporal
    if _unreachable_database(exc):
        return ExitCode.UNAVAILABLE, f"PostgreSQL unreachable ({type(exc).__name__})", up_hint
    if (fields := invalid_fields(exc)) is not None:
        return ExitCode.USAGE, f"invalid {fields}", "see the command's --help"
    if unreadable := unreadable_reason(exc):
        return ExitCode.DATA_ERROR, unreadable, "check that the file is what it claims to be"
    return (
        ExitCode.INTERNAL,
        f"internal error ({crash_site(exc)})",
        "this is a bug: report the command and this line (the input is not shown)",
    )


def _temporal(exc: BaseException, subject: str | None) -> tuple[ExitCode, str, str | None] | None:
    """Temporal's answers, as the module docstring's table says; ``None`` for anything else."""
    from temporalio.client import (
        RPCError,
        RPCTimeoutOrCancelledError,
        ScheduleAlreadyRunningError,
        WorkflowFailureError,
        WorkflowQueryFailedError,
        WorkflowQueryRejectedError,
        WorkflowUpdateFailedError,
    )
    from temporalio.exceptions import WorkflowAlreadyStartedError
    from temporalio.service import RPCStatusCode

    what = subject or "the workflow"
    list_hint = "check the id (`temporal workflow list`)"
    if isinstance(exc, WorkflowUpdateFailedError):
        return ExitCode.REFUSED, f"refused: {failure_message(exc)}", None
    if isinstance(exc, WorkflowQueryFailedError):
        return ExitCode.REFUSED, f"{what} refused the query: {exc.message}", None
    if isinstance(exc, WorkflowQueryRejectedError):
        return ExitCode.REFUSED, f"{what} is closed ({exc.status})", None
    if isinstance(exc, WorkflowAlreadyStartedError):
        return ExitCode.REFUSED, f"already started: {exc.workflow_id}", None
    if isinstance(exc, ScheduleAlreadyRunningError):
        return ExitCode.REFUSED, f"{what} already exists", None
    if isinstance(exc, WorkflowFailureError):
        return ExitCode.REFUSED, f"{what} failed: {failure_message(exc)}", list_hint
    if isinstance(exc, RPCTimeoutOrCancelledError):
        return ExitCode.UNAVAILABLE, "Temporal did not answer in time", "is Temporal up?"
    if not isinstance(exc, RPCError):
        return None
    if exc.status == RPCStatusCode.NOT_FOUND:
        if "already completed" in exc.message:
            hint = "it takes nothing more; see how it ended with `temporal workflow describe`"
            return ExitCode.REFUSED, f"{what} has already completed", hint
        return ExitCode.REFUSED, f"not found: {what}", list_hint
    if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
        return ExitCode.UNAVAILABLE, f"Temporal unavailable: {exc.message}", "is Temporal up?"
    if exc.status in (RPCStatusCode.ALREADY_EXISTS, RPCStatusCode.FAILED_PRECONDITION):
        return ExitCode.REFUSED, f"refused by Temporal: {exc.message}", None
    if exc.status == RPCStatusCode.INVALID_ARGUMENT:
        return ExitCode.USAGE, f"refused by Temporal: {exc.message}", None
    if exc.status in (RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNAUTHENTICATED):
        hint = "check INTEGRATIONS_TEMPORAL_API_KEY or the TLS settings"
        return ExitCode.REFUSED, f"Temporal refused the credentials: {exc.message}", hint
    return None


def failure_message(exc: BaseException) -> str:
    """The innermost failure's message: a validator's ``ApplicationError`` says why it refused
    (our own words, never an input value)."""
    cause: BaseException = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    return str(getattr(cause, "message", None) or cause)


def _unreachable_database(exc: BaseException) -> bool:
    import asyncpg

    kinds = (
        asyncpg.PostgresConnectionError,
        asyncpg.CannotConnectNowError,
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.TooManyConnectionsError,
        ConnectionError,
    )
    return isinstance(exc, kinds)


def invalid_fields(exc: BaseException) -> str | None:
    """``Model: field: why; field: why`` for a pydantic ValidationError (the field's name and the
    rule, never the value: it may be an SSN); ``None`` for anything else."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError):
        return None
    problems = [
        f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}"
        for e in exc.errors(include_input=False, include_url=False)
    ]
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"{exc.title}: " + "; ".join(problems[:3]) + more


def unreadable_reason(exc: BaseException) -> str | None:
    """The reason, when ``exc`` is one of the readers' typed refusals ("cannot read this
    file"); ``None`` for anything else."""
    from edi.errors import EnvelopeError
    from nacha.errors import NachaReadError
    from payouts.errors import PayoutsError

    if isinstance(exc, NachaReadError | PayoutsError):
        return str(getattr(exc, "reason", None) or exc)
    if isinstance(exc, EnvelopeError):
        return exc.message
    return None


def report(exc: BaseException, subject: str | None = None) -> ExitCode:
    """Print ``exc`` as one ``error:`` line with a hint on stderr; return its exit code."""
    code, message, hint = classify(exc, subject)
    fail(message, code, hint)
    return code


def run(main: Awaitable[T], subject: str | None = None) -> T:
    """``asyncio.run(main)``; any error becomes one ``error:`` line and its exit code."""
    import click

    try:
        return asyncio.run(main)  # type: ignore[arg-type]
    except (typer.Exit, click.exceptions.Exit, click.ClickException):
        raise
    except Exception as exc:
        raise typer.Exit(int(report(exc, subject))) from None


# Waits shorter than this pass in silence; longer ones show a spinner (or a line) on stderr.
QUIET_WAIT_SECONDS = 2.0


@asynccontextmanager
async def waiting(what: str) -> AsyncIterator[None]:
    """Show ``what`` on stderr if the block takes longer than two seconds: a rich spinner on a
    terminal, one ``waiting: ...`` line otherwise (logs and CI keep a trace of the wait)."""
    started = time.monotonic()
    shown: list[Any] = []

    async def show() -> None:
        await asyncio.sleep(QUIET_WAIT_SECONDS)
        if sys.stderr.isatty():
            from rich.console import Console

            status = Console(stderr=True).status(what)
            status.start()
            shown.append(status)
        else:
            typer.echo(f"waiting: {what} ...", err=True)
            shown.append(None)

    task = asyncio.create_task(show())
    try:
        yield
    finally:
        task.cancel()
        for status in shown:
            if status is not None:
                status.stop()
        if shown and not sys.stderr.isatty():
            typer.echo(f"done waiting ({time.monotonic() - started:.0f}s)", err=True)


def relay_process(metrics_port: int | None) -> Settings:
    """Settings, JSON logs and the Prometheus endpoint of a long-running relay command. Its
    metrics go on the app metrics port unless another is given, as in the workers: the port the
    scrape config and the relay and dead-letter alerts expect."""
    from prometheus_client import start_http_server

    from runtime import logs

    loaded = settings()
    logs.configure(loaded.log_level)
    port = metrics_port or loaded.app_metrics_port
    if port:
        start_http_server(port, addr="0.0.0.0")
    return loaded


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or Ctrl-C, for the running loop's relay to stop on."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None


async def temporal_client(loaded: Settings) -> Any:
    """The project's Temporal client; a spinner while ``connect`` retries an unreachable server."""
    from adapters.temporal_client import connect

    async with waiting(f"connecting to Temporal at {loaded.temporal_address}"):
        return await connect(loaded)


def with_client(work: Callable[[Any, Settings], Awaitable[T]], subject: str | None = None) -> T:
    """Run ``work(client, settings)`` with the project's Temporal client; every error is one
    line (exit 69 if Temporal cannot be reached, 1 if ``subject`` is not found)."""
    loaded = settings()

    async def main() -> T:
        return await work(await temporal_client(loaded), loaded)

    return run(main(), subject)


def update_workflow(workflow_id: str, update: str, arg: Any, result_type: type[T]) -> T:
    """Send ``update`` to the workflow and return its result; a refusal (the update's
    validator, or the handler raising) prints ``refused: <why>`` and exits 1."""

    async def work(client: Any, _: Settings) -> T:
        result: T = await client.get_workflow_handle(workflow_id).execute_update(
            update, arg, result_type=result_type
        )
        return result

    return with_client(work, workflow_id)


def signal_workflow(workflow_id: str, workflow_type: str, signal: str, arg: Any) -> None:
    """Send ``signal`` after validating ``arg`` against the signal's wire model in the catalog:
    a signal the workflow cannot read would be accepted by Temporal and dropped by the worker."""
    from workflows.catalog import signal_model

    model = signal_model(workflow_type, signal)
    if model is None:
        raise fail(f"{workflow_type} has no signal {signal!r}", ExitCode.USAGE)
    payload = model.model_validate(
        arg.model_dump(mode="json") if hasattr(arg, "model_dump") else arg
    )

    async def work(client: Any, _: Settings) -> None:
        await client.get_workflow_handle(workflow_id).signal(signal, payload)

    with_client(work, workflow_id)


def when(moment: datetime | None) -> str:
    """A time for a table: UTC, to the second (microseconds are noise to an operator)."""
    if moment is None:
        return "-"
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def print_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, numeric: Iterable[str] = ()
) -> None:
    """A ``rich`` table with a header row on stdout; columns sized to their content (wide,
    not wrapped, when stdout is not a terminal so scripts and grep see whole lines)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    right = set(numeric)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for header in headers:
        table.add_column(header, justify="right" if header in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*("-" if cell is None else str(cell) for cell in row))
    console = Console() if sys.stdout.isatty() else Console(width=250, no_color=True)
    console.print(table)
