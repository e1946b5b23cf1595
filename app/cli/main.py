"""``integrations``: the project's command line, beside (never instead of) the ``temporal`` CLI.

Every command reads settings from ``INTEGRATIONS_*`` environment variables or mounted secret
files. A missing or malformed setting prints one line naming it and exits with code 2.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated, Any

import typer

from app.cli import support as cli_support
from app.cli.ach import ach_app
from app.cli.edi import edi_app
from app.cli.exit_codes import ExitCode
from app.cli.inspect import inspect_command
from app.cli.messaging import messaging_app
from app.cli.partners import partners_app
from app.cli.payroll import payroll_app
from app.cli.webhooks import webhooks_app
from app.cli.workflow import workflow_app
from runtime.settings import Settings, SettingsError
from wire import workflow_ids as ids

app = typer.Typer(
    help="Durable workflows for enterprise data integrations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Payload-encryption key ring: generate and rotate.")
schemas_app = typer.Typer(help="Wire models' JSON Schemas: export them, check compatibility.")
feeds_app = typer.Typer(help="Partner feeds: register, schedule, pause, trigger, score.")
payouts_app = typer.Typer(
    help="PSP payouts: show a payout's reconciliation, hand it files, resolve."
)
app.add_typer(keys_app, name="keys")
app.add_typer(workflow_app, name="workflow")
app.add_typer(schemas_app, name="schemas")
# The old name, kept for scripts written before "contract" came to mean file contracts only.
app.add_typer(schemas_app, name="contracts", hidden=True)
app.add_typer(feeds_app, name="feeds")
app.add_typer(payouts_app, name="payouts")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(ach_app, name="ach")
app.add_typer(payroll_app, name="payroll")
app.add_typer(edi_app, name="edi")
app.add_typer(partners_app, name="partners")
app.add_typer(messaging_app, name="messaging")
app.command("inspect")(inspect_command)


_fail = cli_support.fail
_settings = cli_support.settings


# --- operations -------------------------------------------------------------------------------


@app.command()
def migrate() -> None:
    """Apply pending SQL migrations as the schema owner (INTEGRATIONS_DATABASE_OWNER_URL)."""
    import asyncpg

    from stores.migrations import MigrationError
    from stores.migrations import migrate as run

    settings = _settings()
    dsn = _require(settings, "database_owner_url")
    try:
        ran = asyncio.run(run(dsn))
    except MigrationError as exc:
        raise _fail(str(exc), 1) from None
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError) as exc:
        from stores.db import redacted

        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise _fail(
            f"cannot reach PostgreSQL at {redacted(dsn)}: {reason}",
            ExitCode.UNAVAILABLE,
            "is PostgreSQL up? (`integrations dev status`)",
        ) from None
    typer.echo(f"applied {len(ran)} migration(s): {', '.join(m.name for m in ran) or '-'}")


def _require(settings: Settings, name: str) -> str:
    try:
        return settings.require(name)
    except SettingsError as exc:
        raise _fail(str(exc)) from None


@app.command()
def worker(
    queue: Annotated[
        list[str],
        typer.Option(help="Task queue(s) to poll: general, sftp. Repeat for several."),
    ],
) -> None:
    """Run workers for the given task queues until SIGTERM (graceful) or SIGINT."""
    from adapters.temporal_client import TemporalUnavailable, connect
    from runtime import logs, telemetry
    from stores.db import DatabaseUnavailable, create_pool
    from workers.runner import QUEUES, run_workers

    settings = _settings()
    bad = [q for q in queue if q not in QUEUES]
    if bad:
        raise _fail(f"unknown queue(s) {bad}; choose from {list(QUEUES)}")
    _require(settings, "database_url")
    logs.configure(settings.log_level)
    telemetry.configure_tracing("integrations-worker")

    if settings.app_metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.app_metrics_port, addr="0.0.0.0")

    async def main() -> None:
        runtime = telemetry.runtime_with_metrics(settings.metrics_port)
        client = await connect(settings, runtime=runtime)
        pool = await create_pool(settings)
        try:
            await run_workers(client, settings, queue, pool)  # type: ignore[arg-type]
        finally:
            await pool.close()

    try:
        asyncio.run(main())
    except SettingsError as exc:
        raise _fail(str(exc)) from None
    except (TemporalUnavailable, DatabaseUnavailable) as exc:
        hint = "the worker retried for INTEGRATIONS_CONNECT_TIMEOUT_SECONDS; is the service up?"
        raise _fail(str(exc), ExitCode.UNAVAILABLE, hint) from None


@app.command("codec-server")
def codec_server() -> None:
    """Serve /encode and /decode for the Web UI and CLI, behind the codec token."""
    import uvicorn

    from adapters.temporal_client import key_ring_from
    from app.codec_server import create_app
    from runtime import logs

    settings = _settings()
    try:
        ring = key_ring_from(settings)
    except Exception as exc:
        raise _fail(str(exc)) from None
    token = _require(settings, "codec_server_token")
    logs.configure(settings.log_level)
    uvicorn.run(
        create_app(ring, token, settings.codec_cors_origins),
        host=settings.codec_server_host,
        port=settings.codec_server_port,
        log_config=None,
    )


@app.command()
def api() -> None:
    """Serve the HTTP API (OpenAPI at /docs)."""
    import uvicorn

    from adapters.temporal_client import connect
    from app.api.server import create_app
    from runtime import logs, telemetry
    from stores.db import create_pool

    settings = _settings()
    _require(settings, "api_token")
    _require(settings, "database_url")
    logs.configure(settings.log_level)
    telemetry.configure_tracing("integrations-api")
    application = create_app(
        settings,
        client_factory=lambda: connect(settings),
        pool_factory=lambda: create_pool(settings),
    )
    uvicorn.run(application, host=settings.api_host, port=settings.api_port, log_config=None)


# --- keys -------------------------------------------------------------------------------------


@keys_app.command("generate")
def keys_generate(
    key_id: Annotated[str, typer.Option(help="Id of the first key.")] = "k1",
) -> None:
    """Print a new key ring (JSON) to stdout; store it as a secret, never in the repo."""
    from adapters.payload_codec import KeyRing

    typer.echo(KeyRing.generate(key_id).to_json())


@keys_app.command("rotate")
def keys_rotate(
    ring_file: Annotated[Path, typer.Argument(help="Key ring JSON file to rotate in place.")],
    new_key_id: Annotated[str, typer.Option(help="Id of the new active key.")],
) -> None:
    """Add a fresh active key; old keys stay so existing histories still decode."""
    from adapters.payload_codec import KeyRing, KeyRingError

    try:
        ring = KeyRing.from_json(ring_file.read_text()).rotated(new_key_id)
    except (OSError, KeyRingError) as exc:
        raise _fail(str(exc), 1) from None
    ring_file.write_text(ring.to_json())
    ring_file.chmod(0o600)
    typer.echo(f"active key is now {new_key_id}; keys: {', '.join(sorted(ring.keys))}")


# --- contracts --------------------------------------------------------------------------------


@schemas_app.command("export")
def contracts_export() -> None:
    """Write every contract's JSON Schema to wire/json_schemas/."""
    from wire.schemas import export

    written = export()
    typer.echo(f"wrote {len(written)} schema file(s)")


