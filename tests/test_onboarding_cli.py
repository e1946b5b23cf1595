"""``integrations partners`` against a running onboarding, on real components (Temporal dev
server, PostgreSQL, OpenSSH sshd). The CLI runs as a subprocess (asyncio's, so the in-process
workers keep the event loop): onboard, test-file, status, approve (the same person twice is
refused, exit 1), contract-change, offboard; two concurrent approvals by one person (the
validator refuses one, nothing lands in history); answered test files filed by rename; and a
partner onboarded again after offboarding gets fresh audit rows and a fresh key."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path

import asyncpg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError

from devstack.localstack.sshd import LocalSshd
from onboarding.approvals import ApprovalKind
from onboarding.stages import Stage
from runtime.settings import Settings
from stores import partners
from tests.intake_support import customer_rows, customers_csv, name_for
from tests.onboarding_support import (
    definition_data,
    drop_test_file,
    own_settings,
    partner_test_folder,
    running_workers,
    wait_for,
)
from tests.plugins.services import settings_env
from tests.replay import record_history
from wire.partners import ApprovalRequest, Checklist, OnboardingState

REPO = Path(__file__).resolve().parents[1]


async def _accepted_updates(handle: WorkflowHandle[object, object]) -> int:
    history = await handle.fetch_history()
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    return sum(1 for e in history.events if e.event_type == accepted)


async def test_partners_cli_steers_a_running_onboarding_and_a_partner_can_return(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    sshd_server: LocalSshd,
    tmp_path: Path,
) -> None:
    own = own_settings(settings, tmp_path)
    env = {**os.environ, **settings_env(own)}
    partner = f"cli-{uuid.uuid4().hex[:6]}"
    definition_file = tmp_path / "partner.json"
    definition_file.write_text(json.dumps(definition_data(sshd_server, partner)))
    test_folder = partner_test_folder(sshd_server)

    async def cli(*args: str) -> tuple[int, str, str]:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli.main",
            "partners",
            *args,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
        assert proc.returncode is not None
        return proc.returncode, out.decode(), err.decode()

    handle: WorkflowHandle[object, object] = client.get_workflow_handle(f"partner-{partner}")

    async def at(stage: Stage) -> Checklist | None:
        current: Checklist = await handle.query("checklist", result_type=Checklist)
        return current if current.stage == stage else None

    async with running_workers(client, own, pool):
        code, out, err = await cli("onboard", str(definition_file))
        assert code == 0, err
        assert f"started partner-{partner}" in out
        ready = await wait_for(lambda: at(Stage.TEST_EXCHANGE), what="test exchange")
        assert ready.public_key is not None
        sshd_server.authorize(ready.public_key)

        # test-file: a broken file is answered with a report and filed in quarantine/test.
        bad = customers_csv([*customer_rows(3), "x,Bad,bad@example.com,2024-01-01,,US,1.00,true,"])
        bad_name = name_for(bad, 1)
        drop_test_file(sshd_server, bad_name, bad)
        code, out, err = await cli("test-file", partner)
        assert code == 0, err
        assert "checking the test folder" in out
        report = sshd_server.folder("outbox") / f"{bad_name}.errors.csv"
        await wait_for(_exists(report), what="the error report")
        quarantined = sshd_server.folder("quarantine") / "test" / bad_name
        await wait_for(_exists(quarantined), what="the failed file in quarantine/test")
        assert quarantined.read_bytes() == bad

        # A good one is acknowledged and filed in archive/test; the test folder is empty.
        good = customers_csv(customer_rows(4))
        good_name = name_for(good, 2)
        drop_test_file(sshd_server, good_name, good)
        code, _, err = await cli("test-file", partner)
        assert code == 0, err
        await wait_for(lambda: at(Stage.APPROVALS), what="approvals")
        assert (sshd_server.folder("outbox") / f"{good_name}.ack.json").exists()
        assert (sshd_server.folder("archive") / "test" / good_name).read_bytes() == good
        assert not any(test_folder.iterdir())

        # status prints the checklist as JSON.
        code, out, err = await cli("status", partner)
        assert code == 0, err
        status = json.loads(out)
        assert status["stage"] == "approvals"
        assert status["last_test"]["passed"] is True
        assert status["last_test"]["filed_to"] == f"archive/test/{good_name}"

        # Two approvals by one person at the same moment: the validator takes exactly one and
        # refuses the other, which leaves no accepted update in history.
        before = await _accepted_updates(handle)
        results = await asyncio.gather(
            handle.execute_update(
                "approve",
                ApprovalRequest(kind=ApprovalKind.SECURITY_REVIEW, actor="ops:carol"),
                result_type=Checklist,
            ),
            handle.execute_update(
                "approve",
                ApprovalRequest(kind=ApprovalKind.OPS_SIGNOFF, actor="OPS:Carol "),
                result_type=Checklist,
            ),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(refused) == 1, results
        assert isinstance(refused[0], WorkflowUpdateFailedError)
        assert "needs a different person" in str(refused[0].cause)
        assert await _accepted_updates(handle) == before + 1
        state: OnboardingState = await handle.query("state", result_type=OnboardingState)
        assert [a.actor for a in state.approvals] == [
            "ops:carol" if refused[0] is results[1] else "OPS:Carol "
        ]
        missing = next(k for k in ApprovalKind if k not in {a.kind for a in state.approvals})

        # approve through the CLI: the same person again is refused (exit 1, the reason)...
        code, out, err = await cli(
            "approve", partner, "--kind", missing.value, "--actor", "ops:carol"
        )
        assert code == 1
        assert "refused" in err and "needs a different person" in err
        assert await _accepted_updates(handle) == before + 1
        # ...another person is taken, and the partner goes live.
        code, out, err = await cli(
            "approve", partner, "--kind", missing.value, "--actor", "sec:dave", "--note", "ok"
        )
        assert code == 0, err
        await wait_for(lambda: at(Stage.LIVE), what="live")

        # contract-change: breaking without a new major version is refused; with one, taken.
        v1 = (own.file_contracts_dir / "acme_customers.v1.toml").read_text()
        breaking = v1.replace('[[columns]]\nname = "postal_code"', '[[columns]]\nname = "zip"')
        breaking_file = tmp_path / "breaking.toml"
        breaking_file.write_text(breaking)
        code, _, err = await cli(
            "contract-change", partner, "customers", str(breaking_file), "--actor", "ops:bob"
        )
        assert code == 1
        assert "breaking change without a new major version" in err
        v2_file = tmp_path / "acme_customers.v2.toml"
        v2_file.write_text(breaking.replace("schema_version = 1", "schema_version = 2"))
        code, out, err = await cli(
            "contract-change",
            partner,
            "customers",
            str(v2_file),
            "--actor",
            "ops:bob",
            "--reason",
            "zip codes",
        )
        assert code == 0, err
        config = await pool.fetchval(
            "SELECT config->>'file_contract' FROM feeds WHERE partner_id = $1", partner
        )
        assert config == "acme_customers.v2"

        code, out, err = await cli("offboard", partner, "--actor", "ops:bob", "--reason", "ended")
        assert code == 0, err
        first = OnboardingState.model_validate(await handle.result())
        assert first.stage == Stage.OFFBOARDED
        # The whole first generation, on the current code (test-file pokes kept, filed test
        # files, generation audit ids), replayed by tests/test_replay.py.
        first_run = (await handle.describe()).run_id
        await record_history(
            client.get_workflow_handle(handle.id, run_id=first_run),
            "PartnerOnboarding-cli",
        )

        # The same partner comes back: a new run of partner-<id>, fresh audit rows for every
        # step (not swallowed by the first onboarding's event ids), and a new key name.
        code, out, err = await cli("onboard", str(definition_file))
        assert code == 0, err
        again = await wait_for(lambda: at(Stage.TEST_EXCHANGE), what="second test exchange")
        assert again.public_key is not None and again.public_key != ready.public_key
        keys = await partners.keys_of(pool, partner)
        assert [(k["key_name"], k["status"]) for k in keys] == [
            (f"{partner}-k1", "revoked"),
            (f"{partner}-k2", "active"),
        ]
        code, _, err = await cli("offboard", partner, "--actor", "ops:bob", "--reason", "again")
        assert code == 0, err
        await handle.result()

    audit = await pool.fetch(
        "SELECT event_id, action FROM audit_log WHERE subject = $1 ORDER BY audit_id", partner
    )
    actions = [r["action"] for r in audit]
    for action in ("partner.registered", "partner.credentials", "partner.offboarded"):
        assert actions.count(action) == 2, (action, actions)
    assert actions.count("partner.test_failed") == 1
    runs = {r["event_id"].split("/")[1] for r in audit}
    assert len(runs) == 2  # one generation per first run id


def _exists(path: Path) -> object:
    async def check() -> bool:
        return path.exists()

    return check
