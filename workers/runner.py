"""Builds and runs the workers of one process, and shuts them down gracefully on SIGTERM.

On SIGTERM/SIGINT the workers stop polling and give running activities
``graceful_shutdown_seconds`` to finish (activities see ``activity.is_worker_shutdown()`` and
heartbeat); whatever is still running after that is retried by Temporal on another worker.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import asyncpg
from temporalio.client import Client
from temporalio.runtime import Runtime
from temporalio.worker import Worker

from activities.ach import AchActivities
from activities.demo import DemoActivities
from activities.edi import EdiActivities
from activities.intake_dedupe import RowDedupe
from activities.intake_files import FileActivities
from activities.intake_records import IntakeRecords, precreate_feed_counters
from activities.messaging import MessagingActivities
from activities.onboarding import OnboardingFiles, OnboardingRecords
from activities.outbox import OutboxActivities
from activities.payouts import PayoutActivities
from activities.payroll import PayrollActivities
from adapters.temporal_client import key_ring_from
from relays.messaging import consumers_configured, run_messaging
from runtime.settings import Settings
from workflows.catalog import Queue, workflows_for
from workflows.file_intake import ALERTING_ERRORS

log = logging.getLogger(__name__)

QUEUES: tuple[Queue, ...] = ("general", "sftp")


def task_queue(settings: Settings, queue: Queue) -> str:
    return settings.task_queue_general if queue == "general" else settings.task_queue_sftp


def activities_for(
    queue: Queue, settings: Settings, pool: asyncpg.Pool, client: Client | None = None
) -> list[Callable[..., Any]]:
    if queue == "general":
        demo = DemoActivities(pool)
        records = IntakeRecords(pool, settings, client)
        ach = AchActivities(pool, settings, key_ring_from(settings), client)
        payouts = PayoutActivities(pool, settings, client)
        outbox = OutboxActivities(pool)
        payroll = PayrollActivities(pool, settings, key_ring_from(settings))
        onboarding = OnboardingRecords(pool, settings, client)
        messaging = MessagingActivities(settings)
        return [
            messaging.publish_event,
            messaging.publish_stream,
            onboarding.register,
            onboarding.set_stage,
            onboarding.record_key,
            onboarding.go_live,
            onboarding.cut_over,
            onboarding.install_contract,
            onboarding.offboard,
            payroll.prepare,
            payroll.open_run,
            payroll.submit_batch,
            payroll.submit,
            payroll.poll_status,
            payroll.reconcile,
            payroll.build_deposit_file,
            payroll.gl_export,
            payroll.record,
            payouts.reconcile,
            payouts.match,
            payouts.report_part_landed,
            payouts.statement_landed,
            outbox.record,
            ach.ingest_file,
            ach.prepare_representment,
            ach.block_account,
            ach.apply_correction,
            ach.record_event,
            ach.audit,
            demo.greet,
            records.load_feed,
            records.lookup_digest,
            records.record,
            records.check_sla,
            records.raise_alert,
        ]
    files = FileActivities(settings)
    dedupe = RowDedupe(pool, settings)
    onboarding_files = OnboardingFiles(settings)
    # pyx12 is blocking: edi.accept is a sync activity on this queue's thread pool.
    edi = EdiActivities(pool, settings, client)
    return [
        files.list_inbox,
        files.fetch,
        files.process,
        files.finish,
        files.deliver,
        dedupe.dedupe_rows,
        onboarding_files.ssh_key,
        onboarding_files.credentials,
        onboarding_files.probe_key,
        onboarding_files.check_test_file,
        onboarding_files.remove_keys,
        edi.accept,
    ]


def build_worker(
    client: Client,
    settings: Settings,
    queue: Queue,
    pool: asyncpg.Pool,
    *,
    graceful_shutdown_seconds: float = 30.0,
) -> tuple[Worker, ThreadPoolExecutor]:
    limit = (
        settings.general_max_concurrent_activities
        if queue == "general"
        else settings.sftp_max_concurrent_activities
    )
    # Blocking libraries (paramiko, gpg, pyx12) run in sync activities on this pool, never on
    # the event loop; its size is the queue's activity concurrency.
    executor = ThreadPoolExecutor(max_workers=limit, thread_name_prefix=f"{queue}-activity")
    worker = Worker(
        client,
        task_queue=task_queue(settings, queue),
        workflows=workflows_for(queue),
        activities=activities_for(queue, settings, pool, client),
        activity_executor=executor,
        max_concurrent_activities=limit,
        graceful_shutdown_timeout=timedelta(seconds=graceful_shutdown_seconds),
    )
    return worker, executor


async def precreate_metrics(client: Client, pool: asyncpg.Pool) -> None:
    """The feed counters at 0 for every feed in the database, so the first event of each is an
    increase Prometheus sees (deploy/observability/alerts.yml)."""
    runtime = client.service_client.config.runtime or Runtime.default()
    feeds = await pool.fetch("SELECT partner_id, feed FROM feeds ORDER BY partner_id, feed")
    created = precreate_feed_counters(
        runtime.metric_meter,
        [(row["partner_id"], row["feed"]) for row in feeds],
        ALERTING_ERRORS | {"systemic"},
    )
    log.info("feed metrics created at 0: %d series for %d feeds", created, len(feeds))


async def run_workers(
    client: Client,
    settings: Settings,
    queues: Sequence[Queue],
    pool: asyncpg.Pool,
    *,
    stop: asyncio.Event | None = None,
    graceful_shutdown_seconds: float = 30.0,
    install_signals: bool = True,
) -> None:
    """Run the workers for ``queues`` until SIGTERM/SIGINT (or ``stop`` is set)."""
    stop = stop or asyncio.Event()
    if install_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    built = [
        build_worker(client, settings, q, pool, graceful_shutdown_seconds=graceful_shutdown_seconds)
        for q in queues
    ]
    await precreate_metrics(client, pool)
    runs = [asyncio.create_task(worker.run()) for worker, _ in built]
    log.info("workers polling task queues %s", ", ".join(task_queue(settings, q) for q in queues))
    # Azure messaging consumers (docs/messaging.md): only when settings configure a namespace.
    if "general" in queues and consumers_configured(settings):
        runs.append(asyncio.create_task(run_messaging(settings, client, pool, stop)))
    await stop.wait()
    log.info("shutting down workers; running activities get %ss", graceful_shutdown_seconds)
    await asyncio.gather(*(worker.shutdown() for worker, _ in built))
    await asyncio.gather(*runs, return_exceptions=True)
    for _, executor in built:
        executor.shutdown(wait=False)
    log.info("workers stopped")
