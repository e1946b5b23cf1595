"""Hostile PGP input through the whole intake (issue 14): a few KiB of compressed ciphertext that
inflates past the plaintext limit is refused by gpg's ``--max-output``, quarantined without a
retry, and leaves no plaintext anywhere in the landing zone. Real sshd, gpg, PostgreSQL and
Temporal, with workers of its own whose limit is small."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import asyncpg
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from adapters.landing_zone import LandingZone, digest_bytes
from devstack.localstack.sshd import LocalSshd
from runtime.settings import Settings
from stores.feeds import register_feed
from tests.intake_support import (
    customer_rows,
    customers_csv,
    feed_for,
    name_for,
    workers_of_their_own,
)
from tests.plugins.gpg import GpgKeys
from wire.intake import IntakeRequest, IntakeRunResult

LIMIT = 1 << 20


@pytest.fixture
async def capped(
    client: Client, settings: Settings, pool: asyncpg.Pool, tmp_path: Path
) -> AsyncIterator[Settings]:
    async with workers_of_their_own(
        client,
        settings,
        pool,
        "capped",
        reader_max_decompressed_bytes=LIMIT,
        landing_zone_dir=tmp_path / "landing",
    ) as own:
        yield own


async def test_a_compressed_pgp_bomb_is_quarantined_once_and_leaves_no_plaintext(
    sshd_server: LocalSshd,
    client: Client,
    capped: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    tmp_path: Path,
) -> None:
    feed = feed_for(
        sshd_server, feed=f"bomb-{uuid.uuid4().hex[:6]}", pgp_signer=gpg_keys.partner.fingerprint
    )
    await register_feed(pool, client, capped, feed)
    zeros = tmp_path / "zeros.csv"
    with zeros.open("wb") as out:
        out.truncate(32 * LIMIT)
    bomb = tmp_path / "bomb.pgp"
    # Signed by an impostor: gpg writes the plaintext before the signer is known, so the cap
    # must hold whoever signed.
    sent = gpg_keys.senders._gpg.encrypt_file(
        str(zeros),
        [gpg_keys.us.fingerprint],
        sign=gpg_keys.impostor.fingerprint,
        always_trust=True,
        armor=False,
        output=str(bomb),
        extra_args=["--compress-algo", "zlib", "-z", "9"],
    )
    assert sent.ok
    data = bomb.read_bytes()
    assert len(data) < 128 * 1024  # 32 MiB of plaintext in a small file
    name = name_for(data, 1, ext="csv.pgp")
    sshd_server.drop_file("inbox", name, data)

    handle = await client.start_workflow(
        "FileIntake",
        IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
        id=f"intake-bomb-{uuid.uuid4()}",
        task_queue=capped.task_queue_general,
        result_type=IntakeRunResult,
    )
    result = await asyncio.wait_for(handle.result(), timeout=120)

    (decision,) = result.decisions
    assert decision.outcome == "quarantined"
    assert "exceeds the limit of 1,048,576 bytes" in decision.reason
    assert name in [p.name for p in sshd_server.folder("quarantine").iterdir()]
    assert (sshd_server.folder("outbox") / f"{name}.errors.csv").exists()
    # Nothing decrypted is left: no file near the limit, no staging plaintext, no gpg folder.
    left = [p for p in capped.landing_zone_dir.rglob("*")]
    assert not [p for p in left if p.is_file() and p.stat().st_size >= LIMIT]
    assert not [p for p in left if p.name.endswith((".plain", ".decrypting"))]
    # A refusal is a result, not a failure: intake.process ran once, no retry.
    history = await handle.fetch_history()
    scheduled = {
        e.event_id: e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    }
    process_starts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and scheduled[e.activity_task_started_event_attributes.scheduled_event_id]
        == "intake.process"
    ]
    assert process_starts == [1]
    status = await pool.fetchval(
        "SELECT status FROM file_manifest WHERE source_name = $1 AND feed = $2", name, feed.feed
    )
    assert status == "quarantined"


async def test_a_pgp_file_lands_under_the_digest_of_its_plaintext(
    sshd_server: LocalSshd,
    client: Client,
    capped: Settings,
    pool: asyncpg.Pool,
    gpg_keys: GpgKeys,
    tmp_path: Path,
) -> None:
    """A file's identity is the SHA-256 of its plaintext; the manifest also names the bytes
    received, and no plaintext is left in staging."""
    feed = feed_for(
        sshd_server, feed=f"plain-{uuid.uuid4().hex[:6]}", pgp_signer=gpg_keys.partner.fingerprint
    )
    await register_feed(pool, client, capped, feed)
    plain = customers_csv(customer_rows(5))
    source, sealed = tmp_path / "plain.csv", tmp_path / "sealed.pgp"
    source.write_bytes(plain)
    gpg_keys.senders.encrypt_and_sign(
        source, sealed, gpg_keys.us.fingerprint, gpg_keys.partner.fingerprint
    )
    data = sealed.read_bytes()
    name = name_for(data, 1, ext="csv.pgp")
    sshd_server.drop_file("inbox", name, data)

    handle = await client.start_workflow(
        "FileIntake",
        IntakeRequest(partner_id=feed.partner_id, feed=feed.feed),
        id=f"intake-plain-{uuid.uuid4()}",
        task_queue=capped.task_queue_general,
        result_type=IntakeRunResult,
    )
    (decision,) = (await asyncio.wait_for(handle.result(), timeout=120)).decisions
    assert decision.outcome == "landed"
    landing = LandingZone(capped.landing_zone_dir)
    raw = Path(decision.landing_path or "")
    assert raw == landing.raw("acme", "customers", date(2025, 11, 5), digest_bytes(plain), "csv")
    assert raw.read_bytes() == plain
    manifest = landing.read_manifest(raw)
    assert manifest is not None
    assert manifest.checksum.sha256 == digest_bytes(plain)
    assert manifest.received_sha256 == digest_bytes(data) == decision.sha256
    assert manifest.pgp_fingerprint == gpg_keys.partner.fingerprint
    assert (manifest.file_contract, manifest.schema_version) == ("acme_customers", 1)
    assert manifest.rows.total == 5 and manifest.warnings == 0
    staging = capped.landing_zone_dir / ".staging"
    assert not [p for p in staging.rglob("*") if p.is_file()]
