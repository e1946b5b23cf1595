"""`dev up` supervises its children: a child that exits is started again with exponential
backoff and a line in the terminal, and `integrations dev status` shows each service's pid,
port and restarts from the state file the supervisor writes under .dev/."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.localstack.ports import free_port, wait_for_port
from devstack.supervisor import Supervisor, _alive, stop_recorded


def _until(check: Callable[[], bool], within: float = 20) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _status(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", "dev", "status"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Supervisor, list[str], int]]:
    said: list[str] = []
    supervisor = Supervisor(tmp_path / ".dev", say=said.append, backoff_first=0.3)
    port = free_port()
    # A tiny real service: an HTTP server on a port, as the API or the codec server would be.
    args = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    supervisor.start("tiny", args, {"PYTHONUNBUFFERED": "1"}, port)
    stop = threading.Event()
    thread = threading.Thread(target=supervisor.run, args=(stop.is_set,), kwargs={"interval": 0.05})
    thread.start()
    try:
        yield supervisor, said, port
    finally:
        stop.set()
        thread.join()
        for service in supervisor.services.values():
            if service.proc is not None and service.proc.poll() is None:
                service.proc.kill()
                service.proc.wait()


def test_a_killed_child_is_restarted_with_backoff_and_reported(
    running: tuple[Supervisor, list[str], int], tmp_path: Path
) -> None:
    supervisor, said, port = running
    wait_for_port(port, 20)
    first = supervisor.services["tiny"].proc
    assert first is not None

    status = _status(tmp_path)
    assert status.returncode == 0, status.stderr
    header, row = status.stdout.splitlines()[:2]
    assert header.split() == ["service", "pid", "port", "restarts", "state"]
    assert row.split() == ["tiny", str(first.pid), str(port), "0", "running"]

    killed_at = time.monotonic()
    os.kill(first.pid, signal.SIGKILL)
    _until(lambda: supervisor.services["tiny"].restarts == 1)
    first_delay = time.monotonic() - killed_at
    second = supervisor.services["tiny"].proc
    assert second is not None and second.pid != first.pid
    assert not _alive(first.pid) and _alive(second.pid)
    wait_for_port(port, 20)
    assert httpx.get(f"http://127.0.0.1:{port}/").status_code == 200  # serving again
    assert any(line.startswith("tiny exited with -9") for line in said), said
    assert any(f"tiny restarted (pid {second.pid}, restart 1)" in line for line in said), said
    assert (tmp_path / ".dev" / "pids" / "tiny.pid").read_text() == str(second.pid)

    status = _status(tmp_path)
    assert status.returncode == 0, status.stderr
    row = status.stdout.splitlines()[1]
    assert row.split() == ["tiny", str(second.pid), str(port), "1", "running"]
    assert f"supervisor pid {os.getpid()}" in status.stdout

    # A second quick exit waits twice as long (0.3 s, then 0.6 s).
    killed_at = time.monotonic()
    os.kill(second.pid, signal.SIGKILL)
    _until(lambda: supervisor.services["tiny"].restarts == 2)
    second_delay = time.monotonic() - killed_at
    assert second_delay >= 0.6 > first_delay >= 0.3
    assert any("restarting in 0.6s" in line for line in said), said


def test_dev_down_stops_the_supervisor_before_its_children(
    running: tuple[Supervisor, list[str], int], tmp_path: Path
) -> None:
    supervisor, said, port = running
    wait_for_port(port, 20)
    root = tmp_path / ".dev"
    _until(lambda: (root / "pids" / "supervisor.pid").exists())
    # stop_recorded never signals its own process (here the supervisor runs in this test).
    stop_recorded(root, said.append)
    proc = supervisor.services["tiny"].proc
    assert proc is not None and proc.wait(timeout=20) is not None


def test_dev_status_without_a_stack_is_one_line(tmp_path: Path) -> None:
    status = _status(tmp_path)
    assert status.returncode == 1
    assert status.stderr.strip().startswith("error: no ")
    assert status.stderr.count("\n") == 1 and status.stdout == ""
