"""What every ``integrations`` sub-command shares: one-line errors with the project's exit codes
(2: bad settings or input, 1: a service refused or is unavailable), settings loading, a Temporal
client for one piece of work, and sending an update to a workflow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import typer

from integrations.settings import Settings, SettingsError, load_settings

T = TypeVar("T")


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr; return the exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise fail(str(exc)) from None


def with_client(work: Callable[[Any, Settings], Awaitable[T]]) -> T:
    """Run ``work(client, settings)`` with the project's Temporal client (exit 1 if Temporal
    cannot be reached)."""
    from integrations.temporal_client import TemporalUnavailable, connect

    loaded = settings()

    async def main() -> T:
        return await work(await connect(loaded), loaded)

    try:
        return asyncio.run(main())
    except TemporalUnavailable as exc:
        raise fail(str(exc), 1) from None


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
        raise fail(f"refused: {exc.cause}", 1) from None
