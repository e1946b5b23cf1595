"""Every ``temporal workflow …`` and ``temporal schedule …`` example in README.md and docs/*.md
works as printed: extracted from the Markdown, its placeholder ids replaced by the ids of
workflows this test starts, run by ``bash`` with the environment the README tells an operator to
export (``TEMPORAL_CODEC_ENDPOINT``, ``TEMPORAL_CODEC_AUTH``) against the Temporal dev server, the
real ``integrations codec-server`` and in-process workers. A non-zero exit fails the test —
as ``temporal workflow update execute … write_off`` did when the examples lacked the codec and
printed an error after the update had gone through."""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import asyncpg
import httpx
from temporalio.client import Client

from ach_returns.state_machine import CaseState
from adapters.payload_codec import KeyRing
from devstack.localstack.ports import free_port
from devstack.localstack.sshd import LocalSshd
from devstack.localstack.temporal import temporal_binary
from runtime.settings import Settings
from stores.ach import ingest
from stores.ach import workflow_id as ach_workflow_id
from stores.feeds import register_feed
from tests.ach_support import bank_feed, bank_file, fresh_odfi, originate, write
from tests.payroll_support import (
    inputs_csv,
    land,
    payroll_bank_feed,
    payroll_stack,
    roster_csv,
    start_input,
)
from tests.plugins.gpg import GpgKeys
from tests.plugins.services import settings_env
from tests.test_ach_returns import wait_for_state
from tests.test_payroll_workflow import wait_status
from wire.ach import IngestRequest
from wire.demo import DemoInput
from wire.payroll import PayrollState, run_workflow_id

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]  # not docs/runbooks/
EXAMPLE = re.compile(r"^temporal (workflow|schedule) ")


def documented_examples() -> Iterator[tuple[str, str]]:
    """``(where, command)`` for each ``temporal workflow|schedule`` line of a ``bash`` block,
    with its backslash continuations joined."""
    for document in DOCUMENTS:
        in_bash = False
        pending = ""
        for number, line in enumerate(document.read_text().splitlines(), 1):
            if line.startswith("```"):
                in_bash = line.strip() == "```bash"
                continue
            if not in_bash:
                continue
            pending += line.rstrip()
            if pending.endswith("\\"):
                pending = pending[:-1] + " "
                continue
            command, pending = pending.strip(), ""
            if EXAMPLE.match(command):
                yield f"{document.relative_to(REPO)}:{number}", command


def test_the_documents_have_examples_and_each_names_the_codec_or_relies_on_the_export() -> None:
    examples = list(documented_examples())
    assert len(examples) >= 10, examples
    readme = (REPO / "README.md").read_text()
    assert readme.count("export TEMPORAL_CODEC_ENDPOINT=") == 1
    assert 'TEMPORAL_CODEC_AUTH="Bearer $INTEGRATIONS_CODEC_SERVER_TOKEN"' in readme


