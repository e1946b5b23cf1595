"""``integrations dev up``: the whole local stack as child processes of one command.

Temporal dev server (Web UI on :8233, state in ``.dev/temporal.db``), a project-owned PostgreSQL
15 cluster (``.dev/postgres``, port 55432), migrations, the workers, the codec server, the HTTP
API, the payroll provider simulator (:8090), a demo partner sshd (:2222), then a demo that
drives real workflows: Demo, FileIntake, Payout, the EDI handoff, PayrollRun and AchReturn
(docs/dev-stack.md). Local secrets are generated once into ``.dev/env`` (mode 600) and never
printed; settings added later are appended to an older file. Ctrl-C (or ``integrations dev
down``) stops it all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import pwd
import secrets
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
from temporalio.client import Client, WorkflowQueryFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError

import nacha
from ach_returns.state_machine import CaseState, ReturnCase
from adapters.landing_zone import LandingZone, digest_bytes
from adapters.payload_codec import KeyRing
from adapters.pgp import Keyring
from adapters.temporal_client import connect
from adapters.webhook_signatures import split_secrets
from devstack.demo_data import (
    PAYOUT_TRANSACTIONS,
    ach_return_file,
    balance_transaction_id,
    camt053_statement,
    payout_net,
    payroll_inputs,
    payroll_roster,
    psp_report,
    purchase_order_850,
)
from devstack.localstack.gpg import GpgHome
from devstack.localstack.ports import port_open, wait_for_port
from devstack.localstack.postgres import LocalPostgres
from devstack.localstack.sshd import LocalSshd, make_client_key
from devstack.localstack.temporal import LocalTemporal
from intake.naming import NamingContract
from runtime.settings import Settings, load_settings
from stores.ach import workflow_id as ach_workflow_id
from stores.db import create_pool
from stores.feeds import register_feed
from stores.migrations import migrate
from wire.intake import (
    FeedConfig,
    FeedSchedule,
    FileDecision,
    Handoff,
    IntakeRequest,
    IntakeRunResult,
    PgpPolicy,
    ReportPart,
    SftpSource,
)
from wire.payout_case import PayoutState
from wire.payroll import BankTarget, FileRef, PayrollStart, PayrollState, run_workflow_id
from wire.search_attributes import dev_server_flags
from wire.workflow_ids import schedule_id
from wire.workflow_ids import workflow_id as _workflow_id

T = TypeVar("T")

PG_PORT = 55432
TEMPORAL_PORT = 7233
UI_PORT = 8233
API_PORT = 8080
CODEC_PORT = 8081
WORKER_METRICS_PORT = 9464
WORKER_APP_METRICS_PORT = 9465  # prometheus_client: messaging consumers, outbox relay
TEMPORAL_METRICS_PORT = 9233
SFTP_PORT = 2222
PAYROLL_SIM_PORT = 8090
DEMO_PARTNER = "acme"
DEMO_FEED = "customers"
DEMO_BANK = "firstbank"
DEMO_PSP = "stripe"


@dataclass
class DevStack:
    root: Path
    say: Callable[[str], None] = print
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    sshd: LocalSshd | None = None
    supervisor: Supervisor = field(init=False)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.root, say=self.say, on_start=self._record_child)

    def _record_child(self, name: str, proc: subprocess.Popen[bytes]) -> None:
        # A restarted child replaces its predecessor (Supervisor updates pids/ for `dev down`).
        self.children = [(n, p) for n, p in self.children if n != name] + [(name, proc)]

    @property
    def env_file(self) -> Path:
        return self.root / "env"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def postgres(self, env: dict[str, str]) -> LocalPostgres:
        return LocalPostgres(
            root=self.root / "postgres",
            port=PG_PORT,
            owner_password=env["DEV_PG_OWNER_PASSWORD"],
            app_password=env["DEV_PG_APP_PASSWORD"],
        )

    # --- secrets -------------------------------------------------------------------------

    def read_env(self) -> dict[str, str]:
        """The settings of ``.dev/env`` as they are (empty before the first ``dev up``)."""
        if not self.env_file.exists():
            return {}
        pairs = (
            line.split("=", 1) for line in self.env_file.read_text().splitlines() if "=" in line
        )
        return {k: v for k, v in pairs}

    def ensure_env(self) -> dict[str, str]:
        """Generate local secrets once; later runs reuse them so histories stay decodable.

        An ``.dev/env`` from an older version lacks the settings added since: those are
        generated and appended, the existing ones are kept as they are."""
        self.root.mkdir(parents=True, exist_ok=True)
        env = self.read_env()
        added = False
        for name, make in self._env_defaults(env):
            if name not in env:
                env[name] = make()
                added = True
        if added:
            self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
            self.env_file.chmod(0o600)
        return env

    def _env_defaults(self, env: dict[str, str]) -> list[tuple[str, Callable[[], str]]]:
        """Every local setting with how to make it; a maker runs only when its setting is
        missing, in this order (later ones read earlier ones from ``env``)."""
        token = secrets.token_urlsafe

        def codec_keys() -> str:
            keys_file = self.root / "codec-keys.json"
            keys_file.write_text(KeyRing.generate("dev-1").to_json())
            keys_file.chmod(0o600)
            return str(keys_file.resolve())

        def dsn(role: str, password: str) -> Callable[[], str]:
            return lambda: f"postgresql://{role}:{env[password]}@127.0.0.1:{PG_PORT}/integrations"

        def path(name: str) -> Callable[[], str]:
            return lambda: str((self.root / name).resolve())

        def const(value: str) -> Callable[[], str]:
            return lambda: value

        return [
            ("DEV_PG_OWNER_PASSWORD", lambda: token(18)),
            ("DEV_PG_APP_PASSWORD", lambda: token(18)),
            ("INTEGRATIONS_TEMPORAL_ADDRESS", const(f"127.0.0.1:{TEMPORAL_PORT}")),
            ("INTEGRATIONS_CODEC_KEYS_FILE", codec_keys),
            ("INTEGRATIONS_CODEC_SERVER_TOKEN", lambda: token(24)),
            ("INTEGRATIONS_CODEC_SERVER_PORT", const(str(CODEC_PORT))),
            (
                "INTEGRATIONS_CODEC_CORS_ORIGINS",
                const(f"http://localhost:{UI_PORT},http://127.0.0.1:{UI_PORT}"),
            ),
            ("INTEGRATIONS_API_TOKEN", lambda: token(24)),
            ("INTEGRATIONS_API_PORT", const(str(API_PORT))),
            ("INTEGRATIONS_DATABASE_URL", dsn("integrations_app", "DEV_PG_APP_PASSWORD")),
            (
                "INTEGRATIONS_DATABASE_OWNER_URL",
                dsn("integrations_owner", "DEV_PG_OWNER_PASSWORD"),
            ),
            ("INTEGRATIONS_LANDING_ZONE_DIR", path("landing")),
            ("INTEGRATIONS_METRICS_PORT", const(str(WORKER_METRICS_PORT))),
            ("INTEGRATIONS_APP_METRICS_PORT", const(str(WORKER_APP_METRICS_PORT))),
            ("INTEGRATIONS_SFTP_KEYS_DIR", path("sftp-keys")),
            ("INTEGRATIONS_GNUPG_HOME", path("gnupg")),
            (
                "INTEGRATIONS_PII_LOOKUP_KEY",
                lambda: base64.b64encode(secrets.token_bytes(32)).decode(),
            ),
            # PSP webhooks: the demo signs Stripe events with this endpoint secret.
            ("INTEGRATIONS_WEBHOOK_SECRETS_STRIPE", lambda: "whsec_" + secrets.token_hex(24)),
            # The payroll provider simulator (`integrations payroll provider-sim`): the same
            # credentials and webhook secret are handed to it as PROVIDER_SIM_*.
            ("INTEGRATIONS_PAYROLL_PROVIDER_URL", const(f"http://127.0.0.1:{PAYROLL_SIM_PORT}")),
            ("INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_ID", const("integrations-dev")),
            ("INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_SECRET", lambda: token(24)),
            ("INTEGRATIONS_PAYROLL_WEBHOOK_SECRET", lambda: token(24)),
            # Our PGP key (signs direct-deposit files) and the demo bank's (we encrypt to it).
            ("INTEGRATIONS_PAYROLL_PGP_SIGNER", self._generate_our_pgp_key),
            (
                "DEV_BANK_PGP_FINGERPRINT",
                lambda: self._generate_bank_pgp_key(env["INTEGRATIONS_PAYROLL_PGP_SIGNER"]),
            ),
        ]

    @property
    def bank_gnupg(self) -> Path:
        """The demo bank's own GnuPG home: its secret key, to read what we send it."""
        return self.root / f"gnupg-{DEMO_BANK}"

    def _generate_our_pgp_key(self) -> str:
        with GpgHome(self.root / "gnupg") as home:
            return home.generate_key("Integrations (dev)", "integrations@dev.test").fingerprint

    def _generate_bank_pgp_key(self, our_fingerprint: str) -> str:
        """The bank's key pair in its own home; each side imports the other's public key (we
        encrypt to the bank, the bank verifies our signature)."""
        with GpgHome(self.bank_gnupg) as bank, GpgHome(self.root / "gnupg") as ours:
            key = bank.generate_key("First Bank (demo)", f"payments@{DEMO_BANK}.test")
            ours.import_key(bank.export_public(key.fingerprint))
            bank.import_key(ours.export_public(our_fingerprint))
            return key.fingerprint

    # --- processes -----------------------------------------------------------------------

    def spawn(
        self, name: str, args: list[str], env: dict[str, str], port: int | None = None
    ) -> subprocess.Popen[bytes]:
        return self.supervisor.start(name, args, env, port)

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "app.cli.main", *args]

    def up(self, demo: bool = True) -> None:
        started = time.monotonic()
        env = self.ensure_env()
        os.environ.update(env)
        busy = [
            p
            for p in (TEMPORAL_PORT, UI_PORT, API_PORT, CODEC_PORT, PAYROLL_SIM_PORT)
            if port_open(p)
        ]
        if busy:
            raise RuntimeError(
                f"ports {busy} are already in use: is a stack running? (integrations dev down)"
            )

        pg = self.postgres(env)
        self.say("postgres: starting (cluster in .dev/postgres)")
        pg.init()
        pg.start()
        pg.bootstrap()
        ran = asyncio.run(migrate(env["INTEGRATIONS_DATABASE_OWNER_URL"]))
        self.say(f"postgres: migrations applied now: {[m.name for m in ran] or 'none pending'}")

        temporal = LocalTemporal(
            db_file=self.root / "temporal.db",
            log_file=self.logs / "temporal.log",
            port=TEMPORAL_PORT,
            ui_port=UI_PORT,
            metrics_port=TEMPORAL_METRICS_PORT,
            codec_endpoint=f"http://localhost:{CODEC_PORT}",
            search_attributes=dev_server_flags(),
        )
        self.say("temporal: starting dev server")
        temporal.start()
        assert temporal.process is not None
        self._record_child("temporal", temporal.process)
        self.supervisor.adopt("temporal", temporal.process, env, TEMPORAL_PORT)

        self.say(f"sftp: starting sshd for demo partner {DEMO_PARTNER} on :{SFTP_PORT}")
        sftp = self.start_partner_sftp()

        self.spawn("codec-server", self.cli("codec-server"), env, CODEC_PORT)
        worker = self.cli("worker", "--queue", "general", "--queue", "sftp")
        self.spawn("worker", worker, env, WORKER_METRICS_PORT)
        self.spawn("api", self.cli("api"), env, API_PORT)
        self.say(f"payroll-sim: starting the provider simulator on :{PAYROLL_SIM_PORT}")
        sim_env = {**env, **provider_sim_env(env)}
        self.spawn("payroll-sim", self.payroll_sim_args(), sim_env, PAYROLL_SIM_PORT)
        wait_for_port(CODEC_PORT, 30)
        wait_for_port(API_PORT, 30)
        wait_for_port(PAYROLL_SIM_PORT, 30)
        self.say(f"stack up in {time.monotonic() - started:.1f}s")

        if demo:
            self.run_demo(env)
            self.run_intake_demo(env, sftp)
            demos_started = time.monotonic()
            asyncio.run(DomainDemo(self, env, sftp).run())
            self.say(f"domain demos done in {time.monotonic() - demos_started:.1f}s")
        self.print_where(env)

    def payroll_sim_args(self) -> list[str]:
        return self.cli(
            "payroll",
            "provider-sim",
            "--port",
            str(PAYROLL_SIM_PORT),
            "--webhook-url",
            f"http://127.0.0.1:{API_PORT}/webhooks/payroll",
            "--processing-seconds",
            "0.5",
        )

    def run_demo(self, env: dict[str, str]) -> None:
        """Drive real workflows through the API so the Web UI has something to show."""
        headers = {"Authorization": f"Bearer {env['INTEGRATIONS_API_TOKEN']}"}
        base = f"http://127.0.0.1:{API_PORT}"
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            deadline = time.monotonic() + 60
            while http.get("/readyz").status_code != 200:
                if time.monotonic() > deadline:
                    raise RuntimeError("API not ready after 60s; see .dev/logs/api.log")
                time.sleep(0.5)
            key = f"welcome-{time.strftime('%Y%m%d')}"
            started = http.post(
                "/v1/workflows/Demo",
                headers={"Idempotency-Key": key},
                json={"customer_name": "Ada Lovelace", "ssn": "123-45-6789", "amount": "42.00"},
            )
            started.raise_for_status()
            workflow_id = started.json()["workflow_id"]
            while http.get(f"/v1/workflow-runs/{workflow_id}").json()["status"] == "RUNNING":
                if time.monotonic() > deadline:
                    raise RuntimeError("demo workflow did not finish; see .dev/logs/worker.log")
                time.sleep(0.3)
            status = http.get(f"/v1/workflow-runs/{workflow_id}").json()["status"]
            self.say(f"demo: workflow {workflow_id} {status}")

    def start_partner_sftp(self) -> LocalSshd:
        """A real OpenSSH server playing the demo partner, with our key authorised."""
        server = LocalSshd(self.root / f"sshd-{DEMO_PARTNER}", partner=DEMO_PARTNER, port=SFTP_PORT)
        server.start()
        self.sshd = server
        assert server.pid is not None
        (self.root / "pids").mkdir(exist_ok=True)
        (self.root / "pids" / "sshd.pid").write_text(str(server.pid))
        keys = self.root / "sftp-keys"
        if not (keys / DEMO_PARTNER).exists():
            make_client_key(keys, DEMO_PARTNER)
        server.authorize((keys / f"{DEMO_PARTNER}.pub").read_text().strip())
        return server

    def run_intake_demo(self, env: dict[str, str], server: LocalSshd) -> None:
        """Register the demo feed, drop a good file, a duplicate and a broken one, run intake."""
        feed_file = self.root / "feeds" / f"{DEMO_PARTNER}_{DEMO_FEED}.toml"
        feed_file.parent.mkdir(exist_ok=True)
        feed_file.write_text(demo_feed_toml(server))
        subprocess.run(
            self.cli("feeds", "create", str(feed_file)),
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        good, broken = demo_files()
        names = [
            demo_name(good, 1),
            demo_name(good, 2),  # the same bytes under another name: a duplicate
            demo_name(broken, 3),
        ]
        for name, content in zip(names, (good, good, broken), strict=True):
            server.drop_file("inbox", name, content)
        subprocess.run(
            self.cli("feeds", "trigger", f"{DEMO_PARTNER}/{DEMO_FEED}"),
            env={**os.environ, **env},
            check=True,
            capture_output=True,
        )
        outcomes = asyncio.run(wait_for_decisions(env["INTEGRATIONS_DATABASE_URL"], names))
        for name in names:
            self.say(f"intake: {name} -> {outcomes.get(name, 'not decided in time')}")

    def print_where(self, env: dict[str, str]) -> None:
        self.say(
            "\n".join(
                [
                    "",
                    f"  Temporal Web UI   http://localhost:{UI_PORT}",
                    f"  Temporal gRPC     127.0.0.1:{TEMPORAL_PORT}",
                    f"  HTTP API          http://127.0.0.1:{API_PORT}/docs  (token in .dev/env)",
                    f"  Codec server      http://localhost:{CODEC_PORT}/login  (token in .dev/env)",
                    f"  PostgreSQL        127.0.0.1:{PG_PORT} db integrations",
                    f"  Partner SFTP      127.0.0.1:{SFTP_PORT} (demo partner {DEMO_PARTNER}; "
                    f"files in {self.root}/sshd-{DEMO_PARTNER}/jail)",
                    f"  Payroll provider  http://127.0.0.1:{PAYROLL_SIM_PORT} (the simulator; "
                    "status webhooks to the API's /webhooks/payroll)",
                    f"  Worker metrics    http://127.0.0.1:{WORKER_METRICS_PORT}/metrics (SDK, "
                    f"feeds), http://127.0.0.1:{WORKER_APP_METRICS_PORT}/metrics (messaging)",
                    f"  Temporal metrics  http://127.0.0.1:{TEMPORAL_METRICS_PORT}/metrics",
                    f"  Logs              {self.logs}/",
                    "  Secrets           .dev/env (mode 600; `set -a; . .dev/env` to use the CLI)",
                    "",
                    "Ctrl-C stops everything.",
                ]
            )
        )

    def wait(self) -> None:
        stop = False

        def on_signal(signum: int, _frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
        self.supervisor.run(lambda: stop)

    def down(self) -> None:
        """Stop our children (newest first), then PostgreSQL."""
        for name, proc in reversed(self.children):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=35)
                except subprocess.TimeoutExpired:
                    proc.kill()
            self.say(f"stopped {name}")
        self.children.clear()
        self.supervisor.forget()
        stop_recorded(self.root, self.say)
        if self.sshd is not None:
            self.sshd.close()
        if self.env_file.exists():
            self.postgres(self.read_env()).stop()
            self.say("stopped postgres")
        # gpg-agents that the workers and the demo's key generation started for .dev homes.
        for home in (self.root / "gnupg", self.bank_gnupg):
            if home.exists():
                subprocess.run(
                    ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
                    capture_output=True,
                    check=False,
                )


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped by its parent) counts as gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop_recorded(root: Path, say: Callable[[str], None]) -> None:
    """Stop processes recorded in ``root/pids`` (for ``dev down`` from another shell)."""
    pids = root / "pids"
    if not pids.exists():
        return
    # The supervisor first: it would restart the children stopped after it.
    for pid_file in sorted(pids.glob("*.pid"), key=lambda p: (p.stem != "supervisor", p.name)):
        try:
            pid = int(pid_file.read_text())
            if pid == os.getpid():
                raise ProcessLookupError
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:  # not a group leader (sshd): signal the process itself
                os.kill(pid, signal.SIGTERM)
            # The supervisor stops its own children first: give it time to.
            for _ in range(450 if pid_file.stem == "supervisor" else 70):
                if not _alive(pid):
                    raise ProcessLookupError
                time.sleep(0.2)
        except (ProcessLookupError, ValueError, PermissionError, FileNotFoundError):
            pass  # gone, or already stopped (and its file removed) by the supervisor
        else:
            say(f"{pid_file.stem} did not stop in time; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)


def demo_feed_toml(server: LocalSshd) -> str:
    return f"""# The demo partner's customer feed (written by `integrations dev up`).
partner_id = "{DEMO_PARTNER}"
feed = "{DEMO_FEED}"
display_name = "Acme Corp (demo)"
file_contract = "acme_customers.v1"
settle_seconds = 1.0

[sftp]
host = "{server.host}"
port = {server.port}
username = "{server.login_user}"
host_key = "{server.host_key.public_line}"
private_key = "{DEMO_PARTNER}"

[naming]
system = "{DEMO_PARTNER}"
entity = "{DEMO_FEED}"
extensions = ["csv"]

[schedule]
interval_minutes = 15
timezone = "America/New_York"
sla_deadline = "09:00:00"
"""


def demo_files() -> tuple[bytes, bytes]:
    """A good customer file (fresh ids each time) and a broken one."""
    start = secrets.randbelow(10**8)
    header = (
        "customer_id,full_name,email,created_date,updated_at,country,credit_limit,active,"
        "postal_code"
    )
    rows = [
        f"{i},Customer {i},customer{i}@example.com,2025-01-{1 + i % 28:02d},"
        f"2025-02-01T09:30:00+0000,US,{i % 5000}.00,true,{10000 + i % 89999:05d}"
        for i in range(start, start + 25)
    ]
    good = ("\r\n".join([header, *rows]) + "\r\n").encode()
    broken_rows = [f"{start + i},,not-an-email,2025-13-40,,XX,12.3.4,perhaps,?" for i in range(5)]
    broken = ("\r\n".join([header, *broken_rows]) + "\r\n").encode()
    return good, broken


def demo_name(content: bytes, sequence: int) -> str:
    crc = zlib.crc32(content)
    day = date.today().isoformat()
    return f"{DEMO_PARTNER}_{DEMO_FEED}_{day}_seq-{sequence:05d}_crc32-{crc:08X}.csv"


async def wait_for_decisions(dsn: str, names: list[str], within: float = 90) -> dict[str, str]:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + within
        while True:
            rows = await conn.fetch(
                "SELECT remote_name, outcome, reason FROM intake_events "
                "WHERE remote_name = ANY($1)",
                names,
            )
            found = {r["remote_name"]: f"{r['outcome']} {r['reason']}".strip() for r in rows}
            if len(found) == len(names) or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


def provider_sim_env(env: dict[str, str]) -> dict[str, str]:
    """The simulator's credentials and webhook secret: the ones our settings hold."""
    return {
        "PROVIDER_SIM_CLIENT_ID": env["INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_ID"],
        "PROVIDER_SIM_CLIENT_SECRET": env["INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_SECRET"],
        "PROVIDER_SIM_WEBHOOK_SECRET": env["INTEGRATIONS_PAYROLL_WEBHOOK_SECRET"],
    }


# --- the domain demos: payouts, EDI, payroll ------------------------------------------------
#
# The demo sshd plays every counterparty: the PSP's report server, the bank and the EDI partner
# each get their own folders in its jail (inbox/<who>/..., archive/<who>, outbox/<who>), so no
# feed ever lists another one's files.

DEMO_CRON = "0 6 * * *"  # the demo feeds' Schedules: daily; the demo runs their intake itself


def partner_folder(server: LocalSshd, relative: str) -> Path:
    """A folder in the jail owned by the login user (as ``inbox/`` is), created if missing."""
    owner = pwd.getpwnam(server.login_user)
    folder = server.jail
    for part in relative.split("/"):
        folder = folder / part
        if not folder.exists():
            folder.mkdir(mode=0o755)
            os.chown(folder, owner.pw_uid, owner.pw_gid)
    return folder


def drop(server: LocalSshd, relative: str, name: str, data: bytes) -> Path:
    """Place a file as a partner would: written under a dot-name, then renamed into place."""
    folder = partner_folder(server, relative)
    owner = pwd.getpwnam(server.login_user)
    tmp = folder / f".{name}.drop"
    tmp.write_bytes(data)
    os.chown(tmp, owner.pw_uid, owner.pw_gid)
    tmp.chmod(0o644)
    target = folder / name
    os.replace(tmp, target)
    return target


def next_sequence(server: LocalSshd, area: str, prefix: str) -> int:
    """One more than the files of that name prefix already archived or quarantined, so a
    second ``dev up`` continues the feed's sequence instead of repeating it."""
    done = 0
    for kind in ("archive", "quarantine"):
        folder = server.jail / kind / area
        if folder.is_dir():
            done += sum(1 for p in folder.iterdir() if p.name.startswith(prefix))
    return done + 1


def demo_feed(
    server: LocalSshd,
    partner: str,
    feed: str,
    *,
    area: str,
    inbox: str,
    outbox: str,
    file_contract: str,
    handoff: Handoff,
    extensions: tuple[str, ...],
    display_name: str,
    report_part: ReportPart | None = None,
    pgp: PgpPolicy | None = None,
) -> FeedConfig:
    return FeedConfig(
        partner_id=partner,
        feed=feed,
        display_name=display_name,
        sftp=SftpSource(
            host=server.host,
            port=server.port,
            username=server.login_user,
            host_key=server.host_key.public_line,
            private_key=DEMO_PARTNER,
            inbox=inbox,
            archive=f"archive/{area}",
            quarantine=f"quarantine/{area}",
            outbox=outbox,
        ),
        naming=NamingContract(
            pattern="{system}_{entity}_{date}_seq-{sequence}.{ext}",
            system=partner,
            entity=feed,
            extensions=extensions,
        ),
        file_contract=file_contract,
        handoff=handoff,
        report_part=report_part,
        pgp=pgp,
        schedule=FeedSchedule(cron=DEMO_CRON),
        settle_seconds=0.5,
    )


def stripe_event(event_type: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"evt_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }


async def poll(
    probe: Callable[[], Awaitable[T | None]], done: Callable[[T], bool], within: float
) -> T | None:
    """Call ``probe`` until ``done`` holds for its answer or ``within`` seconds pass; the
    last answer (or None) is returned either way. A probe that raises counts as no answer."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        try:
            last = await probe()
        except (RPCError, WorkflowQueryFailedError):
            last = None  # not started yet (the relay starts it)
        if (last is not None and done(last)) or time.monotonic() > deadline:
            return last
        await asyncio.sleep(0.3)


@dataclass
class DomainDemo:
    """Drive Payout, EDI and PayrollRun workflows with real files and webhooks; one line each."""

    stack: DevStack
    env: dict[str, str]
    server: LocalSshd
    tag: str = field(default_factory=lambda: time.strftime("%Y%m%d%H%M%S"))
    payroll_file: Path | None = None  # the encrypted PPD file the payroll demo delivered

    async def run(self) -> None:
        settings = load_settings()
        client = await connect(settings)
        pool = await create_pool(settings)
        steps: list[tuple[str, Callable[[Client, asyncpg.Pool, Settings], Awaitable[str]]]] = [
            ("payouts", self.payouts),
            ("edi", self.edi),
            ("payroll", self.payroll),
            ("ach", self.ach_return),
        ]
        try:
            for name, step in steps:
                try:
                    line = await asyncio.wait_for(step(client, pool, settings), 120)
                except Exception as exc:  # one failed demo must not hide the others
                    line = f"FAILED ({failure(exc)}); see {self.stack.logs}/worker.log"
                self.stack.say(f"{name}: {line}")
        finally:
            await pool.close()

    async def intake(
        self, client: Client, settings: Settings, feed: FeedConfig, name: str
    ) -> FileDecision:
        """Run the feed's intake now (its Schedule would at the next tick); ``name`` must land."""
        result: IntakeRunResult = await client.execute_workflow(
            "FileIntake",
            IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
            id=f"{schedule_id(feed.partner_id, feed.feed)}-demo-{self.tag}",
            task_queue=settings.task_queue_general,
            result_type=IntakeRunResult,
        )
        decision = next((d for d in result.decisions if d.remote_name == name), None)
        if decision is None:
            raise RuntimeError(f"{name} was not seen in {feed.sftp.inbox}")
        if decision.outcome != "landed":
            raise RuntimeError(f"{name} {decision.outcome}: {decision.reason}")
        return decision

    async def register(
        self, pool: asyncpg.Pool, client: Client, settings: Settings, feed: FeedConfig
    ) -> None:
        """Store the feed and its Schedule; its folders exist on the partner's side."""
        sftp = feed.sftp
        for folder in (sftp.inbox, sftp.archive, sftp.quarantine, sftp.outbox):
            partner_folder(self.server, folder)
        await register_feed(pool, client, settings, feed)

    def drop_for(self, feed: FeedConfig, day: date, ext: str, data: bytes) -> str:
        area = feed.sftp.archive.split("/", 1)[1]
        prefix = f"{feed.partner_id}_{feed.feed}_"
        name = f"{prefix}{day}_seq-{next_sequence(self.server, area, prefix):05d}.{ext}"
        drop(self.server, feed.sftp.inbox, name, data)
        return name

    # --- payouts -----------------------------------------------------------------------------

    async def payouts(self, client: Client, pool: asyncpg.Pool, settings: Settings) -> str:
        """Signed Stripe webhooks start a Payout; the PSP's report and the bank's camt.053
        arrive over SFTP; the payout reconciles."""
        import stripe  # the PSP's own SDK signs the demo's webhooks (a dev dependency)

        payout_id = f"po_demo{self.tag}"
        day = await unused_report_day(pool, DEMO_PSP)
        secret = split_secrets(self.env["INTEGRATIONS_WEBHOOK_SECRETS_STRIPE"])[0]
        arrival = int(datetime.combine(day, datetime.min.time(), UTC).timestamp())
        events = [
            stripe_event(
                "charge.succeeded",
                {
                    "id": f"ch_demo{self.tag}",
                    "object": "charge",
                    "amount": PAYOUT_TRANSACTIONS[0][1],
                    "currency": "usd",
                    "status": "succeeded",
                    "balance_transaction": balance_transaction_id(payout_id, "c1"),
                },
            ),
            stripe_event(
                "payout.paid",
                {
                    "id": payout_id,
                    "object": "payout",
                    "amount": payout_net(),
                    "currency": "usd",
                    "status": "paid",
                    "arrival_date": arrival,
                    "balance_transaction": f"txn_{payout_id}",
                },
            ),
        ]
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{API_PORT}", timeout=30) as http:
            for event in events:
                body = json.dumps(event)
                signature = stripe.WebhookSignature.generate_signature_header(body, secret)
                answer = await http.post(
                    "/webhooks/stripe",
                    content=body,
                    headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
                )
                answer.raise_for_status()
        handle = client.get_workflow_handle(_workflow_id("Payout", payout_id))

        async def state() -> PayoutState | None:
            found: PayoutState | None = await handle.query("state", result_type=PayoutState)
            return found

        started = await poll(state, lambda s: s.paid, 30)
        if started is None:
            raise RuntimeError(f"no Payout workflow {handle.id} after the webhooks")

        parts = psp_report(payout_id, day)
        order: tuple[ReportPart, ...] = ("payouts", "balance_transactions")
        for part in order:
            feed = demo_feed(
                self.server,
                DEMO_PSP,
                part.replace("_", "-"),
                area=DEMO_PSP,
                inbox=f"inbox/{DEMO_PSP}/{part.replace('_', '-')}",
                outbox=f"outbox/{DEMO_PSP}",
                file_contract="psp_report.v1",
                handoff="psp_report",
                report_part=part,
                extensions=("csv",),
                display_name=f"Stripe payout report: {part} (demo)",
            )
            await self.register(pool, client, settings, feed)
            name = self.drop_for(feed, day, "csv", parts[part])
            await self.intake(client, settings, feed, name)
        reconciled = await poll(state, lambda s: s.status != "awaiting_report", 30)
        if reconciled is None or reconciled.status != "awaiting_deposit":
            raise RuntimeError(f"after the report the payout is {reconciled}")

        statements = demo_feed(
            self.server,
            DEMO_BANK,
            "statements",
            area=DEMO_BANK,
            inbox=f"inbox/{DEMO_BANK}/statements",
            outbox=f"outbox/{DEMO_BANK}",
            file_contract="bank_statement.v1",
            handoff="bank_statement",
            extensions=("xml",),
            display_name="First Bank statements (demo)",
        )
        await self.register(pool, client, settings, statements)
        statement = camt053_statement(payout_id, payout_net(), day)
        name = self.drop_for(statements, day, "xml", statement)
        await self.intake(client, settings, statements, name)
        final = await poll(state, lambda s: s.status in ("reconciled", "exception"), 30)
        status = final.status if final is not None else "unknown"
        return (
            f"{handle.id} {status} (2 signed webhooks, PSP report of {day}, "
            f"camt.053 deposit of {payout_net() / 100:.2f} USD)"
        )

    # --- EDI ---------------------------------------------------------------------------------

    async def edi(self, client: Client, pool: asyncpg.Pool, settings: Settings) -> str:
        """The demo partner sends an 850 purchase order; it is landed and acknowledged with a
        997 in the partner's outbox."""
        feed = demo_feed(
            self.server,
            DEMO_PARTNER,
            "orders",
            area="edi",
            inbox="inbox/edi",
            outbox="outbox",
            file_contract="x12.v1",
            handoff="edi",
            extensions=("edi",),
            display_name="Acme Corp purchase orders, X12 850 (demo)",
        )
        await self.register(pool, client, settings, feed)
        control = int(time.time()) % 1_000_000_000  # a new interchange every run
        before = set(self.server.folder("outbox").iterdir())
        name = self.drop_for(feed, date.today(), "edi", purchase_order_850(control, datetime.now()))
        await self.intake(client, settings, feed, name)
        acks = sorted(
            p.name
            for p in set(self.server.folder("outbox").iterdir()) - before
            if p.name.startswith("997_")
        )
        if not acks:
            raise RuntimeError(f"{name} landed but no 997 reached the outbox")
        accepted = "AK9*A*" in (self.server.folder("outbox") / acks[0]).read_text()
        return (
            f"{name} -> landed; 997 {'accepted' if accepted else 'NOT accepted'} "
            f"in outbox/{acks[0]}"
        )

    # --- payroll -----------------------------------------------------------------------------

    async def payroll(self, client: Client, pool: asyncpg.Pool, settings: Settings) -> str:
        """A small run against the provider simulator, approved by a second person through the
        CLI; the direct-deposit file goes to the bank's outbox, PGP-encrypted to its key."""
        bank = self.bank_feed()
        await self.register(pool, client, settings, bank)
        company = f"acme-{self.tag}"
        landing = LandingZone(settings.landing_zone_dir).handed_over("hris", company)
        today = date.today()
        start = PayrollStart(
            company_id=company,
            period_start=today,
            period_end=today + timedelta(days=13),
            pay_date=today + timedelta(days=18),
            roster=land(landing, "roster.csv", payroll_roster().encode()),
            inputs=land(landing, "inputs.csv", payroll_inputs().encode()),
            submitted_by=PAYROLL_SUBMITTER,
            approvers=[PAYROLL_APPROVER, PAYROLL_SUBMITTER],
            bank=BankTarget(
                partner_id=bank.partner_id,
                feed=bank.feed,
                company_name="ACME PAYROLL",
                company_identification="1234567890",
                odfi_routing_number="091000019",
                immediate_destination="091000019",
                immediate_origin="021000021",
                destination_name="FIRST BANK",
                origin_name="ACME CORP",
            ),
            poll_initial_seconds=2,
            poll_max_seconds=10,
            file_task_queue=settings.task_queue_sftp,
        )
        handle = await client.start_workflow(
            "PayrollRun",
            start,
            id=run_workflow_id(start),
            task_queue=settings.task_queue_general,
            result_type=PayrollState,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )

        async def status() -> PayrollState | None:
            found: PayrollState = await handle.query("status", result_type=PayrollState)
            return found

        waiting = await poll(status, lambda s: s.status in PAYROLL_STOPS, 60)
        if waiting is None or waiting.status != "awaiting_approval":
            raise RuntimeError(f"{handle.id} stopped at {waiting and waiting.status}")
        # The second person approves through the CLI, as an operator would.
        approve = await asyncio.create_subprocess_exec(
            *self.stack.cli(
                "payroll",
                "approve",
                handle.id,
                "--actor",
                PAYROLL_APPROVER,
                "--reason",
                "demo: matches the budget",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **self.env},
        )
        out, err = await approve.communicate()
        if approve.returncode != 0:
            raise RuntimeError(f"payroll approve refused: {(out + err).decode().strip()}")
        final = await asyncio.wait_for(handle.result(), 60)
        delivered = sorted(
            p.name
            for p in partner_folder(self.server, f"outbox/{DEMO_BANK}").iterdir()
            if p.name.startswith(f"PAYROLL-{start.run_key}")
        )
        if delivered:
            self.payroll_file = partner_folder(self.server, f"outbox/{DEMO_BANK}") / delivered[0]
        net = final.reported.figures.get("net", 0) if final.reported else 0
        return (
            f"{handle.id} {final.status} ({final.employees} employees, net {net / 100:.2f} USD, "
            f"submitted by {PAYROLL_SUBMITTER}, approved by {final.decided_by}; "
            f"{', '.join(f'outbox/{DEMO_BANK}/{n}' for n in delivered) or 'no file delivered'})"
        )

    def bank_feed(self) -> FeedConfig:
        """The bank's ACH feed: our payroll files go to its outbox (PGP to its key), its return
        files arrive in its inbox."""
        return demo_feed(
            self.server,
            DEMO_BANK,
            "ach",
            area=DEMO_BANK,
            inbox=f"inbox/{DEMO_BANK}/returns",
            outbox=f"outbox/{DEMO_BANK}",
            file_contract="nacha.v1",
            handoff="ach_returns",
            extensions=("ach.pgp", "ach"),
            display_name="First Bank ACH: payroll out, returns in (demo)",
            pgp=PgpPolicy(signer_fingerprint=self.env["DEV_BANK_PGP_FINGERPRINT"]),
        )

    # --- ACH returns ---------------------------------------------------------------------------

    async def ach_return(self, client: Client, pool: asyncpg.Pool, settings: Settings) -> str:
        """The bank decrypts the payroll file with its key, cannot locate one employee's
        account and sends a return (R03) on its returns feed: an AchReturn case opens."""
        if self.payroll_file is None:
            raise RuntimeError("no payroll file was delivered to return an entry of")
        bank_keys = Keyring(self.stack.bank_gnupg)
        plain = self.stack.root / "bank-received" / self.payroll_file.name.removesuffix(".pgp")
        plain.parent.mkdir(mode=0o700, exist_ok=True)
        await asyncio.to_thread(
            bank_keys.decrypt_and_verify,
            self.payroll_file,
            plain,
            self.env["INTEGRATIONS_PAYROLL_PGP_SIGNER"],
        )
        outbound = plain.read_bytes()
        original = nacha.read(outbound).batches[0].entries[0].detail
        assert isinstance(original, nacha.EntryDetail)
        returns = plain.with_name(f"returns-{self.tag}.ach")
        returns.write_bytes(ach_return_file(outbound, 0, "R03", rdfi_trace_base="02100002"))
        # The feed pins the bank's key: its files come encrypted to us and signed by it.
        sealed = returns.with_name(returns.name + ".pgp")
        await asyncio.to_thread(
            bank_keys.encrypt_and_sign,
            returns,
            sealed,
            self.env["INTEGRATIONS_PAYROLL_PGP_SIGNER"],
            self.env["DEV_BANK_PGP_FINGERPRINT"],
        )
        bank = self.bank_feed()
        name = self.drop_for(bank, date.today(), "ach.pgp", sealed.read_bytes())
        await self.intake(client, settings, bank, name)
        handle = client.get_workflow_handle(ach_workflow_id(original.trace_number))

        async def case() -> ReturnCase | None:
            found: ReturnCase | None = await handle.query("case", result_type=ReturnCase)
            return found

        opened = await poll(case, lambda c: c.state != CaseState.OPEN, 30)
        state = opened.state.value if opened is not None else "not opened"
        return f"{name} -> landed; R03 opened {handle.id}: {state}"


def failure(exc: BaseException) -> str:
    """An exception and its causes on one line (a workflow's failure is in its cause)."""
    parts: list[str] = []
    current: BaseException | None = exc
    while current is not None and len(parts) < 4:
        parts.append(f"{type(current).__name__}: {current}")
        current = getattr(current, "cause", None) or current.__cause__
    return " <- ".join(parts)


PAYROLL_SUBMITTER = "hr:sam"
PAYROLL_APPROVER = "fin:ada"
PAYROLL_STOPS = frozenset(
    {"awaiting_approval", "invalid_input", "provider_failed", "exception", "rejected"}
)


def land(folder: Path, name: str, data: bytes) -> FileRef:
    """A file as intake lands it: write-once, named by its digest."""
    digest = digest_bytes(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}-{name}"
    if not path.exists():
        path.write_bytes(data)
    return FileRef(path=str(path), sha256=digest)


async def unused_report_day(pool: asyncpg.Pool, partner: str) -> date:
    """Today, or the latest earlier day without a report from ``partner``: a PSP report is one
    per day, so a second demo run the same day files its report under the day before."""
    used = {
        row["report_date"]
        for row in await pool.fetch(
            "SELECT DISTINCT report_date FROM psp_report_parts WHERE partner_id = $1", partner
        )
    }
    day = date.today()
    while day in used:
        day -= timedelta(days=1)
    return day


# --- supervision -------------------------------------------------------------------------------

STATE_FILE = "services.json"


@dataclass
class Service:
    """A supervised child: how to start it again, and what happened to it so far."""

    name: str
    args: list[str]
    env: dict[str, str]  # never written to the state file (it holds secrets)
    port: int | None
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    failures: int = 0  # consecutive quick exits: the backoff's exponent
    started_at: float = 0.0
    restart_at: float | None = None
    last_exit: int | None = None


@dataclass
class Supervisor:
    """Restarts children that exit, with exponential backoff, and records them for `dev status`.

    A child that ran for ``stable_seconds`` before exiting starts again after ``backoff_first``;
    each quick exit after that doubles the wait up to ``backoff_max``, so a worker that cannot
    reach PostgreSQL retries for as long as it takes without spinning. ``root/services.json``
    says, for each service, its pid, port, restarts and state.
    """

    root: Path
    say: Callable[[str], None] = print
    on_start: Callable[[str, subprocess.Popen[bytes]], None] | None = None
    backoff_first: float = 1.0
    backoff_max: float = 30.0
    stable_seconds: float = 60.0
    services: dict[str, Service] = field(default_factory=dict)

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    def _record_pid(self, name: str, pid: int) -> None:
        # pids/ is what `dev down` from another shell stops.
        (self.root / "pids").mkdir(parents=True, exist_ok=True)
        (self.root / "pids" / f"{name}.pid").write_text(str(pid))

    def _launch(self, service: Service) -> subprocess.Popen[bytes]:
        logs = self.root / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with (logs / f"{service.name}.log").open("ab") as log:
            proc = subprocess.Popen(
                service.args,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **service.env},
                start_new_session=True,
            )
        service.proc, service.started_at, service.restart_at = proc, time.monotonic(), None
        self._record_pid(service.name, proc.pid)
        if self.on_start is not None:
            self.on_start(service.name, proc)
        return proc

    def start(
        self, name: str, args: list[str], env: dict[str, str], port: int | None = None
    ) -> subprocess.Popen[bytes]:
        service = Service(name=name, args=list(args), env=dict(env), port=port)
        self.services[name] = service
        proc = self._launch(service)
        self.write_state()
        return proc

    def adopt(
        self, name: str, proc: subprocess.Popen[bytes], env: dict[str, str], port: int | None
    ) -> None:
        """Supervise a child started elsewhere (Temporal): restarts reuse its command line."""
        args = [str(a) for a in proc.args] if isinstance(proc.args, list) else [str(proc.args)]
        self.services[name] = Service(
            name=name, args=args, env=dict(env), port=port, proc=proc, started_at=time.monotonic()
        )
        self._record_pid(name, proc.pid)
        self.write_state()

    def check(self) -> None:
        """One pass: notice exits, restart the children whose backoff has run out."""
        now = time.monotonic()
        changed = False
        for service in self.services.values():
            proc = service.proc
            if service.restart_at is None and proc is not None and proc.poll() is not None:
                service.last_exit = proc.returncode
                ran = now - service.started_at
                service.failures = 1 if ran >= self.stable_seconds else service.failures + 1
                delay = min(self.backoff_first * 2 ** (service.failures - 1), self.backoff_max)
                service.restart_at = now + delay
                self.say(
                    f"{service.name} exited with {proc.returncode} after {ran:.1f}s; "
                    f"restarting in {delay:.1f}s (see logs/{service.name}.log)"
                )
                changed = True
            if service.restart_at is not None and now >= service.restart_at:
                proc = self._launch(service)
                service.restarts += 1
                self.say(f"{service.name} restarted (pid {proc.pid}, restart {service.restarts})")
                changed = True
        if changed:
            self.write_state()

    def run(self, stopped: Callable[[], bool], interval: float = 0.2) -> None:
        # `dev down` from another shell stops the supervisor first, so nothing restarts what
        # it stops next.
        pid_file = self.root / "pids" / "supervisor.pid"
        pid_file.parent.mkdir(parents=True, exist_ok=True)
        pid_file.write_text(str(os.getpid()))
        try:
            while not stopped():
                self.check()
                time.sleep(interval)
        finally:
            pid_file.unlink(missing_ok=True)

    def write_state(self) -> None:
        now = time.monotonic()
        services = []
        for s in self.services.values():
            restarting = s.restart_at is not None
            services.append(
                {
                    "name": s.name,
                    "pid": None if s.proc is None else s.proc.pid,
                    "port": s.port,
                    "restarts": s.restarts,
                    "state": "restarting" if restarting else "running",
                    "last_exit": s.last_exit,
                    "restart_in": round(max(0.0, (s.restart_at or now) - now), 1)
                    if restarting
                    else None,
                }
            )
        state = {
            "supervisor_pid": os.getpid(),
            "updated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "services": services,
        }
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(self.state_file)  # atomic: `dev status` never reads half a file

    def forget(self) -> None:
        self.services.clear()
        self.state_file.unlink(missing_ok=True)


def status_lines(root: Path) -> list[str]:
    """`dev status`: each supervised service with pid, port, restarts and whether it is alive."""
    state_file = root / STATE_FILE
    if not state_file.exists():
        raise FileNotFoundError(f"no {state_file}: no stack is running (integrations dev up)")
    state = json.loads(state_file.read_text())
    supervisor = int(state["supervisor_pid"])
    rows = [("service", "pid", "port", "restarts", "state")]
    for s in state["services"]:
        pid = s["pid"]
        alive = pid is not None and _alive(int(pid))
        shown = s["state"] if s["state"] == "restarting" or alive else "exited"
        if s["last_exit"] is not None and shown != "running":
            shown += f" (last exit {s['last_exit']})"
        port = "-" if s["port"] is None else str(s["port"])
        rows.append((s["name"], str(pid or "-"), port, str(s["restarts"]), shown))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    if _alive(supervisor):
        lines.append(f"supervisor pid {supervisor}, state of {state['updated_at']}")
    else:
        lines.append(
            f"supervisor (pid {supervisor}) is not running: nothing restarts exited services "
            f"(state of {state['updated_at']})"
        )
    return lines


DETACHED_OK = "\x00up"


def up_detached(root: Path, demo: bool, say: Callable[[str], None]) -> bool:
    """`dev up --detach`: a background process brings the stack up and stays to supervise it.

    This process relays its lines until the stack is up, then returns (True when up). The
    background one has its own session, writes ``logs/supervisor.log`` and is stopped by `dev
    down` (pids/supervisor.pid) before the children, so nothing it restarts outlives it.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the supervisor process (covered by tests/test_devstack.py)
        os.close(read_fd)
        _supervise_detached(root, demo, write_fd)
    os.close(write_fd)
    up = False
    with os.fdopen(read_fd) as lines:
        for line in lines:
            text = line.rstrip("\n")
            if text == DETACHED_OK:
                up = True
            elif text.startswith("error: "):
                print(text, file=sys.stderr)
            else:
                say(text)
    return up


def _supervise_detached(root: Path, demo: bool, write_fd: int) -> None:
    os.setsid()
    (root / "logs").mkdir(parents=True, exist_ok=True)
    log = (root / "logs" / "supervisor.log").open("a", buffering=1)
    # Nothing of ours may hold the caller's terminal or pipes open (a caller reading our
    # output to its end would wait for the whole stack's lifetime).
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(log.fileno(), 1)
    os.dup2(log.fileno(), 2)
    relay: list[Any] = [os.fdopen(write_fd, "w", buffering=1)]

    def say(line: str) -> None:
        log.write(f"{datetime.now(UTC):%H:%M:%S} {line}\n")
        for out in relay:
            with contextlib.suppress(OSError, ValueError):
                out.write(line + "\n")

    stack = DevStack(root, say=say)
    code = 0
    try:
        stack.up(demo=demo)
        with contextlib.suppress(OSError):
            relay[0].write(DETACHED_OK + "\n")
        relay.pop().close()
        stack.wait()
    except Exception as exc:
        say(f"error: {exc}")
        code = 1
    finally:
        for out in relay:
            with contextlib.suppress(OSError):
                out.close()
        stack.down()
        os._exit(code)