@schemas_app.command("check")
def contracts_check() -> None:
    """Fail when a contract changed incompatibly without a new major version."""
    from wire.schemas import check

    problems = check()
    for problem in problems:
        typer.echo(problem, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo("wire models compatible with the exported schemas")


# --- feeds ------------------------------------------------------------------------------------


def _with_services(
    work: Callable[[Any, Any, Settings], Awaitable[Any]], subject: str | None = None
) -> Any:
    """Run ``work(pool, client, settings)`` with the app's database pool and Temporal client;
    every error is one line (``subject`` names what a "not found" is about)."""
    from stores.db import create_pool

    settings = _settings()
    _require(settings, "database_url")

    async def main() -> Any:
        client = await cli_support.temporal_client(settings)
        async with cli_support.waiting("connecting to PostgreSQL"):
            pool = await create_pool(settings)
        try:
            return await work(pool, client, settings)
        finally:
            await pool.close()

    return cli_support.run(main(), subject)


@feeds_app.command("create")
def feeds_create(
    feed_file: Annotated[Path, typer.Argument(help="Feed configuration (TOML).")],
) -> None:
    """Register a feed (or update it) and create its intake Schedule."""
    from stores.feeds import FeedConfigError, load_feed_file, register_feed

    try:
        feed = load_feed_file(feed_file)
    except FeedConfigError as exc:
        raise _fail(str(exc)) from None

    async def work(pool: Any, client: Any, settings: Settings) -> bool:
        return await register_feed(pool, client, settings, feed)

    created = _with_services(work)
    verb = "created" if created else "updated"
    typer.echo(f"{verb} feed {feed.partner_id}/{feed.feed}; schedule {feed.schedule_id}")


@feeds_app.command("list")
def feeds_list() -> None:
    """Feeds with their status, high-water mark and next scheduled run."""
    from stores.feeds import list_feeds

    async def work(pool: Any, client: Any, settings: Settings) -> Any:
        return await list_feeds(pool, client)

    when = cli_support.when
    rows = []
    for f in _with_services(work):
        schedule = {None: "missing", True: "paused", False: "running"}[f.schedule_paused]
        # A paused schedule still reports the tick it would run next: it will not run it.
        next_run = when(f.next_run) if f.schedule_paused is False else "-"
        last_file = when(f.last_file_at)
        rows.append([f"{f.partner_id}/{f.feed}", f.status, schedule, f.last_sequence, last_file])
        rows[-1].append(next_run)
    if not rows:
        typer.echo("no feeds yet; register one with `integrations feeds create FILE`", err=True)
        return
    cli_support.print_table(
        ["feed", "status", "schedule", "last seq", "last file (UTC)", "next run (UTC)"],
        rows,
        numeric=["last seq"],
    )


def _schedule(partner: str, feed: str) -> str:
    """What a feed's "not found" names: its intake Schedule."""
    return f"feed {partner}/{feed} (schedule intake-{partner}-{feed})"


def _feed_ref(ref: str) -> tuple[str, str]:
    partner, _, feed = ref.partition("/")
    if not partner or not feed:
        raise _fail(f"feed must be PARTNER/FEED, got {ref!r}")
    return partner, feed


@feeds_app.command("pause")
def feeds_pause(
    feed: Annotated[str, typer.Argument(help="PARTNER/FEED")],
    reason: Annotated[str, typer.Option(help="Why (kept in the schedule's note).")],
) -> None:
    """Pause a feed's Schedule."""
    from stores.feeds import set_paused

    partner, name = _feed_ref(feed)

    async def work(pool: Any, client: Any, settings: Settings) -> None:
        await set_paused(pool, client, partner, name, True, reason)

    _with_services(work, _schedule(partner, name))
    typer.echo(f"paused {feed}")


@feeds_app.command("resume")
def feeds_resume(
    feed: Annotated[str, typer.Argument(help="PARTNER/FEED")],
    reason: Annotated[str, typer.Option(help="Why (kept in the schedule's note).")] = "resumed",
) -> None:
    """Resume a paused feed's Schedule."""
    from stores.feeds import set_paused

    partner, name = _feed_ref(feed)

    async def work(pool: Any, client: Any, settings: Settings) -> None:
        await set_paused(pool, client, partner, name, False, reason)

    _with_services(work, _schedule(partner, name))
    typer.echo(f"resumed {feed}")


@feeds_app.command("trigger")
def feeds_trigger(feed: Annotated[str, typer.Argument(help="PARTNER/FEED")]) -> None:
    """Run a feed's intake now (skipped if one is already running)."""
    from stores.feeds import trigger

    partner, name = _feed_ref(feed)

    async def work(pool: Any, client: Any, settings: Settings) -> None:
        await trigger(client, partner, name)

    _with_services(work, _schedule(partner, name))
    typer.echo(f"triggered {feed}")


@feeds_app.command("backfill")
def feeds_backfill(
    feed: Annotated[str, typer.Argument(help="PARTNER/FEED")],
    start: Annotated[datetime, typer.Option(help="First tick (ISO time, UTC).")],
    end: Annotated[datetime, typer.Option(help="Last tick (ISO time, UTC).")],
) -> None:
    """Run the schedule's ticks between START and END, one after another."""
    from stores.feeds import backfill

    partner, name = _feed_ref(feed)
    start_utc, end_utc = (t if t.tzinfo else t.replace(tzinfo=UTC) for t in (start, end))
    if end_utc <= start_utc:
        first, last = cli_support.when(start_utc), cli_support.when(end_utc)
        raise _fail(
            f"--end {last} is not after --start {first}",
            hint="give the first tick in --start and the last in --end",
        )

    async def work(pool: Any, client: Any, settings: Settings) -> None:
        await backfill(client, partner, name, start_utc, end_utc)

    _with_services(work, _schedule(partner, name))
    typer.echo(
        f"backfilling {feed} from {start_utc:%Y-%m-%dT%H:%M:%SZ} to {end_utc:%Y-%m-%dT%H:%M:%SZ}"
    )


@feeds_app.command("quarantined")
def feeds_quarantined(
    feed: Annotated[str, typer.Argument(help="PARTNER/FEED")],
    days: Annotated[int, typer.Option(help="Window in days.")] = 30,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A feed's quarantined files, newest first, with the partner-side paths to look at."""
    from stores.feeds import quarantined

    partner, name = _feed_ref(feed)

    async def work(pool: Any, client: Any, settings: Settings) -> Any:
        return await quarantined(pool, partner, name, days)

    rows = _with_services(work)
    if as_json:
        typer.echo(json.dumps(rows, indent=2, default=str))
        return
    typer.echo(f"{'decided at (UTC)':<20} {'rows bad/total':>14}  {'sha256':<12}  file")
    for r in rows:
        bad = f"{r['rows_invalid'] or 0}/{r['rows_total'] or 0}"
        typer.echo(
            f"{r['decided_at']:%Y-%m-%d %H:%M:%S} {bad:>14}  {r['sha256'][:12]}  "
            f"{r['remote_name']}  ({r['reason']})"
        )
    typer.echo(
        f"{len(rows)} quarantined file(s) in {days} days; each is in the feed's sftp.quarantine "
        "folder, its error report in sftp.outbox as <name>.errors.csv"
    )


@feeds_app.command("scorecard")
def feeds_scorecard(
    days: Annotated[int, typer.Option(help="Window in days.")] = 30,
    partner: Annotated[str | None, typer.Option(help="Only this partner.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Per feed: files received, on time, rejected, error rate, bytes, schema drift, SLAs."""
    from stores.feeds import scorecard

    async def work(pool: Any, client: Any, settings: Settings) -> Any:
        return await scorecard(pool, days, partner)

    card = _with_services(work)
    if as_json:
        typer.echo(json.dumps(card, indent=2, default=str))
        return
    headers = ["feed", "files", "landed", "dup", "rej", "on time", "err rate", "bytes"]
    headers += ["drift", "sla"]
    rows = [
        [
            f"{c['partner_id']}/{c['feed']}",
            c["files_received"],
            c["landed"],
            c["duplicates"],
            c["rejected"],
            "-" if c["on_time_rate"] is None else f"{c['on_time_rate']:.0%}",
            f"{c['error_rate']:.4f}",
            c["bytes"],
            c["schema_drift"],
            c["sla_breaches"],
        ]
        for c in card
    ]
    cli_support.print_table(headers, rows, numeric=headers[1:])


# --- ach (ops) ---------------------------------------------------------------------------------


@ach_app.command("originations-import")
def ach_originations_import(
    ach_file: Annotated[Path, typer.Argument(help="An outbound NACHA file we sent.")],
    bank: Annotated[str, typer.Option(help="PARTNER/FEED of the bank that will return it.")],
) -> None:
    """Record what we originated, so returns and NOCs find their original entry."""
    from adapters.temporal_client import key_ring_from
    from stores.ach import AchInputError, import_originations, lookup_key

    partner, feed = _feed_ref(bank)

    async def work(pool: Any, client: Any, settings: Settings) -> int:
        return await import_originations(
            pool,
            key_ring_from(settings),
            lookup_key(settings),
            ach_file,
            partner_id=partner,
            bank_feed=feed,
            source=f"cli:{ach_file.name}",
        )

    try:
        added = _with_services(work)
    except AchInputError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(f"recorded {added} new origination(s) from {ach_file.name}")


@ach_app.command("ingest")
def ach_ingest(
    ach_file: Annotated[Path, typer.Argument(help="A return/NOC file from the bank.")],
    bank: Annotated[str, typer.Option(help="PARTNER/FEED the file came from.")],
) -> None:
    """Open (or signal) one AchReturn case per returned or corrected entry; safe to repeat."""
    from datetime import date

    from stores.ach import AchInputError, ingest
    from wire.ach import IngestRequest

    partner, feed = _feed_ref(bank)
    request = IngestRequest(
        path=str(ach_file.resolve()), partner_id=partner, bank_feed=feed, received_on=date.today()
    )

    async def work(pool: Any, client: Any, settings: Settings) -> Any:
        return await ingest(pool, client, settings, request)

    try:
        summary = _with_services(work)
    except AchInputError as exc:
        raise _fail(str(exc), 2) from None
    typer.echo(json.dumps(summary.model_dump(mode="json"), indent=2))


def _with_workflow(workflow_id: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Run ``work(handle)`` on the workflow ``workflow_id`` with the project's client."""

    async def on_handle(client: Any, _: Settings) -> Any:
        return await work(client.get_workflow_handle(workflow_id))

    return cli_support.with_client(on_handle, workflow_id)


def _case(trace: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    from stores.ach import workflow_id

    return _with_workflow(workflow_id(trace), work)


def _decide(trace: str, update: str, decision: Any) -> None:
    from ach_returns.state_machine import ReturnCase
    from stores.ach import workflow_id

    case = cli_support.update_workflow(workflow_id(trace), update, decision, ReturnCase)
    typer.echo(f"{trace}: {case.state}")


@ach_app.command("show")
def ach_show(
    trace: Annotated[str, typer.Argument(help="Original entry trace number (15 digits).")],
) -> None:
    """The case of an original entry: state, codes, deadline and timeline."""
    from ach_returns.state_machine import ReturnCase

    async def work(handle: Any) -> Any:
        case: ReturnCase | None = await handle.query("case", result_type=ReturnCase)
        return case

    case = _case(trace, work)
    if case is None:
        raise _fail(f"no case for {trace}", 1)
    typer.echo(json.dumps(case.model_dump(mode="json", exclude={"seen_notices"}), indent=2))


@ach_app.command("approve")
def ach_approve(
    trace: Annotated[str, typer.Argument(help="Original entry trace number.")],
    actor: Annotated[str, typer.Option(help="Who decides (kept in the audit log).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
) -> None:
    """Approve re-presenting an R01/R09 return (at most twice within 180 days)."""
    from ach_returns.state_machine import ApproveRepresentment

    _decide(trace, "approve_representment", ApproveRepresentment(actor=actor, reason=reason))


@ach_app.command("correct")
def ach_correct(
    trace: Annotated[str, typer.Argument(help="Original entry trace number.")],
    actor: Annotated[str, typer.Option(help="Who decides (kept in the audit log).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    routing: Annotated[str, typer.Option(help="Corrected routing number (check digit verified).")],
    account: Annotated[
        str | None, typer.Option(help="Corrected account number; prompted (hidden) if omitted.")
    ] = None,
) -> None:
    """Provide corrected account details for an account-level return (R02/R03/R04...)."""
    from pydantic import ValidationError

    from ach_returns.state_machine import ProvideCorrection

    if account is None:
        account = typer.prompt("Corrected account number", hide_input=True)
    try:
        decision = ProvideCorrection(
            actor=actor, reason=reason, routing_number=routing, account_number=account
        )
    except ValidationError as exc:
        raise _fail(f"invalid {cli_support.invalid_fields(exc)}") from None
    _decide(trace, "provide_correction", decision)


@ach_app.command("write-off")
def ach_write_off(
    trace: Annotated[str, typer.Argument(help="Original entry trace number.")],
    actor: Annotated[str, typer.Option(help="Who decides (kept in the audit log).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
) -> None:
    """Close a case as uncollectable."""
    from ach_returns.state_machine import WriteOff

    _decide(trace, "write_off", WriteOff(actor=actor, reason=reason))


# --- payouts ----------------------------------------------------------------------------------


def _payout(payout_id: str, work: Callable[[Any], Awaitable[Any]]) -> Any:
    return _with_workflow(ids.workflow_id("Payout", payout_id), work)


@payouts_app.command("show")
def payouts_show(payout_id: Annotated[str, typer.Argument(help="The PSP's payout id.")]) -> None:
    """A payout's status, reconciliation, deposit match and every itemised discrepancy."""
    from wire.payout_case import PayoutState

    async def work(handle: Any) -> Any:
        return await handle.query("state", result_type=PayoutState)

    state = _payout(payout_id, work)
    if state is None:
        raise _fail(f"no payout {payout_id}", 1)
    typer.echo(json.dumps(state.model_dump(mode="json", exclude={"event_ids"}), indent=2))


@payouts_app.command("report")
def payouts_report(
    payout_id: Annotated[str, typer.Argument(help="The PSP's payout id.")],
    payouts_file: Annotated[Path, typer.Option(help="The PSP's payouts report (CSV).")],
    transactions_file: Annotated[Path, typer.Option(help="Its balance transactions (CSV).")],
    links_file: Annotated[Path | None, typer.Option(help="Payout-transaction links (CSV).")] = None,
) -> None:
    """Hand a payout its PSP report by reference (files must be readable by the workers)."""
    from wire.payout_case import ReportRef

    for given in (payouts_file, transactions_file, links_file):
        if given is not None:
            _readable(given)
    ref = ReportRef(
        payouts_path=str(payouts_file.resolve()),
        balance_transactions_path=str(transactions_file.resolve()),
        links_path=str(links_file.resolve()) if links_file else None,
    )

    cli_support.signal_workflow(
        ids.workflow_id("Payout", payout_id), "Payout", "report_landed", ref
    )
    typer.echo(f"report handed to {ids.workflow_id('Payout', payout_id)}")


def _readable(path: Path) -> None:
    """A file handed to a workflow by reference must exist: the workers read it later, and a
    wrong path would otherwise only show up as a failed activity."""
    if not path.is_file():
        raise _fail(f"no such file: {path}", ExitCode.NO_INPUT, "check the path")


@payouts_app.command("statement")
def payouts_statement(
    payout_id: Annotated[str, typer.Argument(help="The PSP's payout id.")],
    statement: Annotated[Path, typer.Argument(help="A BAI2 or camt.053/054 statement.")],
) -> None:
    """Hand a payout a bank statement by reference."""
    from wire.payout_case import StatementRef

    _readable(statement)
    ref = StatementRef(path=str(statement.resolve()))
    cli_support.signal_workflow(
        ids.workflow_id("Payout", payout_id), "Payout", "statement_landed", ref
    )
    typer.echo(f"statement handed to {ids.workflow_id('Payout', payout_id)}")


@payouts_app.command("resolve")
def payouts_resolve(
    payout_id: Annotated[str, typer.Argument(help="The PSP's payout id.")],
    actor: Annotated[str, typer.Option(help="Who decides (kept in the audit log).")],
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    resolution: Annotated[str, typer.Option(help="accept_as_is, adjusted or written_off.")] = (
        "accept_as_is"
    ),
) -> None:
    """Resolve a payout exception (refused unless the payout is an exception)."""
    from pydantic import ValidationError

    from wire.payout_case import PayoutState, Resolve

    try:
        decision = Resolve(actor=actor, reason=reason, resolution=resolution)
    except ValidationError as exc:
        raise _fail(f"invalid {cli_support.invalid_fields(exc)}") from None
    payout = ids.workflow_id("Payout", payout_id)
    state = cli_support.update_workflow(payout, "resolve", decision, PayoutState)
    typer.echo(f"{payout}: {state.status}")


def _add_plugins() -> None:
    """Commands from other distributions: the development tooling (``devtools/``, not in the
    service's wheel) adds ``dev`` and ``payroll provider-sim`` this way."""
    for plugin in entry_points(group="integrations.cli"):
        plugin.load()(app)


def main() -> None:
    code: int | str | None = 0
    _add_plugins()
    try:
        app()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        code = 2
    except SystemExit as exc:
        code = exc.code
    except Exception as exc:  # a bug: one line and exit 70, never a traceback
        code = cli_support.report(exc)
    # Leave without interpreter finalization: it would drop the Temporal client's native
    # runtime while its threads may still be running, which has been seen to abort (SIGABRT)
    # a CLI process that had already printed its result. Every command has finished its work
    # and closed its resources by now; only buffers remain to flush.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    if isinstance(code, str):
        print(code, file=sys.stderr)
        code = 1
    os._exit(code or 0)


if __name__ == "__main__":
    main()
