"""A year and more of 90-day SSH key rotations in seconds, on Temporal's time-skipping test
server: each rotation issues a new key (sent to the partner's outbox), both keys work through
the 14-day overlap, then the feeds switch and the old key is revoked; the workflow continues as
new after each one, so its history stays small."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from datetime import timedelta
from pathlib import Path

import asyncpg
from temporalio.testing import WorkflowEnvironment

from devstack.localstack.sshd import LocalSshd
from onboarding.stages import Stage
from runtime.settings import Settings
from stores import partners
from tests.onboarding_support import definition_for, own_settings, running_workers
from wire.partners import KeyRecord, OnboardingStart, OnboardingState

YEAR_AND_A_BIT = timedelta(days=400)  # rotations at days 90, 180, 270, 360; cut-overs +14


async def _play_partner(server: LocalSshd, stop: asyncio.Event) -> None:
    """The partner installs every public key we put in their outbox."""
    seen: set[str] = set()
    while not stop.is_set():
        for pub in server.folder("outbox").glob("*.pub"):
            if pub.name not in seen:
                server.authorize(pub.read_text().strip())
                seen.add(pub.name)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.05)


async def test_a_year_of_rotations_runs_in_seconds_with_overlap_and_small_history(
    time_skipping_env: WorkflowEnvironment,
    settings: Settings,
    pool: asyncpg.Pool,
    sshd_server: LocalSshd,
    tmp_path: Path,
) -> None:
    env = time_skipping_env
    own = own_settings(settings, tmp_path)
    partner = f"rot-{uuid.uuid4().hex[:6]}"
    definition = definition_for(sshd_server, partner)
    assert own.sftp_keys_dir is not None
    # A partner that went live earlier (the test server has no Schedules): registry rows, its
    # first key authorized by the partner, the feed on that key.
    await partners.upsert_partner(pool, definition)
    now = await env.get_current_time()
    first = partners.key_ref(
        f"{partner}-k1", partners.generate_ssh_key(own.sftp_keys_dir, f"{partner}-k1"), now
    )
    await partners.record_key(pool, KeyRecord(partner_id=partner, key=first, status="active"))
    sshd_server.authorize(first.public_line)
    contract = (own.file_contracts_dir / "acme_customers.v1.toml").read_text()
    feed = definition.feed_config("customers", first.key_name)
    await pool.execute(
        "INSERT INTO feeds (partner_id, feed, config) VALUES ($1, $2, $3::jsonb)",
        partner,
        "customers",
        feed.model_dump_json(),
    )
    state = OnboardingState(
        stage=Stage.LIVE,
        contracts={"customers": contract},
        ssh_key=first,
        partner_authenticated=True,
        live_since=now,
        next_rotation_at=now + timedelta(days=definition.rotation_days),
    )
    stop = asyncio.Event()
    partner_side = asyncio.create_task(_play_partner(sshd_server, stop))
    try:
        async with running_workers(env.client, own, pool):
            handle = await env.client.start_workflow(
                "PartnerOnboarding",
                OnboardingStart(
                    definition=definition, file_task_queue=own.task_queue_sftp, state=state
                ),
                id=f"partner-{partner}",
                task_queue=own.task_queue_general,
                result_type=OnboardingState,
            )
            # A day at a time: one long skip is a single RPC that can outlast the client's
            # timeout on a loaded machine while the activities run in real time.
            for _ in range(YEAR_AND_A_BIT.days):
                await env.sleep(timedelta(days=1))
            latest = env.client.get_workflow_handle(f"partner-{partner}")
            current: OnboardingState = await latest.query("state", result_type=OnboardingState)
            history = await latest.fetch_history()
    finally:
        stop.set()
        await partner_side
    assert handle.id == latest.id
    assert current.rotations == 4
    assert current.runs == 5  # continued as new after each rotation
    assert len(history.events) < 60  # this run's history: a few events, not a year's
    assert current.ssh_key is not None and current.ssh_key.key_name == f"{partner}-k5"
    assert current.revoked_keys == [f"{partner}-k{i}" for i in range(1, 5)]

    keys = await partners.keys_of(pool, partner)
    assert [k["key_name"] for k in keys] == [f"{partner}-k{i}" for i in range(1, 6)]
    assert [k["status"] for k in keys] == ["revoked"] * 4 + ["active"]
    for old, new in itertools.pairwise(keys):
        # The old key kept working through the 14-day overlap (a day more at most, while the
        # partner installs the new key), then the new one took over at once.
        overlap = old["revoked_at"] - new["issued_at"]
        assert timedelta(days=14) <= overlap < timedelta(days=16)
        assert new["active_at"] == old["revoked_at"]
    gaps = [b["issued_at"] - a["issued_at"] for a, b in itertools.pairwise(keys[1:])]
    assert all(timedelta(days=90) <= g < timedelta(days=90, minutes=1) for g in gaps)
    # Only the active key is still on disk; the feed uses it.
    on_disk = sorted(p.name for p in own.sftp_keys_dir.glob(f"{partner}-k*"))
    assert on_disk == [f"{partner}-k5"]
    config = await pool.fetchval(
        "SELECT config->'sftp'->>'private_key' FROM feeds WHERE partner_id = $1", partner
    )
    assert config == f"{partner}-k5"
    audit = await pool.fetch(
        "SELECT action FROM audit_log WHERE subject = $1 AND action = 'partner.key_rotated'",
        partner,
    )
    assert len(audit) == 4
