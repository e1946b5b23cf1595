"""The alert rules and the dashboard against a real Prometheus (Debian's ``prometheus``).

Prometheus scrapes a running ``integrations worker`` (the SDK and feed port, and the app port),
``integrations api`` and a Temporal dev server, evaluating deploy/observability/alerts.yml — the
production file, unchanged — every second. The test plays one event of each kind (a drifted
file, an SLA breach, quarantined files, a failed workflow, a dead letter, a target that stops
answering) and asserts that every rule meant for it goes pending or firing: the first event on
a fresh worker must be seen. Then every dashboard expression must return data, except the few
in ``NEEDS_AN_EVENT_NOT_PLAYED``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import yaml  # type: ignore[import-untyped]
from pydantic import SecretStr
from temporalio.client import Client, WorkflowFailureError

from adapters.temporal_client import connect
from devstack.localstack.ports import free_port, wait_for_port
from devstack.localstack.sshd import LocalSshd
from devstack.localstack.temporal import LocalTemporal
from runtime.settings import Settings
from stores.feeds import register_feed
from tests.amqp_peer import AmqpPeer
from tests.intake_support import HEADER, customer_rows, customers_csv, feed_for, name_for
from tests.plugins.services import settings_env, spawn_worker
from tests.test_messaging_servicebus import send
from tests.test_observability import ALERTS, alert_rules, dashboard_exprs
from wire.intake import FeedConfig, IntakeRequest, IntakeRunResult
from wire.search_attributes import dev_server_flags

PROMETHEUS = shutil.which("prometheus")
pytestmark = pytest.mark.skipif(
    PROMETHEUS is None, reason="Debian's prometheus package (scripts/bootstrap installs it)"
)

# Dashboard expressions that need an event this test does not play, and why. Keep it tiny.
NEEDS_AN_EVENT_NOT_PLAYED = {
    # A workflow task that fails is a bug in workflow code; the service has none to trigger.
    "integrations_temporal_workflow_task_execution_failed": "a workflow bug",
    # A failed call from the worker to the frontend (the server is healthy throughout).
    "integrations_temporal_request_failure": "a failing Temporal frontend",
    # The server emits backlog age about once a minute: longer than this test runs.
    "approximate_backlog_age_seconds": "a minute of server uptime",
}


@pytest.fixture
def temporal_with_metrics(tmp_path: Path) -> Iterator[LocalTemporal]:
    """A dev server of its own: the session's has no known metrics port."""
    server = LocalTemporal(
        db_file=tmp_path / "temporal.db",
        log_file=tmp_path / "temporal.log",
        port=free_port(),
        ui_port=free_port(),
        metrics_port=free_port(),
        search_attributes=dev_server_flags(),
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _scrape_config(targets: dict[str, tuple[int, str]]) -> list[dict[str, Any]]:
    # Job names as deploy/observability/prometheus.yml names them (the rules filter on them).
    return [
        {
            "job_name": job,
            "metrics_path": path,
            "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
        }
        for job, (port, path) in targets.items()
    ]


def _start_prometheus(
    tmp_path: Path, port: int, targets: dict[str, tuple[int, str]]
) -> subprocess.Popen[bytes]:
    assert PROMETHEUS is not None
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(ALERTS)],
        "scrape_configs": _scrape_config(targets),
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            PROMETHEUS,
            f"--config.file={path}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, 30)
    return process


async def _until(predicate: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.5)


def _drifted_csv() -> bytes:
    # The contract's columns, the first two swapped: valid rows, a reordered header (drift).
    def swap(line: str) -> str:
        cells = line.split(",")
        cells[0], cells[1] = cells[1], cells[0]
        return ",".join(cells)

    lines = [swap(HEADER), *(swap(row) for row in customer_rows(5))]
    return ("\r\n".join(lines) + "\r\n").encode()


async def _run_intake(client: Client, settings: Settings, feed: FeedConfig) -> IntakeRunResult:
    result: IntakeRunResult = await client.execute_workflow(
        "FileIntake",
        IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
        id=f"intake-alerts-{uuid.uuid4()}",
        task_queue=settings.task_queue_general,
        result_type=IntakeRunResult,
    )
    return result


