"""The README's first command, end to end: `integrations dev up` brings up the real stack and
the demo; the Web UI's history is encrypted and readable only through the codec server;
`integrations dev down` stops everything."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from integrations.devstack import (
    API_PORT,
    CODEC_PORT,
    PG_PORT,
    SFTP_PORT,
    TEMPORAL_PORT,
    UI_PORT,
    WORKER_METRICS_PORT,
)
from integrations.localstack.ports import port_open
from integrations.localstack.temporal import temporal_binary

PORTS = (TEMPORAL_PORT, UI_PORT, API_PORT, CODEC_PORT, PG_PORT, SFTP_PORT)


def _run(cwd: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTEGRATIONS_")}
    return subprocess.run(
        [sys.executable, "-m", "integrations.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def stack_dir() -> Iterator[Path]:
    busy = [p for p in PORTS if port_open(p)]
    if busy:
        pytest.skip(f"a local stack already uses ports {busy}")
    # The PostgreSQL cluster runs as `postgres`, which must be able to enter this folder.
    root = Path(tempfile.mkdtemp(prefix="integrations-devstack-"))
    root.chmod(0o755)
    yield root
    _run(root, "dev", "down")
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.slow
def test_dev_up_runs_the_demo_encrypted_and_dev_down_stops_it(stack_dir: Path) -> None:
    up = _run(stack_dir, "dev", "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "demo: workflow demo-welcome-" in up.stdout and "COMPLETED" in up.stdout
    assert f"http://localhost:{UI_PORT}" in up.stdout
    # The intake demo: a good file, its duplicate and a broken one, each with its outcome.
    outcomes = [
        line.split(" -> ")[1].split()[0] for line in up.stdout.splitlines() if " -> " in line
    ]
    assert outcomes == ["landed", "duplicate", "quarantined"]
    jail = stack_dir / ".dev" / "sshd-acme" / "jail"
    assert len(list((jail / "archive").iterdir())) == 2
    assert len(list((jail / "quarantine").iterdir())) == 1
    assert len(list((jail / "outbox").iterdir())) == 1
    metrics = httpx.get(f"http://127.0.0.1:{WORKER_METRICS_PORT}/metrics").text
    assert "intake_files_received{" in metrics and 'outcome="duplicate"' in metrics
    assert "temporal_activity_execution_latency" in metrics  # the SDK's own metrics too
    workflow_id = next(word for word in up.stdout.split() if word.startswith("demo-welcome-"))
    env_lines = (stack_dir / ".dev" / "env").read_text().splitlines()
    secrets = dict(line.split("=", 1) for line in env_lines)
    assert oct((stack_dir / ".dev" / "env").stat().st_mode & 0o777) == "0o600"
    for secret in ("INTEGRATIONS_API_TOKEN", "INTEGRATIONS_CODEC_SERVER_TOKEN"):
        assert secrets[secret] not in up.stdout + up.stderr

    temporal = temporal_binary()
    address = ["--address", f"127.0.0.1:{TEMPORAL_PORT}"]
    raw = subprocess.run(
        [temporal, "workflow", "show", "-w", workflow_id, "-o", "json", *address],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "123-45-6789" not in raw and "Ada Lovelace" not in raw
    assert json.loads(raw)["events"][0]["eventType"] == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"

    codec = ["--codec-endpoint", f"http://localhost:{CODEC_PORT}"]
    # Without the token the codec server refuses (the UI then shows the encrypted payload).
    denied = httpx.post(f"http://localhost:{CODEC_PORT}/decode", json={"payloads": []})
    assert denied.status_code == 401
    token = secrets["INTEGRATIONS_CODEC_SERVER_TOKEN"]
    decoded = subprocess.run(
        [
            temporal,
            "workflow",
            "result",
            "-w",
            workflow_id,
            *address,
            *codec,
            "--codec-auth",
            f"Bearer {token}",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "123-45-6789" in decoded.stdout

    down = _run(stack_dir, "dev", "down")
    assert down.returncode == 0, down.stderr
    assert [p for p in PORTS if port_open(p)] == []
