"""Bank return files arriving over SFTP: intake checks them with the NACHA reader, lands them
and hands them to the ACH cases by reference; a malformed one is quarantined with a report.
The ops CLI reads and steers the same cases."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import date
from pathlib import Path

import asyncpg
from temporalio.client import Client

import nacha
from ach_returns.state_machine import CaseState
from adapters.payload_codec import KeyRing
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from stores.ach import workflow_id
from stores.feeds import register_feed
from tests.ach_support import bank_feed, bank_file, fresh_odfi, originate
from tests.plugins.services import settings_env
from tests.test_ach_returns import wait_for_state
from wire.intake import IntakeRequest, IntakeRunResult


async def test_return_file_over_sftp_opens_cases_and_a_broken_one_is_quarantined(
    sshd_server: LocalSshd,
    client: Client,
    workers: Settings,
    pool: asyncpg.Pool,
    key_ring: KeyRing,
    tmp_path: Path,
) -> None:
    feed = bank_feed(sshd_server, f"returns-{uuid.uuid4().hex[:6]}")
    await register_feed(pool, client, workers, feed)
    odfi, outbound = await originate(pool, workers, key_ring, feed, tmp_path, [1500, 2500])
    returns = bank_file(outbound, {1: "R01"}, rdfi_trace_base=fresh_odfi())
    # A file whose batch control miscounts its records: an error a partner must fix.
    lines = returns.split(b"\n")
    control = next(i for i, line in enumerate(lines) if line.startswith(b"8"))
    lines[control] = lines[control][:4] + b"000009" + lines[control][10:]
    broken = b"\n".join(lines)
    assert nacha.validate(nacha.read(broken), strict=False), "the corruption must be visible"
    good_name = f"firstbank_returns_{date.today():%Y-%m-%d}_seq-00001.ach"
    bad_name = f"firstbank_returns_{date.today():%Y-%m-%d}_seq-00002.ach"
    sshd_server.drop_file("inbox", good_name, returns)
    sshd_server.drop_file("inbox", bad_name, broken)

    result: IntakeRunResult = await client.execute_workflow(
        "FileIntake",
        IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
        id=f"intake-ach-{uuid.uuid4()}",
        task_queue=workers.task_queue_general,
        result_type=IntakeRunResult,
    )
    outcomes = {d.remote_name: d.outcome for d in result.decisions}
    assert outcomes == {good_name: "landed", bad_name: "quarantined"}
    report = (sshd_server.folder("outbox") / f"{bad_name}.errors.csv").read_text()
    assert "entry_addenda_count" in report
    case = await wait_for_state(
        client.get_workflow_handle(workflow_id(f"{odfi}0000002")), CaseState.REPRESENTMENT_PENDING
    )
    assert case.codes == ["R01"] and case.original is not None
    assert case.original.amount_cents == 2500

    # The ops CLI sees the same case, and refuses what the case cannot do.
    env = settings_env(workers)

    async def cli(*args: str) -> tuple[int, str, str]:
        # Asynchronously: the session's workers run on this event loop and must answer.
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli.main",
            "ach",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    code, out, err = await cli("show", f"{odfi}0000002")
    assert code == 0, err
    assert json.loads(out)["state"] == "representment_pending"
    code, out, err = await cli(
        "correct",
        f"{odfi}0000002",
        "--actor",
        "ops:eve",
        "--reason",
        "wrong case",
        "--routing",
        "091000019",
        "--account",
        "12345",
    )
    assert code == 1, err
    assert "refused" in err and "no correction is awaited" in err
    code, out, err = await cli("approve", f"{odfi}0000002", "--actor", "ops:eve", "--reason", "ok")
    assert code == 0, err
    assert out.strip() == f"{odfi}0000002: represented"
