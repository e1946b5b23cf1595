"""A private PostgreSQL 15 cluster owned by the project (Debian's binaries, run as ``postgres``).

``initdb`` and ``postgres`` refuse to run as root, so when we are root the cluster's folder is
handed to the ``postgres`` OS user and every server command runs through ``runuser``.

Two roles are created: ``integrations_owner`` owns the schema and runs migrations;
``integrations_app`` is what the service connects as, with DML rights only.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from devstack.localstack.ports import port_open

PG_BIN = Path(os.environ.get("INTEGRATIONS_PG_BIN", "/usr/lib/postgresql/15/bin"))
OWNER_ROLE = "integrations_owner"
APP_ROLE = "integrations_app"
_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _as_postgres(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class LocalPostgres:
    """A cluster in ``root`` listening on 127.0.0.1:``port`` (socket dir inside ``root``)."""

    root: Path
    port: int
    database: str = "integrations"
    owner_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    app_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))

    def __post_init__(self) -> None:
        # The server runs as another user from another cwd: every path must be absolute.
        self.root = self.root.resolve()

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def dsn(self, role: str, password: str, database: str | None = None) -> str:
        return f"postgresql://{role}:{password}@127.0.0.1:{self.port}/{database or self.database}"

    @property
    def owner_dsn(self) -> str:
        return self.dsn(OWNER_ROLE, self.owner_password)

    @property
    def app_dsn(self) -> str:
        return self.dsn(APP_ROLE, self.app_password)

    def _chown(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            for path in self.root.rglob("*"):
                shutil.chown(path, "postgres", "postgres")

    def init(self) -> bool:
        """Create the cluster if it does not exist. Returns True when it was created."""
        self.root.mkdir(parents=True, exist_ok=True)
        if (self.data_dir / "PG_VERSION").exists():
            return False
        self._chown()
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    "postgres",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            capture_output=True,
        )
        # Only loopback; the socket lives in the cluster folder so clusters never collide.
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '127.0.0.1'\nport = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\nfsync = on\n"
            )
        return True

    def is_running(self) -> bool:
        return port_open(self.port)

    def start(self, timeout: float = 30.0) -> None:
        if self.is_running():
            return
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(int(timeout)),
                    "start",
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "stop"]),
            check=False,
            capture_output=True,
        )

    def kill(self) -> None:
        """SIGKILL the postmaster (fault tests): in-flight connections die, recovery on start."""
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while self.is_running() and time.monotonic() < deadline:
                time.sleep(0.05)

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "psql"),
                    "-h",
                    str(self.root),
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-d",
                    database,
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-qAt",
                    "-c",
                    sql,
                ]
            ),
            check=True,
            capture_output=True,
            text=True,
        )
        return out.stdout

    def bootstrap(self) -> None:
        """Create the two roles and the database (idempotent); set their passwords."""
        # Identifiers are constants and passwords are url-safe tokens: checked, then inlined.
        for value in (self.database, self.owner_password, self.app_password):
            if not _SAFE.match(value):
                raise ValueError("database names and passwords must be url-safe tokens")
        for role, password in ((OWNER_ROLE, self.owner_password), (APP_ROLE, self.app_password)):
            exists = self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{role}'").strip()  # noqa: S608
            verb = "ALTER" if exists else "CREATE"
            self.psql(f"{verb} ROLE {role} LOGIN PASSWORD '{password}'")
        query = f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"  # noqa: S608
        if not self.psql(query).strip():
            self.psql(f"CREATE DATABASE {self.database} OWNER {OWNER_ROLE}")
        # PostgreSQL 15 no longer lets PUBLIC create in schema public; the owner needs to.
        self.psql(f"ALTER SCHEMA public OWNER TO {OWNER_ROLE}", database=self.database)
        self.psql(f"GRANT CONNECT ON DATABASE {self.database} TO {APP_ROLE}")
        self.psql(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}", database=self.database)

    def create_database(self, name: str) -> str:
        """A fresh database owned by the owner role (one per test session); returns its name."""
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.psql(f"CREATE DATABASE {name} OWNER {OWNER_ROLE}")
        self.psql(f"ALTER SCHEMA public OWNER TO {OWNER_ROLE}", database=name)
        self.psql(f"GRANT CONNECT ON DATABASE {name} TO {APP_ROLE}")
        self.psql(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}", database=name)
        return name
