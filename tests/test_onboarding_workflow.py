"""Partner onboarding end to end on real components: Temporal dev server, PostgreSQL, OpenSSH
sshd playing the partner, gpg. Registration → credentials → a bad test file (error report in
the partner's outbox) → a good one (acknowledgement) → two approvals by two people → a live
intake Schedule → contract changes → offboarding that keeps the audit trail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.service import RPCError

from devstack.localstack.sshd import LocalSshd
from onboarding.approvals import ApprovalKind
from onboarding.stages import Stage
from runtime.settings import Settings
from tests.intake_support import customer_rows, customers_csv, name_for
from tests.onboarding_support import (
    definition_data,
    definition_for,
    drop_test_file,
    own_settings,
    partner_test_folder,
    running_workers,
    wait_for,
)
from tests.plugins.gpg import GpgKeys
from tests.plugins.services import settings_env
from tests.replay import record_history
from wire.partners import (
    ApprovalRequest,
    Checklist,
    ContractChangeRequest,
    OnboardingStart,
    OnboardingState,
    StopRequest,
)
from wire.partners import (
    TestFileNotice as FileNotice,
)

V1 = Path(__file__).resolve().parents[1] / "file_contracts" / "acme_customers.v1.toml"


def _accepted_updates(history: object) -> int:
    events = history.events  # type: ignore[attr-defined]
    return sum(
        1 for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    )


async def test_partner_goes_from_first_contact_to_live_and_is_offboarded(
    client: Client,
    settings: Settings,
    pool: asyncpg.Pool,
    sshd_server: LocalSshd,
    gpg_keys: GpgKeys,
    tmp_path: Path,
) -> None:
    own = own_settings(settings, tmp_path)
    partner = f"acme-{uuid.uuid4().hex[:6]}"
    definition = definition_for(sshd_server, partner, gpg=gpg_keys)
    partner_test_folder(sshd_server)
    async with running_workers(client, own, pool):
        handle = await client.start_workflow(
            "PartnerOnboarding",
            OnboardingStart(definition=definition, file_task_queue=own.task_queue_sftp),
            id=f"partner-{partner}",
            task_queue=own.task_queue_general,
            result_type=OnboardingState,
        )

        async def checklist() -> Checklist:
            result: Checklist = await handle.query("checklist", result_type=Checklist)
            return result

        # Credentials: our key generated (0600), host key pinned, PGP key imported by fingerprint.
        ready = await wait_for(
            lambda: _at_stage(checklist, Stage.TEST_EXCHANGE), what="test exchange"
        )
        assert ready.public_key and ready.public_key.startswith("ssh-ed25519 ")
        key_file = own.sftp_keys_dir / f"{partner}-k1"  # type: ignore[operator]
        assert key_file.stat().st_mode & 0o777 == 0o600
        row = await pool.fetchrow("SELECT * FROM partners WHERE partner_id = $1", partner)
        assert row is not None
        assert row["stage"] == "test_exchange" and row["status"] == "testing"
        assert row["pgp_fingerprint"] == gpg_keys.partner.fingerprint
        assert row["host_key_fingerprint"] == sshd_server.host_key.fingerprint
        assert json.loads(row["runbook"])["who_to_call"] == "Acme integration desk"
        keys = await pool.fetch("SELECT * FROM partner_keys WHERE partner_id = $1", partner)
        assert [(k["key_name"], k["status"]) for k in keys] == [(f"{partner}-k1", "active")]
        assert "PRIVATE" not in keys[0]["public_key"]

        # The partner installs our public key and sends a broken test file.
        sshd_server.authorize(ready.public_key)
        rows = customer_rows(5)
        bad_rows = [*rows[:4], "not-a-number,Bad Row,bad@example.com,2024-01-01,,US,1.00,true,"]
        bad = customers_csv(bad_rows)
        bad_name = name_for(bad, 1)
        drop_test_file(sshd_server, bad_name, bad)
        await handle.signal("test_file_uploaded", FileNotice(note="bad one"))
        report = sshd_server.folder("outbox") / f"{bad_name}.errors.csv"
        await wait_for(_exists(report), what="the error report")
        assert "customer_id" in report.read_text()
        failed = await checklist()
        assert failed.stage == Stage.TEST_EXCHANGE
        assert failed.last_test is not None and not failed.last_test.passed
        # Validated, not landed: nothing of this partner is production data.
        assert not (own.landing_zone_dir / partner).exists()
        assert (
            await pool.fetchval("SELECT count(*) FROM file_manifest WHERE partner_id = $1", partner)
            == 0
        )

        # Ops cannot approve before the test passes.
        with pytest.raises(WorkflowUpdateFailedError) as early:
            await handle.execute_update(
                "approve", ApprovalRequest(kind=ApprovalKind.SECURITY_REVIEW, actor="sec:alice")
            )
        assert "stage approvals" in str(early.value.cause)

        # A good file passes: acknowledgement in the outbox, stage approvals.
        good = customers_csv(customer_rows(5))
        good_name = name_for(good, 2)
        drop_test_file(sshd_server, good_name, good)
        await handle.signal("test_file_uploaded", FileNotice(note="good one"))
        await wait_for(lambda: _at_stage(checklist, Stage.APPROVALS), what="approvals")
        ack = json.loads((sshd_server.folder("outbox") / f"{good_name}.ack.json").read_text())
        assert ack["result"] == "accepted" and ack["rows"] == 5

        # Two approvals, two people: the same person twice is refused, and leaves no trace.
        await handle.execute_update(
            "approve",
            ApprovalRequest(kind=ApprovalKind.SECURITY_REVIEW, actor="sec:alice", note="pen test"),
            result_type=Checklist,
        )
        before = _accepted_updates(await handle.fetch_history())
        with pytest.raises(WorkflowUpdateFailedError) as same:
            await handle.execute_update(
                "approve", ApprovalRequest(kind=ApprovalKind.OPS_SIGNOFF, actor=" SEC:Alice")
            )
        assert "needs a different person" in str(same.value.cause)
        assert _accepted_updates(await handle.fetch_history()) == before
        await handle.execute_update(
            "approve",
            ApprovalRequest(kind=ApprovalKind.OPS_SIGNOFF, actor="ops:bob"),
            result_type=Checklist,
        )

        # Live: the feed's intake Schedule exists and runs FileIntake on our key.
        live = await wait_for(lambda: _at_stage(checklist, Stage.LIVE), what="live")
        assert live.next_rotation_at is not None
        schedule = client.get_schedule_handle(f"intake-{partner}-customers")
        described = await schedule.describe()
        assert not described.schedule.state.paused
        feed = json.loads(
            await pool.fetchval("SELECT config FROM feeds WHERE partner_id = $1", partner)
        )
        assert feed["sftp"]["private_key"] == f"{partner}-k1"
        assert feed["file_contract"] == "acme_customers.v1"

        # WireModel changes: breaking without a new major version is refused; with one, taken.
        v1 = V1.read_text()
        breaking = v1.replace('[[columns]]\nname = "postal_code"', '[[columns]]\nname = "zip"')
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(
                "change_contract",
                ContractChangeRequest(feed="customers", contract_text=breaking, actor="ops:bob"),
            )
        assert "breaking change without a new major version" in str(refused.value.cause)
        assert "'postal_code' was removed" in str(refused.value.cause)
        v2 = breaking.replace("schema_version = 1", "schema_version = 2")
        await handle.execute_update(
            "change_contract",
            ContractChangeRequest(
                feed="customers", contract_text=v2, actor="ops:bob", reason="zip codes"
            ),
            result_type=Checklist,
        )
        assert (own.file_contracts_dir / "acme_customers.v2.toml").read_text() == v2
        feed = json.loads(
            await pool.fetchval("SELECT config FROM feeds WHERE partner_id = $1", partner)
        )
        assert feed["file_contract"] == "acme_customers.v2"

        # Offboarding: Schedule paused then deleted, keys revoked, audit trail kept.
        await handle.execute_update(
            "offboard",
            StopRequest(actor="ops:bob", reason="contract ended"),
            result_type=Checklist,
        )
        final = await handle.result()
        assert final.stage == Stage.OFFBOARDED
        with pytest.raises(RPCError):
            await schedule.describe()
        assert not key_file.exists()
        statuses = await pool.fetch(
            "SELECT status FROM partner_keys WHERE partner_id = $1", partner
        )
        assert {r["status"] for r in statuses} == {"revoked"}
        assert (
            await pool.fetchval("SELECT status FROM feeds WHERE partner_id = $1", partner)
            == "retired"
        )
        actions = [
            (r["actor"], r["action"])
            for r in await pool.fetch(
                "SELECT actor, action FROM audit_log WHERE subject = $1 ORDER BY audit_id", partner
            )
        ]
        for expected in [
            ("system:onboarding", "partner.registered"),
            ("system:onboarding", "partner.test_failed"),
            ("system:onboarding", "partner.test_passed"),
            ("sec:alice", "partner.security_review"),
            ("ops:bob", "partner.ops_signoff"),
            ("ops:bob", "partner.contract_changed"),
            ("ops:bob", "partner.offboarded"),
        ]:
            assert expected in actions
        assert ("SEC:Alice", "partner.ops_signoff") not in actions
        await record_history(handle, "PartnerOnboarding")


async def _at_stage(checklist: object, stage: Stage) -> Checklist | None:
    current: Checklist = await checklist()  # type: ignore[operator]
    return current if current.stage == stage else None


def _exists(path: Path) -> object:
    async def check() -> bool:
        return path.exists()

    return check


def test_invalid_definition_is_refused_with_a_clear_error_and_nothing_starts(
    settings: Settings, sshd_server: LocalSshd, tmp_path: Path
) -> None:
    partner = f"bad-{uuid.uuid4().hex[:6]}"
    data = definition_data(sshd_server, partner)
    data["feeds"][0]["pgp_required"] = True  # but no [pgp] key given
    data["feeds"][0]["schedule"] = {"interval_minutes": 60, "cron": "0 6 * * *"}
    data["contacts"] = []
    path = tmp_path / "partner.json"
    path.write_text(json.dumps(data))
    env = {**os.environ, **settings_env(settings)}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "partners", "onboard", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "feeds.0.schedule" in done.stderr and "exactly one of interval_minutes or cron" in (
        done.stderr
    )
    assert "contacts" in done.stderr
    # A contract file that does not exist is named too.
    data = definition_data(sshd_server, partner)
    data["feeds"][0]["file_contract"] = "nobody.v1"
    path.write_text(json.dumps(data))
    done = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "partners", "onboard", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "feeds.customers.file_contract" in done.stderr and "nobody.v1" in done.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "app.cli.main", "partners", "status", partner],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode != 0  # no workflow partner-<id> was started
