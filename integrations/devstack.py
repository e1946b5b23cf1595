"""``integrations dev up``: the whole local stack as child processes of one command.

Temporal dev server (Web UI on :8233, state in ``.dev/temporal.db``), a project-owned PostgreSQL
15 cluster (``.dev/postgres``, port 55432), migrations, the workers, the codec server, the HTTP
API, then a demo that drives real workflows. Local secrets are generated once into
``.dev/env`` (mode 600) and never printed. Ctrl-C (or ``integrations dev down``) stops it all.
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
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import asyncpg
import httpx

from integrations.codec import KeyRing
from integrations.localstack.ports import port_open, wait_for_port
from integrations.localstack.postgres import LocalPostgres
from integrations.localstack.sshd import LocalSshd, make_client_key
from integrations.localstack.temporal import LocalTemporal
from integrations.migrations import migrate
from workflows.search_attributes import dev_server_flags

PG_PORT = 55432
TEMPORAL_PORT = 7233
UI_PORT = 8233
API_PORT = 8080
CODEC_PORT = 8081
WORKER_METRICS_PORT = 9464
TEMPORAL_METRICS_PORT = 9233
SFTP_PORT = 2222
DEMO_PARTNER = "acme"
DEMO_FEED = "customers"


@dataclass
class DevStack:
    root: Path
    say: Callable[[str], None] = print
    children: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    sshd: LocalSshd | None = None

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

    def ensure_env(self) -> dict[str, str]:
        """Generate local secrets once; later runs reuse them so histories stay decodable."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.env_file.exists():
            pairs = (
                line.split("=", 1) for line in self.env_file.read_text().splitlines() if "=" in line
            )
            return {k: v for k, v in pairs}
        keys_file = self.root / "codec-keys.json"
        keys_file.write_text(KeyRing.generate("dev-1").to_json())
        keys_file.chmod(0o600)
        owner_pw, app_pw = secrets.token_urlsafe(18), secrets.token_urlsafe(18)
        env = {
            "DEV_PG_OWNER_PASSWORD": owner_pw,
            "DEV_PG_APP_PASSWORD": app_pw,
            "INTEGRATIONS_TEMPORAL_ADDRESS": f"127.0.0.1:{TEMPORAL_PORT}",
            "INTEGRATIONS_CODEC_KEYS_FILE": str(keys_file.resolve()),
            "INTEGRATIONS_CODEC_SERVER_TOKEN": secrets.token_urlsafe(24),
            "INTEGRATIONS_CODEC_SERVER_PORT": str(CODEC_PORT),
            "INTEGRATIONS_CODEC_CORS_ORIGINS": f"http://localhost:{UI_PORT},"
            f"http://127.0.0.1:{UI_PORT}",
            "INTEGRATIONS_API_TOKEN": secrets.token_urlsafe(24),
            "INTEGRATIONS_API_PORT": str(API_PORT),
            "INTEGRATIONS_DATABASE_URL": f"postgresql://integrations_app:{app_pw}"
            f"@127.0.0.1:{PG_PORT}/integrations",
            "INTEGRATIONS_DATABASE_OWNER_URL": f"postgresql://integrations_owner:{owner_pw}"
            f"@127.0.0.1:{PG_PORT}/integrations",
            "INTEGRATIONS_LANDING_ZONE_DIR": str((self.root / "landing").resolve()),
            "INTEGRATIONS_METRICS_PORT": str(WORKER_METRICS_PORT),
            "INTEGRATIONS_SFTP_KEYS_DIR": str((self.root / "sftp-keys").resolve()),
            "INTEGRATIONS_GNUPG_HOME": str((self.root / "gnupg").resolve()),
            "INTEGRATIONS_PII_LOOKUP_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        self.env_file.chmod(0o600)
        return env

    # --- processes -----------------------------------------------------------------------

    def spawn(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.log").open("ab")
        proc = subprocess.Popen(
            args,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **env},
            start_new_session=True,
        )
        self.children.append((name, proc))
        (self.root / "pids").mkdir(exist_ok=True)
        (self.root / "pids" / f"{name}.pid").write_text(str(proc.pid))
        return proc

    def cli(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "integrations.cli", *args]

    def up(self, demo: bool = True) -> None:
        started = time.monotonic()
        env = self.ensure_env()
        os.environ.update(env)
        busy = [p for p in (TEMPORAL_PORT, UI_PORT, API_PORT, CODEC_PORT) if port_open(p)]
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
        self.children.append(("temporal", temporal.process))
        (self.root / "pids").mkdir(exist_ok=True)
        (self.root / "pids" / "temporal.pid").write_text(str(temporal.process.pid))

        self.say(f"sftp: starting sshd for demo partner {DEMO_PARTNER} on :{SFTP_PORT}")
        sftp = self.start_partner_sftp()

        self.spawn("codec-server", self.cli("codec-server"), env)
        self.spawn("worker", self.cli("worker", "--queue", "general", "--queue", "sftp"), env)
        self.spawn("api", self.cli("api"), env)
        wait_for_port(CODEC_PORT, 30)
        wait_for_port(API_PORT, 30)
        self.say(f"stack up in {time.monotonic() - started:.1f}s")

        if demo:
            self.run_demo(env)
            self.run_intake_demo(env, sftp)
        self.print_where(env)

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
                    f"  Worker metrics    http://127.0.0.1:{WORKER_METRICS_PORT}/metrics",
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
        while not stop:
            for name, proc in self.children:
                if proc.poll() is not None:
                    self.say(f"{name} exited with {proc.returncode}; see {self.logs}/{name}.log")
                    stop = True
            time.sleep(0.5)

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
        stop_recorded(self.root, self.say)
        if self.sshd is not None:
            self.sshd.close()
        if self.env_file.exists():
            self.postgres(self.ensure_env()).stop()
            self.say("stopped postgres")


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
    for pid_file in sorted(pids.glob("*.pid")):
        try:
            pid = int(pid_file.read_text())
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:  # not a group leader (sshd): signal the process itself
                os.kill(pid, signal.SIGTERM)
            for _ in range(70):
                if not _alive(pid):
                    raise ProcessLookupError
                time.sleep(0.2)
        except (ProcessLookupError, ValueError, PermissionError):
            pass
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
