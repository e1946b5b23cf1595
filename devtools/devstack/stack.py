"""``integrations dev up``: the whole local stack as child processes of one command.

Temporal dev server (Web UI on :8233, state in ``.dev/temporal.db``), a project-owned PostgreSQL
15 cluster (``.dev/postgres``, port 55432), migrations, the workers, the codec server, the HTTP
API, the payroll provider simulator (:8090), a demo partner sshd (:2222), then a demo that
drives real workflows: Demo, FileIntake, Payout, the EDI handoff, PayrollRun and AchReturn
(docs/dev-stack.md). Local secrets are generated once into ``.dev/env`` (mode 600) and never
printed; settings added later are appended to an older file. Ctrl-C (or ``integrations dev
down``) stops it all.

The rest lives by concern beside this module: ``services`` (ports, command lines),
``local_env`` (``.dev/env`` and its keys), ``supervisor`` (restarts, ``dev status``, ``dev
down`` from another shell) and ``demo/`` (one module per domain's demo).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack import local_env
from devstack.demo.customer_intake import run_intake_demo
from devstack.demo.domains import run_domain_demos
from devstack.demo.welcome import run_welcome_demo
from devstack.localstack.ports import port_open, wait_for_port
from devstack.localstack.postgres import LocalPostgres
from devstack.localstack.sshd import LocalSshd, make_client_key
from devstack.localstack.temporal import LocalTemporal
from devstack.services import (
    API_PORT,
    CODEC_PORT,
    DEMO_PARTNER,
    PAYROLL_SIM_PORT,
    PG_PORT,
    SFTP_PORT,
    TEMPORAL_METRICS_PORT,
    TEMPORAL_PORT,
    UI_PORT,
    WORKER_APP_METRICS_PORT,
    WORKER_METRICS_PORT,
    cli,
    payroll_sim_args,
    provider_sim_env,
)
from devstack.supervisor import Supervisor, stop_recorded
from stores.migrations import migrate
from wire.search_attributes import dev_server_flags


@dataclass
class DevStack:
    """The local stack under ``root`` (``.dev``): brings it up, waits, and takes it down."""

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
        return local_env.env_file(self.root)

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

    # --- processes -----------------------------------------------------------------------

    def spawn(
        self, name: str, args: list[str], env: dict[str, str], port: int | None = None
    ) -> subprocess.Popen[bytes]:
        return self.supervisor.start(name, args, env, port)

    def up(self, demo: bool = True) -> None:
        started = time.monotonic()
        env = local_env.ensure_env(self.root)
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

        self.spawn("codec-server", cli("codec-server"), env, CODEC_PORT)
        worker = cli("worker", "--queue", "general", "--queue", "sftp")
        self.spawn("worker", worker, env, WORKER_METRICS_PORT)
        self.spawn("api", cli("api"), env, API_PORT)
        self.say(f"payroll-sim: starting the provider simulator on :{PAYROLL_SIM_PORT}")
        sim_env = {**env, **provider_sim_env(env)}
        self.spawn("payroll-sim", payroll_sim_args(), sim_env, PAYROLL_SIM_PORT)
        wait_for_port(CODEC_PORT, 30)
        wait_for_port(API_PORT, 30)
        wait_for_port(PAYROLL_SIM_PORT, 30)
        self.say(f"stack up in {time.monotonic() - started:.1f}s")

        if demo:
            run_welcome_demo(env, self.say)
            run_intake_demo(self.root, env, sftp, self.say)
            demos_started = time.monotonic()
            asyncio.run(run_domain_demos(self.root, self.say, env, sftp))
            self.say(f"domain demos done in {time.monotonic() - demos_started:.1f}s")
        self.print_where(env)

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
            self.postgres(local_env.read_env(self.root)).stop()
            self.say("stopped postgres")
        # gpg-agents that the workers and the demo's key generation started for .dev homes.
        for home in (self.root / "gnupg", local_env.bank_gnupg(self.root)):
            if home.exists():
                subprocess.run(
                    ["gpgconf", "--homedir", str(home), "--kill", "gpg-agent"],
                    capture_output=True,
                    check=False,
                )


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
