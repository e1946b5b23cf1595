"""Temporal or PostgreSQL unreachable at start: bounded retry, then one clear error and exit 69
(EX_UNAVAILABLE, ``app/cli/exit_codes.py``)."""

from __future__ import annotations

import subprocess
import sys
import time

from app.cli.exit_codes import ExitCode
from devstack.localstack.ports import free_port
from runtime.settings import Settings
from tests.plugins.services import settings_env


def test_worker_gives_up_on_unreachable_temporal_with_a_clear_error(settings: Settings) -> None:
    env = settings_env(settings)
    dead = free_port()
    env["INTEGRATIONS_TEMPORAL_ADDRESS"] = f"127.0.0.1:{dead}"
    env["INTEGRATIONS_CONNECT_TIMEOUT_SECONDS"] = "3"
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "worker", "--queue", "general"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == ExitCode.UNAVAILABLE
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert f"Temporal at 127.0.0.1:{dead}" in result.stderr
    assert "unreachable after 3s" in result.stderr
    assert elapsed >= 3  # it retried for the whole window before giving up


def test_worker_gives_up_on_unreachable_postgres_without_leaking_the_password(
    settings: Settings,
) -> None:
    env = settings_env(settings)
    dead = free_port()
    env["INTEGRATIONS_DATABASE_URL"] = f"postgresql://integrations_app:hunter2@127.0.0.1:{dead}/x"
    env["INTEGRATIONS_CONNECT_TIMEOUT_SECONDS"] = "2"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "worker", "--queue", "general"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == ExitCode.UNAVAILABLE
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
    assert f"PostgreSQL at 127.0.0.1:{dead}/x unreachable after 2s" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_migrate_on_unreachable_postgres_is_exit_69(settings: Settings) -> None:
    env = settings_env(settings)
    dead = free_port()
    env["INTEGRATIONS_DATABASE_OWNER_URL"] = f"postgresql://owner:hunter2@127.0.0.1:{dead}/x"
    result = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == ExitCode.UNAVAILABLE
    assert result.stderr.startswith(f"error: cannot reach PostgreSQL at 127.0.0.1:{dead}/x")
    assert "; hint: " in result.stderr and result.stderr.count("\n") == 1
    assert "hunter2" not in result.stderr + result.stdout
