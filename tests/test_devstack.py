"""The README's first command, end to end: `integrations dev up` brings up the real stack and
the demo; the Web UI's history is encrypted and readable only through the codec server;
`integrations dev down` stops everything. The domain demos (a Payout reconciled from signed
webhooks and SFTP files, an 850 answered with a 997, a PayrollRun approved and paid to the
bank, an ACH return opening a case) succeed, and succeed again on a second `dev up` over an
`.dev/env` written by an older version."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import httpx
import pytest

import nacha
from adapters.pgp import Keyring
from devstack.localstack.ports import port_open
from devstack.localstack.temporal import temporal_binary
from devstack.services import (
    API_PORT,
    CODEC_PORT,
    PAYROLL_SIM_PORT,
    PG_PORT,
    SFTP_PORT,
    TEMPORAL_PORT,
    UI_PORT,
    WORKER_METRICS_PORT,
)

PORTS = (TEMPORAL_PORT, UI_PORT, API_PORT, CODEC_PORT, PG_PORT, SFTP_PORT, PAYROLL_SIM_PORT)
# Settings added to .dev/env after its first version: an older file lacks them.
NEWER_SETTINGS = (
    "INTEGRATIONS_WEBHOOK_SECRETS_STRIPE",
    "INTEGRATIONS_PAYROLL_PROVIDER_URL",
    "INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_ID",
    "INTEGRATIONS_PAYROLL_PROVIDER_CLIENT_SECRET",
    "INTEGRATIONS_PAYROLL_WEBHOOK_SECRET",
    "INTEGRATIONS_PAYROLL_PGP_SIGNER",
    "DEV_BANK_PGP_FINGERPRINT",
)


def _run(cwd: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INTEGRATIONS_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", *args],
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
def test_dev_up_runs_the_demos_encrypted_and_again_after_dev_down(stack_dir: Path) -> None:
    up = _run(stack_dir, "dev", "up", "--detach")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "demo: workflow demo-welcome-" in up.stdout and "COMPLETED" in up.stdout
    assert f"http://localhost:{UI_PORT}" in up.stdout
    # The intake demo: a good file, its duplicate and a broken one, each with its outcome.
    outcomes = [
        line.split(" -> ")[1].split()[0]
        for line in up.stdout.splitlines()
        if line.startswith("intake: ")
    ]
    assert outcomes == ["landed", "duplicate", "quarantined"]
    jail = stack_dir / ".dev" / "sshd-acme" / "jail"

    def files(folder: str) -> list[str]:
        return sorted(p.name for p in (jail / folder).iterdir() if p.is_file())

    assert len(files("archive")) == 2
    assert len(files("quarantine")) == 1
    assert [n for n in files("outbox") if n.endswith(".errors.csv")] != []
    check_domain_demos(stack_dir, up.stdout, run=1)
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

    check_supervision(stack_dir)

    down = _run(stack_dir, "dev", "down")
    assert down.returncode == 0, down.stderr
    assert [p for p in PORTS if port_open(p)] == []
    assert list((stack_dir / ".dev" / "pids").glob("*.pid")) == []

    # An .dev/env from before the payouts and payroll demos: the new settings are added on the
    # next `dev up`, every existing one is kept (the cluster's passwords, the codec keys).
    env_file = stack_dir / ".dev" / "env"
    older = {k: v for k, v in secrets.items() if k not in NEWER_SETTINGS}
    env_file.write_text("".join(f"{k}={v}\n" for k, v in older.items()))
    again = _run(stack_dir, "dev", "up", "--detach")
    assert again.returncode == 0, again.stdout + again.stderr
    renewed = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
    assert {k: renewed[k] for k in older} == older
    assert set(NEWER_SETTINGS) <= set(renewed)
    # The demos run again, on new names: nothing of the first run is a duplicate.
    check_domain_demos(stack_dir, again.stdout, run=2)
    assert _run(stack_dir, "dev", "down").returncode == 0
    assert [p for p in PORTS if port_open(p)] == []


def _status_rows(stack_dir: Path) -> dict[str, list[str]]:
    status = _run(stack_dir, "dev", "status")
    assert status.returncode == 0, status.stderr
    return {line.split()[0]: line.split() for line in status.stdout.splitlines()[1:-1]}


def check_supervision(stack_dir: Path) -> None:
    """The detached stack's supervisor restarts a killed worker; `dev status` shows it."""
    rows = _status_rows(stack_dir)
    assert set(rows) >= {"temporal", "codec-server", "worker", "api", "payroll-sim"}
    assert rows["api"][1:] == [rows["api"][1], str(API_PORT), "0", "running"]
    worker_pid = int(rows["worker"][1])
    os.kill(worker_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (rows := _status_rows(stack_dir))["worker"][3] != "1":
        assert time.monotonic() < deadline, rows
        time.sleep(0.5)
    assert int(rows["worker"][1]) != worker_pid and rows["worker"][4] == "running"
    supervisor_log = (stack_dir / ".dev" / "logs" / "supervisor.log").read_text()
    assert "worker exited with -9" in supervisor_log
    assert f"worker restarted (pid {rows['worker'][1]}, restart 1)" in supervisor_log


def _line(stdout: str, prefix: str) -> str:
    found = [line for line in stdout.splitlines() if line.startswith(prefix)]
    assert len(found) == 1, stdout
    return found[0]


def check_domain_demos(stack_dir: Path, stdout: str, run: int) -> None:
    """Every domain demo printed its outcome, and the files it promises are where it says."""
    dev = stack_dir / ".dev"
    jail = dev / "sshd-acme" / "jail"
    settings = dict(line.split("=", 1) for line in (dev / "env").read_text().splitlines())
    assert (dev / "pids" / "payroll-sim.pid").exists()
    assert port_open(PAYROLL_SIM_PORT)

    # Payouts: two signed webhooks started the Payout; the report and the camt deposit, both
    # through SFTP feeds, reconciled it.
    payouts = _line(stdout, "payouts: ")
    assert " reconciled (2 signed webhooks" in payouts, payouts
    assert len(list((jail / "archive" / "stripe").iterdir())) == 2 * run
    assert len([p for p in (jail / "archive" / "firstbank").iterdir() if p.suffix == ".xml"]) == run

    # EDI: the 850 landed and its 997 (accepted) is in the partner's outbox.
    edi = _line(stdout, "edi: ")
    assert " -> landed; 997 accepted in outbox/997_" in edi, edi
    acks = sorted((jail / "outbox").glob("997_*"))
    assert len(acks) == run
    assert all("AK9*A*" in ack.read_text() for ack in acks)

    # Payroll: approved by a second person, paid through the bank's outbox, encrypted to the
    # bank's key and signed by ours; the bank reads a valid PPD file with every employee.
    payroll = _line(stdout, "payroll: ")
    assert " completed (5 employees" in payroll and "approved by fin:ada" in payroll, payroll
    delivered = sorted((jail / "outbox" / "firstbank").glob("PAYROLL-*.ach.pgp"))
    assert len(delivered) == run
    newest = next(p for p in delivered if p.name in payroll)
    plain = stack_dir / f"plain-{run}.ach"
    Keyring(dev / "gnupg-firstbank").decrypt_and_verify(
        newest, plain, settings["INTEGRATIONS_PAYROLL_PGP_SIGNER"]
    )
    ach = nacha.read(plain)
    assert not [p for p in nacha.validate(ach, strict=True) if p.severity == "error"]
    assert len(list(ach.entries())) == 5
    assert not newest.read_bytes().startswith(b"101")  # never a plain NACHA file on the wire

    # ACH: the bank returned one entry (R03, sealed to us); a case awaits corrected details.
    returned = _line(stdout, "ach: ")
    assert "R03 opened ach-return-" in returned and returned.endswith("awaiting_correction")


def test_demo_files_are_valid_for_their_contracts() -> None:
    """The demo's made-up files pass the same checks real ones do (fast, no stack needed)."""
    import edi
    from devstack.demo_data import (
        payout_net,
        payroll_inputs,
        payroll_roster,
        psp_report,
        purchase_order_850,
    )
    from payroll.roster import check_integrity, parse_inputs, parse_roster

    validation = edi.validate(purchase_order_850(42, datetime(2026, 11, 26, 9, 30)))
    assert validation.result.accepted
    assert [g.ack_code for g in validation.result.interchanges[0].groups] == ["A"]
    roster, roster_errors = parse_roster(payroll_roster())
    inputs, input_errors = parse_inputs(payroll_inputs())
    assert len(roster) == 5 and roster_errors == [] and input_errors == []
    assert check_integrity(roster, inputs) == []
    parts = psp_report("po_demo1", date(2026, 11, 26))
    assert parts["payouts"].decode().splitlines()[1].split(",")[1] == str(payout_net()) == "9150"
