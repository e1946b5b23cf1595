"""PartnerOnboarding branches with stub activities on the time-skipping server: contract changes
refused before a partner is live, concurrent contract changes and an offboarding that arrive
together and are applied one at a time, and an onboarding abandoned at the approvals stage (the
full stack, with real sshd and PostgreSQL, is in tests/test_onboarding_workflow.py).

A run that continued as new starts from its carried state, so these start there directly."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from onboarding.stages import Stage
from stores.partners import parse_definition
from tests.workflow_stubs import Stubs, new_queue, stub_worker, until
from wire.partners import (
    Checklist,
    ContractChangeRequest,
    OnboardingStart,
    OnboardingState,
    SshKeyRef,
    StopRequest,
)
from wire.workflow_ids import workflow_id
from workflows.partner_onboarding import PartnerOnboardingWorkflow

V1 = (Path(__file__).resolve().parents[1] / "file_contracts" / "acme_customers.v1.toml").read_text()
# Breaking changes, each with the next major version: v1 → v2 renames a column, v2 → v3 another.
V2 = V1.replace('name = "postal_code"', 'name = "zip"').replace(
    "schema_version = 1", "schema_version = 2"
)
V3 = V2.replace('name = "country"', 'name = "country_code"').replace(
    "schema_version = 2", "schema_version = 3"
)
PARTNER = "acme"
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGhvc3Qta2V5LWZvci1icmFuY2gtdGVzdHM"
KEY = SshKeyRef(
    key_name="acme-k1",
    public_line="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHN0dWIta2V5LWZvci1icmFuY2gtdGVzdHM acme-k1",
    fingerprint="SHA256:stub",
    issued_at=datetime(2026, 1, 1, tzinfo=UTC),
)


def definition() -> Any:
    return parse_definition(
        {
            "partner_id": PARTNER,
            "display_name": "Acme Corp",
            "sftp": {
                "host": "127.0.0.1",
                "port": 2222,
                "username": "acme",
                "host_key": HOST_KEY,
                "test_folder": "inbox/test",
            },
            "feeds": [
                {
                    "feed": "customers",
                    "file_contract": "acme_customers.v1",
                    "naming": {"system": "acme", "entity": "customers", "extensions": ["csv"]},
                    "schedule": {"interval_minutes": 60},
                }
            ],
            "contacts": [{"name": "Pat Partner", "role": "technical", "email": "pat@acme.test"}],
            "runbook": {"who_to_call": "desk", "cutoffs": "06:00", "escalation": ["desk"]},
        }
    )


class Installs:
    """The install_contract stub: it holds every install until the test releases them, and
    notes how many ran at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def __call__(self, request: Any) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        await self.release.wait()
        self.running -= 1


def stubs(installs: Installs | None = None) -> Stubs:
    calls = Stubs().on("audit.write").on("onboarding.set_stage").on("onboarding.remove_keys")
    calls.on("onboarding.offboard", [])
    if installs is not None:
        calls.on("onboarding.install_contract", installs)
    return calls


async def start(
    env: WorkflowEnvironment, queue: str, stage: Stage
) -> WorkflowHandle[Any, OnboardingState]:
    now = await env.get_current_time()
    live = stage is Stage.LIVE
    state = OnboardingState(
        stage=stage,
        contracts={"customers": V1},
        ssh_key=KEY,
        partner_authenticated=True,
        passed_feeds=["customers"],
        live_since=now if live else None,
        next_rotation_at=now + timedelta(days=90) if live else None,
    )
    return await env.client.start_workflow(
        PartnerOnboardingWorkflow.run,
        OnboardingStart(definition=definition(), file_task_queue=queue, state=state),
        id=workflow_id("PartnerOnboarding", PARTNER),
        task_queue=queue,
    )


def change(text: str) -> ContractChangeRequest:
    return ContractChangeRequest(feed="customers", contract_text=text, actor="ops:bob")


