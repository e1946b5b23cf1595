"""The soak's private stack on free ports, and the faults each part of it can suffer.

Temporal dev server (SQLite file, so a restart keeps every history, timer and schedule),
PostgreSQL 15 migrated with the project's migrations, one OpenSSH sshd per partner plus the
bank's, gpg homes (ours and the bank's), worker processes (``integrations worker``), the HTTP
API (``integrations api``, webhook relay inside) and, in this process, the payroll provider
simulator posting its webhooks to the API. Every process logs JSON lines to ``logs/``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
from pydantic import SecretStr
from temporalio.client import Client
from temporalio.runtime import LoggingConfig, Runtime, TelemetryConfig, TelemetryFilter

from adapters.payload_codec import KeyRing
from adapters.temporal_client import data_converter
from devstack.localstack.gpg import GpgHome
from devstack.localstack.ports import free_port, wait_for_port
from devstack.localstack.postgres import LocalPostgres
from devstack.localstack.sshd import LocalSshd, make_client_key
from devstack.localstack.temporal import LocalTemporal
from intake.naming import NamingContract
from provider_sim.app import create_app
from provider_sim.config import SimConfig
from runtime.settings import Settings, to_environment
from stores.feeds import register_feed
from stores.migrations import migrate
from tests.ach_support import bank_feed
from tests.payroll_support import serve
from wire.intake import FeedConfig, FeedSchedule, PgpPolicy, SftpSource
from wire.search_attributes import dev_server_flags

STRIPE_SECRET = "whsec_" + secrets.token_hex(16)
PAYROLL_WEBHOOK_SECRET = secrets.token_hex(16)
BANK = "firstbank"
# The soak's own client retries through every Temporal restart: its retry warnings are noise.
QUIET = Runtime(
    telemetry=TelemetryConfig(
        logging=LoggingConfig(filter=TelemetryFilter(core_level="ERROR", other_level="ERROR"))
    )
)


@dataclass
class Partner:
    """A partner dropping customer files into its own SFTP server."""

    name: str
    sshd: LocalSshd
    feed: FeedConfig


def customer_feed(name: str, server: LocalSshd) -> FeedConfig:
    return FeedConfig(
        partner_id=name,
        feed="customers",
        display_name=f"{name.title()} (soak)",
        sftp=SftpSource(
            host=server.host,
            port=server.port,
            username=server.login_user,
            host_key=server.host_key.public_line,
            private_key="client",
        ),
        naming=NamingContract(system=name, entity="customers", extensions=("csv",)),
        file_contract="acme_customers.v1",
        schedule=FeedSchedule(interval_minutes=60),
        settle_seconds=0.2,
    )


@dataclass
class SoakStack:
    root: Path
    partner_names: tuple[str, ...]
    workers_wanted: int = 2
    ring: KeyRing = field(default_factory=lambda: KeyRing.generate("soak"))
    partners: list[Partner] = field(default_factory=list)
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_exits: list[int] = field(default_factory=list)  # return codes of unplanned exits
    api: subprocess.Popen[bytes] | None = None
    _spawned: int = 0
    _exit: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)

    def __post_init__(self) -> None:
        self.temporal = LocalTemporal(
            db_file=self.root / "temporal" / "temporal.db",
            log_file=self.logs / "temporal.log",
            port=free_port(),
            ui_port=free_port(),
            search_attributes=dev_server_flags(),
        )
        self.pg = LocalPostgres(root=self.root / "pg", port=free_port())
        self.bank = LocalSshd(self.root / f"sshd-{BANK}", partner=BANK)
        self.ours = GpgHome(self.root / "gpg-ours")
        self.bank_gpg = GpgHome(self.root / "gpg-bank")
        self.api_port = free_port()

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sshds(self) -> list[LocalSshd]:
        return [p.sshd for p in self.partners] + [self.bank]

    # --- bring up ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.temporal.start()
        self.pg.init()
        self.pg.start()
        self.pg.bootstrap()
        await migrate(self.pg.owner_dsn)
        key = make_client_key(self.root / "keys")
        for name in self.partner_names:
            server = LocalSshd(self.root / f"sshd-{name}", partner=name)
            server.start()
            server.authorize(key.public_line)
            self.partners.append(Partner(name, server, customer_feed(name, server)))
        self.bank.start()
        self.bank.authorize(key.public_line)
        us = self.ours.generate_key("Payroll", "payroll@integrations.test")
        bank_key = self.bank_gpg.generate_key("Bank", "bank@firstbank.test")
        self.ours.import_key(self.bank_gpg.export_public(bank_key.fingerprint))
        self.client = await Client.connect(
            self.temporal.address, data_converter=data_converter(self.ring), runtime=QUIET
        )
        self.pool = await asyncpg.create_pool(self.pg.app_dsn, min_size=0, max_size=4)
        sim = SimConfig(
            webhook_url=f"{self.api_url}/webhooks/payroll",
            webhook_secret=PAYROLL_WEBHOOK_SECRET,
            processing_seconds=1.0,
        )
        self.sim_url = await self._exit.enter_async_context(serve(create_app(sim)))
        self.settings = Settings(
            temporal_address=self.temporal.address,
            codec_keys=SecretStr(self.ring.to_json()),
            database_url=SecretStr(self.pg.app_dsn),
            database_owner_url=SecretStr(self.pg.owner_dsn),
            pii_lookup_key=SecretStr(base64.b64encode(secrets.token_bytes(32)).decode()),
            landing_zone_dir=self.root / "landing",
            sftp_keys_dir=key.path.parent,
            gnupg_home=self.ours.path,
            api_token=SecretStr(secrets.token_urlsafe(16)),
            api_port=self.api_port,
            webhook_secrets_stripe=SecretStr(STRIPE_SECRET),
            webhook_relay_in_api=True,
            payroll_provider_url=self.sim_url,
            payroll_provider_client_id="sim-client",
            payroll_provider_client_secret=SecretStr("sim-secret"),
            payroll_webhook_secret=SecretStr(PAYROLL_WEBHOOK_SECRET),
            payroll_pgp_signer=us.fingerprint,
            log_level="INFO",
            connect_timeout_seconds=10,
        )
        for partner in self.partners:
            await register_feed(self.pool, self.client, self.settings, partner.feed)
        self.returns_feed = bank_feed(self.bank, "returns")
        self.payroll_feed = bank_feed(self.bank, "payroll").model_copy(
            update={"pgp": PgpPolicy(signer_fingerprint=bank_key.fingerprint)}
        )
        await register_feed(self.pool, self.client, self.settings, self.returns_feed)
        await register_feed(self.pool, self.client, self.settings, self.payroll_feed)
        for _ in range(self.workers_wanted):
            self.spawn_worker()
        self.api = self._spawn("api", ["api"])
        await asyncio.to_thread(wait_for_port, self.api_port, 60)
        await self._wait_ready()

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen(
            [sys.executable, "-m", "app.cli.main", *args],
            env={**os.environ, **to_environment(self.settings)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def spawn_worker(self) -> subprocess.Popen[bytes]:
        self._spawned += 1
        worker = self._spawn(
            f"worker-{self._spawned}", ["worker", "--queue", "general", "--queue", "sftp"]
        )
        self.workers.append(worker)
        return worker

    async def _wait_ready(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(base_url=self.api_url, timeout=5) as http:
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get("/readyz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"API not ready; see {self.logs}/api.log")
                await asyncio.sleep(0.3)

    async def supervise(self, stop: asyncio.Event) -> None:
        """Like a Deployment's controller: a worker that exited on its own is replaced."""
        while not stop.is_set():
            for worker in list(self.workers):
                if worker.poll() is not None:
                    self.workers.remove(worker)
                    self.worker_exits.append(worker.returncode)
                    self.spawn_worker()
            await asyncio.sleep(0.5)

    # --- faults -----------------------------------------------------------------------------

    def kill_worker(self, index: int) -> None:
        worker = self.workers.pop(index % len(self.workers))
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()

    def kill_temporal(self) -> None:
        self.temporal.kill()

    def start_temporal(self) -> None:
        # The same port and the same SQLite file: histories, timers and schedules persist.
        self.temporal.start()

    def stop_postgres(self) -> None:
        self.pg.stop("immediate")

    def start_postgres(self) -> None:
        self.pg.start()

    # --- tear down --------------------------------------------------------------------------

    async def close(self) -> None:
        if not hasattr(self, "settings"):  # failed before the processes were spawned
            self.temporal.stop()
            self.pg.stop("immediate")
            for server in self.sshds:
                server.close()
            return
        for proc in [*self.workers, self.api]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.api]:
            if proc is not None:
                try:
                    await asyncio.to_thread(proc.wait, 40)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pool.close(), 10)
        await self._exit.aclose()
        for server in self.sshds:
            server.close()
        self.ours.close()
        self.bank_gpg.close()
        self.temporal.stop()
        self.pg.stop("immediate")


@contextlib.asynccontextmanager
async def running_stack(root: Path, partners: tuple[str, ...]) -> AsyncIterator[SoakStack]:
    stack = SoakStack(root, partners)
    try:
        await stack.start()
        yield stack
    finally:
        await stack.close()
