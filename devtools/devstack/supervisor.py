"""The supervisor of ``integrations dev up``: it restarts children that exit (with backoff),
records them for ``dev status`` and ``dev down`` from another shell, and stops them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

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