@pytest.fixture
async def stack(
    settings: Settings,
    temporal_with_metrics: LocalTemporal,
    running_peer: AmqpPeer,
) -> AsyncIterator[tuple[Settings, Client]]:
    suffix = uuid.uuid4().hex[:8]
    queue = f"commands-{suffix}"
    running_peer.state.add_queue(queue)
    own = settings.model_copy(
        update={
            "temporal_address": temporal_with_metrics.address,
            "task_queue_general": f"general-{suffix}",
            "task_queue_sftp": f"sftp-{suffix}",
            "metrics_port": free_port(),
            "app_metrics_port": free_port(),
            "api_port": free_port(),
            "api_host": "127.0.0.1",
            "servicebus_connection_string": SecretStr(running_peer.connection_string()),
            "servicebus_commands_queue": queue,
            "servicebus_outbox_relay": False,
        }
    )
    client = await connect(own)
    yield own, client


async def test_every_event_fires_its_alert_and_every_panel_has_data(
    stack: tuple[Settings, Client],
    temporal_with_metrics: LocalTemporal,
    sshd_server: LocalSshd,
    pool: asyncpg.Pool,
    running_peer: AmqpPeer,
    tmp_path: Path,
) -> None:
    settings, client = stack
    assert settings.metrics_port and settings.app_metrics_port
    assert temporal_with_metrics.metrics_port
    tag = uuid.uuid4().hex[:6]
    feeds = {
        kind: feed_for(sshd_server, feed=f"{kind}-{tag}", sla="00:00:00" if kind == "sla" else None)
        for kind in ("drift", "sla", "quarantine")
    }
    # Registered before the worker starts: it creates their counters at 0.
    for feed in feeds.values():
        await register_feed(pool, client, settings, feed)

    dead_port = free_port()  # a relay that is not running: its target is down
    targets = {
        "integrations-worker": (settings.metrics_port, "/metrics"),
        "integrations-worker-app": (settings.app_metrics_port, "/metrics"),
        "integrations-api": (settings.api_port, "/metrics/"),
        "integrations-relay": (dead_port, "/metrics"),
        "temporal": (temporal_with_metrics.metrics_port, "/metrics"),
    }
    prometheus_port = free_port()
    url = f"http://127.0.0.1:{prometheus_port}"
    worker = spawn_worker(settings, "general", "sftp")
    api = subprocess.Popen(
        [sys.executable, "-m", "app.cli.main", "api"],
        env=settings_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    prom: subprocess.Popen[bytes] | None = None
    try:
        wait_for_port(settings.metrics_port, 60)
        wait_for_port(settings.app_metrics_port, 60)
        wait_for_port(settings.api_port, 60)
        prom = _start_prometheus(tmp_path, prometheus_port, targets)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            # The counters at 0 must be scraped before the events, as in production.
            async def scraped_at_zero() -> bool:
                answer = await _query(http, f'intake_schema_drift{{feed="{feeds["drift"].feed}"}}')
                return bool(answer) and answer[0]["value"][1] == "0"

            await _until(scraped_at_zero, 60, "the pre-created feed counters")
            await asyncio.sleep(2)  # a second sample at 0

            # --- the events: intake runs one after another (the feeds share one inbox), the
            # others beside them ---
            async def intake_events() -> None:
                sla = await _run_intake(client, settings, feeds["sla"])
                assert sla.sla_breached
                drifted = _drifted_csv()
                sshd_server.drop_file("inbox", name_for(drifted, 1), drifted)
                drift = await _run_intake(client, settings, feeds["drift"])
                assert [d.outcome for d in drift.decisions] == ["landed"]
                # Five files (the rule's minimum traffic), quarantined on their name's CRC32.
                for sequence in range(2, 7):
                    content = customers_csv(customer_rows(2))
                    sshd_server.drop_file("inbox", name_for(b"other bytes", sequence), content)
                quarantined = await _run_intake(client, settings, feeds["quarantine"])
                assert [d.outcome for d in quarantined.decisions] == ["quarantined"] * 5

            async def failed_workflow() -> None:
                with pytest.raises(WorkflowFailureError):  # no such feed: non-retryable
                    await _run_intake(client, settings, feed_for(sshd_server, feed=f"no-{tag}"))

            async def dead_letter() -> None:
                from azure.servicebus.aio import ServiceBusClient

                connection = running_peer.connection_string()
                async with ServiceBusClient.from_connection_string(connection) as sb:
                    await send(sb, settings.servicebus_commands_queue or "", b"not json at all")

            async def webhook() -> None:
                # One webhook that fails its signature: the webhook panel's first sample.
                async with httpx.AsyncClient() as psp:
                    await psp.post(
                        f"http://127.0.0.1:{settings.api_port}/webhooks/stripe",
                        content=b"{}",
                        headers={"Stripe-Signature": "t=1,v1=00"},
                    )

            await asyncio.gather(intake_events(), failed_workflow(), dead_letter(), webhook())

            # --- every alert meant for an event goes pending (or fires: rules without `for`) ---
            expected = {
                ("FeedSlaBreached", ("feed", feeds["sla"].feed)),
                ("FeedSchemaDrift", ("feed", feeds["drift"].feed)),
                ("FeedQuarantineRateHigh", ("feed", feeds["quarantine"].feed)),
                ("WorkflowsFailing", ("workflow_type", "FileIntake")),
                ("MessagesDeadLettered", ("reason", "InvalidEnvelope")),
                ("IntegrationsTargetDown", ("job", "integrations-relay")),
            }

            async def active() -> set[tuple[str, tuple[str, str]]]:
                answer = (await http.get("/api/v1/alerts")).json()["data"]["alerts"]
                seen = set()
                for alert in answer:
                    if alert["state"] not in ("pending", "firing"):
                        continue
                    for name, (label, value) in expected:
                        if alert["labels"]["alertname"] == name and (
                            alert["labels"].get(label) == value
                        ):
                            seen.add((name, (label, value)))
                return seen

            try:
                await _until(lambda: _covers(active, expected), 45, "every expected alert")
            except AssertionError:
                missing = expected - await active()
                raise AssertionError(f"alerts that did not go pending: {sorted(missing)}") from None

            # Rate rules need traffic: the failed run's one failed activity attempt (100% of
            # load_feed's attempts) and the session's few calls fire nothing.
            answer = (await http.get("/api/v1/alerts")).json()["data"]["alerts"]
            quiet = {"ActivityFailureRateHigh", "TemporalRequestsFailing", "IntakeLatencyHigh"}
            assert not quiet & {a["labels"]["alertname"] for a in answer}
            failed_attempts = "integrations_temporal_activity_execution_failed"
            assert await _query(http, f"{failed_attempts} > 0")  # the guard is what held it

            # The worker created these series at 0 at start, and the events incremented those
            # same series: increase() alone sees the first event, the new-series clause of the
            # rules is only the fallback (SDK counters, feeds added later).
            for query in (
                f'intake_schema_drift{{feed="{feeds["drift"].feed}"}}',
                f'intake_sla_breaches{{feed="{feeds["sla"].feed}"}}',
                'intake_files_received{outcome="quarantined", '
                f'feed="{feeds["quarantine"].feed}"}}',
                'messaging_dead_lettered_total{reason="InvalidEnvelope", '
                f'queue="{settings.servicebus_commands_queue}"}}',
            ):
                assert await _query(http, f"increase({query}[5m]) > 0"), query

            # The API serves its own families only: no empty messaging_* ones.
            metrics = (await http.get(f"http://127.0.0.1:{settings.api_port}/metrics/")).text
            assert "webhook_requests_total" in metrics and "messaging_" not in metrics

            # Each rule the test means to fire is one of the production rules.
            assert {name for name, _ in expected} <= {r["alert"] for r in alert_rules()}

            # --- every dashboard expression returns data ---
            empty = []
            for expr in dashboard_exprs():
                query = _instantiate(expr)
                if any(metric in query for metric in NEEDS_AN_EVENT_NOT_PLAYED):
                    continue
                if not await _query(http, query):
                    empty.append(query)
            assert not empty, f"dashboard expressions without data: {empty}"
    finally:
        await asyncio.to_thread(_stop, worker, api, prom)


def _stop(*processes: subprocess.Popen[Any] | None) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


async def _covers(active: Any, expected: set[Any]) -> bool:
    return bool(expected <= await active())


async def _query(http: httpx.AsyncClient, query: str) -> list[dict[str, Any]]:
    answer = (await http.get("/api/v1/query", params={"query": query})).json()
    assert answer["status"] == "success", (query, answer)
    result: list[dict[str, Any]] = answer["data"]["result"]
    return result


def _instantiate(expr: str) -> str:
    """A Grafana expression as Grafana would send it: every variable set to All."""
    expr = expr.replace("$__rate_interval", "1m")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def test_dashboard_variables_are_instantiated_as_grafana_does() -> None:
    assert _instantiate('rate(x{ns=~"$namespace"}[$__rate_interval])') == 'rate(x{ns=~".*"}[1m])'


def test_the_list_of_panels_left_unchecked_is_small_and_current() -> None:
    exprs = dashboard_exprs()
    assert len(NEEDS_AN_EVENT_NOT_PLAYED) <= 3
    for metric, why in NEEDS_AN_EVENT_NOT_PLAYED.items():
        assert why and any(metric in expr for expr in exprs), metric
