"""``integrations webhooks``: the inbox relay as its own process, and a look at the inbox.

``relay`` forwards stored webhook events to their payout workflows until SIGTERM/SIGINT (the API
runs one too unless ``INTEGRATIONS_WEBHOOK_RELAY_IN_API=false``; several relays share the work).
``inbox`` lists recent events: ids, types, payout, forwarding state — never their payloads.
"""

from __future__ import annotations

import asyncio
import json
from typing import Annotated, Any

import typer

from app.cli import support as cli_support
from app.cli.exit_codes import ExitCode
from runtime.settings import Settings, SettingsError, load_settings

webhooks_app = typer.Typer(
    help="PSP webhooks: run the inbox relay, list received events.", no_args_is_help=True
)


@webhooks_app.callback()
def _group() -> None:
    """PSP webhooks: run the inbox relay, list received events."""


def _settings() -> Settings:
    try:
        settings = load_settings()
        settings.require("database_url")
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings


@webhooks_app.command("relay")
def relay(
    batch_size: Annotated[int, typer.Option(min=1, max=5000)] = 200,
    concurrency: Annotated[int, typer.Option(min=1, max=512, help="Signals in flight.")] = 32,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve Prometheus metrics here (default: the app metrics port)."),
    ] = None,
) -> None:
    """Forward inbox events to Temporal by signal-with-start until SIGTERM or Ctrl-C."""
    from adapters.temporal_client import TemporalUnavailable, connect
    from relays.inbox import InboxRelay
    from stores.db import DatabaseUnavailable, create_pool

    settings = cli_support.relay_process(metrics_port)

    async def main() -> None:
        client = await connect(settings)
        pool = await create_pool(settings)
        stop = cli_support.stop_on_signals()
        try:
            relay = InboxRelay(
                pool, client, settings, batch_size=batch_size, concurrency=concurrency
            )
            await relay.run(stop)
        finally:
            await pool.close()

    try:
        asyncio.run(main())
    except (TemporalUnavailable, DatabaseUnavailable) as exc:
        raise cli_support.fail(str(exc), ExitCode.UNAVAILABLE, "is the service up?") from None


@webhooks_app.command("inbox")
def inbox(
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
    provider: Annotated[str | None, typer.Option(help="Only this provider.")] = None,
    pending: Annotated[bool, typer.Option(help="Only events not forwarded yet.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
) -> None:
    """Recent events, newest first, without payloads."""
    import asyncpg

    settings = _settings()

    async def fetch() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(settings.require("database_url"))
        try:
            rows = await conn.fetch(
                """SELECT provider, event_id, event_type, payout_id, received_at, forward,
                          forwarded_at, attempts, last_error
                   FROM webhook_inbox
                   WHERE ($1::text IS NULL OR provider = $1)
                     AND (NOT $2 OR (forwarded_at IS NULL AND forward))
                   ORDER BY received_at DESC, inbox_id DESC
                   LIMIT $3""",
                provider,
                pending,
                limit,
            )
        finally:
            await conn.close()
        return [dict(r) for r in rows]

    rows = cli_support.run(fetch())
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    table = []
    for row in rows:
        if row["forwarded_at"]:
            state = "forwarded"
        elif not row["forward"]:
            state = "not forwarded"
        elif row["payout_id"] is None:
            state = "awaiting payout"
        else:
            state = f"pending ({row['attempts']} attempts)"
        if row["last_error"]:
            state += f" [{row['last_error']}]"
        when = cli_support.when(row["received_at"])
        table.append([when, row["provider"], row["event_id"], row["event_type"], row["payout_id"]])
        table[-1].append(state)
    headers = ["received (UTC)", "provider", "event id", "type", "payout", "state"]
    cli_support.print_table(headers, table)
