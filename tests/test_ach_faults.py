"""A worker SIGKILLed between writing a re-presentment and uploading it: exactly one file."""

from __future__ import annotations

import asyncio
import signal
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from temporalio.client import Client

from ach_returns.state_machine import ApproveRepresentment, CaseState, ReturnCase
from adapters.payload_codec import KeyRing
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from stores.ach import ingest, workflow_id
from stores.feeds import register_feed
from tests.ach_support import bank_feed, bank_file, fresh_odfi, originate, write
from tests.plugins.services import spawn_worker, stop_processes
from tests.test_ach_returns import wait_for_state
from wire.ach import IngestRequest


@pytest.mark.slow
async def test_worker_killed_between_writing_and_uploading_sends_one_file(
    sshd_server: LocalSshd,
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    key_ring: KeyRing,
    tmp_path: Path,
) -> None:
    suffix = uuid.uuid4().hex[:8]
    own = settings.model_copy(
        update={
            "task_queue_general": f"achkill-general-{suffix}",
            "task_queue_sftp": f"achkill-sftp-{suffix}",
        }
    )
    feed = bank_feed(sshd_server, f"returns-{suffix[:6]}")
    await register_feed(pool, client, own, feed)
    odfi, outbound = await originate(pool, own, key_ring, feed, tmp_path, [2500])

    first, second = spawn_worker(own, "general", "sftp"), None
    try:
        await ingest(
            pool,
            client,
            own,
            IngestRequest(
                path=str(
                    write(
                        tmp_path,
                        "r01.ach",
                        bank_file(outbound, {0: "R01"}, rdfi_trace_base=fresh_odfi()),
                    )
                ),
                partner_id=feed.partner_id,
                bank_feed=feed.feed,
                received_on=date.today(),
            ),
        )
        handle = client.get_workflow_handle(workflow_id(f"{odfi}0000001"))
        await wait_for_state(handle, CaseState.REPRESENTMENT_PENDING)
        name = f"RETRY-{odfi}0000001-1.ach"
        written = own.landing_zone_dir / "outbound" / feed.partner_id / name
        approval = asyncio.create_task(
            handle.execute_update(
                "approve_representment",
                ApproveRepresentment(actor="ops:dee", reason="funds confirmed"),
                result_type=ReturnCase,
            )
        )
        for _ in range(3000):
            if written.exists():
                break
            await asyncio.sleep(0.01)
        assert written.exists(), "the re-presentment was never written"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        uploaded_before_restart = (sshd_server.folder("outbox") / name).exists()
        second = spawn_worker(own, "general", "sftp")
        case = await asyncio.wait_for(approval, timeout=240)
    finally:
        stop_processes(first, second)

    assert case.state == CaseState.REPRESENTED and case.representments == 1
    assert not uploaded_before_restart  # the kill fell between writing and uploading
    outbox = sorted(p.name for p in sshd_server.folder("outbox").iterdir())
    assert outbox == [name]  # one file, no leftover temporary upload
    assert (sshd_server.folder("outbox") / name).read_bytes() == written.read_bytes()
    rows = await pool.fetch(
        "SELECT trace_number, sha256 FROM ach_representments WHERE original_trace = $1",
        f"{odfi}0000001",
    )
    assert len(rows) == 1 and rows[0]["sha256"]
