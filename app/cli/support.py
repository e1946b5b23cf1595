"""What every ``integrations`` sub-command shares: one-line errors with the project's exit codes
(the table is ``app.cli.exit_codes``), settings loading, a Temporal client for one piece of
work, and sending an update to a workflow.

``report(exc)`` is the one place an exception becomes a line on stderr and an exit code: a user's
mistake or an unreadable file is ``error: <what>; hint: <what to do>``, a crash is one
``error: internal error ...`` line naming the exception type and where it was raised (never its
message, which may quote partner data) and exits 70. No traceback reaches the user.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
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


def classify(exc: BaseException) -> tuple[ExitCode, str, str | None]:
    """The exit code, the one-line message and the hint for ``exc``."""
    from adapters.payroll_provider import ProviderUnavailable
    from adapters.temporal_client import TemporalUnavailable
    from stores.db import DatabaseUnavailable

    if isinstance(exc, SettingsError):
        return ExitCode.USAGE, str(exc), "see the settings table in README.md"
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return ExitCode.NO_INPUT, f"no such file: {exc.filename}", "check the path"
    if isinstance(exc, IsADirectoryError | PermissionError):
        reason = exc.strerror or type(exc).__name__
        return ExitCode.NO_INPUT, f"cannot open {exc.filename}: {reason}", "check the path"
    if isinstance(exc, TemporalUnavailable | DatabaseUnavailable | ProviderUnavailable):
        return ExitCode.UNAVAILABLE, str(exc), "is the service up? (`integrations dev status`)"
    if unreadable := unreadable_reason(exc):
        return ExitCode.DATA_ERROR, unreadable, "check that the file is what it claims to be"
    return (
        ExitCode.INTERNAL,
        f"internal error ({crash_site(exc)})",
        "this is a bug: report the command and this line (the input is not shown)",
    )


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


def report(exc: BaseException) -> ExitCode:
    """Print ``exc`` as one ``error:`` line with a hint on stderr; return its exit code."""
    code, message, hint = classify(exc)
    fail(message, code, hint)
    return code


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None


def with_client(work: Callable[[Any, Settings], Awaitable[T]]) -> T:
    """Run ``work(client, settings)`` with the project's Temporal client (exit 69 if Temporal
    cannot be reached)."""
    from adapters.temporal_client import TemporalUnavailable, connect

    loaded = settings()

    async def main() -> T:
        return await work(await connect(loaded), loaded)

    try:
        return asyncio.run(main())
    except TemporalUnavailable as exc:
        hint = "is Temporal up? (`integrations dev status`)"
        raise fail(str(exc), ExitCode.UNAVAILABLE, hint) from None


def update_workflow(workflow_id: str, update: str, arg: Any, result_type: type[T]) -> T:
    """Send ``update`` to the workflow and return its result; a refusal (the update's
    validator, or the handler raising) prints ``refused: <why>`` and exits 1."""
    from temporalio.client import WorkflowUpdateFailedError

    async def work(client: Any, _: Settings) -> T:
        result: T = await client.get_workflow_handle(workflow_id).execute_update(
            update, arg, result_type=result_type
        )
        return result

    try:
        return with_client(work)
    except WorkflowUpdateFailedError as exc:
        raise fail(f"refused: {exc.cause}", ExitCode.REFUSED) from None