async def refusal(handle: WorkflowHandle[Any, OnboardingState], text: str) -> str:
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await handle.execute_update("change_contract", change(text), result_type=Checklist)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "ContractChangeRefused"
    return cause.message


async def test_contracts_change_only_on_live_partners_and_an_onboarding_can_be_abandoned(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, queue, calls = time_skipping_env, new_queue(), stubs(Installs())
    async with stub_worker(env, [PartnerOnboardingWorkflow], calls, queue):
        handle = await start(env, queue, Stage.APPROVALS)
        assert "contracts change on live partners" in await refusal(handle, V2)
        stopped = await handle.execute_update(
            "offboard",
            StopRequest(actor="ops:bob", reason="deal fell through"),
            result_type=Checklist,
        )
        assert stopped.stage is Stage.OFFBOARDED
        result = await handle.result()
    assert (result.stage, result.offboarded_reason) == (Stage.OFFBOARDED, "deal fell through")
    assert "onboarding.install_contract" not in calls.names()
    [work] = calls.requests("onboarding.offboard")
    assert (work["live"], work["feeds"]) == (False, ["customers"])


async def accepted_updates(handle: WorkflowHandle[Any, OnboardingState]) -> int:
    history = await handle.fetch_history()
    return sum(
        e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
        for e in history.events
    )


async def test_changes_and_an_offboarding_arriving_together_are_applied_one_at_a_time(
    time_skipping_env: WorkflowEnvironment,
) -> None:
    env, queue, installs = time_skipping_env, new_queue(), Installs()
    calls = stubs(installs)
    async with stub_worker(env, [PartnerOnboardingWorkflow], calls, queue):
        handle = await start(env, queue, Stage.LIVE)
        assert "the feed's contract is acme_customers" in await refusal(
            handle, V1.replace('name = "acme_customers"', 'name = "other"')
        )
        to_v2 = asyncio.create_task(
            handle.execute_update("change_contract", change(V2), result_type=Checklist)
        )
        await until(lambda: asyncio.sleep(0, installs.running), lambda n: n == 1)
        # The next validator already sees v2, accepted and being installed.
        assert "already uses acme_customers.v2" in await refusal(handle, V2)
        to_v3 = asyncio.create_task(
            handle.execute_update("change_contract", change(V3), result_type=Checklist)
        )
        await until(lambda: accepted_updates(handle), lambda n: n == 2)
        stop = asyncio.create_task(
            handle.execute_update(
                "offboard",
                StopRequest(actor="ops:bob", reason="contract ended"),
                result_type=Checklist,
            )
        )
        await until(lambda: accepted_updates(handle), lambda n: n == 3)
        # Both changes and the offboarding are accepted; only the first install has started.
        assert (installs.running, calls.names().count("onboarding.install_contract")) == (1, 1)
        assert "onboarding.offboard" not in calls.names()
        installs.release.set()
        assert (await to_v2).stage is Stage.LIVE
        assert (await to_v3).stage is Stage.LIVE
        assert (await stop).stage is Stage.OFFBOARDED
        result = await handle.result()
    assert installs.most == 1  # never two installs at once
    feeds_work = [
        n for n in calls.names() if n in ("onboarding.install_contract", "onboarding.offboard")
    ]
    assert feeds_work == [
        "onboarding.install_contract",
        "onboarding.install_contract",
        "onboarding.offboard",
    ]
    installed = calls.requests("onboarding.install_contract")
    assert [r["contract_text"] for r in installed] == [V2, V3]
    assert [r["feed"]["file_contract"] for r in installed] == [
        "acme_customers.v2",
        "acme_customers.v3",
    ]
    actions = [r["action"] for r in calls.requests("audit.write")]
    assert actions == ["partner.contract_changed", "partner.contract_changed", "partner.offboarded"]
    assert result.contracts["customers"] == V3 and result.stage is Stage.OFFBOARDED
