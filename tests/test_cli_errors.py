"""Every ``integrations`` command answers in one line, through a real subprocess against the
session's Temporal dev server and PostgreSQL: not found, already completed, refused, bad local
input and an unreachable service are one ``error: ...; hint: ...`` line with the documented exit
code (``app/cli/exit_codes.py``), never a traceback. ``workflow start`` checks keys and
conflicts as the HTTP API does; lists are tables with headers; a long wait shows on stderr."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import uuid
from pathlib import Path

from temporalio.client import Client
from temporalio.service import RPCError

from app.cli.exit_codes import ExitCode
from devstack.localstack.ports import free_port
from runtime.settings import Settings
from tests.plugins.services import settings_env
from wire.payouts import PayoutStart
from workflows.catalog import CATALOG, signal_model

REPO = Path(__file__).resolve().parents[1]
SSN = "123-45-678X"  # malformed on purpose: the error must name the field, never this value


async def cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app.cli.main",
        *args,
        env={**settings_env(settings), **(env or {})},
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def one_error_line(err: str, *, hint: bool = True) -> str:
    """The stderr of a failed command: exactly one ``error:`` line, a hint, no traceback."""
    lines = [line for line in err.splitlines() if not line.startswith(("waiting:", "done waiting"))]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err
    if hint:
        assert "; hint: " in lines[0], err
    return lines[0]


def demo_input(**overrides: object) -> str:
    return json.dumps(
        {"customer_name": "Ada", "ssn": "123-45-6789", "amount": "42.00", **overrides}
    )


async def test_not_found_is_one_line_and_exit_1(settings: Settings) -> None:
    code, _, err = await cli(settings, "feeds", "trigger", "acme/nope")
    assert code == ExitCode.REFUSED
    assert "not found: feed acme/nope (schedule intake-acme-nope)" in one_error_line(err)

    code, _, err = await cli(settings, "feeds", "pause", "acme/nope", "--reason", "x")
    assert code == ExitCode.REFUSED
    assert "not found" in one_error_line(err)

    trace = f"9{uuid.uuid4().int % 10**14:014d}"
    code, _, err = await cli(settings, "ach", "show", trace)
    assert code == ExitCode.REFUSED
    assert f"not found: ach-return-{trace}" in one_error_line(err)

    code, _, err = await cli(
        settings, "ach", "write-off", trace, "--actor", "ops:ann", "--reason", "gone"
    )
    assert code == ExitCode.REFUSED
    assert f"not found: ach-return-{trace}" in one_error_line(err)

    code, _, err = await cli(settings, "partners", "status", f"nobody-{uuid.uuid4().hex[:6]}")
    assert code == ExitCode.REFUSED
    assert "not found: partner-nobody-" in one_error_line(err)


async def test_a_closed_payout_answers_already_completed(
    client: Client, settings: Settings
) -> None:
    payout = f"po_{uuid.uuid4().hex[:10]}"
    handle = await client.start_workflow(
        "Payout",
        PayoutStart(payout_id=payout, provider="stripe"),
        id=f"payout-{payout}",
        task_queue=f"nobody-{uuid.uuid4().hex[:6]}",  # no worker: it stays as the test leaves it
    )
    await handle.terminate(reason="test: closed before the operator's decision")
    code, _, err = await cli(
        settings, "payouts", "resolve", payout, "--actor", "ops:fay", "--reason", "late"
    )
    assert code == ExitCode.REFUSED
    line = one_error_line(err)
    assert f"payout-{payout} has already completed" in line
    assert "temporal workflow describe" in line


async def test_bad_local_input_is_a_usage_error_or_no_such_file(settings: Settings) -> None:
    code, _, err = await cli(
        settings, "ach", "write-off", "091000010000001", "--actor", "", "--reason", "x"
    )
    assert code == ExitCode.USAGE
    assert "actor: String should have at least 1 character" in one_error_line(err)

    code, _, err = await cli(
        settings, "workflow", "start", "Demo", "--key", "k1", "--input", "@missing.json"
    )
    assert code == ExitCode.NO_INPUT
    assert "cannot read --input file missing.json" in one_error_line(err)

    code, _, err = await cli(
        settings, "feeds", "backfill", "acme/customers",
        "--start", "2026-11-02T00:00:00", "--end", "2026-11-01T00:00:00",
    )  # fmt: skip
    assert code == ExitCode.USAGE
    assert "--end 2026-11-01 00:00:00Z is not after --start 2026-11-02 00:00:00Z" in one_error_line(
        err
    )

    code, _, err = await cli(
        settings, "payouts", "statement", "po_1", str(REPO / "no-such-statement.xml")
    )
    assert code == ExitCode.NO_INPUT
    assert "no such file" in one_error_line(err)


async def test_workflow_start_checks_keys_fields_and_conflicts_as_the_api_does(
    client: Client, settings: Settings
) -> None:
    code, _, err = await cli(
        settings, "workflow", "start", "Demo", "--key", "order 42", "--input", demo_input()
    )
    assert code == ExitCode.USAGE
    assert "invalid --key 'order 42'" in one_error_line(err)

    # The failing field is named; its value (an SSN here) never is.
    code, out, err = await cli(
        settings, "workflow", "start", "Demo", "--key", "k", "--input", demo_input(ssn=SSN)
    )
    assert code == ExitCode.DATA_ERROR
    line = one_error_line(err)
    assert "invalid input for Demo" in line and "ssn: String should match pattern" in line
    assert SSN not in err + out
    code, _, err = await cli(
        settings, "workflow", "start", "Demo", "--key", "k", "--input", '{"ssn": "x"}'
    )
    assert code == ExitCode.DATA_ERROR
    assert "customer_name: Field required" in one_error_line(err)

    key = f"cli-{uuid.uuid4().hex[:8]}"
    code, out, err = await cli(
        settings, "workflow", "start", "Demo", "--key", key, "--input", demo_input()
    )
    assert code == ExitCode.OK, err
    assert f"started demo-{key}" in out
    code, out, err = await cli(
        settings, "workflow", "start", "Demo", "--key", key, "--input", demo_input()
    )
    assert code == ExitCode.OK, err
    assert f"already started: demo-{key}" in out
    code, out, err = await cli(
        settings, "workflow", "start", "Demo", "--key", key, "--input", demo_input(amount="43.00")
    )
    assert code == ExitCode.REFUSED
    assert f"demo-{key} was already started with another input" in one_error_line(err)
    # Cleanup only: a worker another test left polling the same queue may have finished it.
    with contextlib.suppress(RPCError):
        await client.get_workflow_handle(f"demo-{key}").terminate(reason="test done")


async def test_an_unreachable_service_is_exit_69_with_a_progress_line(settings: Settings) -> None:
    dead = {
        "INTEGRATIONS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
        "INTEGRATIONS_CONNECT_TIMEOUT_SECONDS": "3",
    }
    code, _, err = await cli(settings, "ach", "show", "091000010000001", env=dead)
    assert code == ExitCode.UNAVAILABLE
    assert "unreachable after 3s" in one_error_line(err)
    assert "waiting: connecting to Temporal at 127.0.0.1:" in err  # the wait was not silent

    dead_pg = {"INTEGRATIONS_DATABASE_URL": f"postgresql://u:pw@127.0.0.1:{free_port()}/x"}
    code, _, err = await cli(
        settings, "feeds", "list", env={**dead_pg, "INTEGRATIONS_CONNECT_TIMEOUT_SECONDS": "1"}
    )
    assert code == ExitCode.UNAVAILABLE
    assert "PostgreSQL at 127.0.0.1" in one_error_line(err)
    assert ":pw@" not in err


async def test_feeds_list_is_a_table_and_a_paused_feed_has_no_next_run(
    settings: Settings, tmp_path: Path
) -> None:
    feed = f"c{uuid.uuid4().hex[:6]}"
    text = (REPO / "feeds" / "example_acme_customers.toml").read_text()
    feed_file = tmp_path / "feed.toml"
    feed_file.write_text(text.replace('feed = "customers"', f'feed = "{feed}"'))
    code, _, err = await cli(settings, "feeds", "create", str(feed_file))
    assert code == ExitCode.OK, err
    code, _, err = await cli(settings, "feeds", "pause", f"acme/{feed}", "--reason", "test")
    assert code == ExitCode.OK, err

    code, out, err = await cli(settings, "feeds", "list")
    assert code == ExitCode.OK, err
    header = out.splitlines()[0].split()
    assert header[:3] == ["feed", "status", "schedule"]
    row = next(line for line in out.splitlines() if f"acme/{feed}" in line)
    assert row.split()[1:3] == ["paused", "paused"]
    assert row.rstrip().endswith("-")  # no next run for a paused feed
    assert not re.search(r"\d{2}:\d{2}:\d{2}\.\d", out)  # no microseconds

    code, out, err = await cli(settings, "workflow", "types")
    assert code == ExitCode.OK, err
    assert out.splitlines()[0].split()[:3] == ["type", "queue", "id"]


async def test_a_long_wait_shows_on_stderr(workers: Settings) -> None:
    key = f"wait-{uuid.uuid4().hex[:8]}"
    code, out, err = await cli(
        workers, "workflow", "start", "Demo", "--key", key, "--input",
        demo_input(work_seconds=3), "--wait",
    )  # fmt: skip
    assert code == ExitCode.OK, err
    assert f"waiting: waiting for demo-{key} to finish" in err
    assert json.loads(out[out.index("{") :])


def test_every_signal_has_a_wire_model_to_validate_against() -> None:
    """The edge check (``signal_workflow``) covers every signal a catalog workflow has."""
    from temporalio import workflow

    for spec in CATALOG.values():
        definition = workflow._Definition.must_from_class(spec.workflow)
        for name in definition.signals:
            if name is None:
                continue
            assert signal_model(spec.name, name) is not None, (spec.name, name)
    assert signal_model("Payout", "no_such_signal") is None