async def test_every_documented_temporal_example_exits_0(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    key_ring: KeyRing,
    gpg_keys: GpgKeys,
    sshd_server: LocalSshd,
    tmp_path: Path,
) -> None:
    async with payroll_stack(client, settings, gpg_keys, pool=pool) as stack:
        own = stack.settings
        queue = own.task_queue_general

        # A Demo run that has finished (query and result examples).
        demo_done = f"demo-docs-{uuid.uuid4().hex[:8]}"
        demo = DemoInput.model_validate(
            {"customer_name": "Ada", "ssn": "123-45-6789", "amount": "42.00"}
        )
        await client.execute_workflow("Demo", demo, id=demo_done, task_queue=queue)

        # An ACH return case awaiting corrected details (R03): write_off applies to it.
        ach = bank_feed(sshd_server, f"returns-{uuid.uuid4().hex[:6]}")
        await register_feed(pool, client, own, ach)
        odfi, outbound = await originate(pool, own, key_ring, ach, tmp_path, [5000])
        returns = bank_file(outbound, {0: "R03"}, rdfi_trace_base=fresh_odfi())
        request = IngestRequest(
            path=str(write(tmp_path, "returns.ach", returns)),
            partner_id=ach.partner_id,
            bank_feed=ach.feed,
            received_on=date.today(),
        )
        await ingest(pool, client, own, request)
        case_id = ach_workflow_id(f"{odfi}0000001")
        await wait_for_state(client.get_workflow_handle(case_id), CaseState.AWAITING_CORRECTION)

        # A payroll run document (run.json in the working folder, as the guide has it).
        bank = await payroll_bank_feed(pool, client, own, sshd_server, gpg_keys)
        lz = own.landing_zone_dir / "hris" / uuid.uuid4().hex[:8]
        run = start_input(
            bank, own, land(lz, "r.csv", roster_csv(3)), land(lz, "i.csv", inputs_csv(3))
        )
        (tmp_path / "run.json").write_text(run.model_dump_json())
        payroll_id = run_workflow_id(run)

        isa13 = f"{uuid.uuid4().int % 10**9:09d}"
        substitutions = {
            "integrations-general": queue,
            "demo-order-42": demo_done,
            "demo-order-44": f"demo-docs-{uuid.uuid4().hex[:8]}",
            "ach-return-091000010000001": case_id,
            "intake-acme-customers": ach.schedule_id,
            "payroll-acme-2026-11-01": payroll_id,
            "000000042": isa13,
        }

        async def before(command: str) -> None:
            """What an operator would have waited for before typing the command."""
            if payroll_id in command and "update execute" in command:
                payroll = client.get_workflow_handle(payroll_id, result_type=PayrollState)
                await wait_status(payroll, "awaiting_approval")

        async with codec_server(own) as codec_url:
            env = {
                **os.environ,
                "PATH": f"{Path(temporal_binary()).parent}:{os.environ['PATH']}",
                "TEMPORAL_ADDRESS": own.temporal_address,
                "TEMPORAL_NAMESPACE": own.temporal_namespace,
                "INTEGRATIONS_CODEC_SERVER_TOKEN": own.require("codec_server_token"),
            }
            # The README's export line, exactly as printed, with the local endpoint.
            export = next(
                line
                for line in (REPO / "README.md").read_text().splitlines()
                if line.startswith("export TEMPORAL_CODEC_ENDPOINT=")
            ).replace("http://localhost:8081", codec_url)
            ran = []
            for where, documented in documented_examples():
                command = documented
                for placeholder, real in substitutions.items():
                    command = command.replace(placeholder, real)
                await before(command)
                code, out, err = await bash(f"{export}\n{command}", env, tmp_path)
                assert code == 0, f"{where}: {documented}\n{out}\n{err}"
                assert "Error" not in err, f"{where}: {documented}\n{err}"
                # Queries and results are shown decoded, not as sealed payloads.
                assert "binary/encrypted" not in out, f"{where}: {documented}\n{out}"
                ran.append(where)
            assert len(ran) >= 10

        # The temporal CLI encrypted what it sent: the started Demo's input is sealed.
        history = await client.get_workflow_handle(substitutions["demo-order-44"]).fetch_history()
        started = history.events[0].workflow_execution_started_event_attributes
        assert started.input.payloads[0].metadata["encoding"] == b"binary/encrypted"
        assert b"123-45-6789" not in started.input.payloads[0].data
        # And the documented write_off went through.
        case = client.get_workflow_handle(case_id)
        await wait_for_state(case, CaseState.WRITTEN_OFF)


async def bash(script: str, env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-euc",
        script,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


class codec_server:
    """``integrations codec-server`` as a real process on a free loopback port."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.env = {
            **settings_env(settings),
            "INTEGRATIONS_CODEC_SERVER_HOST": "127.0.0.1",
            "INTEGRATIONS_CODEC_SERVER_PORT": str(self.port),
        }
        self.process: subprocess.Popen[bytes] | None = None

    async def __aenter__(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli.main", "codec-server"],
            env=self.env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{self.port}"
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                try:
                    await http.options(f"{url}/decode")
                    return url
                except httpx.TransportError:
                    assert self.process.poll() is None, "the codec server exited"
                    await asyncio.sleep(0.1)
        raise AssertionError("the codec server did not start")

    async def __aexit__(self, *_: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def test_the_extractor_joins_continuations_and_keeps_quotes() -> None:
    update = next(c for _, c in documented_examples() if "update execute" in c and "write_off" in c)
    assert shlex.split(update)[-2:] == ["--input", '{"actor":"ops:ann","reason":"settled offline"}']
